import { parseShareMode, type ShareMode } from '../util/share-mode.js';
import { parseEnvAssignments } from '../registry/secrets.js';
import { intOption, parseCommandLine, secondsOption } from '../util/args.js';
import { McpshareError } from '../errors.js';
import { join } from 'node:path';
import { userPaths } from '../registry/paths.js';
import { runBridgeForeground } from './run-bridge.js';

export const bridgeUsage = `Usage: mcpshare bridge [options] -- COMMAND [ARGS...]

Runs a stdio MCP server once and shares it with any number of clients over
Streamable HTTP (/mcp) and legacy SSE (/sse), each client its own session.

Options:
  --name NAME              name shown in logs and /status (default: the command's basename)
  --host HOST              address to listen on (default 127.0.0.1; others need --allow-remote)
  --port N                 port (default 8000; 0 picks a free one)
  --cwd DIR                working directory of the server
  --env-file FILE          KEY=VALUE file whose variables the server gets (keep secrets here)
  --env KEY=VAL            extra variable for the server (repeatable)
  --token TOKEN            require "Authorization: Bearer TOKEN" (or set MCPSHARE_TOKEN)
  --allow-remote           allow a non-loopback --host (requires a token)
  --allowed-origin ORIGIN  accept this browser Origin besides loopback ones (repeatable)
  --init-timeout SEC       how long the server may take to answer initialize (default 60)
  --restart-limit N        give up after N crashes within the window (default 5)
  --restart-window SEC     the crash-loop window (default 60)
  --fail-fast              exit at once if the server dies before it first becomes ready, so a
                           service manager (systemd, launchd) does the retrying and counting
  --session-idle-timeout SEC  drop a session with no open stream and no request from memory after
                           this long (default 300; 86400 with --share session, where that also
                           ends the session's own server process); its client can resume it
  --session-ttl SEC        forget a session unseen this long for good: its id then gets 404
                           (default 604800, 7 days)
  --state-dir DIR          where the session key, saved sessions and the discovery snapshot live
                           (default ~/.local/state/mcpshare/bridge); sessions survive a restart
                           of the bridge when it runs on a fixed --port
  --lazy                   start the server only when a request needs it; initialize, discovery
                           and list requests are answered from the discovery snapshot until then
                           (with no snapshot yet, the server starts at once to take one)
  --idle-stop SEC          stop the server after SEC without requests (0: never); sessions stay,
                           and the next request starts it again. Default: never in global mode,
                           600 for each process in project and session modes
  --share MODE             global (one server process for every session, the default), project (one
                           per project: the session's roots, else its X-Mcpshare-Project header) or
                           session (one per session)
  --child-idle-timeout SEC the same as --idle-stop (its older name, for project/session modes)
`;

export async function bridgeCommand(argv: string[]): Promise<number> {
  const { values, rest } = parseCommandLine(
    argv,
    {
      name: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      cwd: { type: 'string' },
      'env-file': { type: 'string' },
      env: { type: 'string', multiple: true },
      token: { type: 'string' },
      'allow-remote': { type: 'boolean' },
      'allowed-origin': { type: 'string', multiple: true },
      'init-timeout': { type: 'string' },
      'restart-limit': { type: 'string' },
      'restart-window': { type: 'string' },
      'fail-fast': { type: 'boolean' },
      'session-idle-timeout': { type: 'string' },
      share: { type: 'string' },
      'child-idle-timeout': { type: 'string' },
      'session-ttl': { type: 'string' },
      'state-dir': { type: 'string' },
      lazy: { type: 'boolean' },
      'idle-stop': { type: 'string' },
    },
    false,
  );
  if (rest.length === 0)
    throw new McpshareError('usage', 'no server command given; put it after "--", e.g. mcpshare bridge -- npx -y @modelcontextprotocol/server-memory');
  let env: Record<string, string>;
  try {
    env = parseEnvAssignments(values.env); // its error never repeats the value: it may be a secret
  } catch (err) {
    throw new McpshareError('usage', (err as Error).message);
  }
  const [command, ...args] = rest;
  let share: ShareMode | undefined;
  try {
    share = values.share === undefined ? undefined : parseShareMode(values.share);
  } catch (err) {
    throw new McpshareError('usage', (err as Error).message);
  }
  // --idle-stop 0 is "never"; --child-idle-timeout is its older name.
  const idleStop =
    values['idle-stop'] === '0' ? 0 : (secondsOption(values['idle-stop'], 'idle-stop') ?? secondsOption(values['child-idle-timeout'], 'child-idle-timeout'));
  // startBridge's refusals are McpshareErrors already: a bad flag combination is 'usage' (exit 2),
  // a busy port is 'port-in-use' (exit 1), decided by the code in src/errors.ts.
  return runBridgeForeground({
    name: values.name ?? command.split('/').pop()!,
    command,
    args,
    cwd: values.cwd,
    envFile: values['env-file'],
    env,
    host: values.host,
    port: intOption(values.port, 'port', 0, 65535),
    token: values.token ?? process.env.MCPSHARE_TOKEN,
    allowRemote: values['allow-remote'],
    allowedOrigins: values['allowed-origin'],
    initTimeoutMs: secondsOption(values['init-timeout'], 'init-timeout'),
    restartLimit: intOption(values['restart-limit'], 'restart-limit', 1, 1000),
    restartWindowMs: secondsOption(values['restart-window'], 'restart-window'),
    failFast: values['fail-fast'],
    sessionIdleTimeoutMs: secondsOption(values['session-idle-timeout'], 'session-idle-timeout'),
    sessionTtlMs: secondsOption(values['session-ttl'], 'session-ttl'),
    // ~/.local/state/mcpshare/bridge (0700): for every bridge, registered or not.
    stateDir: values['state-dir'] ?? join(userPaths().stateDir, 'bridge'),
    lazy: values.lazy,
    idleStopMs: idleStop,
    share,
  });
}
