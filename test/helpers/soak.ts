/**
 * Helpers for the reliability suite (test/reliability-*.test.ts): run lengths that grow under
 * SOAK=1, a seeded PRNG, RSS sampling from /proc, process-group bookkeeping, "MEASURED:" report
 * lines, and a raw HTTP/1.1 exchange over a TCP socket for requests fetch() cannot send (invalid
 * UTF-8, truncated bodies, duplicated or malformed headers, no Host).
 */
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './wait.js';

/** SOAK=1 selects the long versions (npm run test:soak). */
export const SOAK = process.env.SOAK === '1';

/** A numeric knob: the environment variable if set, else the short (CI) or the soak default. */
export function knob(name: string, short: number, soak: number): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
    return n;
  }
  return SOAK ? soak : short;
}

/** Jest's own timeout for a test that runs `seconds` of load plus `slackMs` of setup. */
export function testTimeout(seconds: number, slackMs = 60_000): number {
  return Math.round(seconds * 1000 * 1.5 + slackMs);
}

// ---------------------------------------------------------------------------------------------
// MEASURED: lines (one block per file, printed in afterAll)
// ---------------------------------------------------------------------------------------------

const measuredLines: string[] = [];

export function measured(label: string, value: number | string, unit = ''): void {
  const v = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(2)) : value;
  measuredLines.push(`MEASURED: ${label}: ${v}${unit ? ' ' + unit : ''}`);
}

export function printMeasured(title: string): void {
  if (measuredLines.length === 0) return;
  console.log(`${title}${SOAK ? ' (SOAK=1)' : ''}\n${measuredLines.splice(0).join('\n')}`);
}

export const MB = 1024 * 1024;
export const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32): the same seed gives the same cases on every machine
// ---------------------------------------------------------------------------------------------

export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

