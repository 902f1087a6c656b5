import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/**
 * The probe's HTTP layer, on node:http rather than fetch: a diagnosis needs to tell "nothing
 * listens" (refused) from "accepted the connection, never answered" (a server left in stdio mode),
 * which fetch folds into one error; and a probe must read only what it needs of a stream, then stop.
 */
export type Exchange =
  | { kind: 'refused'; message: string }
  /** Connected (or timed out connecting) but no HTTP answer came. */
  | { kind: 'silent'; message: string }
  /** Something answered, but not HTTP. */
  | { kind: 'garbage'; message: string }
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; res: IncomingMessage; req: ClientRequest };

export interface ExchangeInit {
  method: 'GET' | 'POST' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** The IP to connect to; the URL's host still goes in the Host header (the daemon checks it). */
  address?: string;
}

export function exchange(url: URL, init: ExchangeInit): Promise<Exchange> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const done = (e: Exchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e.kind !== 'response') req.destroy();
      resolve(e);
    };
    const req = request({
      host: init.address ?? url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || 80,
      path: `${url.pathname}${url.search}`,
      method: init.method,
      headers: { host: url.host, ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}), ...init.headers },
      agent: false,
    });
    const timer = setTimeout(
      () =>
        done({
          kind: 'silent',
          message: connected
            ? `accepted the connection but sent no HTTP answer within ${init.timeoutMs} ms`
            : `did not accept a connection within ${init.timeoutMs} ms`,
        }),
      init.timeoutMs,
    );
    req.on('socket', (s) => {
      if (!s.connecting) connected = true;
      else s.once('connect', () => (connected = true));
    });
    req.on('response', (res) => done({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, res, req }));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') return done({ kind: 'refused', message: 'connection refused: nothing listens on this port' });
      if (err.code?.startsWith('HPE_')) return done({ kind: 'garbage', message: `answered with something that is not HTTP (${err.code})` });
      if (connected || err.code === 'ECONNRESET') return done({ kind: 'silent', message: 'accepted the connection, then closed it without an HTTP answer' });
      done({ kind: 'refused', message: `cannot connect: ${err.message}` });
    });
    req.end(init.body);
  });
}

/**
 * `exchange` with each candidate address in turn until one does not refuse: "localhost" may be
 * served on 127.0.0.1 or on ::1, and a client such as Claude Code tries both.
 */
export async function exchangeAny(url: URL, init: Omit<ExchangeInit, 'address'>, addresses: readonly string[]): Promise<Exchange> {
  let last: Exchange | undefined;
  for (const address of addresses.length ? addresses : [undefined]) {
    last = await exchange(url, { ...init, address });
    if (last.kind !== 'refused') return last;
  }
  return last!;
}

/** Reads a whole (small) body as text; gives up after `limit` bytes or `timeoutMs`. */
export function readText(res: IncomingMessage, timeoutMs: number, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      res.destroy();
      reject(new Error(`the body did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        clearTimeout(timer);
        res.destroy();
        reject(new Error(`the body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Reads a server-sent event stream from its first byte, queueing events, so a probe can wait for
 * one event, act, then wait for the next without losing what arrived in between. It never waits
 * for the stream's end (a stream may stay open forever).
 */
export class SseReader {
  private buf = '';
  private readonly queue: SseEvent[] = [];
  private ended: Error | undefined;
  private waiter: (() => void) | undefined;

  constructor(private readonly res: IncomingMessage) {
    res.on('data', (chunk: Buffer) => {
      this.buf += chunk.toString('utf8');
      if (this.buf.length > 1 << 20) {
        this.ended = new Error('more than 1 MB of events without a complete one');
        res.destroy();
      }
      let sep: RegExpExecArray | null;
      while ((sep = /\r?\n\r?\n/.exec(this.buf))) {
        const ev = parseSseBlock(this.buf.slice(0, sep.index));
        this.buf = this.buf.slice(sep.index + sep[0].length);
        if (ev) this.queue.push(ev);
      }
      this.waiter?.();
    });
    res.on('end', () => this.end(new Error('the stream ended before the expected event')));
    res.on('error', (err) => this.end(err));
    res.on('close', () => this.end(new Error('the stream closed before the expected event')));
  }

  /** Resolves with `want`'s first non-undefined value over the queued and coming events. */
  until<T>(want: (e: SseEvent) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(() => reject(new Error(`no matching event within ${timeoutMs} ms`))), timeoutMs);
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        this.waiter = undefined;
        fn();
      };
      const check = () => {
        while (this.queue.length) {
          const hit = want(this.queue.shift()!);
          if (hit !== undefined) return settle(() => resolve(hit));
        }
        const ended = this.ended;
        if (ended) settle(() => reject(ended));
      };
      this.waiter = check;
      check();
    });
  }

  close(): void {
    this.res.destroy();
  }

  private end(err: Error): void {
    this.ended ??= err;
    this.waiter?.();
  }
}

/** Reads events until `want` matches, then stops reading (see SseReader). */
export function readSseUntil<T>(res: IncomingMessage, timeoutMs: number, want: (e: SseEvent) => T | undefined): Promise<T> {
  return new SseReader(res).until(want, timeoutMs);
}

function parseSseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { event, data: data.join('\n') } : undefined;
}
