import { connect } from 'node:net';
import { exchange, readText } from '../health/wire.js';
import type { ServerEntry } from '../registry/registry.js';
import { groupMemory, groupRss, sumMemory, type Memory } from '../util/procinfo.js';
import type { BackendName, UnitState } from './backend.js';
import { clientUrl } from './daemon.js';

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

interface BridgeStatusBody {
  child?: { pid: number | null; state: string; restarts: number; rssBytes: number | null; memory?: Memory | null; lastExit?: { reason: string } | null };
  server?: { name: string; version: string } | null;
  sessions?: { total: number };
  bridgeRssBytes?: number | null;
  bridgeMemory?: Memory | null;
}

/** The word for a daemon's state in tables and menus: "idle" for an up daemon whose server sleeps. */
export function stateWord(s: Pick<ServerStatus, 'state' | 'idle'>): string {
  return s.state === 'up' && s.idle ? 'idle' : s.state;
}

/**
 * GET /status of a bridge on loopback; undefined when nothing (or not a bridge) answers in time.
 * On node:http, not fetch: fetch loads undici and its WebAssembly parser, about 30 MB of RSS in the
 * tray and in every CLI call that reads a status.
 */
export async function fetchBridgeStatus(port: number, timeoutMs = 2000): Promise<BridgeStatusBody | undefined> {
  const ex = await exchange(new URL(`http://127.0.0.1:${port}/status`), { method: 'GET', timeoutMs, headers: { accept: 'application/json' } });
  if (ex.kind !== 'response') return undefined;
  try {
    const text = await readText(ex.res, timeoutMs);
    if (ex.status !== 200) return undefined;
    const body = JSON.parse(text) as BridgeStatusBody;
    return body && typeof body === 'object' && 'child' in body ? body : undefined;
  } catch {
    return undefined;
  } finally {
    ex.req.destroy();
  }
}

export interface WakeResult {
  ok: boolean;
  /** The server's state before: `idle` when this call started it. */
  was?: string;
  ms?: number;
  pid?: number | null;
  error?: string;
}

/**
 * POST /wake to a bridge: starts its server if it sleeps and answers once it is ready (what
 * `check --deep` adds to the handshake, which a sleeping server answers from its snapshot).
 */
export async function wakeBridge(port: number, timeoutMs = 65_000): Promise<WakeResult> {
  const ex = await exchange(new URL(`http://127.0.0.1:${port}/wake`), { method: 'POST', timeoutMs, headers: { accept: 'application/json' }, body: '' });
  if (ex.kind !== 'response') return { ok: false, error: ex.message };
  try {
    const text = await readText(ex.res, timeoutMs);
    const body = JSON.parse(text) as WakeResult;
    if (ex.status === 404) return { ok: false, error: 'this bridge cannot be woken on request (an older mcpshare): restart it' };
    return body && typeof body === 'object' ? body : { ok: false, error: `unexpected answer (HTTP ${ex.status})` };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    ex.req.destroy();
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
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
    idle: false,
    memory: null,
  };
  return Object.assign(row, fields);
}

/** Combines what the service manager says with what the daemon itself answers. */
export async function describeDaemon(
  entry: ServerEntry,
  unit: UnitState,
  ctx: { backend: BackendName; logFile: string; unitFile: string | undefined },
): Promise<ServerStatus> {
  const row = await describeState(entry, unit, ctx);
  if (unit.warning) row.detail = row.detail ? `${row.detail}; ${unit.warning}` : unit.warning;
  return row;
}

async function describeState(
  entry: ServerEntry,
  unit: UnitState,
  ctx: { backend: BackendName; logFile: string; unitFile: string | undefined },
): Promise<ServerStatus> {
  const row = statusRow(entry, { backend: ctx.backend, state: 'stopped', restarts: unit.restarts, pid: unit.pid ?? null, detail: unit.detail ?? '', logFile: ctx.logFile, unitFile: ctx.unitFile ?? null });
  if (!unit.installed) {
    row.state = 'down';
    row.detail = `its ${ctx.backend === 'systemd' ? 'unit file' : 'definition'} is missing; run "mcpshare edit ${entry.name}" to write it again`;
    return row;
  }
  if (unit.crashLoop) {
    row.state = 'crash-loop';
    row.detail = `gave up after ${unit.restarts} restarts (${unit.detail ?? 'start limit hit'}); see ${ctx.logFile}`;
    return row;
  }
  if (unit.active === 'failed') {
    row.state = 'down';
    row.detail = `${unit.detail ?? 'failed'}; see ${ctx.logFile}`;
    return row;
  }
  if (unit.active === 'stopped') return row;
  if (unit.active === 'starting') {
    row.state = 'starting';
    return row;
  }
  // The process runs: ask the daemon itself.
  if (entry.kind === 'bridged') {
    const s = await fetchBridgeStatus(entry.port);
    if (!s) {
      row.state = 'starting';
      row.detail = `running (pid ${unit.pid ?? '?'}) but http://127.0.0.1:${entry.port}/status does not answer yet`;
      row.rssBytes = unit.pid ? (groupRss(unit.pid) ?? null) : null;
      row.memory = unit.pid ? (groupMemory(unit.pid) ?? null) : null;
      return row;
    }
    row.sessions = s.sessions?.total ?? null;
    row.server = s.server ?? null;
    row.restarts += s.child?.restarts ?? 0;
    row.rssBytes = (s.bridgeRssBytes ?? 0) + (s.child?.rssBytes ?? 0) || null;
    // The bridge's own cost counts: it is what sharing pays for the sessions it saves.
    row.memory = sumMemory([s.bridgeMemory, s.child?.memory]) ?? null;
    const child = s.child?.state;
    // A child in its own crash loop makes the bridge exit; the service manager then restarts the
    // bridge or declares the crash loop, so until then the daemon is still "starting". An idle
    // child (asleep on purpose) is a daemon that is up: it answers, and starts its server on demand.
    row.state = child === 'ready' || child === 'idle' ? 'up' : 'starting';
    row.idle = child === 'idle';
    row.detail =
      child === 'ready'
        ? `serving ${row.sessions ?? 0} session(s)`
        : child === 'idle'
          ? `idle: ready, its server asleep until a request needs it; ${row.sessions ?? 0} session(s)`
          : `server ${child}${s.child?.lastExit ? `: ${s.child.lastExit.reason}` : ''}`;
    return row;
  }
  row.rssBytes = unit.pid ? (groupRss(unit.pid) ?? null) : null;
  row.memory = unit.pid ? (groupMemory(unit.pid) ?? null) : null;
  if (await portAccepts(entry.port)) {
    row.state = 'up';
    row.detail = `listening on port ${entry.port}`;
  } else {
    row.state = 'starting';
    row.detail = `running (pid ${unit.pid ?? '?'}) but port ${entry.port} is not open yet; if this lasts, the server may be in stdio mode (check its transport flag)`;
  }
  return row;
}
