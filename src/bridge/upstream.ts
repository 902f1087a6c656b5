import { EventEmitter } from 'node:events';
import type { ClientCapabilities, Implementation, InitializeResult, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { LATEST_PROTOCOL_VERSION } from './protocol.js';
import { ChildProcessHost, type ChildExit, type ChildSpec } from './child.js';
import type { Logger } from '../util/log.js';
import { isResponse, isRequest } from './jsonrpc.js';
import { isMcpshareError, McpshareError } from '../errors.js';

/** Unread bytes on the child's stdin beyond which new requests are refused (a stuck child). */
export const MAX_PENDING_INPUT_BYTES = 16 * 1024 * 1024;

/** `idle`: no child process on purpose (not started yet, or stopped for being unused); the next request starts it. */
export type ChildState = 'idle' | 'starting' | 'ready' | 'restarting' | 'failed' | 'stopped';

export interface UpstreamOptions {
  spec: ChildSpec;
  clientInfo: Implementation;
  /** How long a child may take to answer initialize (npx downloads can be slow). */
  initTimeoutMs: number;
  /** Crash-loop rule: this many child exits inside restartWindowMs make the bridge give up. */
  restartLimit: number;
  restartWindowMs: number;
  /**
   * Give up at once when the child dies before it ever became ready, instead of retrying in place:
   * under a service manager a server that cannot start is the manager's to retry and count.
   */
  failFast?: boolean;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface ChildDown extends ChildExit {
  /** One sentence a person can act on. */
  reason: string;
  /** True when this exit completed a crash loop: there will be no restart. */
  final: boolean;
}

interface UpstreamEvents {
  /** A message from the child that the upstream did not consume itself. */
  message: [JSONRPCMessage];
  /** restart: a child ran before in this bridge; woke: it was stopped for being idle, not by a crash. */
  ready: [{ restart: boolean; woke?: boolean }];
  down: [ChildDown];
  /** Crash loop: the bridge should exit non-zero so its supervisor sees it. */
  fatal: [string];
}

/** What the bridge declares to the child: everything it can route to some client. */
const BRIDGE_CAPABILITIES: ClientCapabilities = {
  roots: { listChanged: true },
  sampling: {},
  elicitation: { form: {}, url: {} },
};

interface InternalPending {
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The single upstream connection: owns the child process across restarts, performs the one
 * initialize handshake per child run, allocates upstream request ids, and decides when a crashing
 * child has become a crash loop.
 */
export class Upstream extends EventEmitter<UpstreamEvents> {
  state: ChildState = 'stopped';
  initResult?: InitializeResult;
  restarts = 0;
  lastExit?: ChildDown;
  private child?: ChildProcessHost;
  private idCounter = 0;
  private readonly internal = new Map<number, InternalPending>();
  private readonly crashTimes: number[] = [];
  private restartTimer?: NodeJS.Timeout;
  private startedOnce = false;
  private everReady = false;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private fatalMessage?: string;
  /** Set by recycle(): the coming exit is a replacement the bridge asked for, not a crash. */
  private recycleReason?: string;
  private waking = false;
  /** When a client message or a request of the bridge's own last went to the child (ms). */
  lastUsed = Date.now();

  constructor(
    private readonly opts: UpstreamOptions,
    private readonly log: Logger,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.state === 'idle' ? undefined : this.child?.pid;
  }

  /**
   * What the child said in its initialize (or the discovery snapshot's copy of it) while it can
   * still be relied on: not once the bridge gave up or is stopping.
   */
  get knownInit(): InitializeResult | undefined {
    return this.state === 'failed' || this.state === 'stopped' ? undefined : this.initResult;
  }

  /**
   * True when the child has stopped reading its stdin and this much is queued for it: new requests
   * are refused instead of growing the bridge's memory without bound.
   */
  get congested(): boolean {
    return (this.child?.pendingInputBytes ?? 0) > MAX_PENDING_INPUT_BYTES;
  }

  /** Fresh integer id for any request sent to the child (never a string: some servers reject them). */
  nextId(): number {
    return ++this.idCounter;
  }

  /** Starts the child now, or (lazy) leaves it `idle` until a request needs it. */
  start(lazy = false): void {
    if (lazy) {
      this.state = 'idle';
      this.log.info('MCP server not started: it starts when a request needs it');
      return;
    }
    this.spawnChild();
  }

  /** Starts an idle child; anything else is left as it is. */
  wake(): void {
    if (this.state !== 'idle') return;
    this.waking = true;
    this.log.info('a request needs the MCP server: starting it');
    this.spawnChild();
  }

  /**
   * Stops a ready child because nobody uses it; it is started again on the next request. Not a
   * crash: it counts toward no crash loop and the bridge keeps serving its sessions.
   */
  sleep(): Promise<void> | undefined {
    if (this.state !== 'ready' || !this.child) return undefined;
    this.state = 'idle';
    return this.child.stop();
  }

  send(message: JSONRPCMessage): boolean {
    if (this.state !== 'ready') return false;
    this.lastUsed = Date.now();
    return !!this.child?.send(message);
  }

  /** Resolves once the child is initialized; rejects on timeout or when the bridge gave up. */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    this.wake();
    if (this.state === 'failed' || this.state === 'stopped') {
      return Promise.reject(new Error(this.fatalMessage ?? 'the MCP server is stopped'));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
        reject(new Error(`the MCP server is not ready yet (state: ${this.state}); try again shortly`));
      }, timeoutMs);
      this.readyWaiters.push(waiter);
    });
  }

  /** A request of the bridge's own (initialize, logging/setLevel, replayed subscriptions). */
  request(method: string, params: Record<string, unknown> | undefined, timeoutMs = 10_000): Promise<unknown> {
    const id = this.nextId();
    this.lastUsed = Date.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.internal.delete(id);
        reject(
          new McpshareError('upstream-timeout', `${method} got no answer from the MCP server within ${Math.round(timeoutMs / 1000)} s`, {
            context: { method, timeoutMs },
          }),
        );
      }, timeoutMs);
      this.internal.set(id, { resolve, reject, timer });
      const sent = this.child?.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) } as JSONRPCMessage);
      if (!sent) {
        clearTimeout(timer);
        this.internal.delete(id);
        reject(new Error(`cannot send ${method}: the MCP server process is not running`));
      }
    });
  }

  notify(method: string, params?: Record<string, unknown>): void {
    this.child?.send({ jsonrpc: '2.0', method, ...(params ? { params } : {}) } as JSONRPCMessage);
  }

  private spawnChild(): void {
    const restart = this.startedOnce;
    this.startedOnce = true;
    this.state = 'starting';
    const child = new ChildProcessHost(this.opts.spec, this.log.child('child'));
    this.child = child;
    child.on('message', (m) => this.onChildMessage(m));
    child.once('exit', (exit) => this.onChildExit(child, exit));
    child.start();
    if (child.pid !== undefined) this.log.info(`started MCP server: pid ${child.pid}`);
    void this.handshake(child, restart);
  }

  private async handshake(child: ChildProcessHost, restart: boolean): Promise<void> {
    try {
      const result = (await this.request(
        'initialize',
        { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: BRIDGE_CAPABILITIES, clientInfo: this.opts.clientInfo },
        this.opts.initTimeoutMs,
      )) as InitializeResult;
      if (this.child !== child || !child.alive) return;
      if (!result || typeof result !== 'object' || !result.capabilities || !result.serverInfo) {
        throw new Error('the MCP server answered initialize with a malformed result');
      }
      this.initResult = result;
      this.notify('notifications/initialized');
      this.state = 'ready';
      this.everReady = true;
      this.log.info(`MCP server ready: ${result.serverInfo.name} ${result.serverInfo.version ?? ''} (protocol ${result.protocolVersion})`);
      for (const w of this.readyWaiters.splice(0)) w.resolve();
      const woke = this.waking;
      this.waking = false;
      this.emit('ready', { restart, woke });
    } catch (err) {
      if (this.child !== child || !child.alive) return; // the exit handler reports it
      const msg = (err as Error).message;
      this.pendingReason = isMcpshareError(err, 'upstream-timeout')
        ? `the MCP server did not answer initialize within ${Math.round(this.opts.initTimeoutMs / 1000)} s; is it a stdio MCP server, and does it start with these arguments?`
        : `initialize failed: ${msg}`;
      this.log.error(this.pendingReason);
      child.signal('SIGKILL');
    }
  }

  private pendingReason?: string;

  private onChildMessage(message: JSONRPCMessage): void {
    if (isResponse(message) && typeof message.id === 'number' && this.internal.has(message.id)) {
      const pending = this.internal.get(message.id)!;
      this.internal.delete(message.id);
      clearTimeout(pending.timer);
      if ('error' in message) pending.reject(new Error(`${message.error.message} (code ${message.error.code})`));
      else pending.resolve(message.result);
      return;
    }
    if (isRequest(message) && message.method === 'ping') {
      this.child?.send({ jsonrpc: '2.0', id: message.id, result: {} });
      return;
    }
    if (this.state !== 'ready') {
      this.log.debug(`dropped ${'method' in message ? message.method : 'a response'} from the MCP server before it was initialized`);
      return;
    }
    // Idle time counts from the end of the last request (a long call is use all along); the
    // child's own notifications do not count, or a server that reports on a timer never sleeps.
    if (isResponse(message)) this.lastUsed = Date.now();
    this.emit('message', message);
  }

  private onChildExit(child: ChildProcessHost, exit: ChildExit): void {
    if (this.child !== child) return;
    for (const [id, p] of this.internal) {
      clearTimeout(p.timer);
      p.reject(new Error('the MCP server process exited'));
      this.internal.delete(id);
    }
    // Stopped on purpose (shutdown, or asleep for being idle): no crash.
    if (this.state === 'stopped' || this.state === 'idle') return;
    this.waking = false;
    if (this.recycleReason !== undefined) {
      const down: ChildDown = { ...exit, reason: this.recycleReason, final: false };
      this.recycleReason = undefined;
      this.lastExit = down;
      this.state = 'restarting';
      this.emit('down', down);
      this.restarts++;
      this.spawnChild();
      return;
    }
    const how = exit.spawnError
      ? exit.spawnError
      : exit.signal
        ? `the MCP server was killed by ${exit.signal}`
        : `the MCP server exited with code ${exit.code}`;
    const reason = this.pendingReason ?? how;
    this.pendingReason = undefined;
    const now = Date.now();
    this.crashTimes.push(now);
    while (this.crashTimes.length && now - this.crashTimes[0] > this.opts.restartWindowMs) this.crashTimes.shift();
    const neverReady = !!this.opts.failFast && !this.everReady;
    const final = neverReady || this.crashTimes.length >= this.opts.restartLimit;
    const down: ChildDown = { ...exit, reason, final };
    this.lastExit = down;
    this.log.warn(`${reason}${exit.stderrTail.length ? `; last stderr: ${exit.stderrTail.slice(-3).join(' | ')}` : ''}`);
    this.state = final ? 'failed' : 'restarting';
    this.emit('down', down);

    if (final) {
      const lastLine = exit.stderrTail.length ? `; its last stderr line: ${exit.stderrTail[exit.stderrTail.length - 1]}` : '';
      this.fatalMessage = neverReady
        ? `the MCP server stopped before it became ready (${reason})${lastLine}`
        : `crash loop: the MCP server stopped ${this.crashTimes.length} times within ${Math.round(this.opts.restartWindowMs / 1000)} s (last: ${reason})${lastLine}`;
      const fatal = this.fatalMessage;
      for (const w of this.readyWaiters.splice(0)) w.reject(new Error(fatal));
      // The rejected waiters (clients' initialize) answer in promise callbacks: let them write
      // their errors before 'fatal' makes the bridge close every session and exit.
      setImmediate(() => {
        if (this.state === 'failed') this.emit('fatal', fatal);
      });
      return;
    }
    const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (this.crashTimes.length - 1));
    this.log.info(`restarting the MCP server in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.state !== 'restarting') return;
      this.restarts++;
      this.spawnChild();
    }, delay);
  }

  /**
   * Replaces the running child with a fresh process at once, outside the crash-loop count: for when
   * the process holds something it must forget (roots of a session that left the set it serves).
   * Requests wait for the new process from now on. False when no process runs (none to replace:
   * the next one starts fresh anyway).
   */
  recycle(reason: string): boolean {
    if (!this.child?.alive || this.state === 'stopped' || this.state === 'failed' || this.state === 'idle') return false;
    this.recycleReason = reason;
    this.state = 'restarting';
    this.log.info(`restarting the MCP server: ${reason}`);
    const child = this.child;
    child.signal('SIGTERM');
    setTimeout(() => child.signal('SIGKILL'), 3000).unref();
    return true;
  }

  /**
   * From now on a child exit is the shutdown, not a crash: under systemd (KillMode=control-group)
   * the child gets SIGTERM at the same moment as the bridge and must not be restarted.
   */
  markStopping(): void {
    this.state = 'stopped';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const w of this.readyWaiters.splice(0)) w.reject(new Error('the bridge is shutting down'));
  }

  async stop(): Promise<void> {
    this.markStopping();
    await this.child?.stop();
  }

  killNow(): void {
    this.child?.killGroupNow();
  }
}
