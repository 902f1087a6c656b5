import { parseEnvAssignments } from '../registry/secrets.js';
import { describeShareMode, parseShareMode, type ShareMode } from '../util/share-mode.js';
import { shareOf, type RestartPolicy } from '../registry/registry.js';
import { shareabilityOf } from '../registry/shareability.js';
import { Daemons } from '../health/daemons.js';
import { ServerManager } from '../units/manager.js';
import { intOption, parseCommandLine } from '../util/args.js';
import { McpshareError } from '../errors.js';
import { showCommand } from '../util/redact.js';
import { table } from '../util/table.js';

/** `add`, `remove`, `list`, `edit`: the registry side of the CLI. Logic lives in ServerManager. */

const restartOptions = {
  'restart-sec': { type: 'string' },
  'restart-burst': { type: 'string' },
  'restart-window': { type: 'string' },
  'idle-stop': { type: 'string' },
} as const;

/** --idle-stop SEC: 0 for never. */
const idleStopOption = (v: string | undefined) => intOption(v, 'idle-stop', 0, 7 * 24 * 3600);

function restartPolicy(v: { 'restart-sec'?: string; 'restart-burst'?: string; 'restart-window'?: string }): Partial<RestartPolicy> | undefined {
  const num = (s: string | undefined, name: string, min: number) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n) || n < min) throw new McpshareError('usage', `--${name} must be a number ≥ ${min}, got "${s}"`);
    return n;
  };
  const p = {
    restartSec: num(v['restart-sec'], 'restart-sec', 0.1),
    burst: intOption(v['restart-burst'], 'restart-burst', 1, 1000),
    intervalSec: num(v['restart-window'], 'restart-window', 1),
  };
  return Object.values(p).some((x) => x !== undefined) ? p : undefined;
}

function shareOption(v: string | undefined): ShareMode | undefined {
  if (v === undefined) return undefined;
  try {
    return parseShareMode(v);
  } catch (err) {
    throw new McpshareError('usage', (err as Error).message);
  }
}

function envOption(list: string[] | undefined): Record<string, string> {
  try {
    return parseEnvAssignments(list);
  } catch (err) {
    throw new McpshareError('usage', (err as Error).message);
  }
}

export const addUsage = `Usage: mcpshare add NAME [options] -- COMMAND [ARGS...]

Registers an MCP server to run once as a login daemon that every session shares, and
writes its unit (systemd user unit, LaunchAgent, or the built-in supervisor's entry).

  stdio server (run behind "mcpshare bridge"):
    mcpshare add memory -- npx -y @modelcontextprotocol/server-memory
  server with its own HTTP transport (its command carries transport and port flags):
    mcpshare add mongo --native http --port 8010 --env MDB_MCP_CONNECTION_STRING=... \\
      -- npx -y mongodb-mcp-server --transport http --httpPort 8010

Options:
  --port N              loopback port (default: the first free one in 8001-8099)
  --native http|sse     the server speaks this transport itself (no bridge)
  --path PATH           a native server's endpoint (default /mcp, or /sse for sse)
  --env KEY=VAL         a variable for the server, kept in ~/.config/mcp/NAME.env (0600); repeatable
  --env-file FILE       copy the variables of a KEY=VALUE file into ~/.config/mcp/NAME.env (0600)
  --cwd DIR             working directory of the server
  --restart-sec S       pause before a restart after a crash (default 2)
  --restart-burst N     starts allowed within the window before it counts as a crash loop (default 5)
  --restart-window S    the crash-loop window in seconds (default 120)
  --share MODE          global: one process for every session; project: one per project (the
                        session's roots, or the X-Mcpshare-Project header apply writes), shared by
                        that project's sessions; session: one per session. Default: project for
                        servers scoped by roots or a directory (server-filesystem, git), session for
                        servers that keep a session's state in memory (sequential-thinking,
                        browsers, REPLs), global for the others
  --idle-stop S         stop the server after S seconds without requests, start it again on the
                        next one (default 600; 0: never; servers known to keep state only in
                        memory are never stopped); the daemon and its sessions stay
  --start               start it right away
`;

