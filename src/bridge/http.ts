import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import type { Logger } from '../util/log.js';
import { isJsonRequest, readJsonBody } from './body.js';
import { ErrorCode, httpRpcError, isJsonRpcMessage, isRequest, sendJson } from './jsonrpc.js';
import { StreamableHttpSessionTransport } from './streamable-http.js';
import { LegacySseTransport } from './legacy-sse.js';
import type { SessionRevival } from './session-revival.js';
import type { SessionRecord } from './session-store.js';
import type { SessionIdKind } from './session-keys.js';
import type { ConnectHints, PeerHub } from './child-pool.js';
import { PROJECT_HEADER } from './project-key.js';
import { requestGuard, type SecurityOptions } from './security.js';
import type { Peer, PeerTransport } from './peer.js';
import { checkStateless, httpStatusOf, isStatelessPost } from './stateless.js';

export interface HttpOptions {
  security: SecurityOptions;
  maxBodyBytes: number;
  /** A session with no open stream that has been quiet this long is released. */
  sessionIdleTimeoutMs: number;
  sseKeepAliveMs: number;
  status: () => unknown;
  /** Verifiable ids and revival of sessions not in memory (absent: random ids, unknown id → 404). */
  sessions?: SessionRevival;
  /** POST /wake: starts a sleeping server and answers once it is ready (`check --deep`). */
  wake?: () => Promise<{ status: number; body: unknown }>;
}

export interface BridgeHttp {
  /** The node:http request listener. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Releases idle sessions; run periodically. */
  sweepIdle(now?: number): number;
  closeAllSessions(): Promise<void>;
}

/** The JSON-RPC spec's limit is none; the SDK's is 100, and so is ours. */
const MAX_BATCH_SIZE = 100;

type PostCheck = { messages: JSONRPCMessage[] } | { status: number; code: number; message: string };

/** The checks the Streamable HTTP spec puts on a POST before any message is processed. */
function checkPost(req: IncomingMessage, body: unknown): PostCheck {
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
    return { status: 406, code: ErrorCode.InvalidRequest, message: 'Not Acceptable: Client must accept both application/json and text/event-stream' };
  }
  if (body === undefined) {
    return { status: 415, code: ErrorCode.InvalidRequest, message: 'Unsupported Media Type: Content-Type must be application/json' };
  }
  if (Array.isArray(body) && body.length === 0) return { status: 400, code: ErrorCode.InvalidRequest, message: 'Invalid Request: empty batch' };
  if (Array.isArray(body) && body.length > MAX_BATCH_SIZE) {
    return { status: 400, code: ErrorCode.InvalidRequest, message: `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages` };
  }
  const messages = Array.isArray(body) ? body : [body];
  if (!messages.every(isJsonRpcMessage)) return { status: 400, code: ErrorCode.ParseError, message: 'Parse error: Invalid JSON-RPC message' };
  const inits = messages.filter((m) => 'method' in m && m.method === 'initialize').length;
  if (inits > 0 && messages.length > 1) {
    return { status: 400, code: ErrorCode.InvalidRequest, message: 'Invalid Request: Only one initialization request is allowed' };
  }
  return { messages };
}

/** One value of a request header (the first, if it was repeated). */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** What the request says about its client beyond the messages: the project its entry names. */
function hintsOf(req: IncomingMessage): ConnectHints {
  const project = header(req, PROJECT_HEADER);
  return project ? { project } : {};
}

