/**
 * The routing rules that need a server with exact, observable behaviour: the fixture server records
 * what the bridge sent it, so each rule is checked from both sides.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import {
  bridgeArgs,
  BridgesAndClients,
  disconnect,
  FIXTURE,
  fixtureStats,
  initializeBody,
  JSON_HEADERS,
  raw,
  runCli,
  textOf,
  waitReady,
  type Kind,
  type RunningCli,
} from './helpers/bridge.js';
import { sleep, waitFor } from './helpers/wait.js';

let b: RunningCli;
const started = new BridgesAndClients();
/** A client of this file's one bridge. */
const client = (kind: Kind, name: string, capabilities = {}): Promise<Client> => started.client(b, kind, name, capabilities);

beforeAll(async () => {
  b = await started.bridge(['--name', 'fixture']);
  await waitReady(b);
});
afterAll(async () => {
  await Promise.allSettled(started.clients.map(disconnect));
  await started.cleanup();
});

/** Opens a raw Streamable HTTP session and returns a function that posts one request and reads its reply. */
async function rawSession(protocolVersion = '2025-11-25') {
  const init = await raw(`${b.url}/mcp`, { headers: JSON_HEADERS, body: initializeBody(1, protocolVersion) });
  const sid = init.headers.get('mcp-session-id')!;
  const headers = { ...JSON_HEADERS, 'mcp-session-id': sid };
  await raw(`${b.url}/mcp`, { headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  return {
    init: init.json,
    sid,
    call: async (body: unknown) => (await raw(`${b.url}/mcp`, { headers, body: JSON.stringify(body) })).json,
  };
}

describe('ids and versions', () => {
  test('client ids of any type come back exactly; the server only ever sees fresh integers', async () => {
    const s = await rawSession();
    for (const id of ['abc:1', 'sess|7', 7, 0, '7', -3]) {
      const reply = await s.call({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `id ${String(id)}` } } });
      expect(reply.id).toStrictEqual(id);
      expect(reply.result.content[0].text).toBe(`id ${String(id)}`);
    }
    const stats = JSON.parse(
      (await s.call({ jsonrpc: '2.0', id: 'x', method: 'tools/call', params: { name: 'stats', arguments: {} } })).result.content[0].text,
    );
    expect(stats.nonIntegerIds).toBe(0);
    expect(stats.initializeCount).toBe(1); // every client's initialize was answered by the bridge
  });

  test('protocol version is negotiated per client', async () => {
    expect((await rawSession('2025-03-26')).init.result.protocolVersion).toBe('2025-03-26');
    expect((await rawSession('2025-06-18')).init.result.protocolVersion).toBe('2025-06-18');
    expect((await rawSession('2026-07-28')).init.result.protocolVersion).toBe('2025-11-25');
    const s = await rawSession('1999-01-01');
    expect(s.init.result.protocolVersion).toBe('2025-11-25');
    expect(s.init.result.serverInfo.name).toBe('fixture');
    // Advertised so Claude Code refreshes tools after a restart.
    expect(s.init.result.capabilities.tools.listChanged).toBe(true);
  });

  test('ping is answered by the bridge', async () => {
    const s = await rawSession();
    expect(await s.call({ jsonrpc: '2.0', id: 'p', method: 'ping' })).toEqual({ jsonrpc: '2.0', id: 'p', result: {} });
  });

  test('junk on the child stdout is skipped; the call and the next ones work', async () => {
    const c = await client('http', 'junk');
    expect(textOf(await c.callTool({ name: 'junk', arguments: {} }))).toBe('junk written');
    expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'after junk' } }))).toBe('after junk');
    expect(b.stderr()).toMatch(/not JSON-RPC/);
  });
});