/** The seed in env `name` (e.g. FUZZ_SEED), else a fixed one in CI (reproducible) and a fresh one under SOAK. */
export function seedFromEnv(name: string, fixed: number): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got "${raw}"`);
    return n >>> 0;
  }
  return SOAK ? (Date.now() ^ (process.pid << 16)) >>> 0 : fixed;
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

// ---------------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------------

/** VmRSS of one process in bytes, or undefined when it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stop(), which returns the samples in bytes. */
export function sampleRss(pid: number, everyMs = 200): { stop(): number[]; samples: number[] } {
  const samples: number[] = [];
  const take = () => {
    const r = rssOf(pid);
    if (r !== undefined) samples.push(r);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** Median RSS over `count` samples `everyMs` apart: one GC cycle does not decide a measurement. */
export async function steadyRss(pid: number, count = 7, everyMs = 150): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = rssOf(pid);
    if (r !== undefined) values.push(r);
    await sleep(everyMs);
  }
  return median(values);
}

// ---------------------------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------------------------

export interface Settled<T = unknown> {
  ok: boolean;
  value?: T;
  error?: Error & { code?: number };
  at: number;
}

export function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true, value, at: Date.now() }),
    (error: Error) => ({ ok: false, error, at: Date.now() }),
  );
}

/** A private temporary directory for scripts a test writes; remove() deletes it. */
export function scratchDir(prefix: string): { dir: string; write(name: string, content: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 over a socket
// ---------------------------------------------------------------------------------------------

export interface RawReply {
  /** No response bytes at all: the server closed (or reset) the connection. */
  noResponse: boolean;
  /** The status line and headers parsed; false when the reply was not valid HTTP/1.x. */
  wellFormed: boolean;
  problem?: string;
  statusLine: string;
  status: number;
  headers: Record<string, string>;
  /** The body as received (for an event stream: what arrived before we stopped reading). */
  body: Buffer;
  /** A stream that we stopped reading on purpose (GET /sse, GET /mcp). */
  streamCut: boolean;
  /** Whether the response completed (length reached, last chunk seen, or connection closed). */
  complete: boolean;
  timedOut: boolean;
  /** Our write failed (EPIPE/ECONNRESET): the server closed before reading all we sent. */
  writeFailed: boolean;
  /** Interim (1xx) status lines that came first. */
  interim: string[];
  ms: number;
}

export interface RawExchangeOptions {
  /** Total time allowed for a complete reply (a hang is a failure, not a wait). */
  timeoutMs?: number;
  /** For text/event-stream replies: stop once this is true of what arrived (default: first event). */
  streamDone?: (body: string) => boolean;
  /** How long an event stream may stay quiet before we stop reading it (when `streamDone` never fires). */
  streamIdleMs?: number;
  /** Half-close our side after writing (a client that sent everything it will ever send). */
  endAfterWrite?: boolean;
  /** HEAD: no body follows the headers. */
  head?: boolean;
}

function decodeChunked(buf: Buffer): { body: Buffer; done: boolean; error?: string } {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return { body: Buffer.concat(parts), done: false };
    const sizeText = buf.subarray(pos, eol).toString('latin1').split(';')[0].trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return { body: Buffer.concat(parts), done: false, error: `bad chunk size "${sizeText.slice(0, 20)}"` };
    const size = parseInt(sizeText, 16);
    if (size === 0) return { body: Buffer.concat(parts), done: buf.indexOf('\r\n', eol + 2) >= 0 };
    if (buf.length < eol + 2 + size + 2) return { body: Buffer.concat(parts), done: false };
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

/**
 * Writes `request` (whatever bytes it is) to a fresh connection and reads one HTTP response.
 * Never rejects; the reply says what went wrong (no response, malformed, timed out).
 */
export function rawExchange(port: number, request: Buffer | string, opts: RawExchangeOptions = {}): Promise<RawReply> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const streamDone = opts.streamDone ?? ((b: string) => /\n\n/.test(b));
  const streamIdleMs = opts.streamIdleMs ?? 1500;
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let settled = false;
    let idleTimer: NodeJS.Timeout | undefined;
    const reply: RawReply = {
      noResponse: true,
      wellFormed: false,
      statusLine: '',
      status: 0,
      headers: {},
      body: Buffer.alloc(0),
      streamCut: false,
      complete: false,
      timedOut: false,
      writeFailed: false,
      interim: [],
      ms: 0,
    };
    let headerEnd = -1;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (idleTimer) clearTimeout(idleTimer);
      reply.ms = Date.now() - started;
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => {
      reply.timedOut = true;
      finish();
    }, timeoutMs);

    const parseHead = (): boolean => {
      headerEnd = data.indexOf('\r\n\r\n');
      if (headerEnd < 0) return false;
      const lines = data.subarray(0, headerEnd).toString('latin1').split('\r\n');
      reply.statusLine = lines[0];
      const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
      if (!m) {
        reply.problem = `bad status line ${JSON.stringify(lines[0].slice(0, 80))}`;
        return true;
      }
      reply.status = Number(m[1]);
      for (const line of lines.slice(1)) {
        const c = line.indexOf(':');
        if (c <= 0) {
          reply.problem = `bad header line ${JSON.stringify(line.slice(0, 80))}`;
          return true;
        }
        const k = line.slice(0, c).trim().toLowerCase();
        const v = line.slice(c + 1).trim();
        reply.headers[k] = reply.headers[k] !== undefined ? `${reply.headers[k]}, ${v}` : v;
      }
      reply.wellFormed = true;
      return true;
    };

    const check = (closed: boolean) => {
      // Interim 1xx answers (100 Continue) precede the real one: skip them.
      while (headerEnd < 0 && parseHead() && reply.wellFormed && reply.status >= 100 && reply.status < 200 && reply.status !== 101) {
        data = data.subarray(headerEnd + 4);
        headerEnd = -1;
        reply.wellFormed = false;
        reply.headers = {};
        reply.interim.push(reply.statusLine);
      }
      if (headerEnd < 0 && !parseHead()) {
        if (closed) {
          if (data.length > 0) reply.problem = 'connection closed inside the response head';
          finish();
        }
        return;
      }
      if (!reply.wellFormed) return finish();
      const raw = data.subarray(headerEnd + 4);
      const noBody = opts.head || reply.status === 204 || reply.status === 304 || (reply.status >= 100 && reply.status < 200);
      if (noBody) {
        reply.complete = true;
        return finish();
      }
      const te = reply.headers['transfer-encoding'];
      const cl = reply.headers['content-length'];
      const isStream = (reply.headers['content-type'] ?? '').includes('text/event-stream');
      if (te && /chunked/i.test(te)) {
        const d = decodeChunked(raw);
        reply.body = d.body;
        if (d.error) {
          reply.problem = d.error;
          return finish();
        }
        if (d.done) {
          reply.complete = true;
          return finish();
        }
      } else if (cl !== undefined) {
        const len = Number(cl);
        reply.body = raw.subarray(0, len);
        if (raw.length >= len) {
          reply.complete = true;
          return finish();
        }
      } else {
        reply.body = raw;
      }
      if (closed) {
        // Delimited by close: complete unless a length or a last chunk was promised.
        reply.complete = !(te && /chunked/i.test(te)) && cl === undefined;
        if (!reply.complete) reply.problem = 'connection closed before the promised body arrived';
        return finish();
      }
      if (isStream) {
        if (streamDone(reply.body.toString('utf8'))) {
          reply.streamCut = true;
          return finish();
        }
        if (idleTimer) clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          reply.streamCut = true;
          finish();
        }, streamIdleMs);
      }
    };

    socket.on('data', (chunk: Buffer) => {
      reply.noResponse = false;
      data = Buffer.concat([data, chunk]);
      check(false);
    });
    socket.on('close', () => check(true));
    socket.on('error', () => undefined); // ECONNRESET etc.: 'close' follows
    socket.on('connect', () => {
      socket.write(request, (err) => {
        if (err) reply.writeFailed = true;
        else if (opts.endAfterWrite) socket.end();
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Heap after a forced GC, read from a running bridge
// ---------------------------------------------------------------------------------------------

/**
 * Test-only instrumentation for a bridge process: NODE_OPTIONS gets `--require HOOK`, and the hook
 * answers SIGUSR2 with two full GCs and a JSON line of process.memoryUsage() in a file. Unlike RSS,
 * the heap after a full GC is what the program really keeps, so a slow leak shows in a short run.
 * (The MCP server child inherits NODE_OPTIONS too; it is never signalled, so the hook only idles.)
 */
export function heapProbe(dir: string): {
  env: NodeJS.ProcessEnv;
  measure(pid: number, timeoutMs?: number): Promise<{ heapUsed: number; arrayBuffers: number; external: number; rss: number }>;
} {
  const hook = join(dir, 'gc-hook.cjs');
  // Each request carries a nonce (signals can coalesce, so a counter could be off by one).
  writeFileSync(
    hook,
    `'use strict';
