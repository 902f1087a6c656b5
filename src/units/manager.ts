import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { McpshareError } from '../errors.js';
import { lookupKnown } from '../registry/known-servers.js';
import type { ShareMode } from '../util/share-mode.js';
import { nativeFlagWords, shareabilityOf } from '../registry/shareability.js';
import { validateName } from '../registry/names.js';
import { allocatePort, checkChosenPort, isPortFree } from '../registry/ports.js';
import { DEFAULT_RESTART_POLICY, Registry, type BackendName, type ClientTransport, type RestartPolicy, type ServerEntry } from '../registry/registry.js';
import { readEnvIfExists, removeEnvFile, writeEnvFile } from '../registry/secrets.js';
import type { ServiceBackend, UnitState } from './backend.js';
import { daemonSpec, resolveCommand } from './daemon.js';
import { rotateLog } from './logs.js';
import { envFilePath, logFilePath, userPaths, type UserPaths } from '../registry/paths.js';
import { runCommand, type CommandRunner } from './runner.js';
import { detectBackend, openBackend } from './select.js';
import type { UnitReport } from './status.js';

export interface AddOptions {
  name: string;
  command: string;
  args: string[];
  /** Loopback port; allocated from 8001–8099 when absent. */
  port?: number;
  /** The server speaks this transport itself (its command carries the transport and port flags). */
  native?: ClientTransport;
  /** Endpoint path of a native server (default /mcp for http, /sse for sse). */
  path?: string;
  /** Secret variables: written to ~/.config/mcp/NAME.env (0600), never to the registry or unit. */
  env?: Record<string, string>;
  /** A KEY=VALUE file whose variables are copied into ~/.config/mcp/NAME.env (merged under `env`). */
  envFile?: string;
  cwd?: string;
  restart?: Partial<RestartPolicy>;
  /** How its process is shared (bridged servers); default: what known-servers.ts says, else global. */
  share?: ShareMode;
  /** Seconds without requests before the server is stopped (0: never); absent: its default. */
  idleStopSec?: number;
}

export interface EditOptions {
  port?: number;
  command?: string;
  args?: string[];
  /** Variables to set (merged into the server's env file). */
  env?: Record<string, string>;
  /** Variables to remove from the env file. */
  unsetEnv?: string[];
  /** Replace the server's variables with this file's (then `env`, `unsetEnv` apply). */
  envFile?: string;
  cwd?: string;
  restart?: Partial<RestartPolicy>;
  share?: ShareMode;
  /** Seconds without requests before the server is stopped (0: never). */
  idleStopSec?: number;
}

export interface ManagerOptions {
  paths?: UserPaths;
  /** Registry directory (default: conf's per-user location). */
  registryDir?: string;
  /** Runs systemctl/launchctl (tests of launchd inject one). */
  runner?: CommandRunner;
  env?: NodeJS.ProcessEnv;
}

/** A daemon's log is moved to NAME.log.1 when over 10 MB, before a start. */
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

/**
 * The one place that turns user intent into registry entries, env files, units and running daemons.
 * The CLI and the tray call these methods; they stay thin.
 */
export class ServerManager {
  readonly paths: UserPaths;
  readonly registry: Registry;
  private readonly runner: CommandRunner;
  private readonly env: NodeJS.ProcessEnv;
  private readonly backends = new Map<BackendName, Promise<ServiceBackend>>();

  constructor(opts: ManagerOptions = {}) {
    this.env = opts.env ?? process.env;
    this.paths = opts.paths ?? userPaths(this.env);
    this.registry = new Registry({ dir: opts.registryDir });
    this.runner = opts.runner ?? runCommand;
  }

  list(): ServerEntry[] {
    return this.registry.list();
  }

  backendFor(name: BackendName): Promise<ServiceBackend> {
    let b = this.backends.get(name);
    if (!b) {
      b = openBackend(name, this.paths, this.runner);
      b.catch(() => this.backends.delete(name));
      this.backends.set(name, b);
    }
    return b;
  }