function unsupportedVersion(req: IncomingMessage): string | undefined {
  const version = header(req, 'mcp-protocol-version');
  if (version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
  return `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`;
}

function rpcError(res: ServerResponse, status: number, code: number, message: string, headers?: Record<string, string>): void {
  httpRpcError(res, status, code, message, { headers });
}

const ALLOW_MCP = { Allow: 'GET, POST, DELETE' };

/** How long a resumed session's notifications wait for its GET stream to reconnect. */
const RESUMED_HOLD_MS = 30_000;

/** How long a POST for an SSE session waits for its reconnecting EventSource to bring the stream back. */
const SSE_REATTACH_WAIT_MS = 3000;

const SESSION_NOT_FOUND = 'Session not found: it ended or expired, or its id is not one this bridge issued; send initialize to start a new session';

/**
 * The HTTP face of the bridge: Streamable HTTP at /mcp and legacy SSE at /sse + /message on one
 * port. Each session gets its own SDK transport; the hub (a child pool) gives it to the router of its child.
 */
export function createBridgeHttp(router: PeerHub, opts: HttpOptions, log: Logger): BridgeHttp {
  const guard = requestGuard(opts.security);
  const httpSessions = new Map<string, { session: Peer; transport: StreamableHttpSessionTransport }>();
  const sseSessions = new Map<string, { session: Peer; transport: LegacySseTransport }>();
  const revival = opts.sessions;

  /**
   * Puts a session in memory under `id` (a new one, or one revived from its record) on either
   * transport; when it leaves memory its record notes when it was last alive.
   */
  const open = <T extends PeerTransport>(
    sessions: Map<string, { session: Peer; transport: T }>,
    kind: SessionIdKind,
    id: string,
    transport: T,
    req: IncomingMessage,
    record?: SessionRecord,
  ) => {
    // Set before connect(): the hub chains its own close handler after this one.
    transport.onclose = () => {
      sessions.delete(id);
      revival?.seen(session);
    };
    const session = router.connect(transport, { id, kind, ...(record && revival?.peerInit(record)) }, hintsOf(req));
    const entry = { session, transport };
    sessions.set(id, entry);
    if (record) revival?.restored(session, record);
    return entry;
  };

  const openHttp = (id: string, req: IncomingMessage, record?: SessionRecord) =>
    open(
      httpSessions,
      'streamable-http',
      id,
      new StreamableHttpSessionTransport({ sessionId: id, holdForStreamMs: record ? RESUMED_HOLD_MS : undefined }),
      req,
      record,
    );

  /** The session of an id that is not in memory, revived, or undefined (→ 404). */
  const resumeHttp = (id: string, req: IncomingMessage) => {
    const record = revival?.resume(id, 'streamable-http', header(req, 'mcp-protocol-version'));
    return record ? openHttp(id, req, record) : undefined;
  };

  /** A legacy SSE session ends when its stream does (its record stays, for the client to come back). */
  const openSse = (id: string, req: IncomingMessage, record?: SessionRecord) => {
    const transport = new LegacySseTransport(id, '/message', opts.sseKeepAliveMs);
    transport.onerror = (err) => log.debug(`sse: ${err.message}`);
    transport.onstreamclose = () => void transport.close();
    return open(sseSessions, 'sse', id, transport, req, record);
  };

  const resumeSse = (id: string, req: IncomingMessage) => {
    const record = revival?.resume(id, 'sse', undefined);
    return record ? openSse(id, req, record) : undefined;
  };

  /** The parsed JSON body, undefined for a non-JSON content type; answers 4xx itself and returns null on a bad body. */
  const jsonBody = async (req: IncomingMessage, res: ServerResponse): Promise<unknown | null> => {
    if (!isJsonRequest(req)) return undefined;
    const r = await readJsonBody(req, opts.maxBodyBytes);
    if (r.ok) return r.body;
    rpcError(res, r.status, r.code, r.message);
    return null;
  };

  /** Counts open streams so idle expiry never drops a session that still listens. */
  const trackStream = (session: Peer, res: ServerResponse) => {
    session.openStreams++;
    session.touch();
    res.on('close', () => {
      session.openStreams--;
      session.touch();
    });
  };

  /** A client that drops a POST stream mid-call has its unanswered requests cancelled upstream. */
  const cancelOnAbandon = (session: Peer, messages: JSONRPCMessage[], res: ServerResponse) => {
    const ids = messages.filter(isRequest).map((m) => m.id);
    if (ids.length === 0) return;
    res.on('close', () => {
      if (res.writableFinished) return;
      for (const id of ids) router.cancelClientRequest(session, id, 'client disconnected');
    });
  };

  const postMcp = async (req: IncomingMessage, res: ServerResponse) => {
    const sid = header(req, 'mcp-session-id');
    const entry = sid ? (httpSessions.get(sid) ?? resumeHttp(sid, req)) : undefined;
    if (sid && !entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    const body = await jsonBody(req, res);
    if (body === null) return;
    const check = checkPost(req, body);
    if ('status' in check) return rpcError(res, check.status, check.code, check.message);
    const { messages } = check;
    const first = messages[0] as { method?: string; id?: unknown };
    if (entry) {
      if (first.method === 'initialize') return rpcError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: Server already initialized');
      const badVersion = unsupportedVersion(req);
      if (badVersion) return rpcError(res, 400, ErrorCode.InvalidRequest, badVersion);
      trackStream(entry.session, res);
      cancelOnAbandon(entry.session, messages, res);
      entry.transport.handlePost(res, messages);
      return;
    }
    if (!isStatelessPost(first as JSONRPCMessage, header(req, 'mcp-protocol-version'))) {
      const { session, transport } = openHttp(revival?.mint('streamable-http') ?? randomUUID(), req);
      trackStream(session, res);
      transport.handlePost(res, messages);
      return;
    }
    return postStateless(req, res, messages);
  };

  /** MCP 2026-07-28: each POST is a request of its own, validated on the wire and served as one peer. */
  const postStateless = (req: IncomingMessage, res: ServerResponse, messages: JSONRPCMessage[]) => {
    if (messages.length > 1) {
      return rpcError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: a stateless (2026-07-28) POST carries one message');
    }
    const message = messages[0];
    if (!isRequest(message)) {
      // Notifications (a listen stream's cancel) belong to no session: accepted and dropped, since
      // the stream's own close already ended what they refer to.
      res.writeHead(202).end();
      return;
    }
    const check = checkStateless(message, {
      protocolVersion: header(req, 'mcp-protocol-version'),
      method: header(req, 'mcp-method'),
      name: header(req, 'mcp-name'),
    });
    if (!check.ok) {
      return sendJson(res, check.status, {
        jsonrpc: '2.0',
        id: message.id,
        error: { code: check.code, message: check.message, ...(check.data !== undefined ? { data: check.data } : {}) },
      });
    }
    const transport = new StreamableHttpSessionTransport({ oneShot: true, errorStatus: httpStatusOf });
    router.connect(transport, { id: randomUUID(), kind: 'stateless', ...check.init }, hintsOf(req));
    transport.handlePost(res, messages);
  };

  const getMcp = (req: IncomingMessage, res: ServerResponse) => {
    const sid = header(req, 'mcp-session-id');
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
    const entry = httpSessions.get(sid) ?? resumeHttp(sid, req);
    if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    if (!(req.headers.accept ?? '').includes('text/event-stream')) {
      return rpcError(res, 406, ErrorCode.InvalidRequest, 'Not Acceptable: Client must accept text/event-stream');
    }
    const badVersion = unsupportedVersion(req);
    if (badVersion) return rpcError(res, 400, ErrorCode.InvalidRequest, badVersion);
    // Claude Code may open a second standalone stream while the first is still tracked: the new one
    // replaces the old instead of failing with 409 (a refused GET above never cuts the working one).
    trackStream(entry.session, res);
    entry.transport.handleGet(res);
  };

  const deleteMcp = (req: IncomingMessage, res: ServerResponse) => {
    const sid = header(req, 'mcp-session-id');
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
    const entry = httpSessions.get(sid);
    // Not in memory: ended without being revived first (nothing to undo at the child for it).
    if (!entry && !revival?.resume(sid, 'streamable-http', header(req, 'mcp-protocol-version'))) {
      return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    }
    const badVersion = unsupportedVersion(req);
    if (badVersion) return rpcError(res, 400, ErrorCode.InvalidRequest, badVersion);
    revival?.ended(sid);
    if (entry) entry.transport.handleDelete(res);
    else res.writeHead(200, { 'mcp-session-id': sid }).end();
  };

  const getSse = async (req: IncomingMessage, res: ServerResponse) => {
    const accept = req.headers.accept;
    if (accept && !accept.includes('text/event-stream') && !accept.includes('*/*')) {
      return rpcError(res, 406, ErrorCode.InvalidRequest, 'Not Acceptable: /sse serves text/event-stream');
    }
    // An EventSource that reconnects sends back the endpoint event's id, which is the session's:
    // the same session gets the new stream (kept in memory, or revived after a restart).
    const lastId = header(req, 'last-event-id');
    const entry = (lastId ? (sseSessions.get(lastId) ?? resumeSse(lastId, req)) : undefined) ?? openSse(revival?.mint('sse') ?? randomUUID(), req);
    trackStream(entry.session, res);
    entry.transport.attach(res);
    for (const wake of sseWaiters.get(entry.session.id)?.splice(0) ?? []) wake();
  };

  /** POSTs for an SSE session whose stream is not back yet, by session id. */
  const sseWaiters = new Map<string, Array<() => void>>();

  /**
   * The SSE session of a POST whose session is not in memory: its EventSource is reconnecting (the
   * bridge restarted), and answers can travel only on its stream, so the POST waits for that.
   * Undefined (→ 404) for an id that is no session, or when no stream carried it back in time: SDK
   * v1 clients reconnect without Last-Event-ID and come back as a new session under a new endpoint.
   */
  const awaitSseStream = async (sid: string): Promise<{ session: Peer; transport: LegacySseTransport } | undefined> => {
    if (!revival?.resume(sid, 'sse', undefined)) return undefined;
    const list = sseWaiters.get(sid) ?? [];
    sseWaiters.set(sid, list);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, SSE_REATTACH_WAIT_MS);
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (list.length === 0) sseWaiters.delete(sid);
    return sseSessions.get(sid);
  };

  const postSse = async (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => {
    const sid = query.get('sessionId');
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: sessionId query parameter is required');
    const entry = sseSessions.get(sid) ?? (await awaitSseStream(sid));
    if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    entry.session.touch();
    const body = await jsonBody(req, res);
    if (body === null) return;
    // The same envelope check as /mcp, and every refusal a JSON-RPC error. The SDK's
    // handlePostMessage answers in plain text and stringifies the body into its message (which a
    // hostile body can make throw mid-reply), so the message goes straight to the session.
    if (body === undefined) return rpcError(res, 415, ErrorCode.InvalidRequest, 'Unsupported Media Type: Content-Type must be application/json');
    if (!isJsonRpcMessage(body))
      return rpcError(res, 400, ErrorCode.ParseError, 'Parse error: Invalid JSON-RPC message (legacy SSE takes one message per POST)');
    res.writeHead(202, { 'content-type': 'text/plain; charset=utf-8' }).end('Accepted');
    // A client that reconnected its EventSource without Last-Event-ID (SDK v1) carries on in the
    // new session without initializing it: it is taken as initialized, so notifications reach it.
    if (!entry.session.initialized && isRequest(body) && body.method !== 'initialize') revival?.adopt(entry.session);
    entry.transport.receive(body);
  };

  const notFound = (res: ServerResponse) =>
    rpcError(res, 404, ErrorCode.InvalidRequest, 'Not found: this bridge serves /mcp (Streamable HTTP), /sse (SSE) and /status');

  /** Routes by path and method; like express, paths match case-insensitively and with a trailing slash. */
  const route = async (req: IncomingMessage, res: ServerResponse) => {
    if (!guard(req, res)) return;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://bridge.invalid');
    } catch {
      return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: malformed request target');
    }
    const path = url.pathname.toLowerCase().replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    switch (path) {
      case '/status':
        if (method !== 'GET' && method !== 'HEAD') return notFound(res);
        return sendJson(res, 200, opts.status(), { 'Cache-Control': 'no-store' });
      case '/mcp':
        if (method === 'POST') return postMcp(req, res);
        if (method === 'GET') return getMcp(req, res);
        if (method === 'DELETE') return deleteMcp(req, res);
        // HEAD included: it must neither open a stream nor cut the session's standalone one.
        return rpcError(
          res,
          405,
          ErrorCode.InvalidRequest,
          method === 'HEAD' ? 'Method Not Allowed: HEAD is not supported here' : 'Method Not Allowed: use POST, GET or DELETE',
          ALLOW_MCP,
        );
      case '/sse':
        if (method === 'GET') return getSse(req, res);
        if (method === 'HEAD') return rpcError(res, 405, ErrorCode.InvalidRequest, 'Method Not Allowed: HEAD is not supported here', ALLOW_MCP);
        return notFound(res);
      case '/wake':
        if (method !== 'POST' || !opts.wake) return notFound(res);
        return opts.wake().then((r) => sendJson(res, r.status, r.body, { 'Cache-Control': 'no-store' }));
      case '/message':
      case '/messages':
        return method === 'POST' ? postSse(req, res, url.searchParams) : notFound(res);
      default:
        return notFound(res);
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    // A fault in one request answers that request with an error; it never reaches the process.
    route(req, res).catch((err: Error) => {
      log.warn(`request failed: ${err.message}`);
      if (res.headersSent)
        res.end(); // a reply that had begun must still finish, never hang
      else rpcError(res, 500, ErrorCode.InternalError, `Internal error: ${err.message}`);
    });
  };

  return {
    handle,
    sweepIdle(now = Date.now()) {
      let released = 0;
      for (const { session, transport } of [...httpSessions.values(), ...sseSessions.values()]) {
        if (session.openStreams <= 0 && now - session.lastActivity > opts.sessionIdleTimeoutMs) {
          const resumable = revival?.store.persistent ? ' (resumable)' : '';
          log.info(`${session.label} idle for ${Math.round((now - session.lastActivity) / 1000)} s with no open stream: released${resumable}`);
          void transport.close();
          released++;
        } else revival?.seen(session);
      }
      return released;
    },
    async closeAllSessions() {
      await Promise.allSettled([...httpSessions.values(), ...sseSessions.values()].map(({ transport }) => transport.close()));
    },
  };
}