describe('server→client requests', () => {
  const answerAs = (c: Client, name: string, log: string[]) => {
    c.setRequestHandler(CreateMessageRequestSchema, async () => {
      log.push(`sampling:${name}`);
      return { model: 'm', role: 'assistant', content: { type: 'text', text: `from ${name}` } };
    });
    c.setRequestHandler(ElicitRequestSchema, async () => {
      log.push(`elicit:${name}`);
      return { action: 'accept', content: { name } };
    });
    c.setRequestHandler(ListRootsRequestSchema, async () => {
      log.push(`roots:${name}`);
      return { roots: [{ uri: `file:///work/${name}`, name }] };
    });
  };
  const caps = { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } };

  test('go to the one session with a request in flight', async () => {
    const log: string[] = [];
    const a = await client('http', 'ann', caps);
    const z = await client('sse', 'zed', caps);
    answerAs(a, 'ann', log);
    answerAs(z, 'zed', log);
    expect(textOf(await z.callTool({ name: 'sample', arguments: {} }))).toContain('from zed');
    expect(textOf(await a.callTool({ name: 'elicit', arguments: {} }))).toContain('"name":"ann"');
    // roots/list is never one session's: the child serves them all (global mode), so it gets only
    // the roots every session shares, and ann's and the other sessions' are not zed's.
    expect(JSON.parse(textOf(await z.callTool({ name: 'roots', arguments: {} }))).roots).toEqual([]);
    expect(log).toEqual(['sampling:zed', 'elicit:ann']);
  });

  test('with two sessions busy: sampling errors, elicitation cancels, roots is never the union', async () => {
    const log: string[] = [];
    const a = await client('http', 'amy', caps);
    const z = await client('sse', 'zoe', caps);
    answerAs(a, 'amy', log);
    answerAs(z, 'zoe', log);
    const busy = z.callTool({ name: 'echo', arguments: { text: 'busy', delayMs: 1500 } });
    await sleep(100);
    const sampled = textOf(await a.callTool({ name: 'sample', arguments: {} }));
    expect(sampled).toMatch(/ambiguous/);
    expect(textOf(await a.callTool({ name: 'elicit', arguments: {} }))).toContain('"action":"cancel"');
    const roots = JSON.parse(textOf(await a.callTool({ name: 'roots', arguments: {} }))).roots.map((r: { uri: string }) => r.uri);
    expect(roots).not.toContain('file:///work/amy');
    expect(roots).not.toContain('file:///work/zoe');
    expect(log.filter((l) => l.startsWith('sampling') || l.startsWith('elicit'))).toEqual([]);
    await busy;
    expect((await b.status()).warnings.join(' ')).toMatch(/sampling\/createMessage/);
  });

  test('a client without the capability is not asked', async () => {
    const bare = await client('http', 'bare');
    const text = textOf(await bare.callTool({ name: 'sample', arguments: {} }));
    expect(text).toMatch(/error/);
    expect(text).toMatch(/capability/);
  });
});

describe('notifications', () => {
  test('resources/updated only to subscribers; one upstream subscribe per URI, unsubscribed with the last', async () => {
    const subs = await Promise.all(['s1', 's2', 's3'].map((n, i) => client(i === 1 ? 'sse' : 'http', n)));
    const got: Record<string, string[]> = { s1: [], s2: [], s3: [] };
    subs.forEach((c, i) => c.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void got[`s${i + 1}`].push(n.params.uri)));
    const before = await fixtureStats(subs[0]);
    await subs[0].subscribeResource({ uri: 'fixture://a' });
    await subs[1].subscribeResource({ uri: 'fixture://a' });
    await subs[2].subscribeResource({ uri: 'fixture://b' });
    const afterSub = await fixtureStats(subs[0]);
    expect(afterSub.subscribeCalls - before.subscribeCalls).toBe(2); // a once, b once
    // The GET stream opens asynchronously after connect: touch until both sessions saw one.
    await waitFor(async () => {
      await subs[0].callTool({ name: 'touch', arguments: { uri: 'fixture://a' } });
      await subs[0].callTool({ name: 'touch', arguments: { uri: 'fixture://b' } });
      return got.s1.length > 0 && got.s2.length > 0 && got.s3.length > 0;
    }, 'updates to reach every subscriber');
    expect(new Set(got.s1)).toEqual(new Set(['fixture://a']));
    expect(new Set(got.s2)).toEqual(new Set(['fixture://a']));
    expect(new Set(got.s3)).toEqual(new Set(['fixture://b']));

    await subs[0].unsubscribeResource({ uri: 'fixture://a' });
    expect((await fixtureStats(subs[0])).unsubscribeCalls).toBe(before.unsubscribeCalls);
    await subs[1].unsubscribeResource({ uri: 'fixture://a' });
    const end = await fixtureStats(subs[0]);
    expect(end.unsubscribeCalls).toBe(before.unsubscribeCalls + 1);
    expect(end.subscriptions).not.toContain('fixture://a');
    // A subscriber that leaves without unsubscribing is unsubscribed upstream for it.
    await disconnect(subs[2]);
    await waitFor(async () => !(await fixtureStats(subs[0])).subscriptions.includes('fixture://b'), 'upstream unsubscribe of b');
  });

  test('list_changed reaches every session', async () => {
    const cs = await Promise.all(['l1', 'l2', 'l3'].map((n, i) => client(i === 2 ? 'sse' : 'http', n)));
    const seen = new Set<number>();
    cs.forEach((c, i) => c.setNotificationHandler(ToolListChangedNotificationSchema, async () => void seen.add(i)));
    await waitFor(async () => {
      await cs[0].callTool({ name: 'list_changed', arguments: {} });
      return seen.size === 3;
    }, 'list_changed at all three sessions');
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });

  test('logging: the child runs at the most verbose level asked; each session gets only its own level', async () => {
    const verbose = await client('http', 'verbose');
    const quiet = await client('sse', 'quiet');
    const plain = await client('http', 'plain');
    const got: Record<string, string[]> = { verbose: [], quiet: [], plain: [] };
    for (const [name, c] of Object.entries({ verbose, quiet, plain })) {
      c.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void got[name].push(`${n.params.level}:${String(n.params.data)}`));
    }
    await quiet.setLoggingLevel('error');
    await verbose.setLoggingLevel('debug');
    expect((await fixtureStats(plain)).setLevelCalls.at(-1)).toBe('debug');
    await waitFor(async () => {
      await plain.callTool({ name: 'log', arguments: { level: 'error', data: 'probe' } });
      return got.verbose.length > 0 && got.quiet.length > 0 && got.plain.length > 0;
    }, 'every session to receive an error-level log');
    // Probes may still be arriving on the slower streams: judge only what follows.
    const probe = /probe$/;
    const strip = () => {
      for (const k of Object.keys(got)) got[k] = got[k].filter((m) => !probe.test(m));
    };
    await plain.callTool({ name: 'log', arguments: { level: 'debug', data: 'd' } });
    await plain.callTool({ name: 'log', arguments: { level: 'warning', data: 'w' } });
    await plain.callTool({ name: 'log', arguments: { level: 'critical', data: 'c' } });
    await waitFor(() => (strip(), got.verbose.length === 3 && got.quiet.length === 1 && got.plain.length === 2), 'log fan-out', 3000).catch(() => undefined);
    strip();
    expect(got.verbose).toEqual(['debug:d', 'warning:w', 'critical:c']);
    expect(got.quiet).toEqual(['critical:c']);
    expect(got.plain).toEqual(['warning:w', 'critical:c']); // default level for a session that never asked: info
    // When the verbose session leaves, the child is turned back down to the next most verbose level.
    await disconnect(verbose);
    await waitFor(async () => (await fixtureStats(plain)).setLevelCalls.at(-1) === 'error', 'child level back to error');
  });
});

