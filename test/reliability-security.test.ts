/**
 * Security (issue: "Reliability suite — Security"), the bridge's side. Complements
 * bridge-http.test.ts (foreign Host/Origin on the main routes, 401 on the main routes, refusal to
 * listen off loopback without --allow-remote and a token, secrets kept out of /status and the log
 * for a child that prints them, the token not passed to the child) with what it does not cover:
 *   - Host and Origin on every route and method (OPTIONS preflights, HEAD, /messages, unknown
 *     paths), IPv6 and the machine's own address as rebinding targets, proxy headers ignored;
 *   - no CORS headers anywhere, so no page can read an answer even where a request gets through;
 *   - session ids are unguessable and not interchangeable between transports;
 *   - with a token: every route and method, the token only in the Authorization header, Host and
 *     Origin still checked; secrets the clients themselves send (in clientInfo, ids, content types,
 *     failed logins) never reach the debug log, stdout or /status;
 *   - off loopback the token may come from MCPSHARE_TOKEN, and it is then required.
 * File modes of secret env files and units belong to `mcpshare add` (registry/units tests).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeArgs, FIXTURE, initializeBody, runCli, waitReady, type RunningCli } from './helpers/bridge.js';
import { MCP_HEADERS, openRawSession, PROTOCOL, rawExchange, type RawReply } from './helpers/soak.js';
import { waitFor } from './helpers/wait.js';

const FIX = [process.execPath, FIXTURE];
const machineAddress =
  Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address ?? '192.0.2.2';

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request with exactly these headers (Host included: no client library decides for us). */
function send(port: number, r: Req, host = `127.0.0.1:${port}`): Promise<RawReply> {
  const headers: Record<string, string> = { Host: host, Connection: 'close', ...(r.headers ?? {}) };
  if (r.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(r.body));
  const head = `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return rawExchange(port, head + (r.body ?? ''), { timeoutMs: 10_000, head: r.method === 'HEAD', streamIdleMs: 300 });
}

function json(r: RawReply): any {
  try {
    return JSON.parse(r.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function expectRefused(r: RawReply, status: number, what: string): void {
  expect({ what, status: r.status }).toEqual({ what, status });
  if (r.headers['content-length'] !== '0' && !what.startsWith('HEAD')) {
    expect({ what, body: json(r) }).toEqual({
      what,
      body: expect.objectContaining({ jsonrpc: '2.0', error: expect.objectContaining({ code: expect.any(Number), message: expect.any(String) }) }),
    });
  }
  expect({ what, acao: r.headers['access-control-allow-origin'] }).toEqual({ what, acao: undefined });
}

// ---------------------------------------------------------------------------------------------
// Loopback bridge, no token
// ---------------------------------------------------------------------------------------------

describe('loopback bridge: Host and Origin on every route; no CORS; session ids', () => {
  let b: RunningCli;
  let sseAbort: AbortController;
  let ssePath: string;

  beforeAll(async () => {
    b = await runCli(bridgeArgs(FIX, ['--name', 'sec']));
    await waitReady(b);
    sseAbort = new AbortController();
    const res = await fetch(`${b.url}/sse`, { signal: sseAbort.signal });
    const reader = res.body!.getReader();
    let buf = '';
    while (!/data: (.*)/.test(buf)) buf += new TextDecoder().decode((await reader.read()).value);
    ssePath = /data: (.*)/.exec(buf)![1];
    void (async () => {
      try {
        while (!(await reader.read()).done);
      } catch {
        // aborted
      }
    })();
  });
  afterAll(async () => {
    sseAbort?.abort();
    await b?.stop();
  });

  function routes(sessionId: string): Req[] {
    const sess = { ...MCP_HEADERS, 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': PROTOCOL };
    const call = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } });
    return [
      { method: 'POST', path: '/mcp', headers: MCP_HEADERS, body: initializeBody() },
      { method: 'POST', path: '/mcp', headers: sess, body: call },
      { method: 'GET', path: '/mcp', headers: { ...sess, Accept: 'text/event-stream' } },
      { method: 'DELETE', path: '/mcp', headers: sess },
      {
        method: 'OPTIONS',
        path: '/mcp',
        headers: { 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,mcp-session-id' },
      },
      { method: 'HEAD', path: '/mcp', headers: sess },
      { method: 'GET', path: '/sse', headers: { Accept: 'text/event-stream' } },
      { method: 'HEAD', path: '/sse', headers: {} },
      { method: 'POST', path: ssePath, headers: { 'Content-Type': 'application/json' }, body: call },
      { method: 'POST', path: ssePath.replace('/message', '/messages'), headers: { 'Content-Type': 'application/json' }, body: call },
      { method: 'GET', path: '/status', headers: {} },
      { method: 'GET', path: '/nowhere', headers: {} },
    ];
  }

  test('a foreign Host gets 403 with a JSON-RPC body on every route and method (IPv6, the machine’s own address, odd spellings)', async () => {
    const s = await openRawSession(b.url);
    const before = (await b.status()).sessions;
    const p = b.port;
    const hosts = [
      `[fe80::1]:${p}`,
      `[::]:${p}`,
      `${machineAddress}:${p}`,
      `EVIL.EXAMPLE:${p}`,
      `evil.example.:${p}`,
      `localhost.evil:${p}`,
      `127.0.0.1.nip.io:${p}`,
      'attacker.test',
    ];
    for (const host of hosts) for (const r of routes(s.id)) expectRefused(await send(p, r, host), 403, `${r.method} ${r.path} Host ${host}`);
    // Nothing happened: no session opened or ended, the session still works.
    expect((await b.status()).sessions).toEqual(before);
    expect((await s.call(1, 'echo', { text: 'alive' })).json).toMatchObject({ result: { content: [{ text: 'alive' }] } });
    expect(await s.del()).toBe(200);
  });

  test('a foreign Origin gets 403 on every route and method, preflights included', async () => {
    const s = await openRawSession(b.url);
    const before = (await b.status()).sessions;
    const p = b.port;
    const origins = [
      'http://evil.example',
      `http://${machineAddress}:${p}`,
      'https://127.0.0.1.evil.example',
      'http://[fe80::1]',
      'null',
      'http://localhost.evil.example:3000',
      'ws://localhost',
    ];
    for (const origin of origins)
      for (const r of routes(s.id))
        expectRefused(await send(p, { ...r, headers: { ...r.headers, Origin: origin } }), 403, `${r.method} ${r.path} Origin ${origin}`);
    expect((await b.status()).sessions).toEqual(before);
    expect(await s.del()).toBe(200);
  });

  test('loopback Hosts and Origins pass; proxy headers naming another host change nothing; no response carries CORS headers', async () => {
    const p = b.port;
    for (const host of [`127.0.0.1:${p}`, `localhost:${p}`, `[::1]:${p}`, `127.0.0.2:${p}`, `mcp.localhost:${p}`, 'localhost']) {
      const r = await send(p, { method: 'GET', path: '/status' }, host);
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
    }
    for (const origin of [`http://localhost:3000`, `http://[::1]:${p}`, 'https://mcp.localhost', `http://127.0.0.1:${p}`]) {
      const r = await send(p, { method: 'GET', path: '/status', headers: { Origin: origin } });
      expect({ origin, status: r.status, acao: r.headers['access-control-allow-origin'] }).toEqual({ origin, status: 200, acao: undefined });
      // A preflight from a loopback page is not granted either: the bridge serves programs, not pages.
      const pre = await send(p, { method: 'OPTIONS', path: '/mcp', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } });
      expect({
        origin,
        preflight: pre.status,
        acao: pre.headers['access-control-allow-origin'],
        acac: pre.headers['access-control-allow-credentials'],
      }).toEqual({
        origin,
        preflight: 405,
        acao: undefined,
        acac: undefined,
      });
    }
    const proxyHeaders: Array<Record<string, string>> = [
      { 'X-Forwarded-Host': 'evil.example' },
      { Forwarded: 'host=evil.example;proto=http' },
      { 'X-Forwarded-For': '203.0.113.9' },
    ];
    for (const h of proxyHeaders) {
      const r = await send(p, { method: 'GET', path: '/status', headers: h });
      expect({ h, status: r.status }).toEqual({ h, status: 200 });
    }
    const init = await send(p, { method: 'POST', path: '/mcp', headers: MCP_HEADERS, body: initializeBody() });
    expect(init.status).toBe(200);
    for (const k of Object.keys(init.headers)) expect(k.startsWith('access-control-')).toBe(false);
    await fetch(`${b.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': init.headers['mcp-session-id'] } });
  });

  test('session ids are random (128 bits) and signed, never repeated, and not interchangeable between the two transports', async () => {
    const httpId = /^[0-9a-f]{32}\.h[0-9a-z]+\.[A-Za-z0-9_-]{22}$/;
    const sseIdForm = /^[0-9a-f]{32}\.s[0-9a-z]+\.[A-Za-z0-9_-]{22}$/;
    const sessions = await Promise.all(Array.from({ length: 30 }, () => openRawSession(b.url)));
    const ids = sessions.map((s) => s.id);
    for (const id of ids) expect(id).toMatch(httpId);
    expect(new Set(ids.map((id) => id.split('.')[0])).size).toBe(ids.length);
    const sseId = new URL(ssePath, b.url).searchParams.get('sessionId')!;
    expect(sseId).toMatch(sseIdForm);
    expect(ids).not.toContain(sseId);
    // An SSE session id is no Streamable HTTP session, and the other way round.
    const asHttp = await fetch(`${b.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, 'mcp-session-id': sseId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(asHttp.status).toBe(404);
    expect((await asHttp.json()).error.code).toBe(-32001);
    const asSse = await fetch(`${b.url}/message?sessionId=${ids[0]}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(asSse.status).toBe(404);
    expect((await asSse.json()).error.code).toBe(-32001);
    for (const s of sessions) expect(await s.del()).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// A bridge with a bearer token
// ---------------------------------------------------------------------------------------------

describe('bearer token: every route, only in the Authorization header, secrets the clients send stay out of the log', () => {
  const TOKEN = `tok-${randomUUID()}`;
  const SECRET = `env-secret-${randomUUID().slice(0, 8)}`;
  const FILE_SECRET = `file-secret-${randomUUID().slice(0, 8)}`;
  const AUTH = { Authorization: `Bearer ${TOKEN}` };
  let b: RunningCli;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcpshare-sec-'));
    const envFile = join(dir, 'server.env');
    writeFileSync(envFile, `FILE_SECRET=${FILE_SECRET}\n`, { mode: 0o600 });
    b = await runCli(bridgeArgs(FIX, ['--name', 'sectok', '--token', TOKEN, '--env', `SECRET_TOKEN=${SECRET}`, '--env-file', envFile]), {
      MCPSHARE_LOG_LEVEL: 'debug',
      MCPSHARE_TOKEN: undefined,
    });
    await waitFor(async () => (await send(b.port, { method: 'GET', path: '/status', headers: AUTH })).status === 200, 'the bridge to answer', 20_000);
    await waitFor(
      async () => json(await send(b.port, { method: 'GET', path: '/status', headers: AUTH }))?.child?.state === 'ready',
      'the child to be ready',
      20_000,
    );
  });
  afterAll(async () => {
    await b?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('without the token in the Authorization header every route and method is 401 (token in the query, a cookie or another header does not count)', async () => {
    const p = b.port;
    const s = await openRawSession(b.url, { authorization: `Bearer ${TOKEN}` });
    const routes: Req[] = [
      { method: 'POST', path: '/mcp', headers: MCP_HEADERS, body: initializeBody() },
      {
        method: 'POST',
        path: '/mcp',
        headers: { ...MCP_HEADERS, 'Mcp-Session-Id': s.id },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      },
      { method: 'GET', path: '/mcp', headers: { 'Mcp-Session-Id': s.id, Accept: 'text/event-stream' } },
      { method: 'DELETE', path: '/mcp', headers: { 'Mcp-Session-Id': s.id } },
      { method: 'OPTIONS', path: '/mcp', headers: {} },
      { method: 'HEAD', path: '/sse', headers: {} },
      { method: 'GET', path: '/sse', headers: { Accept: 'text/event-stream' } },
      { method: 'POST', path: '/messages?sessionId=x', headers: { 'Content-Type': 'application/json' }, body: '{}' },
      { method: 'GET', path: '/status', headers: {} },
      { method: 'GET', path: '/nowhere', headers: {} },
    ];
    const wrongPlaces: Array<{ path?: (p: string) => string; headers?: Record<string, string> }> = [
      {},
      { path: (x) => `${x}${x.includes('?') ? '&' : '?'}access_token=${TOKEN}` },
      { path: (x) => `${x}${x.includes('?') ? '&' : '?'}token=${TOKEN}` },
      { headers: { Cookie: `token=${TOKEN}` } },
      { headers: { 'X-Api-Key': TOKEN } },
      { headers: { 'Proxy-Authorization': `Bearer ${TOKEN}` } },
      { headers: { Authorization: `Token ${TOKEN}` } },
      { headers: { Authorization: `Bearer ${TOKEN.toUpperCase()}` } },
      { headers: { Authorization: `Bearer ${TOKEN},${TOKEN}` } },
    ];
    for (const r of routes) {
      for (const w of wrongPlaces) {
        const req = { ...r, path: w.path ? w.path(r.path) : r.path, headers: { ...r.headers, ...(w.headers ?? {}) } };
        const res = await send(p, req);
        const what = `${req.method} ${req.path.replace(TOKEN, 'TOKEN')} ${JSON.stringify(w.headers ?? {}).replace(new RegExp(TOKEN, 'gi'), 'TOKEN')}`;
        expectRefused(res, 401, what);
        expect({ what, www: res.headers['www-authenticate'] }).toEqual({ what, www: expect.stringMatching(/^Bearer/) });
      }
    }
    // The session none of those could touch is alive; the auth scheme is case-insensitive (RFC 7235).
    expect((await s.call(2, 'echo', { text: 'alive' })).json).toMatchObject({ result: { content: [{ text: 'alive' }] } });
    expect((await send(p, { method: 'GET', path: '/status', headers: { Authorization: `bearer ${TOKEN}` } })).status).toBe(200);
    expect(await s.del()).toBe(200);
  });

  test('the right token does not lift the Host and Origin checks', async () => {
    const p = b.port;
    expectRefused(await send(p, { method: 'GET', path: '/status', headers: AUTH }, `evil.example:${p}`), 403, 'Host evil with token');
    expectRefused(
      await send(p, { method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, ...AUTH }, body: initializeBody() }, `${machineAddress}:${p}`),
      403,
      'Host machine address with token',
    );
    expectRefused(await send(p, { method: 'GET', path: '/status', headers: { ...AUTH, Origin: 'http://evil.example' } }), 403, 'Origin evil with token');
  });

  test('secrets sent by clients themselves (in clientInfo, ids, content types, failed logins) and the configured ones never reach the debug log, stdout or /status', async () => {
    const p = b.port;
    const secrets = [TOKEN, SECRET, FILE_SECRET];
    // Failed logins with near-misses of the token.
    for (const auth of [`Bearer ${TOKEN}x`, `Bearer x${TOKEN}`, `Basic ${TOKEN}`, `Bearer ${SECRET}`]) {
      expect((await send(p, { method: 'GET', path: '/status', headers: { Authorization: auth } })).status).toBe(401);
    }
    // A client that names itself after the secrets (the bridge logs client names).
    for (const name of secrets) {
      const init = await send(p, {
        method: 'POST',
        path: '/mcp',
        headers: { ...MCP_HEADERS, ...AUTH },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name, version: name } },
        }),
      });
      expect(init.status).toBe(200);
      const sid = init.headers['mcp-session-id'];
      const sh = { ...MCP_HEADERS, ...AUTH, 'Mcp-Session-Id': sid };
      // A response to a request the bridge never sent, with a secret as its id (logged as unknown).
      expect(
        (await send(p, { method: 'POST', path: '/mcp', headers: sh, body: JSON.stringify({ jsonrpc: '2.0', id: name, result: {} }) })).status,
      ).toBeLessThan(500);
      // A call whose arguments carry it (the child gets them; the bridge must not log them).
      expect(
        (
          await send(p, {
            method: 'POST',
            path: '/mcp',
            headers: sh,
            body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'no-such-tool', arguments: { name } } }),
          })
        ).status,
      ).toBe(200);
      expect((await send(p, { method: 'DELETE', path: '/mcp', headers: sh })).status).toBe(200);
    }
    // Legacy SSE: a content type and a malformed message carrying the secrets (the SSE transport's
    // errors are logged at debug level).
    const ac = new AbortController();
    const res = await fetch(`${b.url}/sse`, { headers: AUTH, signal: ac.signal });
    const reader = res.body!.getReader();
    let buf = '';
    while (!/data: (.*)/.test(buf)) buf += new TextDecoder().decode((await reader.read()).value);
    const path = /data: (.*)/.exec(buf)![1];
    for (const secret of secrets) {
      await send(p, { method: 'POST', path, headers: { ...AUTH, 'Content-Type': `text/x-${secret}` }, body: secret });
      await send(p, { method: 'POST', path, headers: { ...AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ [secret]: secret }) });
      await send(p, { method: 'POST', path: `/message?sessionId=${secret}`, headers: { ...AUTH, 'Content-Type': 'application/json' }, body: '{}' });
    }
    ac.abort();

    const status = (await send(p, { method: 'GET', path: '/status', headers: AUTH })).body.toString('utf8');
    const log = b.stderr();
    // The log did record those events (so a leak was possible), at debug level.
    expect(log).toMatch(/session .* initialized/); // the log was written (the secrets checks below mean something)
    expect(log).toMatch(/answered unknown server request id "\*\*\*"/);
    expect(log).toMatch(/session \w+ \(\*\*\* \*\*\*\) initialized/);
    for (const secret of secrets) {
      expect({ secret, inLog: log.includes(secret) }).toEqual({ secret, inLog: false });
      expect({ secret, inStdout: b.stdout().includes(secret) }).toEqual({ secret, inStdout: false });
      expect({ secret, inStatus: status.includes(secret) }).toEqual({ secret, inStatus: false });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Listening off loopback
// ---------------------------------------------------------------------------------------------

describe('listening off loopback needs a token, which MCPSHARE_TOKEN can give', () => {
  test('--allow-remote on 0.0.0.0 with MCPSHARE_TOKEN: starts, and every request needs that token; IPv6 loopback needs none', async () => {
    const token = `env-token-${randomUUID()}`;
    const remote = await runCli(['bridge', '--host', '0.0.0.0', '--allow-remote', '--port', '0', '--name', 'remote-env', '--', ...FIX], {
      MCPSHARE_TOKEN: token,
    });
    try {
      for (const host of ['127.0.0.1', machineAddress]) {
        const noAuth = await rawExchange(remote.port, `GET /status HTTP/1.1\r\nHost: ${host}:${remote.port}\r\nConnection: close\r\n\r\n`);
        expect({ host, status: noAuth.status }).toEqual({ host, status: 401 });
        const ok = await rawExchange(
          remote.port,
          `GET /status HTTP/1.1\r\nHost: ${host}:${remote.port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        );
        expect({ host, status: ok.status }).toEqual({ host, status: 200 });
      }
    } finally {
      await remote.stop();
    }
    expect(remote.stderr()).not.toContain(token);
    expect(remote.stdout()).not.toContain(token);

    const v6 = await runCli(['bridge', '--host', '::1', '--port', '0', '--name', 'v6', '--', ...FIX], { MCPSHARE_TOKEN: undefined });
    try {
      expect(v6.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
      const r = await fetch(`${v6.url}/status`);
      expect(r.status).toBe(200);
    } finally {
      await v6.stop();
    }
  });
});
