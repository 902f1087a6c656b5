/**
 * The bridge's HTTP face under bad input and hostile requests, end to end: the real `mcpshare bridge`
 * CLI, the fixture server as its child, raw HTTP for what an SDK client never sends, and after each
 * bad request proof that the bridge still serves (existing sessions and a brand-new SDK client).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  bridgeArgs,
  connect,
  FIXTURE,
  initializeBody,
  JSON_HEADERS,
  runCli,
  textOf,
  waitReady,
  type RunningCli,
  parseJsonOrUndefined,
} from './helpers/bridge.js';
import { sleep, waitFor } from './helpers/wait.js';
import type { BridgeStatus } from '../src/bridge/status.js';

const FIX = [process.execPath, FIXTURE];
const LIMIT = 4 * 1024 * 1024;
const PROTOCOL = '2025-11-25';
const SESSION_NOT_FOUND = -32001;

// ---------------------------------------------------------------------------------------------
// Raw HTTP helpers
// ---------------------------------------------------------------------------------------------

interface SseEvent {
  event?: string;
  data: string;
}

/** Parses complete `\n\n`-terminated SSE events out of a buffer; returns the rest. */
function parseEvents(buf: string, into: SseEvent[]): string {
  for (;;) {
    const end = buf.indexOf('\n\n');
    if (end < 0) return buf;
    const block = buf.slice(0, end);
    buf = buf.slice(end + 2);
    const ev: SseEvent = { data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) ev.event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length === 0) continue; // comments, priming events without data
    ev.data = data.join('\n');
    into.push(ev);
  }
}

interface EventStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  ended(): boolean;
  next(pred: (e: SseEvent) => boolean, what: string, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

/** Opens a long-lived GET stream and keeps reading it in the background. */
async function openStream(url: string, headers: Record<string, string>): Promise<EventStream> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: SseEvent[] = [];
  let done = false;
  if (res.headers.get('content-type')?.includes('text/event-stream')) {
    void (async () => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      try {
        for (;;) {
          const { value, done: d } = await reader.read();
          if (d) break;
          buf = parseEvents(buf + dec.decode(value, { stream: true }), events);
        }
      } catch {
        /* aborted */
      }
      done = true;
    })();
  } else {
    await res.text();
    done = true;
  }
  return {
    status: res.status,
    headers: res.headers,
    events,
    ended: () => done,
    next: (pred, what, timeoutMs = 5000) => waitFor(() => events.find(pred), what, timeoutMs) as Promise<SseEvent>,
    close: () => ac.abort(),
  };
}

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** POST (or any method) whose answer is JSON or an SSE stream carrying one JSON-RPC response. */
async function post(url: string, headers: Record<string, string>, body?: string | Uint8Array, method = 'POST'): Promise<RawResponse> {
  // Never wait forever on a stream that should not have been opened.
  const res = await fetch(url, { method, headers, body: body as BodyInit | undefined, signal: AbortSignal.timeout(15000) });
  let text: string;
  if (res.headers.get('content-type')?.includes('text/event-stream')) {
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    const events: SseEvent[] = [];
    let buf = '';
    text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf = parseEvents(buf + dec.decode(value, { stream: true }), events);
      const resp = events.find((e) => {
        try {
          const m = JSON.parse(e.data);
          return 'result' in m || 'error' in m;
        } catch {
          return false;
        }
      });
      if (resp) {
        text = resp.data;
        await reader.cancel();
        break;
      }
    }
  } else text = await res.text();
  return { status: res.status, headers: res.headers, text, json: parseJsonOrUndefined(text) };
}

/**
 * A request through node:http, which (unlike fetch) lets a test set the Host header or leave Accept
 * out. Event streams are cut after the headers.
 */
function nodeRequest(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string; host?: string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: opts.host ?? '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, agent: false },
      (res) => {
        if (String(res.headers['content-type']).includes('text/event-stream')) {
          res.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, text: '', json: undefined });
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`no answer to ${opts.method ?? 'GET'} ${opts.path} within 10 s`)));
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const rpc = (id: number | string, method: string, params?: unknown) => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const callBody = (id: number | string, name: string, args: Record<string, unknown> = {}) => rpc(id, 'tools/call', { name, arguments: args });

/** Asserts a JSON-RPC error object in a non-2xx answer. */
function expectRpcError(r: { status: number; json: any; text: string }, status: number, code?: number): void {
  expect({ status: r.status, body: r.text.slice(0, 300) }).toEqual({ status, body: expect.any(String) });
  expect(r.json).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number), message: expect.any(String) } });
  if (code !== undefined) expect(r.json.error.code).toBe(code);
}

// ---------------------------------------------------------------------------------------------
// A raw Streamable HTTP session, driven by hand
// ---------------------------------------------------------------------------------------------

interface RawSession {
  id: string;
  headers: Record<string, string>;
  call(name: string, args?: Record<string, unknown>): Promise<RawResponse>;
}

