import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import type { Logger } from '../util/log.js';
import { ErrorCode, httpRpcError, isJsonRpcMessage, isRequest } from './jsonrpc.js';
import { StreamableHttpSessionTransport } from './streamable-http.js';
import type { Router } from './router.js';
import { securityMiddleware, type SecurityOptions } from './security.js';
import { Session } from './session.js';

export interface HttpOptions {
  security: SecurityOptions;
  maxBodyBytes: number;
  /** A session with no open stream that has been quiet this long is released. */
  sessionIdleTimeoutMs: number;
  sseKeepAliveMs: number;
  status: () => unknown;
}

export interface BridgeHttp {
  app: express.Express;
  /** Releases idle sessions; run periodically. */
  sweepIdle(now?: number): number;
  closeAllSessions(): Promise<void>;
}

/** The SDK's SSE transport is loaded on first use: it pulls in the SDK's zod schemas (~15 MB). */
let sseModule: Promise<typeof import('@modelcontextprotocol/sdk/server/sse.js')> | undefined;
const loadSse = () => (sseModule ??= import('@modelcontextprotocol/sdk/server/sse.js'));

/** The JSON-RPC spec's limit is none; the SDK's is 100, and so is ours. */
const MAX_BATCH_SIZE = 100;

type PostCheck = { messages: JSONRPCMessage[] } | { status: number; code: number; message: string };

/** The checks the Streamable HTTP spec puts on a POST before any message is processed. */
function checkPost(req: Request): PostCheck {
  const accept = req.header('accept') ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
    return { status: 406, code: ErrorCode.ServerUnavailable, message: 'Not Acceptable: Client must accept both application/json and text/event-stream' };
  }
  if (req.body === undefined) {
    return { status: 415, code: ErrorCode.ServerUnavailable, message: 'Unsupported Media Type: Content-Type must be application/json' };
  }
  const body: unknown = req.body;
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

