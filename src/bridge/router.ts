import type { InitializeResult, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import { ErrorCode, errorResponse, isNotification, isRequest, isResponse, type JSONRPCResponseMessage } from './jsonrpc.js';
import { ChildLogLevel, isLogLevel, LOG_LEVELS, wantsLog } from './log-levels.js';
import { Peer, type PeerInit, type PeerKind, type PeerTransport } from './peer.js';
import { acceptInitialize } from './initialize.js';
import type { Root } from './project-key.js';
import { RequestTable, type Inflight } from './request-table.js';
import { ServerRequests } from './server-requests.js';
import type { LocalAnswers } from './snapshot.js';
import { StatelessEra } from './stateless.js';
import { Subscriptions } from './subscriptions.js';
import type { ChildDown, Upstream } from './upstream.js';

/**
 * SDK clients handle a notification one microtask after a response that arrived in the same read,
 * so a final progress update written in the same TCP chunk as the result is reported as "unknown
 * token" and lost (the SSE client hits this ~9 runs in 10). A result that follows a progress update
 * this closely is held back this long, so the client reads the two separately. 10 ms was enough for
 * an idle client; a client process that stalls for tens of ms (measured: an SDK v1 SSE client beside
 * three others in one busy process) reads both in one chunk all the same, so 50 ms: a call that
 * reports progress is long-running, and 50 ms more on its result is noise.
 */
const PROGRESS_SETTLE_MS = 50;

interface QueuedRequest {
  peer: Peer;
  request: JSONRPCRequest;
  timer: NodeJS.Timeout;
  extra?: Pick<Inflight, 'preAnswers'>;
}

export interface RouterStats {
  /** Open 2025 sessions, per transport. */
  sessions: Record<Exclude<PeerKind, 'stateless'>, number> & { total: number };
  /** 2026-07-28 requests whose response is open now, and the `subscriptions/listen` streams among them. */
  stateless: { open: number; listening: number; parked: number };
  requestsServed: number;
  inFlight: number;
  queued: number;
  serverRequestsRouted: number;
  serverRequestsFallback: number;
  misroutedDropped: number;
  warnings: string[];
}

export interface RouterOptions {
  /** How long a request waits for a (re)starting child before it gets an error. */
  queueTimeoutMs: number;
  /** Secret for signing 2026 `requestState` (never leaves the bridge). */
  stateKey?: Buffer;
  /** Who decides the roots the child is given (see ServerRequestHost.rootsFor). */
  rootsFor?: () => Promise<Root[]> | undefined;
  /** A session's negotiated state changed (initialize, setLevel, subscribe): to be recorded. */
  onSessionState?: (peer: Peer) => void;
}

/**
 * The dispatcher: many client-side peers, one upstream child. Transports are attached with
 * connect(); the jobs live in their own parts (the request table, subscriptions, server→client
 * requests, log levels, the 2026 stateless era), and this class only decides who handles a message.
 */
export class Router {
  readonly peers = new Map<string, Peer>();
  readonly table = new RequestTable();
  readonly subscriptions: Subscriptions;
  readonly serverRequests: ServerRequests;
  readonly logLevel: ChildLogLevel;
  readonly stateless: StatelessEra;
  /** Requests answered without the child while it is not running (the discovery snapshot: attachSnapshot). */
  local?: LocalAnswers;
  private readonly queue: QueuedRequest[] = [];
  private requestsServed = 0;
  private misroutedDropped = 0;

  constructor(
    readonly upstream: Upstream,
    private readonly opts: RouterOptions,
    private readonly log: Logger,
  ) {
    this.subscriptions = new Subscriptions(upstream, log);
    this.logLevel = new ChildLogLevel(upstream, () => this.peers.values(), log);
    this.serverRequests = new ServerRequests(
      {
        table: this.table,
        peers: () => this.peers.values(),
        toChild: (m) => void this.upstream.send(m),
        deliver: (p, m, rel) => this.deliver(p, m, rel),
        childReady: () => this.upstream.state === 'ready',
        askDuringCall: (call, request) => this.stateless.askDuringCall(call, request),
        rootsFor: opts.rootsFor,
      },
      log,
    );
    this.stateless = new StatelessEra(this, { stateKey: opts.stateKey, queueTimeoutMs: opts.queueTimeoutMs }, log.child('2026'));
    upstream.on('message', (m) => this.onChildMessage(m));
    upstream.on('down', (d) => this.onChildDown(d));
    upstream.on('ready', ({ restart, woke }) => this.onChildReady(restart, woke));
    upstream.on('fatal', (msg) => this.onFatal(msg));
  }

  // ───────────────────────────── peers ─────────────────────────────

  /**
   * Attaches a client-side transport, the way the SDK's Protocol.connect does: its messages are
   * routed from now on, and its close ends the peer (after any close handler it already had).
   */
  connect(transport: PeerTransport, init: PeerInit): Peer {
    const peer = new Peer(init, transport);
    const previousClose = transport.onclose;
    transport.onmessage = (message) => this.handleClientMessage(peer, message);
    transport.onclose = () => {
      previousClose?.();
      this.removePeer(peer, 'closed');
    };
    this.adopt(peer);
    return peer;
  }

  /**
   * Takes in a peer whose transport someone else listens to (a child pool, which hands its messages
   * to handleClientMessage and calls removePeer when it closes).
   */
  adopt(peer: Peer): void {
    this.peers.set(peer.id, peer);
    if (peer.era === 'session') this.log.info(`${peer.label} ${peer.initialized ? 'joined' : 'opened'} (${this.sessionCount()} open)`);
    if (peer.logLevel) this.logLevel.sync();
    this.takeUpResumed(peer);
  }

  /**
   * A revived session's subscriptions are this router's from now on: subscribed upstream (the child
   * is woken for them: only a running server reports updates), or replayed when it is ready.
   */
  private takeUpResumed(peer: Peer): void {
    const uris = peer.resumedSubscriptions;
    if (!uris) return;
    peer.resumedSubscriptions = undefined;
    for (const uri of uris) {
      if (this.subscriptions.add(peer, uri) === 'first') this.subscriptions.subscribeUpstream(uri);
    }
    this.upstream.wake();
  }

  private sessionCount(): number {
    let n = 0;
    for (const p of this.peers.values()) if (p.era === 'session') n++;
    return n;
  }

  /** Ends a peer: cancels its in-flight work upstream and releases what only it held. */
  removePeer(peer: Peer, why: string): void {
    if (peer.closed) return;
    peer.closed = true;
    this.detach(peer, why);
  }

  /**
   * Lets go of a peer that lives on (a child pool moves it to another child): its in-flight work is
   * cancelled upstream, its subscriptions and log level released, and it is no longer routed here.
   */
  detach(peer: Peer, why: string): void {
    if (!this.peers.delete(peer.id)) return;
    for (const id of [...peer.inflight]) {
      const entry = this.table.get(id);
      if (entry) this.cancelUpstream(entry, `client ${peer.era === 'session' ? 'session ended' : 'went away'} (${why})`);
    }
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].peer === peer) {
        clearTimeout(this.queue[i].timer);
        this.queue.splice(i, 1);
      }
    }
    this.subscriptions.dropAll(peer);
    this.stateless.peerGone(peer);
    if (peer.logLevel) this.logLevel.sync();
    this.serverRequests.peerGone(peer);
    if (peer.era === 'session') this.log.info(`${peer.label} ${peer.closed ? 'closed' : 'left'}: ${why} (${this.sessionCount()} open)`);
  }

  // ─────────────────────────── client → child ───────────────────────────

  handleClientMessage(peer: Peer, message: JSONRPCMessage): void {
    if (peer.closed) return;
    peer.touch();
    if (isRequest(message)) this.onClientRequest(peer, message);
    else if (isNotification(message)) this.onClientNotification(peer, message);
    else if (isResponse(message)) this.onClientResponse(peer, message);
  }

  reply(peer: Peer, id: RequestId, result: Record<string, unknown>): void {
    this.deliver(peer, { jsonrpc: '2.0', id, result } as JSONRPCMessage, id);
  }

  replyError(peer: Peer, id: RequestId, code: number, message: string, data?: unknown): void {
    this.deliver(peer, errorResponse(id, code, message, data), id);
  }

  private onClientRequest(peer: Peer, request: JSONRPCRequest): void {
    if (peer.era === 'stateless') {
      this.stateless.onRequest(peer, request);
      return;
    }
    switch (request.method) {
      case 'initialize':
        void this.answerInitialize(peer, request);
        return;
      case 'ping':
        this.reply(peer, request.id, {});
        return;
      case 'server/discover':
        this.replyError(
          peer,
          request.id,
          ErrorCode.MethodNotFound,
          'Method not found: server/discover is for stateless (2026-07-28) requests, not inside a session',
        );
        return;
      case 'logging/setLevel':
        if (this.upstream.initResult?.capabilities.logging) {
          this.setSessionLogLevel(peer, request);
          return;
        }
        break;
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        if (this.handleSubscription(peer, request)) return;
        break;
    }
    this.forward(peer, request);
  }

  private async answerInitialize(peer: Peer, request: JSONRPCRequest): Promise<void> {
    try {
      // A child that sleeps, starts or restarts answered initialize before (or the snapshot did):
      // that answer serves the client now, without waiting for (or waking) the process.
      if (!this.upstream.knownInit) await this.upstream.whenReady(this.opts.queueTimeoutMs);
    } catch (err) {
      this.replyError(peer, request.id, ErrorCode.ServerUnavailable, `mcpshare: ${(err as Error).message}`);
      // The session never started: release it instead of keeping it until the idle sweep.
      setImmediate(() => void peer.transport.close());
      return;
    }
    const result = acceptInitialize(peer, request, this.upstream.initResult as InitializeResult);
    this.opts.onSessionState?.(peer);
    this.log.info(`${peer.label} initialized (protocol ${peer.protocolVersion})`);
    this.reply(peer, request.id, result as unknown as Record<string, unknown>);
  }

  /**
   * Whether this request needs the child process running. What the bridge answers itself does not
   * wake a sleeping child: ping, initialize and server/discover (from the known handshake),
   * logging/setLevel, and lists while the discovery snapshot holds them.
   */
  needsChild(request: JSONRPCRequest): boolean {
    if (this.upstream.state === 'ready') return true;
    switch (request.method) {
      case 'ping':
        return false;
      case 'initialize':
      case 'server/discover':
        return !this.upstream.knownInit;
      case 'logging/setLevel':
        return !this.upstream.knownInit?.capabilities.logging;
    }
    return !this.local?.can(request.method, request.params);
  }

  /** Sends a request to the child now, or holds it until the child is (back) up. */
  forward(peer: Peer, request: JSONRPCRequest, extra?: Pick<Inflight, 'preAnswers'>): void {
    if (this.upstream.state !== 'ready' && this.local?.answer(peer, request)) return;
    if (this.upstream.state === 'ready') {
      this.sendUpstream(peer, request, extra);
      return;
    }
    if (this.upstream.state === 'failed' || this.upstream.state === 'stopped') {
      this.replyError(peer, request.id, ErrorCode.ServerUnavailable, 'mcpshare: the MCP server is not running (crash loop or stopped)');
      return;
    }
    this.upstream.wake();
    this.enqueue(peer, request, extra);
  }

  /** Holds a request until the child is (back) up, with an error if that takes too long. */
  private enqueue(peer: Peer, request: JSONRPCRequest, extra?: Pick<Inflight, 'preAnswers'>): void {
    const timer = setTimeout(() => {
      const i = this.queue.findIndex((q) => q.timer === timer);
      if (i < 0) return;
      this.queue.splice(i, 1);
      this.replyError(
        peer,
        request.id,
        ErrorCode.ServerUnavailable,
        `mcpshare: the MCP server did not come back within ${Math.round(this.opts.queueTimeoutMs / 1000)} s`,
      );
    }, this.opts.queueTimeoutMs);
    this.queue.push({ peer, request, timer, extra });
  }

  private sendUpstream(peer: Peer, request: JSONRPCRequest, extra?: Pick<Inflight, 'preAnswers'>): void {
    if (this.upstream.congested) {
      this.replyError(
        peer,
        request.id,
        ErrorCode.InternalError,
        'the MCP server is not reading its input (over 16 MB waiting for it); request refused, try again later',
      );
      return;
    }
    const upstreamId = this.upstream.nextId();
    const entry: Inflight = { upstreamId, peer, clientId: request.id, method: request.method, ...extra };
    let params = request.params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    if (meta && meta.progressToken !== undefined && meta.progressToken !== null) {
      entry.clientProgressToken = meta.progressToken as Inflight['clientProgressToken'];
      params = { ...params, _meta: { ...meta, progressToken: upstreamId } };
    }
    const message = { jsonrpc: '2.0' as const, id: upstreamId, method: request.method, ...(params ? { params } : {}) };
    if (!this.upstream.send(message)) {
      // The child is dying but its exit is not reported yet: wait for the next one like any request.
      this.enqueue(peer, request, extra);
      return;
    }
    if (request.method === 'resources/subscribe') entry.subscribeUri = String((request.params as { uri?: unknown })?.uri);
    this.table.add(entry);
  }

  /** Tells the child to stop working on a request and forgets it; its late answer is dropped quietly. */
  cancelUpstream(entry: Inflight, reason: string): void {
    this.table.remove(entry);
    if (entry.subscribeUri !== undefined) this.subscriptions.remove(entry.peer, entry.subscribeUri);
    if (this.stateless.callGone(entry)) this.stateless.inputs.drop(entry);
    this.upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: entry.upstreamId, reason } });
    this.table.markCancelled(entry.upstreamId);
  }

  private onClientNotification(peer: Peer, note: JSONRPCNotification): void {
    switch (note.method) {
      case 'notifications/initialized':
        return; // the child was initialized once, by the bridge
      case 'notifications/cancelled': {
        const params = (note.params ?? {}) as { requestId?: RequestId; reason?: string };
        if (params.requestId === undefined) return;
        this.cancelClientRequest(peer, params.requestId, params.reason ?? 'cancelled by client');
        return;
      }
      default:
        // A stateless notification belongs to no session the child could relate it to.
        if (peer.era === 'stateless') return;
        // roots/list_changed, and progress for a request the child sent to this client (the
        // child's own tokens): forwarded as they are.
        this.upstream.send(note);
    }
  }

  /** Cancels one request of a peer, upstream if it got there, locally if it was still queued. */
  cancelClientRequest(peer: Peer, clientId: RequestId, reason: string): void {
    const queued = this.queue.findIndex((q) => q.peer === peer && q.request.id === clientId);
    if (queued >= 0) {
      clearTimeout(this.queue[queued].timer);
      this.queue.splice(queued, 1);
      return;
    }
    const entry = this.table.find(peer, clientId);
    if (!entry) return;
    this.cancelUpstream(entry, reason);
    // A cancelled request gets no response (MCP spec); end its HTTP stream so nothing hangs.
    peer.transport.closeSSEStream?.(clientId);
  }

  private onClientResponse(peer: Peer, response: JSONRPCResponseMessage): void {
    if (!this.serverRequests.onClientResponse(peer, response)) {
      this.log.debug(`${peer.label} answered unknown server request id ${JSON.stringify(response.id)}; dropped`);
    }
  }

  // ───────────────────────────── logging ─────────────────────────────

  private setSessionLogLevel(peer: Peer, request: JSONRPCRequest): void {
    const level = (request.params as { level?: string } | undefined)?.level;
    if (!isLogLevel(level)) {
      this.replyError(peer, request.id, ErrorCode.InvalidParams, `invalid logging level: ${String(level)}; use one of ${LOG_LEVELS.join(', ')}`);
      return;
    }
    peer.logLevel = level;
    this.logLevel.sync();
    this.opts.onSessionState?.(peer);
    this.reply(peer, request.id, {});
  }

  // ─────────────────────────── subscriptions ───────────────────────────

  /** Returns true when the request was answered locally. */
  private handleSubscription(peer: Peer, request: JSONRPCRequest): boolean {
    const uri = (request.params as { uri?: unknown } | undefined)?.uri;
    if (typeof uri !== 'string') return false; // let the child produce its own invalid-params error
    const outcome = request.method === 'resources/subscribe' ? this.subscriptions.add(peer, uri) : this.subscriptions.remove(peer, uri);
    this.opts.onSessionState?.(peer);
    // The first subscriber's subscribe and the last one's unsubscribe go to the child, whose answer
    // is the client's; everything else is answered here.
    if (outcome === 'first' || outcome === 'last') return false;
    this.reply(peer, request.id, {});
    return true;
  }

  // ─────────────────────────── child → clients ───────────────────────────

  private onChildMessage(message: JSONRPCMessage): void {
    if (isResponse(message)) this.onChildResponse(message);
    else if (isRequest(message)) this.serverRequests.onChildRequest(message);
    else if (isNotification(message)) this.onChildNotification(message);
  }

  private onChildResponse(response: JSONRPCResponseMessage): void {
    const entry = this.table.get(response.id);
    if (!entry) {
      if (this.table.consumeCancelled(response.id)) {
        this.log.debug(`dropped the answer to cancelled request ${String(response.id)}`);
        return;
      }
      this.misroutedDropped++;
      this.log.warn(`the MCP server answered unknown request id ${JSON.stringify(response.id)}; dropped (never broadcast)`);
      return;
    }
    this.table.remove(entry);
    if (entry.subscribeUri !== undefined && 'error' in response) this.subscriptions.remove(entry.peer, entry.subscribeUri);
    if (this.stateless.callGone(entry)) {
      // Parked for input: the client is away until it retries, and gets this answer then.
      this.stateless.inputs.keepFinal(entry, response);
      return;
    }
    if (entry.peer.closed) return;
    this.requestsServed++;
    let reply = { ...response, id: entry.clientId } as JSONRPCMessage;
    if (entry.peer.era === 'stateless') reply = this.stateless.decorate(entry, reply);
    const sinceProgress = entry.progressDeliveredAt === undefined ? Infinity : Date.now() - entry.progressDeliveredAt;
    if (sinceProgress < PROGRESS_SETTLE_MS) {
      setTimeout(() => this.deliver(entry.peer, reply, entry.clientId), PROGRESS_SETTLE_MS - sinceProgress);
    } else {
      this.deliver(entry.peer, reply, entry.clientId);
    }
  }

  private onChildNotification(note: JSONRPCNotification): void {
    const params = (note.params ?? {}) as Record<string, unknown>;
    switch (note.method) {
      case 'notifications/progress': {
        const entry = this.table.byProgressToken(params.progressToken);
        if (!entry || entry.parked) {
          // After the result, or for a cancelled or parked request: delivering it would make the
          // client raise "unknown progress token".
          this.log.debug(`dropped progress for unknown/finished token ${JSON.stringify(params.progressToken)}`);
          return;
        }
        entry.progressDeliveredAt = Date.now();
        this.deliver(entry.peer, { ...note, params: { ...params, progressToken: entry.clientProgressToken } }, entry.clientId);
        return;
      }
      case 'notifications/resources/updated': {
        const subs = this.subscriptions.subscribers(String(params.uri));
        if (subs) for (const p of subs) this.deliverChange(p, note);
        return;
      }
      case 'notifications/message': {
        const level = String(params.level ?? 'info');
        for (const p of this.peers.values()) {
          if (!wantsLog(p, level)) continue;
          if (p.era === 'session') this.deliver(p, note);
          else this.stateless.deliverLog(p, note);
        }
        return;
      }
      case 'notifications/cancelled':
        // The child withdrew one of its own requests to a client.
        this.serverRequests.onChildCancelled(note);
        this.stateless.onChildCancelled(params.requestId as RequestId);
        return;
      default:
        // Notifications that belong to one session's task or elicitation cannot be attributed over
        // stdio: dropping them is better than leaking them to every session.
        if (note.method.startsWith('notifications/tasks/') || note.method === 'notifications/elicitation/complete') {
          this.log.debug(`dropped ${note.method}: it belongs to one session and the server does not say which`);
          return;
        }
        // list_changed and anything else not tied to one request: every session, and every 2026
        // listen stream that asked for it.
        this.broadcast(note);
    }
  }

  /** A change notification for every session and every 2026 listen stream whose filter wants it. */
  broadcast(note: JSONRPCNotification): void {
    for (const p of this.peers.values()) this.deliverChange(p, note);
  }

  private deliverChange(peer: Peer, note: JSONRPCNotification): void {
    if (peer.era === 'session') {
      if (peer.initialized) this.deliver(peer, note);
    } else this.stateless.deliverChange(peer, note);
  }

  // ─────────────────────────── child lifecycle ───────────────────────────

  private onChildDown(down: ChildDown): void {
    const message = down.final
      ? `mcpshare: ${down.reason} while handling this request; it keeps crashing, so the bridge is giving up (see its log)`
      : `mcpshare: ${down.reason} while handling this request; it is being restarted, retry the call`;
    for (const entry of this.table.clear()) {
      if (entry.subscribeUri !== undefined) this.subscriptions.remove(entry.peer, entry.subscribeUri);
      if (this.stateless.callGone(entry)) {
        // Parked for input: its client hears of it when it retries.
        this.stateless.inputs.keepFinal(entry, { error: { code: ErrorCode.ServerUnavailable, message } });
        continue;
      }
      this.replyError(entry.peer, entry.clientId, ErrorCode.ServerUnavailable, message);
    }
    this.serverRequests.childGone();
    this.logLevel.reset();
  }

  private onChildReady(restart: boolean, woke = false): void {
    // Replay what the peers had set on the previous child (or, after a bridge restart, what the
    // revived sessions had set on the last bridge's). The replays are written to the child's stdin
    // now, so they precede every queued request flushed below without waiting.
    const level = this.logLevel.replay();
    const replays = [...(level ? [level] : []), ...this.subscriptions.replay()];
    void Promise.allSettled(replays).then((results) => {
      const failed = results.filter((r) => r.status === 'rejected').length;
      if (failed) this.log.warn(`${failed} of ${replays.length} replayed settings failed on the restarted MCP server`);
      else if (replays.length) this.log.info(`replayed ${replays.length} setting(s) on the restarted MCP server`);
    });
    // After a crash, tools may have changed with the new process: tell every client to refresh.
    // (A child woken from idle or started lazily is compared with the discovery snapshot instead,
    // and only what changed is announced: see snapshot.ts.)
    const caps = this.upstream.initResult?.capabilities ?? {};
    if (restart && !woke) {
      for (const kind of ['tools', 'prompts', 'resources'] as const) {
        if (caps[kind]) this.broadcast({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
      }
    }
    for (const q of this.queue.splice(0)) {
      clearTimeout(q.timer);
      if (!q.peer.closed) this.forward(q.peer, q.request, q.extra);
    }
  }

  private onFatal(message: string): void {
    for (const q of this.queue.splice(0)) {
      clearTimeout(q.timer);
      this.replyError(q.peer, q.request.id, ErrorCode.ServerUnavailable, `mcpshare: ${message}`);
    }
  }

  // ───────────────────────────── delivery ─────────────────────────────

  deliver(peer: Peer, message: JSONRPCMessage, relatedRequestId?: RequestId): void {
    if (peer.closed) return;
    peer
      .send(message, relatedRequestId !== undefined ? { relatedRequestId } : undefined)
      .catch((err: Error) => this.log.debug(`could not deliver to ${peer.label}: ${err.message}`));
  }

  /**
   * Answers every request still waiting (in flight or queued) with an error, so no client is left
   * waiting for its own timeout when the bridge stops; the caller closes the sessions afterwards.
   */
  shutdown(reason: string): void {
    const message = `mcpshare: ${reason}; retry once it is back`;
    for (const entry of [...this.table.values()]) {
      this.cancelUpstream(entry, reason);
      if (!entry.parked) this.replyError(entry.peer, entry.clientId, ErrorCode.ServerUnavailable, message);
    }
    for (const q of this.queue.splice(0)) {
      clearTimeout(q.timer);
      this.replyError(q.peer, q.request.id, ErrorCode.ServerUnavailable, message);
    }
  }

  stats(): RouterStats {
    const sessions = { 'streamable-http': 0, sse: 0, total: 0 };
    let open = 0;
    for (const p of this.peers.values()) {
      if (p.kind === 'stateless') open++;
      else {
        sessions[p.kind]++;
        sessions.total++;
      }
    }
    const sr = this.serverRequests.stats();
    return {
      sessions,
      stateless: { open, listening: this.stateless.listenCount(), parked: this.stateless.inputs.parkedCount() },
      requestsServed: this.requestsServed,
      inFlight: this.table.size,
      queued: this.queue.length,
      serverRequestsRouted: sr.routed,
      serverRequestsFallback: sr.fallback,
      misroutedDropped: this.misroutedDropped,
      warnings: sr.warnings,
    };
  }
}
