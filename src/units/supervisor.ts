import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import { readEnvFile } from '../util/envfile.js';
import type { UnitState } from './backend.js';
import type { DaemonSpec } from './daemon.js';

/**
 * The built-in supervisor, for machines with neither a systemd user manager nor launchd (containers,
 * WSL without systemd). It gives the same semantics as the units: restart on failure after
 * RestartSec, give up after `burst` starts within `intervalSec` (crash loop), count restarts, and
 * kill the daemon's whole process group on stop.
 */
interface Supervised {
  spec: DaemonSpec;
  proc?: ChildProcess;
  state: UnitState['active'];
  crashLoop: boolean;
  restarts: number;
  startTimes: number[];
  lastExitCode?: number;
  stopping: boolean;
  timer?: NodeJS.Timeout;
  detail?: string;
}

export interface SupervisorEvents {
  /** A daemon entered a crash loop (the tray notifies the desktop). */
  'crash-loop': [name: string, state: UnitState];
  change: [name: string, state: UnitState];
}

const STOP_GRACE_MS = 10_000;

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly services = new Map<string, Supervised>();

  /** Starts (or restarts with a fresh restart count) a daemon from its spec. */
  start(spec: DaemonSpec): void {
    const existing = this.services.get(spec.name);
    if (existing && (existing.state === 'running' || existing.state === 'starting') && !existing.stopping) {
      existing.spec = spec;
      return;
    }
    if (existing?.timer) clearTimeout(existing.timer);
    const s: Supervised = { spec, state: 'starting', crashLoop: false, restarts: 0, startTimes: [], stopping: false };
    this.services.set(spec.name, s);
    this.launch(s);
  }

  async restart(spec: DaemonSpec): Promise<void> {
    await this.stop(spec.name);
    this.start(spec);
  }

  async stop(name: string): Promise<void> {
    const s = this.services.get(name);
    if (!s) return;
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    s.stopping = true;
    const proc = s.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      killGroup(proc, 'SIGTERM');
      const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    // Like `systemctl stop` + `reset-failed`: a stopped daemon is no longer in a crash loop.
    s.state = 'stopped';
    s.crashLoop = false;
    this.emit('change', name, this.inspect(name));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.services.keys()].map((n) => this.stop(n)));
  }

  forget(name: string): void {
    this.services.delete(name);
  }

  names(): string[] {
    return [...this.services.keys()];
  }

  inspect(name: string): UnitState {
    const s = this.services.get(name);
    if (!s) return { installed: true, active: 'stopped', crashLoop: false, restarts: 0, detail: 'not started by the supervisor' };
    return {
      installed: true,
      active: s.state,
      crashLoop: s.crashLoop,
      restarts: s.restarts,
      pid: s.state === 'running' || s.state === 'starting' ? s.proc?.pid : undefined,
      lastExitCode: s.lastExitCode,
      detail: s.detail,
    };
  }

  /** Pids of the running daemons, for the state file that lets a new supervisor clean up after a crashed one. */
  pids(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, s] of this.services) if (s.proc?.pid && s.proc.exitCode === null && s.proc.signalCode === null) out[name] = s.proc.pid;
    return out;
  }

  private launch(s: Supervised): void {
    const { spec } = s;
    const now = Date.now();
    s.startTimes = s.startTimes.filter((t) => now - t < spec.restart.intervalSec * 1000);
    if (s.startTimes.length >= spec.restart.burst) {
      // systemd's StartLimitBurst: the start after `burst` starts in the interval is refused.
      s.state = 'failed';
      s.crashLoop = true;
      s.detail = `start limit hit: ${s.startTimes.length} starts within ${spec.restart.intervalSec} s, last exit ${s.lastExitCode ?? '?'}`;
      const state = this.inspect(spec.name);
      this.emit('change', spec.name, state);
      this.emit('crash-loop', spec.name, state);
      return;
    }
    s.startTimes.push(now);
    s.stopping = false;
    let env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
    let logFd: number | undefined;
    try {
      if (spec.envFile) env = { ...env, ...readEnvFile(spec.envFile) };
      mkdirSync(dirname(spec.logFile), { recursive: true, mode: 0o700 });
      logFd = openSync(spec.logFile, 'a', 0o600);
      const proc = spawn(spec.argv[0], spec.argv.slice(1), { cwd: spec.cwd, env, stdio: ['ignore', logFd, logFd], detached: true });
      s.proc = proc;
      proc.once('spawn', () => {
        if (s.proc === proc && !s.stopping) {
          s.state = 'running';
          this.emit('change', spec.name, this.inspect(spec.name));
        }
      });
      proc.once('error', (err) => this.exited(s, proc, 127, `cannot start ${spec.argv[0]}: ${err.message}`));
      proc.once('exit', (code, signal) =>
        this.exited(s, proc, code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0), signal ? `killed by ${signal}` : `exited with status ${code}`),
      );
    } catch (err) {
      s.proc = undefined;
      setImmediate(() => this.exited(s, undefined, 1, (err as Error).message));
    } finally {
      if (logFd !== undefined) closeSync(logFd); // the child holds its own copy
    }
  }

  private exited(s: Supervised, proc: ChildProcess | undefined, code: number, detail: string): void {
    if (proc && s.proc !== proc) return; // a stale process's late event
    if (s.state === 'stopped' || s.state === 'failed') return;
    s.proc = undefined;
    s.lastExitCode = code;
    s.detail = detail;
    if (s.stopping || code === 0) {
      // Restart=on-failure: a clean exit or a stop on request stays down.
      s.state = 'stopped';
      this.emit('change', s.spec.name, this.inspect(s.spec.name));
      return;
    }
    s.state = 'starting';
    this.emit('change', s.spec.name, this.inspect(s.spec.name));
    s.timer = setTimeout(() => {
      s.timer = undefined;
      if (s.stopping) return;
      // Counted like systemd's NRestarts: every automatic restart attempt, including the one the
      // start limit refuses.
      s.restarts++;
      this.launch(s);
    }, s.spec.restart.restartSec * 1000);
  }
}

function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (proc.pid) process.kill(-proc.pid, signal);
  } catch {
    try {
      proc.kill(signal);
    } catch {
      // already gone
    }
  }
}