function unsupportedVersion(req: Request): string | undefined {
  const version = req.header('mcp-protocol-version');
  if (version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
  return `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`;
}

function rpcError(res: Response, status: number, code: number, message: string): void {
  httpRpcError(res, status, code, message);
}

const SESSION_NOT_FOUND =
  'Session not found: it ended or the bridge restarted; send initialize to start a new session';

/**
 * The HTTP face of the bridge: Streamable HTTP at /mcp and legacy SSE at /sse + /message on one
 * port. Each session gets its own SDK transport; all of them feed the one Router.
 */
export function createBridgeHttp(router: Router, opts: HttpOptions, log: Logger): BridgeHttp {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const httpSessions = new Map<string, { session: Session; transport: StreamableHttpSessionTransport }>();
  const sseSessions = new Map<string, { session: Session; transport: SSEServerTransport }>();
  const json = express.json({ limit: opts.maxBodyBytes, type: ['application/json', 'application/*+json'] });

  app.use(securityMiddleware(opts.security));

  app.get('/status', (_req, res) => {
    res.set('Cache-Control', 'no-store').json(opts.status());
  });

  /** Counts open streams so idle expiry never drops a session that still listens. */
  const trackStream = (session: Session, res: Response) => {
    session.openStreams++;
    session.touch();
    res.on('close', () => {
      session.openStreams--;
      session.touch();
    });
  };

  /** A client that drops a POST stream mid-call has its unanswered requests cancelled upstream. */
  const cancelOnAbandon = (session: Session, messages: JSONRPCMessage[], res: Response) => {
    const ids = messages.filter(isRequest).map((m) => m.id);
    if (ids.length === 0) return;
    res.on('close', () => {
      if (res.writableFinished) return;
      for (const id of ids) router.cancelClientRequest(session, id, 'client disconnected');
    });
  };

  // Express answers HEAD with the GET handler: on /sse that would open an SSE session whose headers
  // are never flushed (the client hangs, the session leaks); on /mcp it would cut the session's
  // standalone stream. Neither route has anything to say to HEAD.
  app.head(['/mcp', '/sse'], (_req, res) => {
    res.set('Allow', 'GET, POST, DELETE');
    rpcError(res, 405, ErrorCode.InvalidRequest, 'Method Not Allowed: HEAD is not supported here');
  });

  app.post('/mcp', json, (req, res) => {
    const sid = req.header('mcp-session-id');
    const entry = sid ? httpSessions.get(sid) : undefined;
    if (sid && !entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    const check = checkPost(req);
    if ('status' in check) return rpcError(res, check.status, check.code, check.message);
    const { messages } = check;
    const first = messages[0] as { method?: string; id?: unknown };
    if (entry) {
      if (first.method === 'initialize') return rpcError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: Server already initialized');
      const badVersion = unsupportedVersion(req);
      if (badVersion) return rpcError(res, 400, ErrorCode.ServerUnavailable, badVersion);
      trackStream(entry.session, res);
      cancelOnAbandon(entry.session, messages, res);
      entry.transport.handlePost(res, messages);
      return;
    }
    if (first.method === 'initialize') {
      const transport = new StreamableHttpSessionTransport(randomUUID());
      const session = new Session(transport.sessionId, 'streamable-http', transport);
      transport.onmessage = (message) => router.handleClientMessage(session, message);
      transport.onclose = () => {
        httpSessions.delete(session.id);
        router.removeSession(session, 'session closed');
      };
      httpSessions.set(session.id, { session, transport });
      router.addSession(session);
      trackStream(session, res);
      transport.handlePost(res, messages);
      return;
    }
    if (messages.length === 1 && first.method === 'server/discover') {
      // Protocol 2026-07-28 discovery: answer at once with "method not found" so the client falls
      // back to initialize (protocol 2025-11-25) without waiting or leaving a session behind.
      res.status(200).json({
        jsonrpc: '2.0',
        id: first.id ?? null,
        error: { code: ErrorCode.MethodNotFound, message: 'Method not found: server/discover; this server speaks initialize (2025-11-25)' },
      });
      return;
    }
    rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required; start with an initialize request');
  });

  app.get('/mcp', (req, res) => {
    const sid = req.header('mcp-session-id');
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
    const entry = httpSessions.get(sid);
    if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    if (!(req.header('accept') ?? '').includes('text/event-stream')) {
      return rpcError(res, 406, ErrorCode.ServerUnavailable, 'Not Acceptable: Client must accept text/event-stream');
    }
    const badVersion = unsupportedVersion(req);
    if (badVersion) return rpcError(res, 400, ErrorCode.ServerUnavailable, badVersion);
    // Claude Code may open a second standalone stream while the first is still tracked: the new one
    // replaces the old instead of failing with 409 (a refused GET above never cuts the working one).
    trackStream(entry.session, res);
    entry.transport.handleGet(res);
  });

  app.delete('/mcp', (req, res) => {
    const sid = req.header('mcp-session-id');
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
    const entry = httpSessions.get(sid);
    if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    const badVersion = unsupportedVersion(req);
    if (badVersion) return rpcError(res, 400, ErrorCode.ServerUnavailable, badVersion);
    entry.transport.handleDelete(res);
  });

  app.all('/mcp', (_req, res) => {
    res.set('Allow', 'GET, POST, DELETE');
    rpcError(res, 405, ErrorCode.InvalidRequest, 'Method Not Allowed: use POST, GET or DELETE');
  });

  app.get('/sse', async (req, res) => {
    const accept = req.header('accept');
    if (accept && !accept.includes('text/event-stream') && !accept.includes('*/*')) {
      return rpcError(res, 406, ErrorCode.InvalidRequest, 'Not Acceptable: /sse serves text/event-stream');
    }
    const { SSEServerTransport } = await loadSse();
    // The first /sse client waits for the module to load; if it left meanwhile, its 'close' has
    // already fired and a session opened now would never be released.
    if (res.destroyed || req.socket.destroyed) return;
    const transport = new SSEServerTransport('/message', res);
    const session = new Session(transport.sessionId, 'sse', transport);
    transport.onmessage = (message) => router.handleClientMessage(session, message);
    transport.onclose = () => {
      sseSessions.delete(session.id);
      router.removeSession(session, 'SSE stream closed');
    };
    transport.onerror = (err) => log.debug(`sse: ${err.message}`);
    sseSessions.set(session.id, { session, transport });
    router.addSession(session);
    trackStream(session, res);
    await transport.start();
    // Comments keep proxies and idle timers from cutting a quiet stream.
    const keepAlive = setInterval(() => {
      if (!res.writableEnded) res.write(': keepalive\n\n');
    }, opts.sseKeepAliveMs);
    keepAlive.unref();
    res.on('close', () => clearInterval(keepAlive));
  });

  const ssePost = async (req: Request, res: Response) => {
    const sid = typeof req.query.sessionId === 'string' ? req.query.sessionId : undefined;
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: sessionId query parameter is required');
    const entry = sseSessions.get(sid);
    if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    entry.session.touch();
    await entry.transport.handlePostMessage(req, res, req.body);
  };
  app.post('/message', json, ssePost);
  app.post('/messages', json, ssePost);

  app.use((_req, res) => {
    rpcError(res, 404, ErrorCode.InvalidRequest, 'Not found: this bridge serves /mcp (Streamable HTTP), /sse (SSE) and /status');
  });

  // Body-parser and handler errors: a JSON-RPC error, never a crash or an HTML page.
  app.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === 'entity.too.large') {
      return rpcError(res, 413, ErrorCode.InvalidRequest, `Payload Too Large: the limit is ${opts.maxBodyBytes} bytes`);
    }
    if (err.type === 'entity.parse.failed') return rpcError(res, 400, ErrorCode.ParseError, 'Parse error: the body is not valid JSON');
    if (err.type === 'encoding.unsupported' || err.type === 'charset.unsupported') {
      return rpcError(res, 415, ErrorCode.InvalidRequest, `Unsupported encoding: ${err.message}`);
    }
    log.warn(`request failed: ${err.message}`);
    rpcError(res, err.status && err.status >= 400 && err.status < 600 ? err.status : 500, ErrorCode.InternalError, `Internal error: ${err.message}`);
  });

  return {
    app,
    sweepIdle(now = Date.now()) {
      let released = 0;
      for (const { session, transport } of [...httpSessions.values()]) {
        if (session.openStreams <= 0 && now - session.lastActivity > opts.sessionIdleTimeoutMs) {
          log.info(`${session.label} idle for ${Math.round((now - session.lastActivity) / 1000)} s with no open stream: released`);
          void transport.close();
          released++;
        }
      }
      return released;
    },
    async closeAllSessions() {
      await Promise.allSettled([...httpSessions.values(), ...sseSessions.values()].map(({ transport }) => transport.close()));
    },
  };
}