let rawIds = 1000;

async function rawSession(base: string, extra: Record<string, string> = {}): Promise<RawSession> {
  const init = await post(`${base}/mcp`, { ...JSON_HEADERS, ...extra }, initializeBody(1, PROTOCOL));
  expect(init.status).toBe(200);
  expect(init.json?.result?.serverInfo?.name).toBe('fixture');
  const id = init.headers.get('mcp-session-id');
  expect(id).toBeTruthy();
  const headers = { ...JSON_HEADERS, ...extra, 'mcp-session-id': id!, 'mcp-protocol-version': PROTOCOL };
  const ack = await post(`${base}/mcp`, headers, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  expect(ack.status).toBe(202);
  return {
    id: id!,
    headers,
    call: (name, args = {}) => post(`${base}/mcp`, headers, callBody(++rawIds, name, args)),
  };
}

async function expectRawEcho(s: RawSession, text: string): Promise<void> {
  const r = await s.call('echo', { text });
  expect(r.status).toBe(200);
  expect(textOf(r.json?.result)).toBe(text);
}

/** A raw legacy SSE session: the GET stream stays open, answers arrive on it. */
async function rawSseSession(base: string) {
  const stream = await openStream(`${base}/sse`, { accept: 'text/event-stream' });
  expect(stream.status).toBe(200);
  const endpoint = await stream.next((e) => e.event === 'endpoint', 'the SSE endpoint event');
  const url = new URL(endpoint.data, base).href;
  const sessionId = new URL(url).searchParams.get('sessionId')!;
  expect(sessionId).toBeTruthy();
  const send = (body: string) => post(url, { 'content-type': 'application/json' }, body);
  const answer = (id: number) =>
    stream.next((e) => {
      try {
        return JSON.parse(e.data).id === id;
      } catch {
        return false;
      }
    }, `SSE answer ${id}`);
  expect((await send(initializeBody(1, PROTOCOL))).status).toBe(202);
  await answer(1);
  expect((await send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }))).status).toBe(202);
  return {
    url,
    sessionId,
    stream,
    send,
    async echo(text: string) {
      const id = ++rawIds;
      expect((await send(callBody(id, 'echo', { text }))).status).toBe(202);
      const ev = await answer(id);
      return textOf(JSON.parse(ev.data).result);
    },
  };
}

async function echo(client: Client, text: string): Promise<string> {
  return textOf(await client.callTool({ name: 'echo', arguments: { text } }));
}

