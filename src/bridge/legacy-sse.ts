import type { ServerResponse } from 'node:http';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Messages kept for a session whose stream is not (yet, again) attached; older ones are dropped. */
const MAX_BUFFERED = 256;
/** How soon an EventSource should reconnect after its stream drops (a bridge restart takes ~1 s). */
const RETRY_MS = 1000;

/**
 * The server side of one legacy SSE session (GET /sse for the stream, POST /message for messages),
 * written on node:http like streamable-http.ts.
 *
 * Why not the SDK's SSEServerTransport: its stream is fixed at construction, so a session can never
 * get a second one, and it loads the SDK's zod schemas (~15 MB). Here the endpoint event carries the
 * session id as its SSE event id: an EventSource that reconnects (the stream dropped, the bridge
 * restarted) sends it back as Last-Event-ID, and the bridge attaches the new stream to the same
 * session instead of starting an uninitialized one its client knows nothing about.
 */
export class LegacySseTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** The attached stream went away (the caller decides whether that ends the session). */
  onstreamclose?: () => void;
  private res?: ServerResponse;
  private keepAlive?: NodeJS.Timeout;
  private buffered: JSONRPCMessage[] = [];
  private closed = false;

  constructor(
    readonly sessionId: string,
    private readonly endpoint: string,
    private readonly keepAliveMs: number,
  ) {}

  async start(): Promise<void> {}

  get attached(): boolean {
    return this.res !== undefined;
  }

  /** Makes `res` this session's stream (replacing any other) and sends what waited for one. */
  attach(res: ServerResponse): void {
    this.detach(true);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: ${RETRY_MS}\nid: ${this.sessionId}\nevent: endpoint\ndata: ${this.endpoint}?sessionId=${encodeURIComponent(this.sessionId)}\n\n`);
    this.res = res;
    // Comments keep proxies and idle timers from cutting a quiet stream.
    this.keepAlive = setInterval(() => {
      if (!res.writableEnded) res.write(': keepalive\n\n');
    }, this.keepAliveMs);
    this.keepAlive.unref();
    res.on('close', () => {
      if (this.res !== res) return;
      this.detach(false);
      this.onstreamclose?.();
    });
    for (const m of this.buffered.splice(0)) write(res, m);
  }

  private detach(end: boolean): void {
    const res = this.res;
    this.res = undefined;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    if (end && res && !res.writableEnded) res.end();
  }

  /** Hands a POSTed message to the session. */
  receive(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new Error('Not connected');
    if (this.res && !this.res.writableEnded) {
      write(this.res, message);
      return;
    }
    // No stream attached yet (a session being opened or resumed): kept until it is.
    if (this.buffered.length >= MAX_BUFFERED) this.buffered.shift();
    this.buffered.push(message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.buffered = [];
    this.detach(true);
    this.onclose?.();
  }
}

function write(res: ServerResponse, message: JSONRPCMessage): void {
  res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}
