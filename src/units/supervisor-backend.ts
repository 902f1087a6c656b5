import { spawn } from 'node:child_process';
import { lockHolder } from '../util/pid-lock.js';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import type { RestartPolicy } from '../registry/registry.js';
import { NODE_MEMORY_FLAGS } from '../runtime.js';
import type { ServiceBackend, UnitState } from './backend.js';
import { CLI_PATH, type DaemonSpec } from './daemon.js';
import type { UserPaths } from '../registry/paths.js';
import { sendControl, stateFilePath, supervisorLockPath, supervisorLogPath, type ControlReply, type ControlRequest } from './supervisor-control.js';

/**
 * The ServiceBackend for machines without systemd or launchd: it talks to the built-in supervisor
 * (`mcpshare supervise`) over its control socket, starting one in the background when needed.
 */
export class SupervisorBackend implements ServiceBackend {
  readonly name = 'supervisor' as const;

  constructor(private readonly paths: UserPaths) {}

  definitionPath(): undefined {
    return undefined; // the registry is the definition
  }

  async install(_spec: DaemonSpec): Promise<void> {
    mkdirSync(this.paths.logDir, { recursive: true, mode: 0o700 });
  }

  async uninstall(name: string): Promise<void> {
    await sendControl(this.paths, { op: 'forget', name });
  }

  async prepareStart(): Promise<void> {
    await this.ensureRunning();
  }

  async start(name: string): Promise<void> {
    await this.ensureRunning();
    await this.request({ op: 'start', name });
  }

  async stop(name: string): Promise<void> {
    if (await this.running()) await this.request({ op: 'stop', name });
  }

  async restart(name: string): Promise<void> {
    await this.ensureRunning();
    await this.request({ op: 'restart', name });
  }

  async inspect(name: string, _policy: RestartPolicy): Promise<UnitState> {
    const reply = await sendControl(this.paths, { op: 'inspect', name }, 5000);
    if (!reply) {
      // A supervisor killed with -9 leaves its daemons running: say so rather than "stopped".
      const orphan = leftoverDaemonPid(this.paths, name);
      return orphan
        ? {
            installed: true,
            active: 'running',
            crashLoop: false,
            restarts: 0,
            pid: orphan,
            warning: `left running by a supervisor that died; "mcpshare start ${name}" puts it back under supervision`,
          }
        : { installed: true, active: 'stopped', crashLoop: false, restarts: 0, detail: 'the supervisor is not running' };
    }
    if (!reply.ok) throw new Error(`supervisor: ${reply.error}`);
    return reply.state!;
  }

  async running(): Promise<boolean> {
    const r = await sendControl(this.paths, { op: 'ping' }, 5000);
    return !!r?.ok;
  }

  /** Stops every daemon and the supervisor itself. */
  async shutdown(): Promise<boolean> {
    return !!(await sendControl(this.paths, { op: 'shutdown' }, 5000))?.ok;
  }

  private async request(req: ControlRequest): Promise<ControlReply & { ok: true }> {
    const reply = await sendControl(this.paths, req);
    if (!reply) throw new Error('the mcpshare supervisor is not running (it may have been killed); run "mcpshare supervise" or start the server again');
    if (!reply.ok) throw new Error(`supervisor: ${reply.error}`);
    return reply;
  }

  private starting: Promise<void> | undefined;

  /**
   * Starts `mcpshare supervise --idle` detached (it outlives this command) and waits for its socket.
   * Parallel starts (the tray starting every daemon at login) share one launch.
   */
  ensureRunning(timeoutMs = 10_000): Promise<void> {
    this.starting ??= this.launch(timeoutMs).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async launch(timeoutMs: number): Promise<void> {
    if (await this.running()) return;
    mkdirSync(this.paths.logDir, { recursive: true, mode: 0o700 });
    const fd = openSync(supervisorLogPath(this.paths), 'a', 0o600);
    const proc = spawn(process.execPath, [...NODE_MEMORY_FLAGS, CLI_PATH, 'supervise', '--idle'], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, HOME: this.paths.home },
    });
    closeSync(fd);
    proc.unref();
    // Set by the 'exit' callback; the cast keeps TypeScript from narrowing it to null for good.
    let exited = null as number | null;
    proc.once('exit', (code) => (exited = code ?? 1));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.running()) return;
      // It exits at once when another supervisor holds the lock (one started by another command,
      // slow to answer): then wait for that one instead.
      if (exited !== null && !lockHolder(supervisorLockPath(this.paths), 'supervise')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the mcpshare supervisor did not start${exited !== null ? ` (exit ${exited})` : ''}; see ${supervisorLogPath(this.paths)}`);
  }
}

/** The pid a dead supervisor recorded for this daemon, if that process still lives. */
function leftoverDaemonPid(paths: UserPaths, name: string): number | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFilePath(paths), 'utf8')) as { daemons?: Record<string, number> };
    const pid = state.daemons?.[name];
    if (!pid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
