import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Conf from 'conf';
import { McpshareError } from '../errors.js';
import type { ShareMode } from '../util/share-mode.js';
import { defaultRegistryDir } from './location.js';
import { validateName } from './names.js';
import { validServers, type BACKEND_NAMES } from './schema.js';

/**
 * The registry: the servers a user shares, stored with `conf` (atomic writes) in
 * `~/.config/mcpshare/config.json` (`~/Library/Preferences/mcpshare-nodejs/` on macOS).
 * It never holds a secret: those live in the entry's env file.
 */
export type ServerKind = 'bridged' | 'native';
/** The service manager a daemon is installed with (units/select.ts picks one). */
export type BackendName = (typeof BACKEND_NAMES)[number];
export type ClientTransport = 'http' | 'sse';

export interface RestartPolicy {
  /** Seconds between a crash and the next start. */
  restartSec: number;
  /** Starts allowed within `intervalSec` before the daemon is declared in a crash loop. */
  burst: number;
  intervalSec: number;
}

/** An entry's sharing mode (entries written before sharing modes have none: global). */
export function shareOf(entry: Pick<ServerEntry, 'share'>): ShareMode {
  return entry.share ?? 'global';
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { restartSec: 2, burst: 5, intervalSec: 120 };

export interface ServerEntry {
  name: string;
  /** bridged: a stdio server run behind `mcpshare bridge`; native: a server that speaks HTTP/SSE itself. */
  kind: ServerKind;
  /** How clients reach it: Streamable HTTP at `/mcp` or legacy SSE at `/sse` (bridged servers offer both). */
  transport: ClientTransport;
  /** The endpoint path clients use (`/mcp` or `/sse` unless a native server says otherwise). */
  path: string;
  command: string;
  args: string[];
  port: number;
  cwd?: string;
  /** The server's secrets: `~/.config/mcp/NAME.env` (0600), written by mcpshare. */
  envFile?: string;
  /** PATH at registration time, so a daemon started by systemd/launchd finds `node`, `npx`, `uvx`. */
  pathEnv?: string;
  restart: RestartPolicy;
  /**
   * How its process is shared among sessions (bridged servers): one for all, one per project, one
   * per session. Absent in entries written before sharing modes: global.
   */
  share?: ShareMode;
  /**
   * Seconds without requests after which a bridged daemon stops its server (0: never); absent: the
   * default for its command (shareability.ts idleStopDefault). The daemon and its sessions stay.
   */
  idleStopSec?: number;
  /** The service manager its daemon was installed with (so a later shell without systemd does not start a duplicate). */
  backend: BackendName;
  addedAt: string;
  updatedAt?: string;
}

interface Store {
  version: 1;
  servers: Record<string, ServerEntry>;
}

export interface RegistryOptions {
  /** Directory of config.json (default: conf's per-user config dir for "mcpshare"). */
  dir?: string;
}

export class Registry {
  private readonly conf: Conf<Store>;

  constructor(opts: RegistryOptions = {}) {
    try {
      this.conf = new Conf<Store>({
        projectName: 'mcpshare',
        // ~/.config/mcpshare on Linux (DESIGN.md); conf's default suffix elsewhere.
        projectSuffix: process.platform === 'darwin' ? 'nodejs' : '',
        cwd: opts.dir,
        configFileMode: 0o600,
        accessPropertiesByDotNotation: false,
      });
    } catch (err) {
      throw corrupt(err, join(opts.dir ?? defaultRegistryDir(), 'config.json'));
    }
  }

  get path(): string {
    return this.conf.path;
  }

  list(): ServerEntry[] {
    return Object.values(this.read().servers).sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): ServerEntry | undefined {
    return this.read().servers[name];
  }

  /** The entry, or an error that lists the names that do exist. */
  require(name: string): ServerEntry {
    const entry = this.get(name);
    if (entry) return entry;
    const names = this.list().map((e) => e.name);
    throw new McpshareError(
      'unknown-server',
      `no server named "${name}" is registered` +
        (names.length ? ` (registered: ${names.join(', ')})` : ' (none yet: add one with "mcpshare add NAME -- COMMAND")'),
      { context: { name } },
    );
  }

  add(entry: ServerEntry): void {
    validateName(entry.name);
    const store = this.read();
    if (store.servers[entry.name]) {
      throw new McpshareError(
        'duplicate-server',
        `a server named "${entry.name}" is already registered; use "mcpshare edit ${entry.name}" or remove it first`,
        { context: { name: entry.name } },
      );
    }
    store.servers[entry.name] = entry;
    this.write(store);
  }

  update(name: string, patch: Partial<Omit<ServerEntry, 'name'>>): ServerEntry {
    const store = this.read();
    const current = store.servers[name];
    if (!current) this.require(name);
    const next: ServerEntry = { ...current, ...patch, name, updatedAt: new Date().toISOString() };
    for (const key of Object.keys(next) as (keyof ServerEntry)[]) if (next[key] === undefined) delete next[key];
    store.servers[name] = next;
    this.write(store);
    return next;
  }

  remove(name: string): ServerEntry {
    const store = this.read();
    const entry = store.servers[name];
    if (!entry) this.require(name);
    delete store.servers[name];
    this.write(store);
    return entry;
  }

  private read(): Store {
    let raw: unknown;
    try {
      raw = this.conf.store;
    } catch (err) {
      throw corrupt(err, this.conf.path);
    }
    const store = raw as Partial<Store>;
    if (store.servers !== undefined && (typeof store.servers !== 'object' || store.servers === null || Array.isArray(store.servers))) {
      throw new McpshareError(
        'registry-invalid',
        `${this.conf.path}: "servers" is not an object; the file was left as is — fix it or restore ${this.conf.path}.bak`,
        {
          context: { file: this.conf.path },
        },
      );
    }
    // Every entry checked on every read: a hand edit is reported naming the field, before anything acts on it.
    return { version: 1, servers: validServers(store.servers ?? {}, this.conf.path) };
  }

  /** conf writes atomically; the previous good file is kept as config.json.bak before every change. */
  private write(store: Store): void {
    if (existsSync(this.conf.path)) copyFileSync(this.conf.path, `${this.conf.path}.bak`);
    this.conf.store = store;
  }
}

function corrupt(err: unknown, path: string): McpshareError<'registry-unreadable'> {
  const e = err as Error;
  const what = e.name === 'SyntaxError' ? `is not valid JSON (${e.message})` : `cannot be read (${e.message})`;
  return new McpshareError('registry-unreadable', `${path} ${what}; it was left untouched — fix it, or restore ${path}.bak if it exists`, {
    cause: err,
    context: { file: path },
  });
}
