import type { ServerEntry } from '../registry/registry.js';
import type { BackendName } from '../registry/registry.js';
import type { UnitState } from './backend.js';
import { clientUrl } from '../registry/url.js';
import type { Memory } from '../util/procinfo.js';
import type { ShareMode } from '../util/share-mode.js';
import { shareOf } from '../registry/registry.js';

/**
 * One row of `mcpshare status --json` (and of the tray's menu). This shape is documented in the
 * README and kept stable: fields are only ever added.
 */
export type DaemonState = 'up' | 'starting' | 'down' | 'stopped' | 'crash-loop';

export interface ServerStatus {
  name: string;
  kind: ServerEntry['kind'];
  transport: ServerEntry['transport'];
  url: string;
  port: number;
  backend: BackendName;
  state: DaemonState;
  /** Restarts by the service manager, plus the bridge's in-place restarts of its child. */
  restarts: number;
  pid: number | null;
  /** RSS of the daemon: the bridge plus its server child, or the native server's process group. */
  rssBytes: number | null;
  /** Open client sessions (bridged servers only). */
  sessions: number | null;
  /** The MCP server's own name and version, when the bridge has initialized it. */
  server: { name: string; version: string } | null;
  /** Why it is in this state, for people. */
  detail: string;
  logFile: string;
  unitFile: string | null;
  /** Bridged servers: how the server's process is shared (global, project, session); null for native ones. */
  share: ShareMode | null;
  /** Bridged servers: every child process of the daemon, one row each (what its /status reports). */
  children: ChildStatus[];
  /**
   * `state` is "up" and the daemon is ready, but its server is asleep (not started yet, or stopped
   * for being unused; the next request starts it): shown as "idle". Its server costs no memory.
   */
  idle: boolean;
  /**
   * What the daemon really costs: the bridge and its server (or a native server's process group),
   * as PSS where the OS reports it (Linux), else RSS; `kind` says which. null when not running.
   */
  memory: Memory | null;
}

/** One child process of a bridge: global mode has one; project and session modes one per project or session. */
export interface ChildStatus {
  scope: 'global' | 'project' | 'session' | 'spare';
  /** The project's roots, or the session it serves. */
  label: string;
  pid: number | null;
  state: string;
  restarts: number;
  rssBytes: number | null;
  /** Its process group's memory, PSS where the OS gives it, else RSS; null when not running. */
  memory: Memory | null;
  sessions: number;
}

/** The word for a daemon's state in tables and menus: "idle" for an up daemon whose server sleeps. */
export function stateWord(s: Pick<ServerStatus, 'state' | 'idle'>): string {
  return s.state === 'up' && s.idle ? 'idle' : s.state;
}

/**
 * A row for `entry` with nothing measured yet (no pid, memory, sessions or server info) and the
 * given fields; the status readers, the health monitor and the tray fill in what they know.
 */
export function statusRow(entry: ServerEntry, fields: Pick<ServerStatus, 'state' | 'detail'> & Partial<ServerStatus>): ServerStatus {
  // Every key in the documented order of `status --json`; Object.assign keeps that order.
  const row: ServerStatus = {
    name: entry.name,
    kind: entry.kind,
    transport: entry.transport,
    url: clientUrl(entry),
    port: entry.port,
    backend: entry.backend,
    state: 'stopped',
    restarts: 0,
    pid: null,
    rssBytes: null,
    sessions: null,
    server: null,
    detail: '',
    logFile: '',
    unitFile: null,
    share: entry.kind === 'bridged' ? shareOf(entry) : null,
    children: [],
    idle: false,
    memory: null,
  };
  return Object.assign(row, fields);
}

/** What the service manager says about one daemon, and where its files are (ServerManager.unitOf). */
export interface UnitReport {
  unit: UnitState;
  backend: BackendName;
  logFile: string;
  unitFile: string | undefined;
}

/**
 * The row the service manager's word alone gives. `running` is true when the process runs: then
 * only the daemon itself can say whether it serves, and health/daemons.ts asks it (units never
 * talk to daemons).
 */
export function describeUnit(entry: ServerEntry, report: UnitReport): { row: ServerStatus; running: boolean } {
  const { unit, backend, logFile, unitFile } = report;
  const row = statusRow(entry, {
    backend,
    state: 'stopped',
    restarts: unit.restarts,
    pid: unit.pid ?? null,
    detail: unit.detail ?? '',
    logFile,
    unitFile: unitFile ?? null,
  });
  if (!unit.installed) {
    row.state = 'down';
    row.detail = `its ${backend === 'systemd' ? 'unit file' : 'definition'} is missing; run "mcpshare edit ${entry.name}" to write it again`;
  } else if (unit.crashLoop) {
    row.state = 'crash-loop';
    row.detail = `gave up after ${unit.restarts} restarts (${unit.detail ?? 'start limit hit'}); see ${logFile}`;
  } else if (unit.active === 'failed') {
    row.state = 'down';
    row.detail = `${unit.detail ?? 'failed'}; see ${logFile}`;
  } else if (unit.active === 'starting') {
    row.state = 'starting';
  } else if (unit.active === 'running') {
    return { row, running: true };
  }
  return { row, running: false };
}