  /** Registers a server, writes its secrets and unit, and enables it at login. Returns warnings for people. */
  async add(o: AddOptions): Promise<{ entry: ServerEntry; warnings: string[] }> {
    validateName(o.name);
    if (this.registry.get(o.name))
      throw new McpshareError(
        'duplicate-server',
        `a server named "${o.name}" is already registered; change it with "mcpshare edit ${o.name}" or remove it first`,
        { context: { name: o.name } },
      );
    const warnings: string[] = [];
    const cwd = o.cwd ? checkDir(o.cwd) : undefined;
    const pathEnv = this.env.PATH ?? '';
    resolveCommand(o.command, pathEnv, cwd); // "command not found" now, not at the first start
    const port = await this.choosePort(o.port, undefined);
    const known = lookupKnown(o.command, o.args);
    if (o.native) {
      if (known?.native && !argsContain(o.args, known.native.transportFlag)) {
        warnings.push(
          `${known.id} speaks stdio unless told otherwise: add "${nativeFlagWords(known.native, port).join(' ')}"` +
            ` to its command, or it will bind nothing useful (or run it bridged: leave out --native)`,
        );
      }
      if (!o.args.some((a) => a.includes(String(port))))
        warnings.push(`the command does not mention port ${port}: make sure the server listens on 127.0.0.1:${port}`);
    } else if (known?.native) {
      warnings.push(
        `${known.id} can serve HTTP itself; "--native ${known.native.transport}" with "${known.native.transportFlag}" would save the bridge process`,
      );
    }
    const share = chooseShare(o.command, o.args, o.native, o.share);
    if (o.native && o.idleStopSec !== undefined) throw idleStopNative(o.name);
    if (known?.sharing === 'stateful' && share !== 'session') {
      warnings.push(
        `${known.id} is stateful (${known.reason}); sharing one instance between sessions may mix their state (--share session gives each session its own)`,
      );
    }

    const vars = { ...(o.envFile ? importEnvFile(o.envFile, warnings) : {}), ...(o.env ?? {}) };
    const envFile = Object.keys(vars).length ? envFilePath(this.paths, o.name) : undefined;
    if (envFile) writeEnvFile(envFile, vars);
    const backend = await detectBackend(this.env, this.runner);
    const entry: ServerEntry = {
      name: o.name,
      kind: o.native ? 'native' : 'bridged',
      transport: o.native ?? 'http',
      path: o.path ?? (o.native === 'sse' ? '/sse' : '/mcp'),
      command: o.command,
      args: o.args,
      port,
      ...(cwd ? { cwd } : {}),
      ...(envFile ? { envFile } : {}),
      pathEnv,
      restart: { ...DEFAULT_RESTART_POLICY, ...definedOnly(o.restart) },
      ...(o.native ? {} : { share }),
      ...(o.idleStopSec !== undefined ? { idleStopSec: o.idleStopSec } : {}),
      backend,
      addedAt: new Date().toISOString(),
    };
    try {
      const b = await this.backendFor(backend);
      this.registry.add(entry);
      await b.install(daemonSpec(entry, this.paths));
    } catch (err) {
      // Leave nothing half-registered behind.
      if (this.registry.get(entry.name)) this.registry.remove(entry.name);
      if (envFile) removeEnvFile(envFile);
      throw err;
    }
    return { entry, warnings };
  }

  /** Stops the daemon, removes its unit, its registry entry and the env file mcpshare wrote. Returns removed files. */
  async remove(name: string): Promise<string[]> {
    const entry = this.registry.require(name);
    const b = await this.backendFor(entry.backend);
    const removed: string[] = [];
    const def = b.definitionPath(name);
    await b.uninstall(name);
    if (def) removed.push(def);
    this.registry.remove(name);
    if (entry.envFile) {
      removeEnvFile(entry.envFile);
      removed.push(entry.envFile);
    }
    return removed;
  }