function countOf(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

// ---------------------------------------------------------------------------------------------
// One loopback bridge, no token: every bad input, then proof it still serves
// ---------------------------------------------------------------------------------------------

describe('bridge HTTP: bad input never kills the bridge', () => {
  let b: RunningCli;
  let childPid: number;
  let httpClient: Client;
  let sseClient: Client;
  let n = 0;

  beforeAll(async () => {
    b = await runCli(bridgeArgs(FIX));
    childPid = (await waitReady(b)).child.pid!;
    httpClient = await connect(b.url, 'http', 'existing-http');
    sseClient = await connect(b.url, 'sse', 'existing-sse');
    expect(await echo(httpClient, 'warm-up')).toBe('warm-up');
  });
  afterAll(async () => {
    await httpClient?.close().catch(() => {});
    await sseClient?.close().catch(() => {});
    await b?.stop();
  });

  /** The bridge is alive, its child untouched, old sessions work, and a new SDK client works. */
  async function stillServes(): Promise<BridgeStatus> {
    expect(b.proc.exitCode).toBeNull();
    expect(b.proc.signalCode).toBeNull();
    const s = await b.status();
    expect(s.child).toMatchObject({ state: 'ready', pid: childPid, restarts: 0 });
    const tag = `alive-${++n}`;
    expect(await echo(httpClient, `${tag}-http`)).toBe(`${tag}-http`);
    expect(await echo(sseClient, `${tag}-sse`)).toBe(`${tag}-sse`);
    const fresh = await connect(b.url, 'http', 'fresh');
    try {
      expect(await echo(fresh, `${tag}-fresh`)).toBe(`${tag}-fresh`);
    } finally {
      await fresh.close();
    }
    return s;
  }

  const sessionsNow = async () => (await b.status()).sessions;

  test('malformed JSON gets 400 with JSON-RPC -32700 on /mcp (with and without a session) and /message', async () => {
    const s = await rawSession(b.url);
    const sse = await rawSseSession(b.url);
    try {
      for (const body of ['{bad', '{"jsonrpc":"2.0","id":1,"method":', '\u0000\u0001', 'null garbage']) {
        expectRpcError(await post(`${b.url}/mcp`, JSON_HEADERS, body), 400, -32700);
        expectRpcError(await post(`${b.url}/mcp`, s.headers, body), 400, -32700);
        expectRpcError(await post(sse.url, { 'content-type': 'application/json' }, body), 400, -32700);
      }
      // The sessions the garbage was sent on are unharmed.
      await expectRawEcho(s, 'raw-after-garbage');
      expect(await sse.echo('sse-after-garbage')).toBe('sse-after-garbage');
      await stillServes();
    } finally {
      sse.stream.close();
      await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    }
  });

  test('valid JSON that is not JSON-RPC gets a 4xx JSON-RPC error, with or without a session', async () => {
    const s = await rawSession(b.url);
    const before = await sessionsNow();
    const bodies = [
      '{"hello":"world"}',
      '[]',
      '[1,2,3]',
      '42',
      '"initialize"',
      'null',
      '{"jsonrpc":"2.0","id":{"x":1},"method":"tools/list"}',
      '{"jsonrpc":"1.0","id":1,"method":"initialize"}',
      '[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"a","version":"1"}}},{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}]',
    ];
    for (const body of bodies) {
      for (const headers of [JSON_HEADERS, s.headers]) {
        const r = await post(`${b.url}/mcp`, headers, body);
        expect({ body, status: r.status }).toEqual({ body, status: 400 });
        expect(r.json?.error?.code).toEqual(expect.any(Number));
        expect(r.headers.get('mcp-session-id')).toBeNull();
      }
    }
    // None of it created a session.
    expect(await sessionsNow()).toEqual(before);
    // Wrong content types: 415, not a crash.
    expectRpcError(await post(`${b.url}/mcp`, { ...JSON_HEADERS, 'content-type': 'text/plain' }, initializeBody()), 415);
    expectRpcError(await post(`${b.url}/mcp`, { ...s.headers, 'content-type': 'text/plain' }, callBody(5, 'echo', { text: 'x' })), 415);
    expectRpcError(await post(`${b.url}/mcp`, { ...JSON_HEADERS, 'content-type': 'application/json; charset=klingon' }, initializeBody()), 415);
    await expectRawEcho(s, 'raw-after-non-jsonrpc');
    await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    await stillServes();
  });

  test('stray but well-formed messages in a session (unknown response id, unknown cancel, unknown method) are survived', async () => {
    const s = await rawSession(b.url);
    const stray = await post(`${b.url}/mcp`, s.headers, JSON.stringify({ jsonrpc: '2.0', id: 987654, result: {} }));
    expect(stray.status).toBeLessThan(500);
    const cancel = await post(
      `${b.url}/mcp`,
      s.headers,
      JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'never-sent', reason: 'x' } }),
    );
    expect(cancel.status).toBe(202);
    const unknown = await post(`${b.url}/mcp`, s.headers, rpc(77, 'no/such/method'));
    expect(unknown.status).toBe(200);
    expect(unknown.json).toMatchObject({ id: 77, error: { code: -32601 } });
    await expectRawEcho(s, 'raw-after-stray');
    await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    await stillServes();
  });

  test('bodies over 4 MB get 413 with a JSON-RPC error; exactly 4 MB still goes through', async () => {
    const s = await rawSession(b.url);
    const sse = await rawSseSession(b.url);
    try {
      const sized = (bytes: number) => {
        const shell = callBody(++rawIds, 'echo', { text: '' });
        return shell.replace('"text":""', `"text":"${'a'.repeat(bytes - shell.length)}"`);
      };
      const over = sized(LIMIT + 1);
      expect(Buffer.byteLength(over)).toBe(LIMIT + 1);
      expectRpcError(await post(`${b.url}/mcp`, JSON_HEADERS, over), 413);
      expectRpcError(await post(`${b.url}/mcp`, s.headers, over), 413);
      expectRpcError(await post(sse.url, { 'content-type': 'application/json' }, over), 413);
      // Much bigger, and a gzip bomb (tiny on the wire, 64 MB inflated): the limit counts inflated bytes.
      expectRpcError(await post(`${b.url}/mcp`, s.headers, 'x'.repeat(12 * 1024 * 1024)), 413);
      const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
      expect(bomb.length).toBeLessThan(LIMIT);
      expectRpcError(await post(`${b.url}/mcp`, { ...s.headers, 'content-encoding': 'gzip' }, bomb), 413);

      // The limit is 4 MB, not Express's 100 kB default: a body of exactly 4 MB is served.
      const exact = sized(LIMIT);
      expect(Buffer.byteLength(exact)).toBe(LIMIT);
      const ok = await post(`${b.url}/mcp`, s.headers, exact);
      expect(ok.status).toBe(200);
      expect(textOf(ok.json?.result).length).toBe(LIMIT - callBody(rawIds, 'echo', { text: '' }).length);

      await expectRawEcho(s, 'raw-after-413');
      expect(await sse.echo('sse-after-413')).toBe('sse-after-413');
      await stillServes();
    } finally {
      sse.stream.close();
      await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    }
  });

  test('an unknown session id gets 404 whose body is JSON-RPC -32001 on every route', async () => {
    const before = await sessionsNow();
    for (const sid of [randomUUID(), 'not-a-session', 'x'.repeat(300)]) {
      const h = { ...JSON_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL };
      expectRpcError(await post(`${b.url}/mcp`, h, callBody(1, 'echo', { text: 'x' })), 404, SESSION_NOT_FOUND);
      // Even an initialize that carries a dead session id: the client must start over without it.
      expectRpcError(await post(`${b.url}/mcp`, h, initializeBody()), 404, SESSION_NOT_FOUND);
      expectRpcError(await post(`${b.url}/mcp`, { ...h, accept: 'text/event-stream' }, undefined, 'GET'), 404, SESSION_NOT_FOUND);
      expectRpcError(await post(`${b.url}/mcp`, h, undefined, 'DELETE'), 404, SESSION_NOT_FOUND);
      expectRpcError(
        await post(`${b.url}/message?sessionId=${encodeURIComponent(sid)}`, { 'content-type': 'application/json' }, callBody(1, 'echo', { text: 'x' })),
        404,
        SESSION_NOT_FOUND,
      );
    }
    // Missing ids are a different error (400), never a crash.
    expectRpcError(await post(`${b.url}/message`, { 'content-type': 'application/json' }, callBody(1, 'echo', { text: 'x' })), 400);
    expectRpcError(await post(`${b.url}/mcp`, { accept: 'text/event-stream' }, undefined, 'GET'), 400);
    expectRpcError(await post(`${b.url}/mcp`, JSON_HEADERS, callBody(1, 'echo', { text: 'x' })), 400);
    expect(await sessionsNow()).toEqual(before);
    await stillServes();
  });

  test('DELETE ends a session; reusing its id gets 404 with -32001, other sessions are untouched', async () => {
    const victim = await rawSession(b.url);
    const bystander = await rawSession(b.url);
    await expectRawEcho(victim, 'before-delete');
    const before = await sessionsNow();
    const del = await post(`${b.url}/mcp`, victim.headers, undefined, 'DELETE');
    expect(del.status).toBe(200);
    await waitFor(async () => (await sessionsNow())['streamable-http'] === before['streamable-http'] - 1, 'the session count to drop');

    expectRpcError(await victim.call('echo', { text: 'after-delete' }), 404, SESSION_NOT_FOUND);
    expectRpcError(await post(`${b.url}/mcp`, { ...victim.headers, accept: 'text/event-stream' }, undefined, 'GET'), 404, SESSION_NOT_FOUND);
    expectRpcError(await post(`${b.url}/mcp`, victim.headers, undefined, 'DELETE'), 404, SESSION_NOT_FOUND);
    await expectRawEcho(bystander, 'bystander-ok');
    await post(`${b.url}/mcp`, bystander.headers, undefined, 'DELETE');
    await stillServes();
  });

  test('a missing or wrong Accept gets 406 and creates no session', async () => {
    const before = await sessionsNow();
    for (const accept of ['application/json', 'text/event-stream', '*/*', 'text/html']) {
      const r = await post(`${b.url}/mcp`, { 'content-type': 'application/json', accept }, initializeBody());
      expectRpcError(r, 406);
      expect(r.headers.get('mcp-session-id')).toBeNull();
    }
    // No Accept header at all (fetch always adds one, so node:http here).
    const none = await nodeRequest(b.port, { method: 'POST', path: '/mcp', headers: { 'content-type': 'application/json' }, body: initializeBody() });
    expect(none.status).toBe(406);
    expect(none.json?.error?.code).toEqual(expect.any(Number));

    const s = await rawSession(b.url);
    expectRpcError(await post(`${b.url}/mcp`, { ...s.headers, accept: 'application/json' }, callBody(3, 'echo', { text: 'x' })), 406);
    // A GET on a live session that does not accept an event stream.
    const stream = await openStream(`${b.url}/mcp`, { ...s.headers, accept: 'text/event-stream' });
    expect(stream.status).toBe(200);
    expectRpcError(await post(`${b.url}/mcp`, { ...s.headers, accept: 'application/json' }, undefined, 'GET'), 406);
    // Nor one with a protocol version nobody speaks.
    expectRpcError(await post(`${b.url}/mcp`, { ...s.headers, accept: 'text/event-stream', 'mcp-protocol-version': '1999-01-01' }, undefined, 'GET'), 400);
    // ... and those refused GETs did not cut the session's real stream.
    await sleep(100);
    expect(stream.ended()).toBe(false);
    stream.close();

    // The legacy SSE endpoint asked for JSON: 406, no SSE session.
    const sseBefore = (await sessionsNow()).sse;
    expectRpcError(await post(`${b.url}/sse`, { accept: 'application/json' }, undefined, 'GET'), 406);
    expect((await sessionsNow()).sse).toBe(sseBefore);

    await expectRawEcho(s, 'raw-after-406');
    await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    expect((await sessionsNow()).total).toBe(before.total);
    await stillServes();
  });

  test('a foreign Host gets 403 on every route (DNS rebinding protection); loopback names pass', async () => {
    const s = await rawSession(b.url);
    const before = await sessionsNow();
    const p = b.port;
    const badHosts = [`evil.example:${p}`, 'evil.example', `127.0.0.1.evil.example:${p}`, `localhost.evil.example:${p}`, `0.0.0.0:${p}`, `192.0.2.2:${p}`];
    for (const host of badHosts) {
      const routes: Array<{ method: string; path: string; headers: Record<string, string>; body?: string }> = [
        { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS }, body: initializeBody() },
        { method: 'POST', path: '/mcp', headers: { ...s.headers }, body: callBody(9, 'echo', { text: 'x' }) },
        { method: 'GET', path: '/mcp', headers: { ...s.headers, accept: 'text/event-stream' } },
        { method: 'DELETE', path: '/mcp', headers: { ...s.headers } },
        { method: 'GET', path: '/sse', headers: { accept: 'text/event-stream' } },
        { method: 'POST', path: '/message?sessionId=x', headers: { 'content-type': 'application/json' }, body: callBody(9, 'echo', { text: 'x' }) },
        { method: 'GET', path: '/status', headers: {} },
      ];
      for (const r of routes) {
        const res = await nodeRequest(p, { ...r, headers: { ...r.headers, host } });
        expect({ host, route: `${r.method} ${r.path}`, status: res.status }).toEqual({ host, route: `${r.method} ${r.path}`, status: 403 });
        expect(res.json?.error?.code).toEqual(expect.any(Number));
      }
    }
    expect(await sessionsNow()).toEqual(before);
    // The session a rebinding page tried to DELETE is still there.
    await expectRawEcho(s, 'raw-after-bad-host');
    for (const host of [`localhost:${p}`, `127.0.0.1:${p}`, `LOCALHOST:${p}`, `[::1]:${p}`]) {
      const res = await nodeRequest(p, { path: '/status', headers: { host } });
      expect({ host, status: res.status }).toEqual({ host, status: 200 });
    }
    await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    await stillServes();
  });

  test('a foreign Origin gets 403; loopback origins pass', async () => {
    const before = await sessionsNow();
    const bad = [
      'http://evil.example',
      'https://evil.example:443',
      'null',
      'http://127.0.0.1.evil.example',
      'http://localhost@evil.example',
      'file://',
      'chrome-extension://abcdef',
    ];
    for (const origin of bad) {
      const init = await post(`${b.url}/mcp`, { ...JSON_HEADERS, origin }, initializeBody());
      expect({ origin, status: init.status }).toEqual({ origin, status: 403 });
      expect(init.headers.get('mcp-session-id')).toBeNull();
      expectRpcError(await post(`${b.url}/sse`, { accept: 'text/event-stream', origin }, undefined, 'GET'), 403);
      expectRpcError(await post(`${b.url}/status`, { origin }, undefined, 'GET'), 403);
    }
    expect(await sessionsNow()).toEqual(before);
    for (const origin of [`http://localhost:3000`, `http://127.0.0.1:${b.port}`, 'https://localhost']) {
      const s = await rawSession(b.url, { origin });
      await expectRawEcho(s, `from ${origin}`);
      expect((await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE')).status).toBe(200);
    }
    await stillServes();
  });

  test('server/discover (protocol 2026-07-28) is answered statelessly and leaves no session; without its _meta it gets 400 -32602', async () => {
    const before = await sessionsNow();
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    for (const id of [1, 'discover-1']) {
      const headers = { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' };
      const bare = await post(`${b.url}/mcp`, headers, JSON.stringify({ jsonrpc: '2.0', id, method: 'server/discover', params: {} }));
      expect(bare.status).toBe(400);
      expect(bare.json).toMatchObject({ jsonrpc: '2.0', id, error: { code: -32602 } });
      const r = await post(`${b.url}/mcp`, headers, JSON.stringify({ jsonrpc: '2.0', id, method: 'server/discover', params: { _meta: meta } }));
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({
        jsonrpc: '2.0',
        id,
        result: { supportedVersions: expect.arrayContaining(['2026-07-28', '2025-11-25']), resultType: 'complete' },
      });
      expect(r.headers.get('mcp-session-id')).toBeNull();
    }
    expect(await sessionsNow()).toEqual(before);
    // A client that keeps to 2025-11-25 still starts with initialize.
    const s = await rawSession(b.url);
    await expectRawEcho(s, 'after-discover');
    await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    await stillServes();
  });

  test('a second GET stream on a session replaces the first (200, never 409) and gets the notifications', async () => {
    const s = await rawSession(b.url);
    const getHeaders = { ...s.headers, accept: 'text/event-stream' };
    const first = await openStream(`${b.url}/mcp`, getHeaders);
    expect(first.status).toBe(200);
    const second = await openStream(`${b.url}/mcp`, getHeaders);
    try {
      expect(second.status).toBe(200);
      expect(second.headers.get('content-type')).toContain('text/event-stream');
      await waitFor(() => first.ended(), 'the first GET stream to be closed', 3000);
      expect(second.ended()).toBe(false);
      // A third one, again: still 200.
      const third = await openStream(`${b.url}/mcp`, getHeaders);
      expect(third.status).toBe(200);
      await waitFor(() => second.ended(), 'the second GET stream to be closed', 3000);
      // Notifications now flow on the newest stream.
      await expectRawEcho(s, 'before-list-changed');
      const r = await s.call('list_changed');
      expect(r.status).toBe(200);
      await third.next((e) => e.data.includes('notifications/tools/list_changed'), 'list_changed on the newest stream');
      third.close();
    } finally {
      first.close();
      second.close();
    }
    await expectRawEcho(s, 'after-streams');
    await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    await stillServes();
  });

  test('odd methods and paths get JSON errors, not crashes', async () => {
    expectRpcError(await post(`${b.url}/mcp`, JSON_HEADERS, undefined, 'PUT'), 405);
    expectRpcError(await post(`${b.url}/mcp`, JSON_HEADERS, undefined, 'PATCH'), 405);
    expectRpcError(await post(`${b.url}/nope`, JSON_HEADERS, '{}'), 404);
    // HEAD must neither hang the caller and leak an SSE session (/sse) nor cut a session's stream (/mcp).
    const sseBefore = (await sessionsNow()).sse;
    const head = await nodeRequest(b.port, { method: 'HEAD', path: '/sse', headers: { accept: 'text/event-stream' } });
    expect(head.status).toBe(405);
    const s = await rawSession(b.url);
    const stream = await openStream(`${b.url}/mcp`, { ...s.headers, accept: 'text/event-stream' });
    expect(stream.status).toBe(200);
    const headMcp = await nodeRequest(b.port, { method: 'HEAD', path: '/mcp', headers: { ...s.headers, accept: 'text/event-stream' } });
    expect(headMcp.status).toBe(405);
    await sleep(100);
    expect(stream.ended()).toBe(false);
    expect((await sessionsNow()).sse).toBe(sseBefore);
    stream.close();
    await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE');
    // Headers far too large: Node answers 431 itself, the bridge lives on.
    const big = await nodeRequest(b.port, { path: '/status', headers: { 'x-junk': 'j'.repeat(64 * 1024) } }).catch(() => ({ status: 431 }));
    expect(big.status).toBe(431);
    await stillServes();
  });
});

// ---------------------------------------------------------------------------------------------
// Bearer token, and no secrets in /status or the log
// ---------------------------------------------------------------------------------------------

describe('bridge HTTP: bearer token and secrets', () => {
  const TOKEN = 'tok-4f1d9c2e7b-bearer-value';
  const SECRET = 'hunter2-very-secret';
  const FILE_SECRET = 'file-secret-5e8a1c-value';
  const AUTH = { authorization: `Bearer ${TOKEN}` };
  let b: RunningCli;
  let envDir: string;

  const authedStatus = async (): Promise<BridgeStatus> => (await fetch(`${b.url}/status`, { headers: AUTH })).json() as Promise<BridgeStatus>;

  function authedClient(kind: 'http' | 'sse'): Promise<Client> {
    const client = new Client({ name: `authed-${kind}`, version: '1.0.0' }, { capabilities: {} });
    const transport =
      kind === 'http'
        ? new StreamableHTTPClientTransport(new URL(`${b.url}/mcp`), { requestInit: { headers: AUTH } })
        : new SSEClientTransport(new URL(`${b.url}/sse`), { requestInit: { headers: AUTH } });
    return client.connect(transport).then(() => client);
  }

  beforeAll(async () => {
    envDir = mkdtempSync(join(tmpdir(), 'mcpshare-http-test-'));
    const envFile = join(envDir, 'server.env');
    writeFileSync(envFile, `FILE_SECRET=${FILE_SECRET}\n`, { mode: 0o600 });
    // The child echoes the secrets on its stderr (which the bridge logs) before starting the fixture.
    b = await runCli(
      bridgeArgs(
        ['/bin/sh', '-c', `echo "child says the value is $SECRET_TOKEN and $FILE_SECRET" >&2; exec "${process.execPath}" "${FIXTURE}"`],
        ['--token', TOKEN, '--env', `SECRET_TOKEN=${SECRET}`, '--env-file', envFile],
      ),
      { MCPSHARE_LOG_LEVEL: 'debug', MCPSHARE_TOKEN: undefined },
    );
    await waitFor(async () => (await authedStatus()).child?.state === 'ready', 'the child to be ready', 20000);
  });
  afterAll(async () => {
    await b?.stop();
    if (envDir) rmSync(envDir, { recursive: true, force: true });
  });

  test('every request without the right bearer token gets 401', async () => {
    const s = await rawSession(b.url, AUTH);
    const routes: Array<{ method: string; path: string; headers: Record<string, string>; body?: string }> = [
      { method: 'GET', path: '/status', headers: {} },
      { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS }, body: initializeBody() },
      {
        method: 'POST',
        path: '/mcp',
        headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
        body: rpc(1, 'server/discover'),
      },
      // A live session id is no substitute for the token.
      { method: 'POST', path: '/mcp', headers: { ...s.headers }, body: callBody(5, 'echo', { text: 'x' }) },
      { method: 'GET', path: '/mcp', headers: { ...s.headers, accept: 'text/event-stream' } },
      { method: 'DELETE', path: '/mcp', headers: { ...s.headers } },
      { method: 'GET', path: '/sse', headers: { accept: 'text/event-stream' } },
      { method: 'POST', path: '/message?sessionId=x', headers: { 'content-type': 'application/json' }, body: callBody(5, 'echo', { text: 'x' }) },
      { method: 'GET', path: '/nowhere', headers: {} },
    ];
    const badAuth: Array<Record<string, string>> = [
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: TOKEN },
      { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}X` },
      { authorization: `Bearer ${SECRET}` },
    ];
    for (const r of routes) {
      for (const auth of badAuth) {
        const { authorization: _drop, ...headers } = r.headers;
        const res = await post(`${b.url}${r.path}`, { ...headers, ...auth }, r.body, r.method);
        expect({ route: `${r.method} ${r.path}`, auth: auth.authorization, status: res.status }).toEqual({
          route: `${r.method} ${r.path}`,
          auth: auth.authorization,
          status: 401,
        });
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(res.json?.error?.code).toEqual(expect.any(Number));
      }
    }
    // The session the unauthenticated DELETE aimed at is alive, and the right token works everywhere.
    await expectRawEcho(s, 'authed-raw');
    const c1 = await authedClient('http');
    const c2 = await authedClient('sse');
    expect(await echo(c1, 'authed-http')).toBe('authed-http');
    expect(await echo(c2, 'authed-sse')).toBe('authed-sse');
    await c1.close();
    await c2.close();
    expect((await post(`${b.url}/mcp`, s.headers, undefined, 'DELETE')).status).toBe(200);
    // An SDK client without the token cannot connect at all.
    await expect(connect(b.url, 'http')).rejects.toThrow();
    expect(b.proc.exitCode).toBeNull();
  });

  test('the bearer token and the env secret appear neither in /status nor in the bridge log', async () => {
    const c = await authedClient('http');
    // The secret really reached the child (so a leak would be possible)...
    const env = JSON.parse(textOf(await c.callTool({ name: 'env', arguments: { name: 'SECRET_TOKEN' } })));
    expect(env.value).toBe(SECRET);
    const fileEnv = JSON.parse(textOf(await c.callTool({ name: 'env', arguments: { name: 'FILE_SECRET' } })));
    expect(fileEnv.value).toBe(FILE_SECRET);
    // ... some failed logins and a crash/restart to make the bridge log more ...
    await post(`${b.url}/mcp`, { ...JSON_HEADERS, authorization: `Bearer ${SECRET}` }, initializeBody());
    await c.callTool({ name: 'crash', arguments: {} }).catch(() => {});
    await waitFor(
      async () => {
        const s = await authedStatus();
        return s.child.state === 'ready' && s.child.restarts === 1;
      },
      'the child to restart',
      15000,
    );
    expect(await echo(c, 'after-restart')).toBe('after-restart');
    await c.close();

    const statusText = await (await fetch(`${b.url}/status`, { headers: AUTH })).text();
    expect(JSON.parse(statusText).child.lastExit).not.toBeNull();
    const log = b.stderr();
    // The child's stderr line with the secrets was logged (twice: once per start), so a leak was possible.
    expect(countOf(log, 'child says the value is')).toBeGreaterThanOrEqual(2);
    for (const secret of [SECRET, FILE_SECRET, TOKEN]) {
      expect(statusText).not.toContain(secret);
      expect(log).not.toContain(secret);
      expect(b.stdout()).not.toContain(secret);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Start-up refusals and failures
// ---------------------------------------------------------------------------------------------

const nonLoopbackAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

describe('bridge start-up: remote binding, busy port, missing binary', () => {
  const noEnvToken = { MCPSHARE_TOKEN: undefined };

  test('a non-loopback --host without --allow-remote is refused with exit code 2 and a clear message', async () => {
    await Promise.all(
      ['0.0.0.0', '::', '192.0.2.77'].map(async (host) => {
        const r = await runCli(['bridge', '--host', host, '--port', '0', '--', ...FIX], noEnvToken, false);
        const { code } = await r.exited;
        expect({ host, code }).toEqual({ host, code: 2 });
        expect(r.stderr()).toContain('--allow-remote');
        expect(r.stderr()).toContain(host);
        expect(r.stdout()).not.toContain('listening');
      }),
    );
  });

  test('--allow-remote without a token is refused with exit code 2 and a clear message', async () => {
    await Promise.all(
      [noEnvToken, { MCPSHARE_TOKEN: '' }].map(async (env) => {
        const r = await runCli(['bridge', '--host', '0.0.0.0', '--allow-remote', '--port', '0', '--', ...FIX], env, false);
        const { code } = await r.exited;
        expect(code).toBe(2);
        expect(r.stderr()).toMatch(/requires a bearer token/);
        expect(r.stdout()).not.toContain('listening');
      }),
    );
  });

  test('--allow-remote with a token listens on all interfaces and still demands the token', async () => {
    const TOKEN = 'remote-token-0123456789';
    const b = await runCli(['bridge', '--host', '0.0.0.0', '--allow-remote', '--token', TOKEN, '--port', '0', '--name', 'remote', '--', ...FIX], noEnvToken);
    try {
      const local = `http://127.0.0.1:${b.port}`;
      expect((await post(`${local}/status`, {}, undefined, 'GET')).status).toBe(401);
      const hosts = ['127.0.0.1', ...(nonLoopbackAddress ? [nonLoopbackAddress] : [])];
      for (const host of hosts) {
        const noAuth = await nodeRequest(b.port, { host, path: '/status' });
        expect({ host, status: noAuth.status }).toEqual({ host, status: 401 });
        const ok = await nodeRequest(b.port, { host, path: '/status', headers: { authorization: `Bearer ${TOKEN}` } });
        expect({ host, status: ok.status }).toEqual({ host, status: 200 });
        // A browser page from elsewhere is still refused, token or not.
        const evil = await nodeRequest(b.port, { host, path: '/status', headers: { authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' } });
        expect({ host, status: evil.status }).toEqual({ host, status: 403 });
      }
      await waitFor(
        async () => (await nodeRequest(b.port, { path: '/status', headers: { authorization: `Bearer ${TOKEN}` } })).json?.child?.state === 'ready',
        'ready',
        20000,
      );
      const client = new Client({ name: 'remote', version: '1' }, { capabilities: {} });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`http://${nonLoopbackAddress ?? '127.0.0.1'}:${b.port}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
        }),
      );
      expect(await echo(client, 'over-the-lan')).toBe('over-the-lan');
      await client.close();
    } finally {
      await b.stop();
    }
  });

  test('a port already in use gives a clear message and exit 1 (not a usage error), before any child is started', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      const r = await runCli(['bridge', '--port', String(port), '--name', 'busy', '--', ...FIX], {}, false);
      const { code } = await r.exited;
      expect(Date.now() - t0).toBeLessThan(10000);
      expect(code).toBe(1);
      expect(r.stderr()).toContain('already in use');
      expect(r.stderr()).toContain(String(port));
      expect(r.stderr()).not.toMatch(/started MCP server/);
      expect(r.stdout()).not.toContain('listening');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  test('a missing binary is reported clearly, retried with backoff, then the bridge exits non-zero', async () => {
    const missing = '/nonexistent/dir/mcp-server-missing';
    const r = await runCli(['bridge', '--port', '0', '--name', 'missing', '--restart-limit', '2', '--restart-window', '60', '--', missing, '--flag'], {});
    // While it retries, the bridge itself answers and tells the truth about the child.
    const s = await r.status().catch(() => undefined);
    if (s) expect(s.child.state).not.toBe('ready');
    const { code } = await r.exited;
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    const log = r.stderr();
    const lines = log.split('\n').filter((l) => l.includes('command not found') && l.includes(missing));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(log).toMatch(/crash loop/);
    // Backoff: the second try came a while after the first (base 250 ms).
    const ts = lines.slice(0, 2).map((l) => Date.parse(l.split(' ')[0]));
    expect(ts[1] - ts[0]).toBeGreaterThanOrEqual(200);
    // The final line names the cause.
    expect(log.trim().split('\n').pop()).toMatch(/command not found/);
  });

  test('a crash-looping child that prints a secret on stderr does not leak it in the final message', async () => {
    const SECRET = 'hunter2-very-secret';
    const r = await runCli(
      [
        'bridge',
        '--port',
        '0',
        '--name',
        'leaky',
        '--restart-limit',
        '2',
        '--restart-window',
        '60',
        '--env',
        `SECRET_TOKEN=${SECRET}`,
        '--',
        '/bin/sh',
        '-c',
        'echo "boom, my key is $SECRET_TOKEN" >&2; exit 3',
      ],
      {},
    );
    const { code } = await r.exited;
    expect(code).not.toBe(0);
    expect(r.stderr()).toMatch(/crash loop/);
    expect(r.stderr()).toContain('boom, my key is');
    expect(r.stderr()).not.toContain(SECRET);
  });
});
