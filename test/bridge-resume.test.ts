/**
 * Sessions that outlive the bridge (issue 13): the real `mcpshare bridge` CLI is killed with
 * SIGKILL and started again on the same port with the same state directory, while real SDK v1
 * clients (Streamable HTTP with its GET stream, and legacy SSE) keep going: no 404, no second
 * initialize, their GET/SSE streams come back, subscriptions and log levels are in force again at
 * the new child. Forged, deleted and expired ids still get 404 -32001. 200 sessions that never
 * DELETE leave the bridge's memory flat.
 */
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { EventSource } from 'eventsource';
import { pathToFileURL } from 'node:url';
import {
  bridgeArgs,
  FIXTURE,
  ROOT,
  fixtureStats,
  initializeBody,
  JSON_HEADERS,
  runCli,
  startedPids,
  textOf,
  waitReady,
  type RunningCli,
} from './helpers/bridge.js';
import { freePort } from './helpers/ports.js';
import { killLeftovers } from './helpers/procs.js';
import { measured, printMeasured } from './helpers/soak.js';
import { sleep, waitFor } from './helpers/wait.js';

const FIX = [process.execPath, FIXTURE];
const CALL = { timeout: 10_000 };
const bridges: RunningCli[] = [];
const clients: Client[] = [];
const dirs: string[] = [];

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function bridge(port: number, stateDir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}, command = FIX): Promise<RunningCli> {
  const args = bridgeArgs(command, ['--state-dir', stateDir, ...extra]);
  args[args.indexOf('--port') + 1] = String(port);
  const b = await runCli(args, env);
  bridges.push(b);
  return b;
}

/** Kills a bridge the hard way (no shutdown of its own), as a crash or `kill -9` would. */
async function killHard(b: RunningCli): Promise<void> {
  b.proc.kill('SIGKILL');
  await b.exited;
}

afterEach(async () => {
  if (process.env.H13_DEBUG) for (const b of bridges) console.log(b.stderr());
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  const stopping = bridges.splice(0);
  await Promise.allSettled(stopping.map((b) => b.stop()));
  for (const b of stopping) for (const pid of startedPids(b.stderr())) killLeftovers(pid, ['fixture-server.mjs', 'server-filesystem']);
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  printMeasured('bridge resume');
});

interface Watched {
  client: Client;
  errors: { at: number; message: string }[];
  updates: string[];
  logs: string[];
  listChanged: number;
  sessionId: () => string | undefined;
}

async function watchedClient(base: string, kind: 'http' | 'sse', name: string): Promise<Watched> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  const transport = kind === 'http' ? new StreamableHTTPClientTransport(new URL(`${base}/mcp`)) : new SSEClientTransport(new URL(`${base}/sse`));
  const w: Watched = { client, errors: [], updates: [], logs: [], listChanged: 0, sessionId: () => (transport as StreamableHTTPClientTransport).sessionId };
  client.onerror = (e) => w.errors.push({ at: Date.now(), message: e.message });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void w.updates.push(n.params.uri));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void w.logs.push(String(n.params.data)));
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void w.listChanged++);
  await client.connect(transport);
  clients.push(client);
  return w;
}

const echo = async (c: Client, text: string) => textOf(await c.callTool({ name: 'echo', arguments: { text } }, undefined, CALL));