  /** Changes an entry, rewrites its secrets and unit, and restarts the daemon if it was running. */
  async edit(name: string, o: EditOptions): Promise<{ entry: ServerEntry; restarted: boolean; warnings: string[] }> {
    const current = this.registry.require(name);
    const warnings: string[] = [];
    const patch: Partial<ServerEntry> = {};
    if (o.cwd !== undefined) patch.cwd = checkDir(o.cwd);
    if (o.command !== undefined) {
      resolveCommand(o.command, current.pathEnv ?? this.env.PATH ?? '', patch.cwd ?? current.cwd);
      patch.command = o.command;
      patch.args = o.args ?? [];
    }
    if (o.port !== undefined && o.port !== current.port) {
      patch.port = await this.choosePort(o.port, name);
      // A native server is told its port on its own command line (--httpPort 8010, --address
      // localhost:8010): move that too, or it keeps listening on the old port.
      if (current.kind === 'native' && o.command === undefined) {
        const moved = movePortInArgs(current.args, current.port, patch.port);
        if (moved) patch.args = moved;
        else
          warnings.push(
            `its command line does not mention port ${current.port}: make sure the server now listens on ${patch.port} (change it with "mcpshare edit ${name} -- COMMAND ARGS")`,
          );
      }
    }
    if (o.restart) patch.restart = { ...current.restart, ...definedOnly(o.restart) };
    if (o.share !== undefined) {
      if (current.kind === 'native')
        throw new McpshareError(
          'usage',
          `"${name}" serves HTTP itself (native), so mcpshare cannot run one process per project or session for it; --share is for bridged servers`,
        );
      patch.share = o.share;
    }
    if (o.idleStopSec !== undefined) {
      if (current.kind === 'native') throw idleStopNative(name);
      patch.idleStopSec = o.idleStopSec;
    }
    if (o.envFile !== undefined || (o.env && Object.keys(o.env).length) || o.unsetEnv?.length) {
      const file = envFilePath(this.paths, name);
      const base = o.envFile !== undefined ? importEnvFile(o.envFile, warnings) : current.envFile ? readEnvIfExists(current.envFile) : {};
      const vars = { ...base, ...(o.env ?? {}) };
      for (const k of o.unsetEnv ?? []) delete vars[k];
      if (Object.keys(vars).length) {
        writeEnvFile(file, vars);
        patch.envFile = file;
      } else {
        removeEnvFile(file);
        patch.envFile = undefined;
      }
    }
    const b = await this.backendFor(current.backend);
    const before = await b.inspect(name, current.restart);
    const entry = this.registry.update(name, patch);
    await b.install(daemonSpec(entry, this.paths));
    const wasRunning = before.active === 'running' || before.active === 'starting';
    if (wasRunning) await b.restart(name);
    return { entry, restarted: wasRunning, warnings };
  }

  /**
   * Starts a daemon (clearing a crash loop); returns its entry at once. Waiting until it serves
   * takes asking the daemon: health/daemons.ts (Daemons.start) does that.
   */
  async start(name: string): Promise<ServerEntry> {
    const entry = this.registry.require(name);
    const b = await this.backendFor(entry.backend);
    // Before the port check: a supervisor starting up first stops orphans of a killed one that still hold the port.
    await b.prepareStart?.();
    const unit = await b.inspect(name, entry.restart);
    if (unit.active !== 'running' && unit.active !== 'starting' && !(await isPortFree(entry.port))) {
      // Otherwise the daemon would fail to bind and burn through its restarts into a crash loop.
      throw new McpshareError(
        'port-in-use',
        `port ${entry.port} is in use by another program, so "${name}" cannot listen there; free it or move the server with "mcpshare edit ${name} --port N"`,
        {
          context: { port: entry.port },
        },
      );
    }
    rotateLog(logFilePath(this.paths, name), LOG_ROTATE_BYTES);
    await b.start(name);
    return entry;
  }

  async stop(name: string): Promise<ServerEntry> {
    const entry = this.registry.require(name);
    await (await this.backendFor(entry.backend)).stop(name);
    return entry;
  }

