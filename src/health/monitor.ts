import { EventEmitter } from 'node:events';
import type { ServerEntry } from '../registry/registry.js';
import { statusRow, type ServerStatus } from '../units/status.js';
import { checkEntry, type Prober, type ServerCheck } from './check.js';
import { probe } from './probe.js';

/**
 * Periodic health of every registered server, for the tray: one round reads the service manager's
 * status and, for daemons that should be serving, does a real handshake. Rounds never overlap, a slow
 * probe never blocks a reader (`snapshot()` returns the last round), and a change of state is an event.
 */
export type HealthState = ServerStatus['state'];

export interface ServerHealth {
  name: string;
  /** `up` only when the service manager says so AND the handshake passed. */
  state: HealthState;
  /** For people: what is wrong (the probe's message), or what it serves. */
  detail: string;
  status: ServerStatus;
  /** Absent when the daemon is not meant to be serving (stopped, crash-loop): no point probing. */
  check?: ServerCheck;
  checkedAt: number;
}

export interface HealthSource {
  list(): ServerEntry[];
  statusOf(entry: ServerEntry): Promise<ServerStatus>;
}

export interface MonitorOptions {
  /** Between the end of one round and the start of the next. Default 30 s. */
  intervalMs?: number;
  /** Per-probe timeout. Default 3 s. */
  timeoutMs?: number;
  probe?: Prober;
}

export interface HealthMonitorEvents {
  /** A server's state changed (or it appeared: previous undefined). */
  change: [current: ServerHealth, previous: ServerHealth | undefined];
  /** A server left the registry. */
  removed: [previous: ServerHealth];
  /** After every round, with all servers. */
  update: [all: ServerHealth[]];
  error: [err: Error];
}

export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly run: Prober;
  private readonly last = new Map<string, ServerHealth>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<ServerHealth[]> | undefined;
  private running = false;

  constructor(
    private readonly source: HealthSource,
    opts: MonitorOptions = {},
  ) {
    super();
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.run = opts.probe ?? probe;
  }

  /** Starts periodic rounds (the first one now). Timers do not keep the process alive. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** The last round's result, in name order; never waits. */
  snapshot(): ServerHealth[] {
    return [...this.last.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Runs a round now (joining one already running), e.g. right after the tray starts or stops a daemon. */
  refresh(): Promise<ServerHealth[]> {
    this.round ??= this.doRound().finally(() => (this.round = undefined));
    return this.round;
  }

  private async tick(): Promise<void> {
    try {
      await this.refresh();
    } catch (err) {
      // An 'error' event without a listener would throw here, in a floating promise, and end the loop.
      if (this.listenerCount('error') > 0) this.emit('error', err as Error);
    }
    if (!this.running) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private async doRound(): Promise<ServerHealth[]> {
    const entries = this.source.list();
    const results = await Promise.all(entries.map((e) => this.healthOf(e)));
    const seen = new Set<string>();
    for (const h of results) {
      seen.add(h.name);
      const prev = this.last.get(h.name);
      this.last.set(h.name, h);
      if (!prev || prev.state !== h.state) this.emit('change', h, prev);
    }
    for (const [name, prev] of this.last) {
      if (seen.has(name)) continue;
      this.last.delete(name);
      this.emit('removed', prev);
    }
    const all = this.snapshot();
    this.emit('update', all);
    return all;
  }

  private async healthOf(entry: ServerEntry): Promise<ServerHealth> {
    let status: ServerStatus;
    try {
      status = await this.source.statusOf(entry);
    } catch (err) {
      // One server's service manager not answering must not blank out the others.
      status = unknownStatus(entry, err as Error);
    }
    const base = { name: entry.name, status, checkedAt: Date.now() };
    // Only a daemon that should be serving is worth a handshake: stopped or crash-looped ones are
    // known to be down, and probing a starting one would only report "refused" early.
    if (status.state !== 'up') return { ...base, state: status.state, detail: status.detail };
    const check = await checkEntry(entry, status, { timeoutMs: this.timeoutMs, noAlternatives: true }, this.run);
    return { ...base, check, state: check.ok ? 'up' : 'down', detail: check.ok ? status.detail : `${check.message}${check.fix ? `; ${check.fix}` : ''}` };
  }
}

/** A row for a server whose state could not be read (the service manager did not answer). */
function unknownStatus(entry: ServerEntry, err: Error): ServerStatus {
  return statusRow(entry, { state: 'down', detail: `its state could not be read from ${entry.backend}: ${err.message}` });
}