describe('a bridge restart is invisible to its sessions', () => {
  test('SDK v1 clients (Streamable HTTP with its GET stream, and SSE) keep their sessions, subscriptions and log levels across kill -9 and a new bridge on the same port', async () => {
    const port = await freePort();
    const state = tmp('mcpshare-resume-');
    let b = await bridge(port, state);
    await waitReady(b);
    const http = await watchedClient(b.url, 'http', 'resume-http');
    const sse = await watchedClient(b.url, 'sse', 'resume-sse');
    const httpId = http.sessionId();
    for (const w of [http, sse]) {
      await w.client.subscribeResource({ uri: 'fixture://a' }, CALL);
      await w.client.setLoggingLevel('debug', CALL);
    }
    // Before the restart: all of it works.
    await http.client.callTool({ name: 'touch', arguments: { uri: 'fixture://a' } }, undefined, CALL);
    await waitFor(() => http.updates.length === 1 && sse.updates.length === 1, 'resources/updated before the restart');
    // Let the batched session records reach the disk (a record still unwritten is resumed with
    // defaults instead, tested below).
    await sleep(1500);

    await killHard(b);
    const killedAt = Date.now();
    b = await bridge(port, state);
    const backAt = Date.now();
    measured('bridge back (kill -9 to listening)', backAt - killedAt, 'ms');
    await waitReady(b);

    // Streamable HTTP: calls work at once with the same session id, and nobody initialized again.
    expect(await echo(http.client, 'after')).toBe('after');
    expect(http.sessionId()).toBe(httpId);
    expect(b.stderr()).toMatch(/streamable-http session \w+ \(resume-http 1\.0\.0\) resumed/);
    // SSE: the SDK v1 client's EventSource reconnects by itself but drops Last-Event-ID (its fetch
    // wrapper replaces the headers), so it comes back as a new session under a new endpoint and
    // carries on there without initializing: the bridge adopts it.
    await waitFor(async () => (await b.status()).sessions.sse === 1, 'the SSE client to reconnect its stream');
    expect(await echo(sse.client, 'after')).toBe('after');
    expect(b.stderr()).toMatch(/sse session \w+ \(client\) sent requests without initialize \(its client reconnected\): carried on/);
    expect(b.stderr()).not.toMatch(/initialized \(protocol/);
    const st = await b.status();
    expect(st.sessions).toMatchObject({ 'streamable-http': 1, sse: 1 });

    // The new child was subscribed and set to the sessions' level on their behalf.
    const fx = await fixtureStats(http.client);
    expect(fx.initializeCount).toBe(1);
    expect(fx.subscriptions).toEqual(['fixture://a']);
    expect(fx.setLevelCalls).toContain('debug');

    // A notification sent after the restart reaches the HTTP session's re-attached GET stream
    // (list_changed belongs to no request: it travels only on that stream) and the SSE stream.
    await waitFor(
      async () => {
        await sse.client.callTool({ name: 'list_changed', arguments: {} }, undefined, CALL);
        await sleep(200);
        return http.listChanged > 0;
      },
      'tools/list_changed on the re-attached GET stream',
      10_000,
    );
    measured('GET stream re-attached and notified after', Date.now() - backAt, 'ms');
    await waitFor(() => sse.listChanged > 0, 'tools/list_changed on the reconnected SSE stream');
    // The HTTP session's subscription keeps working, and debug logs (the level it set before)
    // arrive; the adopted SSE session gets what a new session gets (info and above).
    await http.client.callTool({ name: 'touch', arguments: { uri: 'fixture://a' } }, undefined, CALL);
    await waitFor(() => http.updates.length === 2, 'resources/updated after the restart');
    await sse.client.callTool({ name: 'log', arguments: { level: 'debug', data: 'debug-after' } }, undefined, CALL);
    await sse.client.callTool({ name: 'log', arguments: { level: 'info', data: 'info-after' } }, undefined, CALL);
    await waitFor(() => http.logs.includes('debug-after') && http.logs.includes('info-after') && sse.logs.includes('info-after'), 'logs after the restart');
    expect(sse.logs).not.toContain('debug-after');

    // 0 errors once it was back.
    const late = [...http.errors, ...sse.errors].filter((e) => e.at > backAt);
    expect(late).toEqual([]);
    measured('client errors while the bridge was down (before it was back)', http.errors.length + sse.errors.length);
  });

  test('a session whose record was not yet written (the bridge died within a second of initialize) is resumed with defaults, not refused', async () => {
    const port = await freePort();
    const state = tmp('mcpshare-resume-');
    let b = await bridge(port, state);
    await waitReady(b);
    const init = await fetch(`${b.url}/mcp`, { method: 'POST', headers: JSON_HEADERS, body: initializeBody() });
    const sid = init.headers.get('mcp-session-id')!;
    await killHard(b); // at once: the batch write is ~1 s away
    b = await bridge(port, state);
    await waitReady(b);
    const r = await fetch(`${b.url}/mcp`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }),
    });
    expect(r.status).toBe(200);
    expect(textOf((await r.json()).result)).toBe('x');
    expect(b.stderr()).toMatch(/was not saved before the bridge stopped: resumed with protocol 2025-06-18/);
  });
});