export async function addCommand(argv: string[]): Promise<number> {
  const { values, positionals, rest } = parseCommandLine(argv, {
    port: { type: 'string' },
    native: { type: 'string' },
    path: { type: 'string' },
    env: { type: 'string', multiple: true },
    'env-file': { type: 'string' },
    cwd: { type: 'string' },
    start: { type: 'boolean' },
    share: { type: 'string' },
    ...restartOptions,
  });
  const [name, ...extra] = positionals;
  if (!name) throw new McpshareError('usage', 'give the server a NAME, e.g. mcpshare add memory -- npx -y @modelcontextprotocol/server-memory');
  if (extra.length) throw new McpshareError('usage', `unexpected "${extra[0]}": put the server's command after "--"`);
  if (rest.length === 0)
    throw new McpshareError('usage', `no command given; put it after "--", e.g. mcpshare add ${name} -- npx -y @modelcontextprotocol/server-memory`);
  const native = values.native;
  if (native !== undefined && native !== 'http' && native !== 'sse') throw new McpshareError('usage', `--native must be "http" or "sse", got "${native}"`);
  if (native && values.port === undefined)
    throw new McpshareError('usage', '--native needs --port N: the same port the command line tells the server to listen on');
  if (values.path !== undefined && !native) throw new McpshareError('usage', '--path is only for --native servers (a bridge serves /mcp and /sse)');
  const manager = new ServerManager();
  const { entry, warnings } = await manager.add({
    name,
    command: rest[0],
    args: rest.slice(1),
    port: intOption(values.port, 'port', 1, 65535),
    native,
    path: values.path,
    env: envOption(values.env),
    envFile: values['env-file'],
    cwd: values.cwd,
    restart: restartPolicy(values),
    share: shareOption(values.share),
    idleStopSec: idleStopOption(values['idle-stop']),
  });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const b = await manager.backendFor(entry.backend);
  const share = shareOf(entry);
  process.stdout.write(
    `added "${entry.name}" (${entry.kind}) on http://localhost:${entry.port}${entry.path}\n` +
      (entry.kind === 'bridged'
        ? `  sharing: ${share} (${describeShareMode(share)})${values.share ? '' : `: ${shareabilityOf(entry.command, entry.args).shareReason}`}\n`
        : '') +
      (b.definitionPath(entry.name) ? `  unit: ${b.definitionPath(entry.name)}\n` : `  run by the built-in supervisor\n`) +
      (entry.envFile ? `  env file: ${entry.envFile}\n` : ''),
  );
  if (values.start) {
    const s = await new Daemons(manager).start(entry.name);
    process.stdout.write(`${s.name}: ${s.state}${s.state === 'up' ? '' : ` (${s.detail})`}\n`);
    return s.state === 'up' ? 0 : 1;
  }
  process.stdout.write(`start it with: mcpshare start ${entry.name}\n`);
  return 0;
}

export const removeUsage = `Usage: mcpshare remove NAME

Stops the server's daemon and deletes its unit, its registry entry and the env file mcpshare wrote.
`;

export async function removeCommand(argv: string[]): Promise<number> {
  const { positionals } = parseCommandLine(argv, {});
  if (positionals.length !== 1) throw new McpshareError('usage', 'give exactly one server NAME');
  const removed = await new ServerManager().remove(positionals[0]);
  process.stdout.write(`removed "${positionals[0]}"${removed.length ? `\n${removed.map((f) => `  deleted ${f}`).join('\n')}` : ''}\n`);
  return 0;
}

export const listUsage = `Usage: mcpshare list [--json]

The registered servers and how they are run (for their live state, see "mcpshare status").
`;

export async function listCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { json: { type: 'boolean' } }, false);
  const entries = new ServerManager().list();
  if (values.json) {
    // Every bridged entry shows its sharing mode, also those written before modes existed.
    process.stdout.write(
      JSON.stringify(
        entries.map((e) => (e.kind === 'bridged' ? { ...e, share: shareOf(e) } : e)),
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  if (entries.length === 0) {
    process.stdout.write('No servers registered yet. Add one with: mcpshare add NAME -- COMMAND [ARGS...]\n');
    return 0;
  }
  process.stdout.write(
    table([
      ['NAME', 'KIND', 'SHARE', 'PORT', 'BACKEND', 'COMMAND'],
      ...entries.map((e) => [
        e.name,
        e.kind === 'native' ? `native ${e.transport}` : 'bridged',
        e.kind === 'native' ? '-' : shareOf(e),
        String(e.port),
        e.backend,
        showCommand(e.command, e.args),
      ]),
    ]),
  );
  return 0;
}

export const editUsage = `Usage: mcpshare edit NAME [options] [-- COMMAND [ARGS...]]

Changes a registered server, rewrites its unit, and restarts its daemon if it was running.

Options:
  --port N              move it to another port
  --env KEY=VAL         set a variable in its env file (repeatable)
  --unset-env KEY       remove a variable from its env file (repeatable)
  --env-file FILE       replace its variables with those of FILE (copied, 0600)
  --cwd DIR             working directory
  --restart-sec S, --restart-burst N, --restart-window S   restart policy (see "mcpshare help add")
  --share MODE          global, project or session (see "mcpshare help add")
  --idle-stop S         stop the server after S seconds without requests (0: never)
  -- COMMAND [ARGS...]  replace the command line
`;

export async function editCommand(argv: string[]): Promise<number> {
  const { values, positionals, rest, hadDashDash } = parseCommandLine(argv, {
    port: { type: 'string' },
    env: { type: 'string', multiple: true },
    'unset-env': { type: 'string', multiple: true },
    'env-file': { type: 'string' },
    cwd: { type: 'string' },
    share: { type: 'string' },
    ...restartOptions,
  });
  if (positionals.length !== 1) throw new McpshareError('usage', 'give exactly one server NAME (and its new command after "--")');
  if (hadDashDash && rest.length === 0) throw new McpshareError('usage', 'nothing after "--": give the new command');
  const { entry, restarted, warnings } = await new ServerManager().edit(positionals[0], {
    port: intOption(values.port, 'port', 1, 65535),
    command: rest[0],
    args: rest.length ? rest.slice(1) : undefined,
    env: envOption(values.env),
    unsetEnv: values['unset-env'],
    envFile: values['env-file'],
    cwd: values.cwd,
    restart: restartPolicy(values),
    share: shareOption(values.share),
    idleStopSec: idleStopOption(values['idle-stop']),
  });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`updated "${entry.name}" (http://localhost:${entry.port}${entry.path})${restarted ? '; its daemon was restarted' : ''}\n`);
  return 0;
}
