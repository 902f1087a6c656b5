import { connect } from 'node:net';
import type { BridgeStatus } from '../bridge/status.js';
import type { ServerEntry } from '../registry/registry.js';
import type { ServerManager } from '../units/manager.js';
import { describeUnit, type ServerStatus, type UnitReport } from '../units/status.js';
import { groupMemory, groupRss, sumMemory } from '../util/procinfo.js';
import { exchange, readText } from './wire.js';

/**
 * The registered daemons as a person sees them: what the service manager says (units), completed
 * by what each running daemon answers itself. Health owns this asking; units only start, stop and
 * inspect. `mcpshare start|stop|restart|status`, the tray and the doctor read daemons through here.
 */
export class Daemons {
  constructor(readonly manager: ServerManager) {}

  list(): ServerEntry[] {
    return this.manager.list();
  }

  /** One row per registered server (or the named ones), in name order. */
  async status(names?: string[]): Promise<ServerStatus[]> {
    const entries = names?.length ? names.map((n) => this.manager.registry.require(n)) : this.manager.list();
    return Promise.all(entries.map((e) => this.statusOf(e)));
  }

  async statusOf(entry: ServerEntry): Promise<ServerStatus> {
    return describeDaemon(entry, await this.manager.unitOf(entry));
  }

  /** Starts a daemon (clearing a crash loop) and, unless told not to, waits until it is up or clearly not. */
  async start(name: string, opts: { waitMs?: number } = {}): Promise<ServerStatus> {
    return this.waitSettled(await this.manager.start(name), opts.waitMs ?? 30_000);
  }

  async stop(name: string): Promise<ServerStatus> {
    return this.statusOf(await this.manager.stop(name));
  }

  async restart(name: string, opts: { waitMs?: number } = {}): Promise<ServerStatus> {
    return this.waitSettled(await this.manager.restart(name), opts.waitMs ?? 30_000);
  }

  private async waitSettled(entry: ServerEntry, waitMs: number): Promise<ServerStatus> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const s = await this.statusOf(entry);
      if (s.state !== 'starting' || Date.now() >= deadline) return s;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * GET /status of a bridge on loopback; undefined when nothing (or not a bridge) answers in time.
 * On node:http, not fetch: fetch loads undici and its WebAssembly parser, about 30 MB of RSS in the
 * tray and in every CLI call that reads a status.
 */
export async function fetchBridgeStatus(port: number, timeoutMs = 2000): Promise<Partial<BridgeStatus> | undefined> {
  const ex = await exchange(new URL(`http://127.0.0.1:${port}/status`), { method: 'GET', timeoutMs, headers: { accept: 'application/json' } });
  if (ex.kind !== 'response') return undefined;
  try {
    const text = await readText(ex.res, timeoutMs);
    if (ex.status !== 200) return undefined;
    // Partial: a bridge of another mcpshare version may lack newer fields.
    const body = JSON.parse(text) as Partial<BridgeStatus>;
    return body && typeof body === 'object' && 'child' in body ? body : undefined;
  } catch {
    return undefined;
  } finally {
    ex.req.destroy();
  }
}

/** What a bridge's POST /wake answers. */
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
    if (ex.status === 404) return { ok: false, error: 'this bridge cannot be woken on request (an older mcpshare): restart it' };
    const text = await readText(ex.res, timeoutMs);
    const body = JSON.parse(text) as WakeResult;
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

/** Combines what the service manager says with what the daemon itself answers. */
export async function describeDaemon(entry: ServerEntry, report: UnitReport): Promise<ServerStatus> {
  const { row, running } = describeUnit(entry, report);
  if (running) await askDaemon(entry, report, row);
  const { warning } = report.unit;
  if (warning) row.detail = row.detail ? `${row.detail}; ${warning}` : warning;
  return row;
}

/** The process runs: fills in what the daemon itself says (a bridge's /status, a native server's port). */
async function askDaemon(entry: ServerEntry, { unit }: UnitReport, row: ServerStatus): Promise<void> {
  if (entry.kind === 'bridged') {
    const s = await fetchBridgeStatus(entry.port);
    if (!s) {
      row.state = 'starting';
      row.detail = `running (pid ${unit.pid ?? '?'}) but http://127.0.0.1:${entry.port}/status does not answer yet`;
      row.rssBytes = unit.pid ? (groupRss(unit.pid) ?? null) : null;
      row.memory = unit.pid ? (groupMemory(unit.pid) ?? null) : null;
      return;
    }
    row.sessions = s.sessions?.total ?? null;
    if (s.share) row.share = s.share;
    row.children = (s.children ?? []).map((c) => ({
      scope: c.scope,
      label: c.label,
      pid: c.pid,
      state: c.state,
      restarts: c.restarts,
      rssBytes: c.rssBytes,
      // Optional: a bridge of an older mcpshare reports RSS only.
      memory: c.memory ?? null,
      sessions: c.sessions,
    }));
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
    const pooled = s.share && s.share !== 'global' ? ` with ${row.children.filter((c) => c.pid !== null).length} running process(es), one per ${s.share}` : '';
    row.detail =
      child === 'ready'
        ? `serving ${row.sessions ?? 0} session(s)${pooled}`
        : child === 'idle'
          ? `idle: ready, its server asleep until a request needs it; ${row.sessions ?? 0} session(s)`
          : `server ${child}${s.child?.lastExit ? `: ${s.child.lastExit.reason}` : ''}`;
    return;
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
}