describe('project mode (one server process per project) across a restart', () => {
  const FILESYSTEM = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');

  /** An SDK v1 client that declares its project directory as its root. */
  async function projectClient(url: string, name: string, dir: string): Promise<Client> {
    const client = new Client({ name, version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: pathToFileURL(dir).href, name }] }));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
    clients.push(client);
    return client;
  }
  const allowed = async (c: Client) =>
    textOf(await c.callTool({ name: 'list_allowed_directories', arguments: {} }, undefined, CALL))
      .split('\n')
      .slice(1)
      .filter(Boolean);
  const readable = async (c: Client, path: string) =>
    !((await c.callTool({ name: 'read_text_file', arguments: { path } }, undefined, CALL)) as { isError?: boolean }).isError;

  test('after kill -9 each session carries on in its own project: no 404, no initialize, each child given only its project again', async () => {
    const base = tmp('mcpshare-resume-projects-');
    const alpha = join(base, 'alpha');
    const beta = join(base, 'beta');
    for (const d of [alpha, beta]) {
      mkdirSync(d);
      writeFileSync(join(d, 'secret.txt'), `secret of ${d}`);
    }
    const port = await freePort();
    const state = tmp('mcpshare-resume-state-');
    const start = () => bridge(port, state, ['--name', 'fs-projects', '--share', 'project'], {}, [process.execPath, FILESYSTEM]);
    const first = await start();
    const a = await projectClient(first.url, 'a', alpha);
    const b = await projectClient(first.url, 'b', beta);
    expect(await allowed(a)).toEqual([alpha]);
    expect(await allowed(b)).toEqual([beta]);
    // Records are written in batches (about a second): wait for both, so the restart finds them.
    const file = join(state, 'sessions', `fs-projects-${port}.json`);
    await waitFor(() => existsSync(file) && Object.keys(JSON.parse(readFileSync(file, 'utf8')).sessions).length === 2, 'both sessions to be recorded');
    await killHard(first);

    const second = await start();
    // The same client objects, their sessions never re-initialized: the new bridge asks each for its
    // roots again before its first request reaches a child.
    expect(await allowed(a)).toEqual([alpha]);
    expect(await allowed(b)).toEqual([beta]);
    expect(await readable(a, join(beta, 'secret.txt'))).toBe(false);
    expect(await readable(b, join(beta, 'secret.txt'))).toBe(true);
    const st = await second.status();
    expect(st.share).toBe('project');
    expect(st.idle.resumed).toBe(2);
    expect(st.children).toHaveLength(2);
    expect(second.stderr()).not.toMatch(/initialized \(protocol/);
  });
});

describe('legacy SSE with an EventSource that sends Last-Event-ID', () => {
  test('the session comes back on the reconnected stream after kill -9: same endpoint, its subscription and log level in force, POSTs sent before the stream is back wait for it', async () => {
    const port = await freePort();
    const state = tmp('mcpshare-resume-');
    let b = await bridge(port, state);
    await waitReady(b);
    const events: Array<{ type: string; data: string }> = [];
    const es = new EventSource(`${b.url}/sse`);
    for (const type of ['endpoint', 'message']) es.addEventListener(type, (e) => void events.push({ type, data: (e as MessageEvent).data }));
    const endpoint = await waitFor(() => events.find((e) => e.type === 'endpoint')?.data, 'the endpoint event');
    const post = (m: object) => fetch(new URL(endpoint, b.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(m) });
    const answer = (id: number) =>
      waitFor(() => events.map((e) => (e.type === 'message' ? JSON.parse(e.data) : {})).find((m) => m.id === id), `the answer to ${id}`);
    try {
      await post({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'eventsource', version: '1' } },
      });
      await answer(1);
      await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await post({ jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'fixture://b' } });
      await answer(2);
      await post({ jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'debug' } });
      await answer(3);
      await sleep(1500); // records written
      await killHard(b);
      b = await bridge(port, state);
      // Posted at once, before the EventSource is back (it retries every second): the POST waits.
      const early = await post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: { text: 'early' } } });
      expect(early.status).toBe(202);
      expect((await answer(4)).result.content[0].text).toBe('early');
      // The same endpoint again: the session id came back as Last-Event-ID.
      expect(events.filter((e) => e.type === 'endpoint').map((e) => e.data)).toEqual([endpoint, endpoint]);
      expect(b.stderr()).toMatch(/sse session \w+ \(eventsource 1\) resumed/);
      await post({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'touch', arguments: { uri: 'fixture://b' } } });
      await post({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'log', arguments: { level: 'debug', data: 'sse-debug' } } });
      await waitFor(
        () => events.some((e) => e.data.includes('notifications/resources/updated') && e.data.includes('fixture://b')),
        'resources/updated on the resumed stream',
      );
      await waitFor(() => events.some((e) => e.data.includes('sse-debug')), 'the debug log on the resumed stream');
    } finally {
      es.close();
    }
  });
});

