import type {
  InitializeResult,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  LoggingLevel,
  ProgressToken,
  RequestId,
  ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import type { Logger } from '../util/log.js';
import { ErrorCode, errorResponse, isNotification, isRequest, isResponse, type JSONRPCResponseMessage } from './jsonrpc.js';
import type { Session, SessionKind } from './session.js';
import type { ChildDown, Upstream } from './upstream.js';

/** Syslog severities in increasing order, as MCP's logging/setLevel uses them. */
const LOG_LEVELS: LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const severity = (l: string): number => {
  const i = LOG_LEVELS.indexOf(l as LoggingLevel);
  return i < 0 ? 1 : i;
};
/** What a session receives before it has asked for a level itself. */
export const DEFAULT_SESSION_LOG_LEVEL: LoggingLevel = 'info';
/**
 * SDK clients handle a notification one microtask after a response that arrived in the same read,
 * so a final progress update written in the same TCP chunk as the result is reported as "unknown
 * token" and lost (the SSE client hits this ~9 runs in 10). A result that follows a progress update
 * this closely is held back this long, so the client reads the two separately.
 */
const PROGRESS_SETTLE_MS = 10;
/** How long the bridge waits for each session when it gathers the union of roots. */
const ROOTS_UNION_TIMEOUT_MS = 5000;

interface Inflight {
  upstreamId: number;
  session: Session;
  clientId: RequestId;
  method: string;
  clientProgressToken?: ProgressToken;
  bridgeProgressToken?: ProgressToken;
  /** When a progress update for this request last went to the client. */
  progressDeliveredAt?: number;
  /** Set on resources/subscribe that went upstream: undone if it fails. */
  subscribeUri?: string;
}

interface QueuedRequest {
  session: Session;
  request: JSONRPCRequest;
  timer: NodeJS.Timeout;
}

interface RootsUnion {
  childId: RequestId;
  waiting: Set<number>;
  roots: Map<string, Record<string, unknown>>;
  timer: NodeJS.Timeout;
}

/** A request from the child (sampling, elicitation, roots) that was handed to one session. */
interface ServerRequestRoute {
  childId: RequestId;
  session: Session;
  method: string;
  union?: RootsUnion;
}

export interface RouterStats {
  sessions: Record<SessionKind, number> & { total: number };
  requestsServed: number;
  inFlight: number;
  queued: number;
  serverRequestsRouted: number;
  serverRequestsFallback: number;
  misroutedDropped: number;
  warnings: string[];
}

export interface RouterOptions {
  /** How long a request waits for a restarting child before it gets an error. */
  queueTimeoutMs: number;
}

/**
 * The multiplexer: many client sessions, one upstream child. Implements the routing rules of
 * DESIGN.md — id remapping, per-client progress tokens, cancellation, subscriptions, logging
 * levels, server→client requests, and recovery when the child restarts.
 */
export class Router {
  readonly sessions = new Map<string, Session>();
  private readonly inflight = new Map<number, Inflight>();
  private readonly progress = new Map<ProgressToken, Inflight>();
  private readonly byClientId = new Map<Session, Map<RequestId, Inflight>>();
  private readonly queue: QueuedRequest[] = [];
  private readonly serverRoutes = new Map<number, ServerRequestRoute>();
  private readonly subscribers = new Map<string, Set<Session>>();
  /**
   * Upstream ids cancelled by the bridge: a late answer to one of them is expected, not a
   * misroute. Bounded, since many servers never answer a cancelled request.
   */
  private readonly cancelledIds = new Set<number>();
  private childLogLevel?: LoggingLevel;
  private progressCounter = 0;
  private downstreamCounter = 0;
  private readonly warnings = new Set<string>();
  private requestsServed = 0;
  private serverRequestsRouted = 0;
  private serverRequestsFallback = 0;
  private misroutedDropped = 0;

  constructor(
    private readonly upstream: Upstream,
    private readonly opts: RouterOptions,
    private readonly log: Logger,
  ) {
    upstream.on('message', (m) => this.onChildMessage(m));
    upstream.on('down', (d) => this.onChildDown(d));
    upstream.on('ready', ({ restart }) => this.onChildReady(restart));
    upstream.on('fatal', (msg) => this.onFatal(msg));
  }

  // ───────────────────────────── sessions ─────────────────────────────

  addSession(session: Session): void {
    this.sessions.set(session.id, session);
    this.byClientId.set(session, new Map());
    this.log.info(`${session.label} opened (${this.sessions.size} open)`);
  }

  /** Ends a session: cancels its in-flight work upstream and releases what only it held. */
  removeSession(session: Session, why: string): void {
    if (session.closed) return;
    session.closed = true;
    this.sessions.delete(session.id);
    for (const id of [...session.inflight]) {
      const entry = this.inflight.get(id);
      if (!entry) continue;
      this.cancelUpstream(entry, `client session ended (${why})`);
    }
    this.byClientId.delete(session);
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].session === session) {
        clearTimeout(this.queue[i].timer);
        this.queue.splice(i, 1);
      }
    }
    for (const uri of session.subscriptions) this.dropSubscriber(uri, session);
    session.subscriptions.clear();
    if (session.logLevel) {
      session.logLevel = undefined;
      this.syncChildLogLevel();
    }
    for (const [downstreamId, route] of this.serverRoutes) {
      if (route.session !== session) continue;
      this.serverRoutes.delete(downstreamId);
      if (route.union) this.finishUnionPart(route.union, downstreamId, undefined);
      else this.answerServerRequestFallback(route.childId, route.method, 'the client that was asked has disconnected');
    }
    this.log.info(`${session.label} closed: ${why} (${this.sessions.size} open)`);
  }

  // ─────────────────────────── client → child ───────────────────────────

  handleClientMessage(session: Session, message: JSONRPCMessage): void {
    if (session.closed) return;
    session.touch();
    if (isRequest(message)) this.onClientRequest(session, message);
    else if (isNotification(message)) this.onClientNotification(session, message);
    else if (isResponse(message)) this.onClientResponse(session, message);
  }

  private reply(session: Session, id: RequestId, result: Record<string, unknown>): void {
    this.deliver(session, { jsonrpc: '2.0', id, result } as JSONRPCMessage, id);
  }

  private replyError(session: Session, id: RequestId, code: number, message: string): void {
    this.deliver(session, errorResponse(id, code, message), id);
  }

  private onClientRequest(session: Session, request: JSONRPCRequest): void {
    switch (request.method) {
      case 'initialize':
        void this.answerInitialize(session, request);
        return;
      case 'ping':
        this.reply(session, request.id, {});
        return;
      case 'server/discover':
        this.replyError(session, request.id, ErrorCode.MethodNotFound, 'Method not found: server/discover (use initialize)');
        return;
      case 'logging/setLevel':
        if (this.upstream.initResult?.capabilities.logging) {
          this.setSessionLogLevel(session, request);
          return;
        }
        break;
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        if (this.handleSubscription(session, request)) return;
        break;
    }
    this.forward(session, request);
  }

  private async answerInitialize(session: Session, request: JSONRPCRequest): Promise<void> {
    const params = (request.params ?? {}) as Record<string, unknown>;
    try {
      await this.upstream.whenReady(this.opts.queueTimeoutMs);
    } catch (err) {
      this.replyError(session, request.id, ErrorCode.ServerUnavailable, `mcpshare: ${(err as Error).message}`);
      // The session never started: release it instead of keeping it until the idle sweep.
      setImmediate(() => void session.transport.close());
      return;
    }
    const child = this.upstream.initResult as InitializeResult;
    const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : undefined;
    session.protocolVersion =
      requested && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    const caps = params.capabilities;
    session.capabilities = (caps && typeof caps === 'object' && !Array.isArray(caps) ? caps : {}) as Session['capabilities'];
    session.clientInfo = clientInfoOf(params.clientInfo);
    session.initialized = true;
    const result: InitializeResult = {
      protocolVersion: session.protocolVersion,
      capabilities: advertisedCapabilities(child.capabilities),
      serverInfo: child.serverInfo,
      ...(child.instructions ? { instructions: child.instructions } : {}),
    };
    this.log.info(`${session.label} initialized (protocol ${session.protocolVersion})`);
    this.reply(session, request.id, result as unknown as Record<string, unknown>);
  }

  private forward(session: Session, request: JSONRPCRequest): void {
    if (this.upstream.state === 'ready') {
      this.sendUpstream(session, request);
      return;
    }
    if (this.upstream.state === 'failed' || this.upstream.state === 'stopped') {
      this.replyError(session, request.id, ErrorCode.ServerUnavailable, 'mcpshare: the MCP server is not running (crash loop or stopped)');
      return;
    }
    this.enqueue(session, request);
  }

  /** Holds a request until the child is (back) up, with an error if that takes too long. */
  private enqueue(session: Session, request: JSONRPCRequest): void {
    const timer = setTimeout(() => {
      const i = this.queue.findIndex((q) => q.timer === timer);
      if (i < 0) return;
      this.queue.splice(i, 1);
      this.replyError(
        session,
        request.id,
        ErrorCode.ServerUnavailable,
        `mcpshare: the MCP server did not come back within ${Math.round(this.opts.queueTimeoutMs / 1000)} s`,
      );
    }, this.opts.queueTimeoutMs);
    this.queue.push({ session, request, timer });
  }

  private sendUpstream(session: Session, request: JSONRPCRequest): void {
    if (this.upstream.congested) {
      this.replyError(session, request.id, ErrorCode.InternalError, 'the MCP server is not reading its input (over 16 MB waiting for it); request refused, try again later');
      return;
    }
    const upstreamId = this.upstream.nextId();
    const entry: Inflight = { upstreamId, session, clientId: request.id, method: request.method };
    let params = request.params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    if (meta && meta.progressToken !== undefined && meta.progressToken !== null) {
      entry.clientProgressToken = meta.progressToken as ProgressToken;
      entry.bridgeProgressToken = ++this.progressCounter;
      params = { ...params, _meta: { ...meta, progressToken: entry.bridgeProgressToken } };
      this.progress.set(entry.bridgeProgressToken, entry);
    }
    const message = { jsonrpc: '2.0' as const, id: upstreamId, method: request.method, ...(params ? { params } : {}) };
    if (!this.upstream.send(message)) {
      // The child is dying but its exit is not reported yet: wait for the next one like any request.
      if (entry.bridgeProgressToken !== undefined) this.progress.delete(entry.bridgeProgressToken);
      this.enqueue(session, request);
      return;
    }
    if (request.method === 'resources/subscribe') entry.subscribeUri = String((request.params as { uri?: unknown })?.uri);
    this.inflight.set(upstreamId, entry);
    session.inflight.add(upstreamId);
    this.byClientId.get(session)?.set(request.id, entry);
  }

  /** Tells the child to stop working on a request and forgets it; its late answer is dropped quietly. */
  private cancelUpstream(entry: Inflight, reason: string): void {
    this.forget(entry);
    if (entry.subscribeUri !== undefined) this.undoSubscribe(entry.session, entry.subscribeUri);
    this.upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: entry.upstreamId, reason } });
    this.cancelledIds.add(entry.upstreamId);
    if (this.cancelledIds.size > 1000) this.cancelledIds.delete(this.cancelledIds.values().next().value as number);
  }

  private forget(entry: Inflight): void {
    this.inflight.delete(entry.upstreamId);
    entry.session.inflight.delete(entry.upstreamId);
    const byId = this.byClientId.get(entry.session);
    if (byId?.get(entry.clientId) === entry) byId.delete(entry.clientId);
    if (entry.bridgeProgressToken !== undefined) this.progress.delete(entry.bridgeProgressToken);
  }

  private onClientNotification(session: Session, note: JSONRPCNotification): void {
    switch (note.method) {
      case 'notifications/initialized':
        return; // the child was initialized once, by the bridge
      case 'notifications/cancelled': {
        const requestId = (note.params as { requestId?: RequestId } | undefined)?.requestId;
        if (requestId === undefined) return;
        this.cancelClientRequest(session, requestId, (note.params as { reason?: string }).reason ?? 'cancelled by client');
        return;
      }
      default:
        // roots/list_changed, and progress for a request the child sent to this client (the
        // child's own tokens): forwarded as they are.
        this.upstream.send(note);
    }
  }

  /** Cancels one request of a session, upstream if it got there, locally if it was still queued. */
  cancelClientRequest(session: Session, clientId: RequestId, reason: string): void {
    const queued = this.queue.findIndex((q) => q.session === session && q.request.id === clientId);
    if (queued >= 0) {
      clearTimeout(this.queue[queued].timer);
      this.queue.splice(queued, 1);
      return;
    }
    const entry = this.byClientId.get(session)?.get(clientId);
    if (!entry) return;
    this.cancelUpstream(entry, reason);
    // A cancelled request gets no response (MCP spec); end its HTTP stream so nothing hangs.
    const transport = session.transport as { closeSSEStream?: (id: RequestId) => void };
    transport.closeSSEStream?.(clientId);
  }

  private onClientResponse(session: Session, response: JSONRPCResponseMessage): void {
    const route = typeof response.id === 'number' ? this.serverRoutes.get(response.id) : undefined;
    if (!route || route.session !== session) {
      this.misroutedDropped++;
      this.log.warn(`${session.label} answered unknown server request id ${JSON.stringify(response.id)}; dropped`);
      return;
    }
    this.serverRoutes.delete(response.id as number);
    if (route.union) {
      this.finishUnionPart(route.union, response.id as number, 'result' in response ? response.result : undefined);
      return;
    }
    this.upstream.send({ ...response, id: route.childId } as JSONRPCMessage);
  }

  // ───────────────────────────── logging ─────────────────────────────

  private setSessionLogLevel(session: Session, request: JSONRPCRequest): void {
    const level = (request.params as { level?: string } | undefined)?.level;
    if (!level || !LOG_LEVELS.includes(level as LoggingLevel)) {
      this.replyError(session, request.id, ErrorCode.InvalidParams, `invalid logging level: ${String(level)}; use one of ${LOG_LEVELS.join(', ')}`);
      return;
    }
    session.logLevel = level as LoggingLevel;
    this.syncChildLogLevel();
    this.reply(session, request.id, {});
  }

  /** The child runs at the most verbose level any session asked for. */
  private syncChildLogLevel(): void {
    const wanted = this.effectiveLogLevel();
    if (!wanted || wanted === this.childLogLevel) return;
    this.childLogLevel = wanted;
    if (this.upstream.state !== 'ready') return; // replayed on ready
    this.upstream.request('logging/setLevel', { level: wanted }).catch((e) => this.log.warn(`logging/setLevel failed: ${(e as Error).message}`));
  }

  // ─────────────────────────── subscriptions ───────────────────────────

  /** Returns true when the request was answered locally. */
  private handleSubscription(session: Session, request: JSONRPCRequest): boolean {
    const uri = (request.params as { uri?: unknown } | undefined)?.uri;
    if (typeof uri !== 'string') return false; // let the child produce its own invalid-params error
    if (request.method === 'resources/subscribe') {
      if (session.subscriptions.has(uri)) {
        this.reply(session, request.id, {});
        return true;
      }
      let set = this.subscribers.get(uri);
      const upstreamAlready = !!set && set.size > 0;
      if (!set) this.subscribers.set(uri, (set = new Set()));
      set.add(session);
      session.subscriptions.add(uri);
      if (upstreamAlready) {
        this.reply(session, request.id, {});
        return true;
      }
      return false; // first subscriber: the child's own answer goes back to the client
    }
    if (!session.subscriptions.has(uri)) {
      this.reply(session, request.id, {});
      return true;
    }
    session.subscriptions.delete(uri);
    const set = this.subscribers.get(uri);
    set?.delete(session);
    if (set && set.size > 0) {
      this.reply(session, request.id, {});
      return true;
    }
    this.subscribers.delete(uri);
    return false; // last subscriber left: unsubscribe upstream with the client's request
  }

  private dropSubscriber(uri: string, session: Session): void {
    const set = this.subscribers.get(uri);
    if (!set) return;
    set.delete(session);
    if (set.size > 0) return;
    this.subscribers.delete(uri);
    if (this.upstream.state === 'ready') {
      this.upstream.request('resources/unsubscribe', { uri }).catch((e) => this.log.debug(`unsubscribe ${uri}: ${(e as Error).message}`));
    }
  }

  // ─────────────────────────── child → clients ───────────────────────────

  private onChildMessage(message: JSONRPCMessage): void {
    if (isResponse(message)) this.onChildResponse(message);
    else if (isRequest(message)) this.onChildRequest(message);
    else if (isNotification(message)) this.onChildNotification(message);
  }

  private onChildResponse(response: JSONRPCResponseMessage): void {
    const entry = typeof response.id === 'number' ? this.inflight.get(response.id) : undefined;
    if (!entry && typeof response.id === 'number' && this.cancelledIds.delete(response.id)) {
      this.log.debug(`dropped the answer to cancelled request ${response.id}`);
      return;
    }
    if (!entry) {
      this.misroutedDropped++;
      this.log.warn(`the MCP server answered unknown request id ${JSON.stringify(response.id)}; dropped (never broadcast)`);
      return;
    }
    this.forget(entry);
    if (entry.subscribeUri !== undefined && 'error' in response) this.undoSubscribe(entry.session, entry.subscribeUri);
    if (entry.session.closed) return;
    this.requestsServed++;
    const reply = { ...response, id: entry.clientId } as JSONRPCMessage;
    const sinceProgress = entry.progressDeliveredAt === undefined ? Infinity : Date.now() - entry.progressDeliveredAt;
    if (sinceProgress < PROGRESS_SETTLE_MS) {
      setTimeout(() => this.deliver(entry.session, reply, entry.clientId), PROGRESS_SETTLE_MS - sinceProgress);
    } else {
      this.deliver(entry.session, reply, entry.clientId);
    }
  }

  private undoSubscribe(session: Session, uri: string): void {
    session.subscriptions.delete(uri);
    const set = this.subscribers.get(uri);
    set?.delete(session);
    if (set && set.size === 0) this.subscribers.delete(uri);
  }

  private onChildNotification(note: JSONRPCNotification): void {
    const params = (note.params ?? {}) as Record<string, unknown>;
    switch (note.method) {
      case 'notifications/progress': {
        const entry = this.progress.get(params.progressToken as ProgressToken);
        if (!entry) {
          // After the result, or for a cancelled request: delivering it would make the client
          // raise "unknown progress token".
          this.log.debug(`dropped progress for unknown/finished token ${JSON.stringify(params.progressToken)}`);
          return;
        }
        entry.progressDeliveredAt = Date.now();
        this.deliver(entry.session, { ...note, params: { ...params, progressToken: entry.clientProgressToken } }, entry.clientId);
        return;
      }
      case 'notifications/resources/updated': {
        const subs = this.subscribers.get(String(params.uri));
        if (subs) for (const s of subs) this.deliver(s, note);
        return;
      }
      case 'notifications/message': {
        const level = String(params.level ?? 'info');
        for (const s of this.sessions.values()) {
          if (s.initialized && severity(level) >= severity(s.logLevel ?? DEFAULT_SESSION_LOG_LEVEL)) this.deliver(s, note);
        }
        return;
      }
      case 'notifications/cancelled': {
        // The child withdrew one of its own requests to a client.
        const childId = params.requestId as RequestId;
        for (const [downstreamId, route] of this.serverRoutes) {
          if (route.childId !== childId) continue;
          this.serverRoutes.delete(downstreamId);
          if (route.union) {
            clearTimeout(route.union.timer);
            for (const id of route.union.waiting) this.serverRoutes.delete(id);
          }
          this.deliver(route.session, { ...note, params: { ...params, requestId: downstreamId } });
        }
        return;
      }
      default:
        // Notifications that belong to one session's task or elicitation cannot be attributed over
        // stdio: dropping them is better than leaking them to every session.
        if (note.method.startsWith('notifications/tasks/') || note.method === 'notifications/elicitation/complete') {
          this.log.debug(`dropped ${note.method}: it belongs to one session and the server does not say which`);
          return;
        }
        // list_changed and anything else not tied to one request: every session.
        for (const s of this.sessions.values()) if (s.initialized) this.deliver(s, note);
    }
  }

  private capableOf(session: Session, method: string): boolean {
    const caps = session.capabilities ?? {};
    if (method === 'roots/list') return !!caps.roots;
    if (method === 'sampling/createMessage') return !!caps.sampling;
    if (method === 'elicitation/create') return !!caps.elicitation;
    return true;
  }

  /**
   * A request from the child to "the client". Over stdio it carries no hint of which client it is
   * for, so it goes to the one session with work in flight; otherwise the documented fallback.
   */
  private onChildRequest(request: JSONRPCRequest): void {
    const busy = [...this.sessions.values()].filter((s) => s.inflight.size > 0);
    if (busy.length === 1 && this.capableOf(busy[0], request.method)) {
      const session = busy[0];
      const downstreamId = ++this.downstreamCounter;
      this.serverRoutes.set(downstreamId, { childId: request.id, session, method: request.method });
      this.serverRequestsRouted++;
      // Send it on the stream of the session's oldest in-flight request: that stream is open.
      const oldest = this.inflight.get(Math.min(...session.inflight));
      this.deliver(session, { ...request, id: downstreamId }, oldest?.clientId);
      return;
    }
    this.serverRequestsFallback++;
    const why =
      busy.length === 0
        ? 'no client has a request in flight'
        : busy.length === 1
          ? `the requesting client did not declare the capability for ${request.method}`
          : `${busy.length} clients have requests in flight, so the requester is ambiguous`;
    if (request.method === 'roots/list') {
      this.gatherRootsUnion(request.id);
      return;
    }
    this.warnings.add(
      `the server sends ${request.method} requests, which cannot always be routed to one client; it may not be a good fit for sharing`,
    );
    this.answerServerRequestFallback(request.id, request.method, why);
  }

  private answerServerRequestFallback(childId: RequestId, method: string, why: string): void {
    this.log.warn(`server request ${method} answered by the fallback: ${why}`);
    if (method === 'elicitation/create') {
      this.upstream.send({ jsonrpc: '2.0', id: childId, result: { action: 'cancel' } });
    } else if (method === 'roots/list') {
      this.upstream.send({ jsonrpc: '2.0', id: childId, result: { roots: [] } });
    } else {
      this.upstream.send(errorResponse(childId, method === 'sampling/createMessage' ? ErrorCode.InternalError : ErrorCode.MethodNotFound, `mcpshare could not route ${method}: ${why}`));
    }
  }

  /** roots/list with no single requester: the union of every session's roots. */
  private gatherRootsUnion(childId: RequestId): void {
    const askable = [...this.sessions.values()].filter((s) => s.initialized && s.capabilities.roots);
    const union: RootsUnion = {
      childId,
      waiting: new Set(),
      roots: new Map(),
      timer: setTimeout(() => this.completeUnion(union), ROOTS_UNION_TIMEOUT_MS),
    };
    for (const session of askable) {
      const downstreamId = ++this.downstreamCounter;
      union.waiting.add(downstreamId);
      this.serverRoutes.set(downstreamId, { childId, session, method: 'roots/list', union });
      this.deliver(session, { jsonrpc: '2.0', id: downstreamId, method: 'roots/list' });
    }
    if (union.waiting.size === 0) this.completeUnion(union);
  }

  private finishUnionPart(union: RootsUnion, downstreamId: number, result: unknown): void {
    union.waiting.delete(downstreamId);
    const roots = (result as { roots?: Array<Record<string, unknown>> } | undefined)?.roots;
    if (Array.isArray(roots)) for (const r of roots) if (typeof r?.uri === 'string') union.roots.set(r.uri, r);
    if (union.waiting.size === 0) this.completeUnion(union);
  }

  private completeUnion(union: RootsUnion): void {
    clearTimeout(union.timer);
    for (const id of union.waiting) this.serverRoutes.delete(id);
    union.waiting.clear();
    if (this.upstream.state !== 'ready') return;
    this.upstream.send({ jsonrpc: '2.0', id: union.childId, result: { roots: [...union.roots.values()] } });
  }

  // ─────────────────────────── child lifecycle ───────────────────────────

  private onChildDown(down: ChildDown): void {
    const message = down.final
      ? `mcpshare: ${down.reason} while handling this request; it keeps crashing, so the bridge is giving up (see its log)`
      : `mcpshare: ${down.reason} while handling this request; it is being restarted, retry the call`;
    for (const entry of [...this.inflight.values()]) {
      this.forget(entry);
      if (entry.subscribeUri !== undefined) this.undoSubscribe(entry.session, entry.subscribeUri);
      this.replyError(entry.session, entry.clientId, ErrorCode.ServerUnavailable, message);
    }
    for (const route of this.serverRoutes.values()) if (route.union) clearTimeout(route.union.timer);
    this.serverRoutes.clear();
    this.cancelledIds.clear(); // ids are per child run
    this.childLogLevel = undefined;
  }

  private onChildReady(restart: boolean): void {
    if (restart) {
      // Replay what the sessions had set on the previous child. The replays are written to the
      // child's stdin now, so they precede every queued request flushed below without waiting.
      const level = this.effectiveLogLevel();
      const replays: Promise<unknown>[] = [];
      if (level && this.upstream.initResult?.capabilities.logging) {
        this.childLogLevel = level;
        replays.push(this.upstream.request('logging/setLevel', { level }));
      }
      for (const uri of this.subscribers.keys()) replays.push(this.upstream.request('resources/subscribe', { uri }));
      void Promise.allSettled(replays).then((results) => {
        const failed = results.filter((r) => r.status === 'rejected').length;
        if (failed) this.log.warn(`${failed} of ${replays.length} replayed settings failed on the restarted MCP server`);
        else if (replays.length) this.log.info(`replayed ${replays.length} setting(s) on the restarted MCP server`);
      });
      // Tools may have changed with the new process: tell every client to refresh.
      const caps = this.upstream.initResult?.capabilities ?? {};
      for (const kind of ['tools', 'prompts', 'resources'] as const) {
        if (caps[kind]) this.onChildNotification({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
      }
    }
    for (const q of this.queue.splice(0)) {
      clearTimeout(q.timer);
      if (!q.session.closed) this.forward(q.session, q.request);
    }
  }

  private effectiveLogLevel(): LoggingLevel | undefined {
    let wanted: LoggingLevel | undefined;
    for (const s of this.sessions.values()) {
      if (s.logLevel && (!wanted || severity(s.logLevel) < severity(wanted))) wanted = s.logLevel;
    }
    return wanted;
  }

  private onFatal(message: string): void {
    for (const q of this.queue.splice(0)) {
      clearTimeout(q.timer);
      this.replyError(q.session, q.request.id, ErrorCode.ServerUnavailable, `mcpshare: ${message}`);
    }
  }

  // ───────────────────────────── delivery ─────────────────────────────

  private deliver(session: Session, message: JSONRPCMessage, relatedRequestId?: RequestId): void {
    if (session.closed) return;
    session.transport
      .send(message, relatedRequestId !== undefined ? { relatedRequestId } : undefined)
      .catch((err: Error) => this.log.debug(`could not deliver to ${session.label}: ${err.message}`));
  }

  /**
   * Answers every request still waiting (in flight or queued) with an error, so no client is left
   * waiting for its own timeout when the bridge stops; the caller closes the sessions afterwards.
   */
  shutdown(reason: string): void {
    const message = `mcpshare: ${reason}; retry once it is back`;
    for (const entry of [...this.inflight.values()]) {
      this.cancelUpstream(entry, reason);
      this.replyError(entry.session, entry.clientId, ErrorCode.ServerUnavailable, message);
    }
    for (const q of this.queue.splice(0)) {
      clearTimeout(q.timer);
      this.replyError(q.session, q.request.id, ErrorCode.ServerUnavailable, message);
    }
  }

  stats(): RouterStats {
    const sessions = { 'streamable-http': 0, sse: 0, total: 0 };
    for (const s of this.sessions.values()) {
      sessions[s.kind]++;
      sessions.total++;
    }
    return {
      sessions,
      requestsServed: this.requestsServed,
      inFlight: this.inflight.size,
      queued: this.queue.length,
      serverRequestsRouted: this.serverRequestsRouted,
      serverRequestsFallback: this.serverRequestsFallback,
      misroutedDropped: this.misroutedDropped,
      warnings: [...this.warnings],
    };
  }
}

/**
 * The child's capabilities as the bridge advertises them: list_changed is always on for what the
 * child offers, because the bridge itself sends it after a restart (Claude Code refreshes tools only
 * when tools.listChanged is advertised).
 */
export function advertisedCapabilities(child: ServerCapabilities): ServerCapabilities {
  const caps: ServerCapabilities = { ...child };
  // Tasks live in the one child, which sees one client: every session could list and fetch every
  // other session's tasks. Not offered until tasks are routed per session.
  delete (caps as Record<string, unknown>).tasks;
  if (caps.tools) caps.tools = { ...caps.tools, listChanged: true };
  if (caps.prompts) caps.prompts = { ...caps.prompts, listChanged: true };
  if (caps.resources) caps.resources = { ...caps.resources, listChanged: true };
  return caps;
}

/**
 * The client's name and version as plain short strings: they end up in log lines and labels, and
 * a hostile value (an object whose toString throws, a deeply nested array) must not break those.
 */
function clientInfoOf(v: unknown): Session['clientInfo'] {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const text = (x: unknown) => (typeof x === 'string' ? x.slice(0, 200) : typeof x === 'number' || typeof x === 'boolean' ? String(x) : undefined);
  return { name: text(o.name) ?? 'unnamed client', version: text(o.version) ?? '' };
}
