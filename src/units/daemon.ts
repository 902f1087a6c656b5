import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RestartPolicy, ServerEntry } from '../registry/registry.js';
import { clientUrl } from '../registry/url.js';
import { McpshareError } from '../errors.js';
import { idleStopDefault } from '../registry/shareability.js';
import { NODE_MEMORY_FLAGS } from '../runtime.js';
import { logFilePath, userPaths, type UserPaths } from '../registry/paths.js';

/** This installation's CLI, which units run as `node dist/cli.js bridge …`. */
export const CLI_PATH = fileURLToPath(new URL('../cli.js', import.meta.url));

/**
 * What a service manager must run for one registry entry, independent of which manager runs it.
 * systemd.ts, launchd.ts and supervisor.ts each render this one description.
 */
export interface DaemonSpec {
  name: string;
  description: string;
  /** Absolute program and its arguments; never run through a shell. */
  argv: string[];
  cwd?: string;
  /** Secrets file the manager loads into the daemon's environment (systemd EnvironmentFile=, launchd's shell shim). */
  envFile?: string;
  /** Non-secret environment (PATH) the daemon needs to find node/npx/uvx when started at login. */
  env: Record<string, string>;
  logFile: string;
  restart: RestartPolicy;
  /** What clients connect to. */
  url: string;
}

/**
 * Resolves a command the way a shell would (PATH lookup unless it contains a slash) and returns its
 * absolute path; service managers do not search the user's interactive PATH, so units carry it.
 */
export function resolveCommand(command: string, pathEnv = process.env.PATH ?? '', cwd = process.cwd()): string {
  const executable = (p: string) => {
    try {
      if (!statSync(p).isFile()) return false;
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (command.includes('/')) {
    const abs = isAbsolute(command) ? command : resolve(cwd, command);
    if (executable(abs)) return abs;
    throw new McpshareError('command-not-found', `command not found or not executable: ${abs}`, { context: { command } });
  }
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (executable(candidate)) return candidate;
  }
  throw new McpshareError('command-not-found', `command not found: "${command}" is not on PATH (${pathEnv || 'empty'}); install it or give its full path`, {
    context: { command },
  });
}

/** The entry's idle stop in seconds (0: never): its own, else the default for its command. */
export function idleStopOf(entry: Pick<ServerEntry, 'idleStopSec' | 'command' | 'args'>): number {
  return entry.idleStopSec ?? idleStopDefault(entry.command, entry.args).seconds;
}

export function daemonSpec(entry: ServerEntry, paths: UserPaths = userPaths()): DaemonSpec {
  const pathEnv = entry.pathEnv ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  const program = resolveCommand(entry.command, pathEnv, entry.cwd);
  const env = { PATH: pathEnv };
  const common = {
    name: entry.name,
    cwd: entry.cwd,
    env,
    logFile: logFilePath(paths, entry.name),
    restart: entry.restart,
    url: clientUrl(entry),
    envFile: entry.envFile,
  };
  if (entry.kind === 'native') {
    return { ...common, description: `MCP server "${entry.name}" (native ${entry.transport}) for mcpshare`, argv: [program, ...entry.args] };
  }
  const argv = [
    process.execPath,
    ...NODE_MEMORY_FLAGS,
    CLI_PATH,
    'bridge',
    '--name',
    entry.name,
    '--port',
    String(entry.port),
    // Once up, the bridge restarts its child in place (sessions survive); a server that cannot
    // start at all makes it exit at once, so the manager's restart counter and start limit apply.
    '--fail-fast',
    '--restart-limit',
    String(entry.restart.burst),
    '--restart-window',
    String(entry.restart.intervalSec),
    // The server runs only while it is used: discovery is answered from its snapshot meanwhile.
    '--lazy',
    '--idle-stop',
    String(idleStopOf(entry)),
    ...(entry.cwd ? ['--cwd', entry.cwd] : []),
    // One process per project or session (global, the bridge's default, is left out).
    ...(entry.share && entry.share !== 'global' ? ['--share', entry.share] : []),
    // The manager already put the env file's variables in the bridge's environment (the child
    // inherits them); the bridge reads the file too, so it knows which values to redact from its log.
    ...(entry.envFile ? ['--env-file', entry.envFile] : []),
    '--',
    program,
    ...entry.args,
  ];
  return { ...common, description: `MCP server "${entry.name}" shared by mcpshare`, argv };
}