const v8 = require('node:v8');
const vm = require('node:vm');
const fs = require('node:fs');
const path = require('node:path');
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
process.on('SIGUSR2', () => {
  let nonce = '';
  try {
    nonce = fs.readFileSync(path.join(${JSON.stringify(dir)}, 'heap-request-' + process.pid), 'utf8');
  } catch {}
  gc();
  gc();
  const m = process.memoryUsage();
  const out = path.join(${JSON.stringify(dir)}, 'heap-' + process.pid + '.json');
  fs.writeFileSync(out + '.tmp', JSON.stringify({ nonce, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, external: m.external, rss: m.rss }));
  fs.renameSync(out + '.tmp', out);
});
`,
  );
  return {
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${hook}`.trim() },
    async measure(pid, timeoutMs = 10_000) {
      const file = join(dir, `heap-${pid}.json`);
      const nonce = `${Date.now()}-${Math.random()}`;
      writeFileSync(join(dir, `heap-request-${pid}`), nonce);
      process.kill(pid, 'SIGUSR2');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await sleep(50);
        try {
          const m = JSON.parse(readFileSync(file, 'utf8'));
          if (m.nonce === nonce) return m;
        } catch {
          // not written yet
        }
        if (Date.now() > deadline) throw new Error(`no heap report from pid ${pid} within ${timeoutMs} ms`);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A raw Streamable HTTP session (fetch), for what an SDK client hides
// ---------------------------------------------------------------------------------------------

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
export const PROTOCOL = '2025-11-25';

export interface RawSession {
  id: string;
  headers: Record<string, string>;
  /** POSTs one JSON-RPC message (or batch) and returns status and parsed JSON (plain or first SSE event). */
  post(body: unknown, signal?: AbortSignal): Promise<{ status: number; json: any; text: string }>;
  call(id: number | string, name: string, args?: Record<string, unknown>, signal?: AbortSignal): Promise<{ status: number; json: any; text: string }>;
  del(): Promise<number>;
}

export async function readReply(res: Response): Promise<{ status: number; json: any; text: string }> {
  let text: string;
  if (res.headers.get('content-type')?.includes('text/event-stream')) {
    // The first event that is a JSON-RPC response (progress and other notifications come first).
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      const found = [...buf.matchAll(/^data: (.*)$/gm)].map((m) => m[1]).find((d) => /"(result|error)"/.test(d));
      if (found) {
        text = found;
        await reader.cancel().catch(() => undefined);
        break;
      }
    }
  } else text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export async function openRawSession(base: string, extra: Record<string, string> = {}, signal?: AbortSignal): Promise<RawSession> {
  const init = await fetch(`${base}/mcp`, {
    method: 'POST',
    signal,
    headers: { ...MCP_HEADERS, ...extra },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  const r = await readReply(init);
  const id = init.headers.get('mcp-session-id');
  if (init.status !== 200 || !id) throw new Error(`initialize failed: ${init.status} ${r.text.slice(0, 200)}`);
  const headers = { ...MCP_HEADERS, ...extra, 'mcp-session-id': id, 'mcp-protocol-version': PROTOCOL };
  const post = async (body: unknown, signal?: AbortSignal) =>
    readReply(await fetch(`${base}/mcp`, { method: 'POST', headers, body: JSON.stringify(body), signal }));
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, signal);
  return {
    id,
    headers,
    post,
    call: (rid, name, args = {}, signal) => post({ jsonrpc: '2.0', id: rid, method: 'tools/call', params: { name, arguments: args } }, signal),
    del: async () => (await fetch(`${base}/mcp`, { method: 'DELETE', headers })).status,
  };
}