describe('cancellation', () => {
  test('a cancelled call is cancelled upstream under its upstream id, and the session goes on', async () => {
    const c = await client('http', 'canceller');
    const before = (await fixtureStats(c)).cancelled.length;
    const ac = new AbortController();
    const pending = c.callTool({ name: 'hang', arguments: {} }, undefined, { signal: ac.signal });
    await sleep(100);
    ac.abort('user pressed escape');
    await expect(pending).rejects.toThrow();
    const stats = await waitFor(async () => {
      const s = await fixtureStats(c);
      return s.cancelled.length > before ? s : undefined;
    }, 'the cancellation to reach the server');
    expect(Number.isInteger(stats!.cancelled.at(-1))).toBe(true);
    expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'next' } }))).toBe('next');
    // An ordinary cancellation is not a misroute.
    expect((await b.status()).misroutedDropped).toBe(0);
  });

  test('a session that leaves has its in-flight work cancelled upstream', async () => {
    const watcher = await client('http', 'watcher');
    const leaver = await client('sse', 'leaver');
    const before = (await fixtureStats(watcher)).cancelled.length;
    void leaver.callTool({ name: 'hang', arguments: {} }).catch(() => undefined);
    void leaver.callTool({ name: 'hang', arguments: {} }).catch(() => undefined);
    await waitFor(async () => (await b.status()).requests.inFlight >= 2, 'two hanging calls in flight');
    await disconnect(leaver);
    await waitFor(async () => (await fixtureStats(watcher)).cancelled.length >= before + 2, 'both cancelled upstream');
  });
});

describe('bridge-owned settings', () => {
  test("the bridge's bearer token is not passed to the server it runs", async () => {
    const token = 'tok-never-in-child-9f3a';
    const t = await runCli(bridgeArgs([process.execPath, FIXTURE], ['--name', 'tok']), { MCPSHARE_TOKEN: token });
    try {
      const headers = { ...JSON_HEADERS, authorization: `Bearer ${token}` };
      const init = await raw(`${t.url}/mcp`, { headers, body: initializeBody() });
      expect(init.status).toBe(200);
      const h = { ...headers, 'mcp-session-id': init.headers.get('mcp-session-id')! };
      const reply = await raw(`${t.url}/mcp`, {
        headers: h,
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'env', arguments: { name: 'MCPSHARE_TOKEN' } } }),
      });
      expect(reply.json.result.content[0].text).toBe('{"value":null}');
    } finally {
      await t.stop();
    }
  });

  test('an initialize that fails (server not ready) leaves no session behind', async () => {
    const t = await runCli(bridgeArgs([process.execPath, FIXTURE], ['--name', 'slow', '--init-timeout', '1', '--restart-limit', '5']), {
      FIXTURE_HANG_INIT: '1',
    });
    try {
      const init = await raw(`${t.url}/mcp`, { headers: JSON_HEADERS, body: initializeBody() });
      expect(init.json.error.message).toMatch(/not ready|initialize/);
      await waitFor(async () => (await t.status()).sessions.total === 0, 'the failed session to be released', 3000);
    } finally {
      await t.stop();
    }
  });
});
