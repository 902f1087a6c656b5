import type { ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { isRequest, isResponse } from './jsonrpc.js';

/** SSE comment interval: keeps proxies and idle timers from cutting a quiet stream. */
const KEEPALIVE_MS = 15_000;

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/** The HTTP response a POST's requests are answered on. */
interface PostStream {
  res: ServerResponse;
  /** false until something other than the final response has to go out: then it becomes SSE. */
  sse: boolean;
  pending: Set<RequestId>;
  keepAlive?: NodeJS.Timeout;
}

/**
 * Server side of one Streamable HTTP session, written directly on node:http.
 *
 * Why not the SDK's StreamableHTTPServerTransport: it adapts every request to web-standard
 * Request/Response objects (via @hono/node-server) and answers every POST as an SSE stream; measured
 * behind the bridge that costs ~0.5 ms of CPU per call and ~25 MB of RSS, more than the whole
 * routing. This transport implements the same SDK `Transport` interface and the spec's rules, and
 * answers a POST with plain JSON (one write) unless a progress update or a server request has to
 * travel on it first, in which case that response becomes an SSE stream.
 */
export interface StreamableHttpTransportOptions {
  /** The 2025 session's id; a 2026 stateless request has none. */
  sessionId?: string;
  /** The HTTP status a plain-JSON error response goes out with (2026: it follows from the code). */
  errorStatus?: (code: number) => number;
  /** A stateless request: the transport closes once its POST is answered or its client goes away. */
  oneShot?: boolean;
  /**
   * A resumed session: its client's GET stream reconnects on its own schedule (about a second after
   * the old one dropped), often after its first POST. Messages for that stream are held this long
   * (at most HELD_MAX of them) and delivered when it opens, instead of being dropped.
   */
  holdForStreamMs?: number;
}

const HELD_MAX = 64;

export class StreamableHttpSessionTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly sessionId?: string;
  private readonly streams = new Map<RequestId, PostStream>();
  private standalone?: { res: ServerResponse; keepAlive: NodeJS.Timeout };
  private closed = false;
  private readonly idHeader: Record<string, string>;
  private held?: { until: number; messages: JSONRPCMessage[] };

  constructor(private readonly opts: StreamableHttpTransportOptions = {}) {
    this.sessionId = opts.sessionId;
    this.idHeader = opts.sessionId ? { 'mcp-session-id': opts.sessionId } : {};
    if (opts.holdForStreamMs) this.held = { until: Date.now() + opts.holdForStreamMs, messages: [] };
  }

  async start(): Promise<void> {}

  /** Messages of one POST, already parsed and validated by the HTTP layer. */
  handlePost(res: ServerResponse, messages: JSONRPCMessage[]): void {
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      res.writeHead(202, this.idHeader).end();
      for (const m of messages) this.onmessage?.(m);
      if (this.opts.oneShot) void this.close();
      return;
    }
    const stream: PostStream = { res, sse: false, pending: new Set(requests.map((r) => r.id)) };
    // A batch of requests is answered on one SSE stream; a single request may stay plain JSON.
    if (requests.length > 1) this.upgrade(stream);
    for (const id of stream.pending) this.streams.set(id, stream);
    res.on('close', () => {
      if (stream.keepAlive) clearInterval(stream.keepAlive);
      for (const id of stream.pending) if (this.streams.get(id) === stream) this.streams.delete(id);
      stream.pending.clear();
      // A stateless client that goes away takes its request with it (the router cancels it).
      if (this.opts.oneShot) void this.close();
    });
    for (const m of messages) this.onmessage?.(m);
  }

  /** GET: the standalone stream for messages not tied to a request. A new one replaces the old. */
  handleGet(res: ServerResponse): void {
    this.closeStandaloneSSEStream();
    res.writeHead(200, { ...SSE_HEADERS, ...this.idHeader });
    res.flushHeaders();
    const keepAlive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepAlive.unref();
    const entry = { res, keepAlive };
    this.standalone = entry;
    res.on('close', () => {
      clearInterval(keepAlive);
      if (this.standalone === entry) this.standalone = undefined;
    });
    const held = this.held;
    this.held = undefined;
    if (held && Date.now() <= held.until) for (const m of held.messages) writeEvent(res, m);
  }

  handleDelete(res: ServerResponse): void {
    res.writeHead(200, this.idHeader).end();
    void this.close();
  }

  private upgrade(stream: PostStream): void {
    if (stream.sse) return;
    stream.sse = true;
    stream.res.writeHead(200, { ...SSE_HEADERS, ...this.idHeader });
    stream.res.flushHeaders();
    stream.keepAlive = setInterval(() => stream.res.write(': keepalive\n\n'), KEEPALIVE_MS);
    stream.keepAlive.unref();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('Not connected');
    const response = isResponse(message);
    const requestId = response ? message.id : options?.relatedRequestId;
    const stream = requestId !== undefined && requestId !== null ? this.streams.get(requestId) : undefined;
    if (stream && !stream.res.writableEnded) {
      if (!response) {
        this.upgrade(stream);
        writeEvent(stream.res, message);
        return;
      }
      this.streams.delete(message.id as RequestId);
      stream.pending.delete(message.id as RequestId);
      if (!stream.sse) {
        const status = 'error' in message && this.opts.errorStatus ? this.opts.errorStatus(message.error.code) : 200;
        stream.res.writeHead(status, { 'content-type': 'application/json', ...this.idHeader });
        stream.res.end(JSON.stringify(message));
      } else {
        writeEvent(stream.res, message);
        if (stream.pending.size === 0) stream.res.end();
      }
      if (this.opts.oneShot && this.streams.size === 0) void this.close();
      return;
    }
    if (response) throw new Error(`No connection established for request ID: ${String(requestId)}`);
    // Notifications and server requests whose request stream is gone (or that belong to no request)
    // go on the standalone stream; without one they are dropped, as the spec allows.
    if (this.standalone) writeEvent(this.standalone.res, message);
    else if (this.held && Date.now() <= this.held.until) {
      if (this.held.messages.length >= HELD_MAX) this.held.messages.shift();
      this.held.messages.push(message);
    } else this.held = undefined;
  }

  /** Ends the response of one request without answering it (after a cancellation). */
  closeSSEStream(requestId: RequestId): void {
    const stream = this.streams.get(requestId);
    if (!stream) return;
    this.streams.delete(requestId);
    stream.pending.delete(requestId);
    if (stream.pending.size > 0) return;
    this.upgrade(stream); // an empty event stream is a valid answer to a POST
    stream.res.end();
  }

  closeStandaloneSSEStream(): void {
    const s = this.standalone;
    if (!s) return;
    this.standalone = undefined;
    clearInterval(s.keepAlive);
    s.res.end();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ended = new Set<PostStream>();
    for (const stream of this.streams.values()) {
      if (ended.has(stream)) continue;
      ended.add(stream);
      if (!stream.res.headersSent) this.upgrade(stream);
      stream.res.end();
    }
    this.streams.clear();
    this.closeStandaloneSSEStream();
    this.onclose?.();
  }
}

function writeEvent(res: ServerResponse, message: JSONRPCMessage): void {
  res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}