describe('ids that are no session', () => {
  test('forged ids, ids of another transport, deleted and expired sessions get 404 -32001, before and after a restart', async () => {
    const port = await freePort();
    const state = tmp('mcpshare-resume-');
    let b = await bridge(port, state, ['--session-ttl', '5', '--session-idle-timeout', '1']);
    await waitReady(b);
    const open = async () => (await fetch(`${b.url}/mcp`, { method: 'POST', headers: JSON_HEADERS, body: initializeBody() })).headers.get('mcp-session-id')!;
    const good = await open();
    const deleted = await open();
    // Recorded on disk first: a session deleted before it was ever written down leaves no tombstone
    // (health probes would cost a write each), and after a crash its own client could resume it with
    // defaults, which widens nothing. One that reached the disk stays refused.
    await sleep(1500);
    expect((await fetch(`${b.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': deleted } })).status).toBe(200);
    // Same shape, wrong MAC; a real id with one character changed; an SSE-kind id; junk.
    const [random, kindTime, mac] = good.split('.');
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const forged = [
      `${'0'.repeat(32)}.${kindTime}.${mac}`,
      `${random}.${kindTime}.${flip(mac)}`,
      `${random}.s${kindTime.slice(1)}.${mac}`,
      'not-a-session',
      `${random}.${kindTime}`,
    ];
    const call = (sid: string) =>
      fetch(`${b.url}/mcp`, {
        method: 'POST',
        headers: { ...JSON_HEADERS, 'mcp-session-id': sid },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    const expect404 = async (sid: string) => {
      const r = await call(sid);
      expect({ sid, status: r.status }).toEqual({ sid, status: 404 });
      expect((await r.json()).error.code).toBe(-32001);
      const g = await fetch(`${b.url}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
      expect({ sid, get: g.status }).toEqual({ sid, get: 404 });
      await g.body?.cancel();
      const s = await fetch(`${b.url}/message?sessionId=${encodeURIComponent(sid)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect({ sid, sse: s.status }).toEqual({ sid, sse: 404 });
    };
    for (const sid of [...forged, deleted]) await expect404(sid);
    expect((await call(good)).status).toBe(200);

    await sleep(1500); // records written
    await killHard(b);
    b = await bridge(port, state, ['--session-ttl', '5', '--session-idle-timeout', '1']);
    await waitReady(b);
    for (const sid of [...forged, deleted]) await expect404(sid);
    // The good one resumes; then, unseen for longer than --session-ttl, it is gone for good.
    expect((await call(good)).status).toBe(200);
    await waitFor(async () => (await b.status()).sessions.total === 0, 'the idle session to leave memory', 5000);
    await sleep(5500);
    await expect404(good);
    const st = await b.status();
    expect(st.idle.refusedIds).toBeGreaterThanOrEqual(forged.length * 2 + 3);
  });

  test('a plain bridge (no registry, no --state-dir) keeps its session key 0600 in a 0700 directory under the state dir', async () => {
    const home = tmp('mcpshare-resume-home-');
    const b = await runCli(bridgeArgs(FIX), { HOME: home, XDG_STATE_HOME: '' });
    bridges.push(b);
    await waitReady(b);
    const dir = join(home, '.local', 'state', 'mcpshare', 'bridge');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'session.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'session.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    // On a random port nothing else is written: no client could find that bridge again.
    const st = await b.status();
    expect(st.idle.persistent).toBe(false);
  });
});

describe('sessions that never DELETE', () => {
  test('200 sessions without DELETE, three times over: the bridge drops them from memory and its memory stays flat; any of them can still be resumed', async () => {
    const port = await freePort();
    const state = tmp('mcpshare-resume-');
    const b = await bridge(port, state, ['--session-idle-timeout', '1']);
    await waitReady(b);
    const ids: string[] = [];
    const rssAfter: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, async (_, j) => {
            const init = await fetch(`${b.url}/mcp`, { method: 'POST', headers: JSON_HEADERS, body: initializeBody(1) });
            const sid = init.headers.get('mcp-session-id')!;
            await init.text();
            const r = await fetch(`${b.url}/mcp`, {
              method: 'POST',
              headers: { ...JSON_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
              body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: `r${round}-${i + j}` } } }),
            });
            expect(r.status).toBe(200);
            await r.text();
            ids.push(sid);
          }),
        );
      }
      await waitFor(async () => (await b.status()).sessions.total === 0, `round ${round}: all 200 sessions to leave memory`, 15_000);
      rssAfter.push((await b.status()).bridgeRssBytes!);
    }
    const st = await b.status();
    expect(st.sessions.total).toBe(0);
    expect(st.idle.resumableSessions).toBe(600);
    const mb = rssAfter.map((x) => Math.round(x / 1e5) / 10);
    measured('bridge RSS after each round of 200 sessions without DELETE (MB)', mb.join(', '));
    // Flat: the third round costs no more than a few MB over the first (allocator noise).
    expect(rssAfter[2] - rssAfter[0]).toBeLessThan(8 * 1024 * 1024);
    // The very first session still works when its client comes back.
    const r = await fetch(`${b.url}/mcp`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-session-id': ids[0], 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'back' } } }),
    });
    expect(r.status).toBe(200);
    expect(textOf((await r.json()).result)).toBe('back');
  });
});
