import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import type { Logger } from '../util/log.js';
import { ErrorCode } from './jsonrpc.js';
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

/**
 * The SDK transports are loaded on first use: the Streamable HTTP one pulls in web streams, undici
 * and the SDK's zod schemas (~25 MB), which an idle bridge does not need.
 */
let streamableModule: Promise<typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js')> | undefined;
let sseModule: Promise<typeof import('@modelcontextprotocol/sdk/server/sse.js')> | undefined;
const loadStreamable = () => (streamableModule ??= import('@modelcontextprotocol/sdk/server/streamableHttp.js'));
const loadSse = () => (sseModule ??= import('@modelcontextprotocol/sdk/server/sse.js'));

type AnyMessage = { jsonrpc?: unknown; id?: unknown; method?: unknown };

function rpcError(res: Response, status: number, code: number, message: string, id: unknown = null): void {
  if (res.headersSent) return;
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id });
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
  const httpSessions = new Map<string, { session: Session; transport: StreamableHTTPServerTransport }>();
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
  const cancelOnAbandon = (session: Session, body: unknown, res: Response) => {
    const ids = (Array.isArray(body) ? body : [body])
      .filter((m: AnyMessage) => m && typeof m === 'object' && typeof m.method === 'string' && m.id !== undefined && m.id !== null)
      .map((m: AnyMessage) => m.id as string | number);
    if (ids.length === 0) return;
    res.on('close', () => {
      if (res.writableFinished) return;
      for (const id of ids) router.cancelClientRequest(session, id, 'client disconnected');
    });
  };

  const newHttpSession = async (req: Request, res: Response) => {
    const { StreamableHTTPServerTransport } = await loadStreamable();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.id = id;
        httpSessions.set(id, { session, transport });
        router.addSession(session);
      },
    });
    const session = new Session('(initializing)', 'streamable-http', transport);
    transport.onmessage = (message) => router.handleClientMessage(session, message);
    transport.onclose = () => {
      httpSessions.delete(session.id);
      router.removeSession(session, 'session closed');
    };
    transport.onerror = (err) => log.debug(`streamable-http: ${err.message}`);
    await transport.start();
    trackStream(session, res);
    await transport.handleRequest(req, res, req.body);
  };

  // Express answers HEAD with the GET handler: on /sse that would open an SSE session whose headers
  // are never flushed (the client hangs, the session leaks); on /mcp it would cut the session's
  // standalone stream. Neither route has anything to say to HEAD.
  app.head(['/mcp', '/sse'], (_req, res) => {
    res.set('Allow', 'GET, POST, DELETE');
    rpcError(res, 405, ErrorCode.InvalidRequest, 'Method Not Allowed: HEAD is not supported here');
  });

  app.post('/mcp', json, async (req, res) => {
    if (Array.isArray(req.body) && req.body.length === 0) {
      // JSON-RPC 2.0: an empty batch is an invalid request (the SDK would answer 202 to it).
      return rpcError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: empty batch');
    }
    const sid = req.header('mcp-session-id');
    if (sid) {
      const entry = httpSessions.get(sid);
      if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
      trackStream(entry.session, res);
      cancelOnAbandon(entry.session, req.body, res);
      await entry.transport.handleRequest(req, res, req.body);
      return;
    }
    if (req.body === undefined) {
      return rpcError(res, 415, ErrorCode.InvalidRequest, 'Unsupported Media Type: Content-Type must be application/json');
    }
    const messages: AnyMessage[] = Array.isArray(req.body) ? req.body : [req.body];
    if (messages.some((m) => m && typeof m === 'object' && m.method === 'initialize')) {
      await newHttpSession(req, res);
      return;
    }
    const first = messages[0];
    if (messages.length === 1 && first && typeof first === 'object' && first.method === 'server/discover') {
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

  app.get('/mcp', async (req, res) => {
    const sid = req.header('mcp-session-id');
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
    const entry = httpSessions.get(sid);
    if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    const version = req.header('mcp-protocol-version');
    if ((req.header('accept') ?? '').includes('text/event-stream') && (version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(version))) {
      // Claude Code may open a second standalone stream while the first is still tracked: the new
      // one replaces the old instead of failing with 409. Only a GET the transport will accept
      // replaces it: a refused one (bad protocol version) must not cut the working stream.
      entry.transport.closeStandaloneSSEStream();
    }
    trackStream(entry.session, res);
    await entry.transport.handleRequest(req, res);
  });

  app.delete('/mcp', async (req, res) => {
    const sid = req.header('mcp-session-id');
    if (!sid) return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
    const entry = httpSessions.get(sid);
    if (!entry) return rpcError(res, 404, ErrorCode.SessionNotFound, SESSION_NOT_FOUND);
    await entry.transport.handleRequest(req, res);
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
