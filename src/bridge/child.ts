import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import { encodeMessage, LineDecoder } from './framing.js';

export interface ChildSpec {
  command: string;
  args: string[];
  cwd?: string;
  /** The complete environment for the child (the caller merges process.env and the env file on purpose). */
  env: NodeJS.ProcessEnv;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT, EACCES...). */
  spawnError?: string;
  /** The last lines the child wrote to stderr: usually the reason it died. */
  stderrTail: string[];
}

interface ChildEvents {
  message: [JSONRPCMessage];
  exit: [ChildExit];
}

const STDERR_TAIL = 20;
/**
 * After the process leader exits, how long to wait for its stdout/stderr to close before the run is
 * reported over anyway: a grandchild (npx/uvx style) that inherited the pipes and outlives the
 * leader must not keep in-flight requests waiting.
 */
const EXIT_DRAIN_MS = 250;
/** After the leader exits, what is left of its group gets SIGTERM at once and SIGKILL after this. */
const GROUP_KILL_GRACE_MS = 1000;

/**
 * One run of the stdio server: spawned without a shell in its own process group (so npx/uvx
 * grandchildren die with it), framed as newline-delimited JSON-RPC. Junk lines on stdout are logged
 * and skipped; stderr goes to the log. Writes are whole lines through a single writer.
 */
export class ChildProcessHost extends EventEmitter<ChildEvents> {
  private proc?: ChildProcessWithoutNullStreams;
  private readonly decoder = new LineDecoder();
  private readonly stderrTail: string[] = [];
  /** The run is over and reported (exit emitted). */
  private exited = false;
  /** The process leader is gone (Node has closed its stdin); the run may still be draining. */
  private leaderExited = false;
  private exitPromise?: Promise<ChildExit>;
  private groupKillTimer?: NodeJS.Timeout;

  constructor(
    private readonly spec: ChildSpec,
    private readonly log: Logger,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.exited ? undefined : this.proc?.pid;
  }

  get alive(): boolean {
    return !!this.proc && !this.exited && !this.leaderExited;
  }

  start(): void {
    const { command, args, cwd, env } = this.spec;
    const proc = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true, shell: false });
    this.proc = proc;
    this.exitPromise = new Promise<ChildExit>((resolve) => {
      let settled = false;
      const finish = (exit: ChildExit) => {
        if (settled) return;
        settled = true;
        this.exited = true;
        resolve(exit);
        this.emit('exit', exit);
      };
      proc.on('error', (err: NodeJS.ErrnoException) => {
        // 'error' without a pid means the process never started.
        if (proc.pid === undefined) {
          const reason =
            err.code === 'ENOENT'
              ? `command not found: ${command}${cwd ? ` (cwd ${cwd})` : ''}; check the path or install it`
              : err.code === 'EACCES'
                ? `permission denied running ${command}; is it executable?`
                : `could not start ${command}: ${err.message}`;
          finish({ code: null, signal: null, spawnError: reason, stderrTail: [...this.stderrTail] });
        } else {
          this.log.warn(`child process error: ${err.message}`);
        }
      });
      proc.on('exit', (code, signal) => {
        this.leaderExited = true;
        // The run is over. Whatever the leader left in its group (npx/uvx grandchildren, helpers)
        // gets SIGTERM now and SIGKILL after a grace period: a crashed run never leaks processes,
        // and an orphan holding the pipes cannot keep the exit from being noticed.
        this.signalGroup('SIGTERM');
        this.groupKillTimer = setTimeout(() => this.signalGroup('SIGKILL'), GROUP_KILL_GRACE_MS);
        this.groupKillTimer.unref();
        // Normally 'close' follows at once (stdout drained); if something still holds the pipes,
        // report the exit anyway so in-flight requests get their error.
        const drain = setTimeout(() => {
          if (settled) return;
          this.log.warn(`the server's stdout stayed open ${EXIT_DRAIN_MS} ms after its process exited; treating the run as over`);
          finish({ code, signal, stderrTail: [...this.stderrTail] });
          proc.stdout.destroy();
          proc.stderr.destroy();
        }, EXIT_DRAIN_MS);
        drain.unref();
      });
      proc.on('close', (code, signal) => finish({ code, signal, stderrTail: [...this.stderrTail] }));
    });

    proc.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
    let errPartial = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      const text = errPartial + chunk.toString('utf8');
      const lines = text.split('\n');
      errPartial = lines.pop() ?? '';
      if (errPartial.length > 8192) {
        lines.push(errPartial);
        errPartial = '';
      }
      for (const line of lines) this.onStderrLine(line);
    });
    proc.stderr.on('end', () => {
      if (errPartial) this.onStderrLine(errPartial);
    });
    // EPIPE when the child dies while we write: the exit handler reports it, nothing else to do.
    proc.stdin.on('error', (err) => this.log.debug(`child stdin: ${err.message}`));
  }

  private onStderrLine(line: string): void {
    const trimmed = line.replace(/\r$/, '');
    if (!trimmed) return;
    this.stderrTail.push(trimmed.slice(0, 500));
    if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
    this.log.info(`child stderr: ${trimmed}`);
  }

  private onStdout(chunk: Buffer): void {
    if (this.exited) return; // a finished run's leftovers are never routed
    for (const frame of this.decoder.push(chunk)) {
      if ('message' in frame) this.emit('message', frame.message);
      // A server that prints banners or debug text to stdout keeps working.
      else this.log.warn(`ignored a line on the child's stdout that is not JSON-RPC: ${frame.junk.slice(0, 200)}`);
    }
  }

  /** Bytes written to the child's stdin that it has not read yet. */
  get pendingInputBytes(): number {
    return this.proc?.stdin.writableLength ?? 0;
  }

  send(message: JSONRPCMessage): boolean {
    if (!this.alive || !this.proc) return false;
    this.proc.stdin.write(encodeMessage(message));
    return true;
  }

  /** Signals the whole process group. */
  signal(sig: NodeJS.Signals): void {
    const pid = this.proc?.pid;
    if (pid === undefined || this.exited) return;
    try {
      process.kill(-pid, sig);
    } catch {
      if (this.leaderExited) return; // never a bare pid that may have been reused
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  }

  /** Signals what is left of the group, also after the run was reported over. */
  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // group empty
    }
  }

  /** Stops the child: closes stdin, SIGTERM to the group, SIGKILL after the grace period. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.proc || !this.exitPromise) return;
    const pid = this.proc.pid;
    if (!this.exited) {
      this.proc.stdin.end();
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
      await this.exitPromise;
      clearTimeout(timer);
    }
    // The leader may be gone while grandchildren linger in the group.
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // group empty
      }
    }
    clearTimeout(this.groupKillTimer);
  }

  /** Synchronous last resort for process exit handlers. */
  killGroupNow(): void {
    const pid = this.proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // nothing left
    }
  }

  waitExit(): Promise<ChildExit> {
    return this.exitPromise ?? Promise.resolve({ code: null, signal: null, stderrTail: [] });
  }
}