  async restart(name: string): Promise<ServerEntry> {
    const entry = this.registry.require(name);
    const b = await this.backendFor(entry.backend);
    rotateLog(logFilePath(this.paths, name), LOG_ROTATE_BYTES);
    await b.restart(name);
    return entry;
  }

  /** What the service manager says about an entry's daemon (never asks the daemon itself). */
  async unitOf(entry: ServerEntry): Promise<UnitReport> {
    const logFile = logFilePath(this.paths, entry.name);
    let b: ServiceBackend | undefined;
    let unit: UnitState;
    try {
      b = await this.backendFor(entry.backend);
      unit = await b.inspect(entry.name, entry.restart);
    } catch (err) {
      // A service manager that cannot be opened or does not answer (a stopped supervisor, a hung
      // systemctl) makes this one row "down" with the reason, not the whole status, check or tray round.
      const message = (err as Error).message;
      unit = { installed: true, active: 'failed', crashLoop: false, restarts: 0, detail: b ? `its state could not be read: ${message}` : message };
    }
    return { unit, backend: entry.backend, logFile, unitFile: b?.definitionPath(entry.name) };
  }

  private async choosePort(port: number | undefined, self: string | undefined): Promise<number> {
    const entries = this.registry.list();
    if (port === undefined) return allocatePort(new Set(entries.map((e) => e.port)));
    await checkChosenPort(port, new Map(entries.map((e) => [e.port, e.name])), self);
    return port;
  }
}

function checkDir(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new McpshareError('not-found', `--cwd ${abs} is not a directory`, { context: { path: abs } });
  return abs;
}

/**
 * Reads a user's env file for copying into ~/.config/mcp/NAME.env: one place, mode 0600, whatever
 * the original's mode was (a world-readable original gets a warning).
 */
function importEnvFile(file: string, warnings: string[]): Record<string, string> {
  const abs = isAbsolute(file) ? file : resolve(file);
  if (!existsSync(abs)) throw new McpshareError('not-found', `env file ${abs} does not exist`, { context: { path: abs } });
  const vars = readEnvIfExists(abs); // a syntax error names the file and line
  if (statSync(abs).mode & 0o077)
    warnings.push(`${abs} is readable by other users; its variables were copied to a 0600 file, consider deleting it or "chmod 600 ${abs}"`);
  return vars;
}

/** True when every word of `flag` ("--transport http") appears in order in args (also as --transport=http). */
function argsContain(args: readonly string[], flag: string): boolean {
  const line = ` ${args.join(' ')} `;
  const [name, value] = flag.split(' ');
  return line.includes(` ${flag} `) || (value !== undefined && line.includes(` ${name}=${value} `));
}

/** The args with the old port replaced where it stands as a port value (`8010`, `--port=8010`, `localhost:8010`); undefined when it appears nowhere. */
export function movePortInArgs(args: readonly string[], from: number, to: number): string[] | undefined {
  const old = String(from);
  const pattern = new RegExp(`(^|[=:])${old}$`);
  let changed = false;
  const out = args.map((a) => {
    if (!pattern.test(a)) return a;
    changed = true;
    return a.replace(pattern, `$1${to}`);
  });
  return changed ? out : undefined;
}

function definedOnly<T extends object>(o: Partial<T> | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** --idle-stop needs the bridge: it is the bridge that stops and starts the server. */
function idleStopNative(name: string): McpshareError<'usage'> {
  return new McpshareError(
    'usage',
    `"${name}" serves HTTP itself (native), so mcpshare cannot stop it when idle and start it on demand; --idle-stop is for bridged servers`,
  );
}

/**
 * The sharing mode of a new entry: the one asked for, else what known-servers.ts says for this
 * command (global for servers it does not know). A native server is always one process.
 */
export function chooseShare(command: string, args: readonly string[], native: ClientTransport | undefined, asked: ShareMode | undefined): ShareMode {
  if (native) {
    if (asked && asked !== 'global')
      throw new McpshareError('usage', `--share ${asked} needs the bridge (one process per ${asked}): leave out --native to run it bridged`);
    return 'global';
  }
  return asked ?? shareabilityOf(command, args).share;
}
