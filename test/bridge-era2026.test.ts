/**
 * MCP 2026-07-28 (stateless) clients beside 2025-11-25 sessions on one bridge (issue 12).
 *
 * Real pieces only: `mcpshare bridge` from dist/, a real stdio child (a raw 2025 server, and one built on
 * the SDK v2 server package), SDK v2 clients (`@modelcontextprotocol/client` 2.4, in `auto` mode and pinned
 * to 2026-07-28) and SDK v1 clients (Streamable HTTP and SSE) on the same daemon, and raw HTTP for what an
 * SDK never sends. The wire facts these expectations rest on are in /work/notes/sdk-v2-wire.md; each was
 * checked against the SDK v2 reference server (createMcpHandler) before the bridge supported them.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import type { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  bridgeArgs,
  connect,
  disconnect,
  initializeBody,
  JSON_HEADERS,
  raw,
  ROOT,
  runCli,
  textOf,
  waitReady,
  type Kind,
  type RunningCli,
} from './helpers/bridge.js';
import { waitFor } from './helpers/wait.js';

const V = '2026-07-28';
const ERA_CHILD = `${ROOT}/test/fixtures/era2026-child.mjs`;
const SDK2_CHILD = `${ROOT}/test/fixtures/sdk2-child.mjs`;
const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

interface ChildUnderTest {
  label: string;
  path: string;
  serverInfo: { name: string; version: string };
}
const CHILDREN: ChildUnderTest[] = [
  { label: 'a raw 2025-11-25 stdio child', path: ERA_CHILD, serverInfo: { name: 'era2026-child', version: '1.0.0' } },
  { label: 'a stdio child built on @modelcontextprotocol/server 2.4', path: SDK2_CHILD, serverInfo: { name: 'sdk2-child', version: '2.4.0' } },
];

type Mode = 'auto' | 'pinned';
const MODES: Mode[] = ['auto', 'pinned'];

/** What one SDK v2 client POSTed, so a test can prove which wire path was taken. */
interface Posted {
  headers: Record<string, string>;
  body: any;
}

interface V2 {
  client: ClientV2;
  posted: Posted[];
  /** Questions this client's elicitation handler was asked. */
  asked: string[];
}

/**
 * An SDK v2 client that answers elicitations with its own name (so a misrouted one shows), recording every
 * POST it makes.
 */
async function connectV2(base: string, mode: Mode, name: string): Promise<V2> {
  const posted: Posted[] = [];
  const asked: string[] = [];
  const recordingFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (init?.method === 'POST' && typeof init.body === 'string') {
      posted.push({ headers: Object.fromEntries(new Headers(init.headers)), body: JSON.parse(init.body) });
    }
    return fetch(url, init);
  };
  const client = new ClientV2(
    { name, version: '1.0.0' },
    {
      capabilities: { elicitation: { form: {} } },
      versionNegotiation: mode === 'auto' ? { mode: 'auto' } : { mode: { pin: V } },
    },
  );
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push(String((request.params as { message?: unknown }).message));
    return { action: 'accept', content: { name } };
  });
  await client.connect(new HttpTransportV2(new URL(`${base}/mcp`), { fetch: recordingFetch }));
  return { client, posted, asked };
}

/** Runs `progress` and returns the progress messages the caller got, without the SDK's own local ones. */
async function progressOf(client: ClientV2, tag: string, steps = 3): Promise<{ text: string; messages: string[] }> {
  const messages: string[] = [];
  const result = await client.callTool({ name: 'progress', arguments: { steps, tag } }, { onprogress: (p) => messages.push(String(p.message)) });
  return { text: textOf(result), messages };
}

/**
 * Progress an SDK v1 client received but reported as "unknown token", by message. That client handles
 * a notification one microtask after a response read in the same chunk; the bridge holds a result back
 * 50 ms after a progress update, but a test process starved of CPU (four clients, two bridges and
 * their children on two cores) can stall longer and then read both at once. The update did reach the
 * right client, with its own token (checked here), before its result: what the SDK then does with it
 * is the client's own ordering, not routing.
 */
const lateProgress = new WeakMap<ClientV1, Array<{ token: unknown; message: string }>>();

function recordLateProgress(client: ClientV1): void {
  const late: Array<{ token: unknown; message: string }> = [];
  lateProgress.set(client, late);
  client.onerror = (e) => {
    const m = /progress notification for an unknown token: (\{.*\})$/.exec(e.message);
    if (!m) return;
    const params = JSON.parse(m[1]).params;
    late.push({ token: params.progressToken, message: String(params.message) });
  };
}

async function progressOfV1(client: ClientV1, tag: string, steps = 3): Promise<{ text: string; messages: string[] }> {
  const messages: string[] = [];
  let token: unknown;
  const result = await client.callTool({ name: 'progress', arguments: { steps, tag } }, undefined, {
    onprogress: (p) => messages.push(String(p.message)),
  });
  await new Promise((r) => setImmediate(r));
  for (const l of lateProgress.get(client) ?? []) {
    if (!l.message.startsWith(`${tag}:`)) continue;
    token ??= l.token;
    expect(l.token).toBe(token); // one request's own token, never another's
    messages.push(l.message);
  }
  return { text: textOf(result), messages: messages.sort() };
}

const expectedProgress = (tag: string, steps = 3) => Array.from({ length: steps }, (_, i) => `${tag}:${i + 1}`);

describe.each(CHILDREN)('SDK v2 clients through the bridge, with $label', (child) => {
  let b: RunningCli;
  const v2s: ClientV2[] = [];
  const v1s: ClientV1[] = [];

  beforeAll(async () => {
    b = await runCli(bridgeArgs([process.execPath, child.path], ['--name', 'era2026']));
    await waitReady(b);
  });
  afterAll(async () => {
    await Promise.allSettled(v2s.map((c) => c.close()));
    await Promise.allSettled(v1s.map(disconnect));
    await b?.stop();
  });

  async function v2(mode: Mode, name: string): Promise<V2> {
    const c = await connectV2(b.url, mode, name);
    v2s.push(c.client);
    return c;
  }
  async function v1(kind: Kind, name: string): Promise<ClientV1> {
    const c = await connect(b.url, kind, name, { elicitation: {} });
    v1s.push(c);
    c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name } }));
    recordLateProgress(c);
    return c;
  }

  describe.each(MODES)('a client in %s mode', (mode) => {
    let c: V2;
    beforeAll(async () => {
      c = await v2(mode, `v2-${mode}`);
    });

    test('negotiates 2026-07-28 through server/discover, answered from the child', async () => {
      // In auto mode a -32601 or a 400 to server/discover silently falls back to initialize, so the era
      // is what proves the bridge answered it.
      expect(c.client.getProtocolEra()).toBe('modern');
      expect(c.client.getNegotiatedProtocolVersion()).toBe(V);
      expect(c.client.getServerVersion()).toEqual(child.serverInfo);
      expect(c.client.getServerCapabilities()?.tools).toBeDefined();
      const discover = c.client.getDiscoverResult()!;
      expect(discover.supportedVersions).toEqual(expect.arrayContaining([V, '2025-11-25']));
      // No session: the stateless era never initializes and never carries a session id.
      expect(c.posted.some((p) => p.body.method === 'initialize')).toBe(false);
      expect(c.posted.some((p) => 'mcp-session-id' in p.headers)).toBe(false);
    });

    test('lists and calls tools', async () => {
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['echo', 'progress', 'ask', 'add_tool']));
      expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: `hi from ${mode}` } }))).toBe(`hi from ${mode}`);
      const call = c.posted.find((p) => p.body.method === 'tools/call')!;
      expect(call.headers['mcp-protocol-version']).toBe(V);
      expect(call.body.params._meta['io.modelcontextprotocol/protocolVersion']).toBe(V);
    });

    test('receives the progress of its own call', async () => {
      const { text, messages } = await progressOf(c.client, `solo-${mode}`);
      expect(text).toBe(`done solo-${mode}`);
      expect(messages).toEqual(expectedProgress(`solo-${mode}`));
      // ...and it went the stateless way (an auto client that fell back to initialize gets progress too)
      const call = c.posted.find((p) => p.body.method === 'tools/call' && p.body.params?.arguments?.tag === `solo-${mode}`)!;
      expect(call.body.params._meta['io.modelcontextprotocol/protocolVersion']).toBe(V);
    });

    test('completes an elicitation through input_required and a retry', async () => {
      const question = `Who is asking in ${mode} mode?`;
      const result = await c.client.callTool({ name: 'ask', arguments: { question } });
      expect(textOf(result)).toBe(`hello v2-${mode}`);
      expect(c.asked).toEqual([question]);
      // The answer went back as inputResponses on a retried tools/call with the requestState echoed: in
      // the 2026 era the client drops server->client requests, so there is no other way it could arrive.
      const retry = c.posted.find((p) => p.body.method === 'tools/call' && p.body.params?.inputResponses);
      expect(retry).toBeDefined();
      expect(Object.values(retry!.body.params.inputResponses)).toEqual([{ action: 'accept', content: { name: `v2-${mode}` } }]);
      expect(typeof retry!.body.params.requestState).toBe('string');
    });

    test('gets tools/list_changed on subscriptions/listen, tagged with its subscription id', async () => {
      const changed: any[] = [];
      c.client.setNotificationHandler('notifications/tools/list_changed', (n) => {
        changed.push(n);
      });
      const sub = await c.client.listen({ toolsListChanged: true });
      try {
        expect(sub.honoredFilter).toEqual({ toolsListChanged: true });
        const listenId = c.posted.find((p) => p.body.method === 'subscriptions/listen')!.body.id;

        // Someone else changes the child's tool list: a 2025 session, so the change crosses eras.
        const other = await v1('http', `changer-${mode}`);
        const added = `added_${mode}`;
        await other.callTool({ name: 'add_tool', arguments: { name: added } });
        await waitFor(() => changed.length > 0, 'tools/list_changed on the listen stream');
        for (const n of changed) expect(n.params?._meta?.[SUBSCRIPTION_ID]).toBe(listenId);

        // The notification evicted the client's cached list, so this asks the bridge again.
        expect((await c.client.listTools()).tools.map((t) => t.name)).toContain(added);
        expect(textOf(await c.client.callTool({ name: added, arguments: {} }))).toBe(`I am ${added}`);
      } finally {
        await sub.close();
      }
    });
  });

  test('v2 clients (auto and pinned) and v1 clients (Streamable HTTP and SSE) at once: each gets only its own', async () => {
    const auto = await v2('auto', 'mix-auto');
    const pinned = await v2('pinned', 'mix-pinned');
    const http = await v1('http', 'mix-http');
    const sse = await v1('sse', 'mix-sse');

    // Both stateless clients listen, and both sessions take unsolicited list_changed, while everything runs.
    const heard = new Map<string, any[]>();
    const subs = [];
    for (const [name, c] of [
      ['mix-auto', auto],
      ['mix-pinned', pinned],
    ] as const) {
      heard.set(name, []);
      c.client.setNotificationHandler('notifications/tools/list_changed', (n) => {
        heard.get(name)!.push(n);
      });
      subs.push(await c.client.listen({ toolsListChanged: true }));
    }
    for (const [name, c] of [
      ['mix-http', http],
      ['mix-sse', sse],
    ] as const) {
      heard.set(name, []);
      c.setNotificationHandler(ToolListChangedNotificationSchema, (n) => {
        heard.get(name)!.push(n);
      });
    }

    try {
      type Caller = { name: string; echo: (t: string) => Promise<string>; progress: (tag: string) => Promise<{ text: string; messages: string[] }> };
      const callers: Caller[] = [
        ...[auto, pinned].map((c, i) => ({
          name: i === 0 ? 'mix-auto' : 'mix-pinned',
          echo: async (t: string) => textOf(await c.client.callTool({ name: 'echo', arguments: { text: t } })),
          progress: (tag: string) => progressOf(c.client, tag),
        })),
        ...[http, sse].map((c, i) => ({
          name: i === 0 ? 'mix-http' : 'mix-sse',
          echo: async (t: string) => textOf(await c.callTool({ name: 'echo', arguments: { text: t } })),
          progress: (tag: string) => progressOfV1(c, tag),
        })),
      ];

      // Each client's first call compiles its SDK's schemas: tens of ms of CPU in this one test process,
      // in which an SDK v1 SSE client reads a progress update and its result in one chunk and handles
      // the result first (its notifications run a microtask later). Warm every client up first, so the
      // concurrent phase measures the bridge's routing, not this process's stall.
      for (const caller of callers) await caller.progress(`${caller.name}/warm`);

      // Phase 1, all at once: echo and progress from every client, and a tool-list change in the middle.
      const work = callers.flatMap((caller) => [
        ...Array.from({ length: 6 }, async (_, i) => expect(await caller.echo(`${caller.name}#${i}`)).toBe(`${caller.name}#${i}`)),
        ...Array.from({ length: 3 }, async (_, i) => {
          const tag = `${caller.name}/p${i}`;
          const got = await caller.progress(tag);
          expect(got.text).toBe(`done ${tag}`);
          expect(got.messages).toEqual(expectedProgress(tag));
        }),
      ]);
      work.push(http.callTool({ name: 'add_tool', arguments: { name: 'added_mix' } }).then(() => undefined));
      await Promise.all(work);
      await waitFor(() => [...heard.values()].every((list) => list.length > 0), 'tools/list_changed at every client');
      for (const [i, name] of ['mix-auto', 'mix-pinned'].entries()) {
        const c = i === 0 ? auto : pinned;
        const listenIds = c.posted.filter((p) => p.body.method === 'subscriptions/listen').map((p) => p.body.id);
        expect(listenIds).toHaveLength(1);
        for (const n of heard.get(name)!) expect(n.params?._meta?.[SUBSCRIPTION_ID]).toBe(listenIds[0]);
      }

      // Phase 2, one at a time (with a 2025 child the bridge can only attribute an elicitation to the one
      // client with a call in flight; open listen streams are not calls): each client answers its own.
      for (const c of [auto, pinned]) {
        const name = c === auto ? 'mix-auto' : 'mix-pinned';
        expect(textOf(await c.client.callTool({ name: 'ask', arguments: { question: `${name}?` } }))).toBe(`hello ${name}`);
        expect(c.asked).toEqual([`${name}?`]);
      }
      for (const [name, c] of [
        ['mix-http', http],
        ['mix-sse', sse],
      ] as const) {
        expect(textOf(await c.callTool({ name: 'ask', arguments: { question: `${name}?` } }))).toBe(`hello ${name}`);
      }
    } finally {
      await Promise.allSettled(subs.map((s) => s.close()));
    }

    const status = await b.status();
    expect(status.misroutedDropped).toBe(0);
    expect(status.serverRequests.fallback).toBe(0);
  });
});

describe('raw HTTP: stateless requests on /mcp', () => {
  let b: RunningCli;
  beforeAll(async () => {
    b = await runCli(bridgeArgs([process.execPath, ERA_CHILD], ['--name', 'era2026-raw']));
    await waitReady(b);
  });
  afterAll(async () => {
    await b?.stop();
  });

  const envelope = (over: Record<string, unknown> = {}) => ({
    'io.modelcontextprotocol/protocolVersion': V,
    'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    ...over,
  });
  /** Headers a correct 2026 client sends for `method` (Mcp-Name for tools/call). */
  const headersFor = (method: string, version: string | null = V, name?: string): Record<string, string> => ({
    ...JSON_HEADERS,
    ...(version === null ? {} : { 'mcp-protocol-version': version }),
    'mcp-method': method,
    ...(name === undefined ? {} : { 'mcp-name': name }),
  });
  async function post(id: string | number, method: string, params: unknown, headers = headersFor(method)) {
    return raw(`${b.url}/mcp`, { headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
  }
  function expectError(res: { status: number; json: any }, status: number, code: number, id: string | number) {
    expect({ status: res.status, code: res.json?.error?.code, id: res.json?.id }).toEqual({ status, code, id });
  }

  test('a valid stateless tools/list carries resultType and cache hints', async () => {
    const res = await post(1, 'tools/list', { _meta: envelope() });
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(1);
    expect(res.json.result.resultType).toBe('complete');
    expect(Number.isInteger(res.json.result.ttlMs) && res.json.result.ttlMs >= 0).toBe(true);
    expect(['public', 'private']).toContain(res.json.result.cacheScope);
    expect(res.json.result.tools.map((t: { name: string }) => t.name)).toContain('echo');
    expect(res.headers.get('mcp-session-id')).toBeNull();
  });

  test('clientInfo is optional', async () => {
    const meta = envelope();
    delete (meta as Record<string, unknown>)['io.modelcontextprotocol/clientInfo'];
    const res = await post('no-info', 'tools/call', { name: 'echo', arguments: { text: 'x' }, _meta: meta }, headersFor('tools/call', V, 'echo'));
    expect(res.status).toBe(200);
    expect(res.json.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'x' }] });
  });

  test('server/discover is answered from the child: both eras, capabilities, instructions, serverInfo, cache hints', async () => {
    const res = await post('d', 'server/discover', { _meta: envelope() });
    expect(res.status).toBe(200);
    const r = res.json.result;
    expect(r.supportedVersions).toEqual(expect.arrayContaining([V, '2025-11-25']));
    expect(r.capabilities.tools).toBeDefined();
    expect(r.instructions).toBe('A test fixture.');
    expect(r._meta['io.modelcontextprotocol/serverInfo']).toEqual({ name: 'era2026-child', version: '1.0.0' });
    expect(r.resultType).toBe('complete');
    expect(Number.isInteger(r.ttlMs)).toBe(true);
    expect(['public', 'private']).toContain(r.cacheScope);
  });

  describe('validation, in order, every error echoing the request id', () => {
    test('MCP-Protocol-Version header missing: 400, -32020', async () => {
      expectError(await post('h-1', 'tools/list', { _meta: envelope() }, headersFor('tools/list', null)), 400, -32020, 'h-1');
      // id 0 is a real id, not a missing one
      expectError(await post(0, 'tools/list', { _meta: envelope() }, headersFor('tools/list', null)), 400, -32020, 0);
    });

    test('_meta, its protocolVersion or its clientCapabilities missing: 400, -32602', async () => {
      expectError(await post('m-1', 'tools/list', {}), 400, -32602, 'm-1');
      const noVersion = envelope();
      delete (noVersion as Record<string, unknown>)['io.modelcontextprotocol/protocolVersion'];
      expectError(await post('m-2', 'tools/list', { _meta: noVersion }), 400, -32602, 'm-2');
      const noCaps = envelope();
      delete (noCaps as Record<string, unknown>)['io.modelcontextprotocol/clientCapabilities'];
      expectError(await post(7, 'tools/list', { _meta: noCaps }), 400, -32602, 7);
    });

    test('header differs from _meta: 400, -32020', async () => {
      expectError(await post('d-1', 'tools/list', { _meta: envelope({ 'io.modelcontextprotocol/protocolVersion': '2025-11-25' }) }), 400, -32020, 'd-1');
      expectError(await post('d-2', 'tools/list', { _meta: envelope() }, headersFor('tools/list', '2025-11-25')), 400, -32020, 'd-2');
    });

    test('unsupported version: 400, -32022 with data {supported, requested}', async () => {
      const res = await post(
        'u-1',
        'tools/list',
        { _meta: envelope({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }) },
        headersFor('tools/list', '2099-01-01'),
      );
      expectError(res, 400, -32022, 'u-1');
      expect(res.json.error.data.requested).toBe('2099-01-01');
      expect(res.json.error.data.supported).toEqual(expect.arrayContaining([V]));
      expect(res.json.error.data.supported).not.toContain('2099-01-01');
    });

    test('the earlier rule wins when several fail', async () => {
      const noCaps = envelope();
      delete (noCaps as Record<string, unknown>)['io.modelcontextprotocol/clientCapabilities'];
      // header missing beats a bad envelope
      expectError(await post('o-1', 'tools/list', { _meta: noCaps }, headersFor('tools/list', null)), 400, -32020, 'o-1');
      // a bad envelope beats a header mismatch
      expectError(await post('o-2', 'tools/list', { _meta: noCaps }, headersFor('tools/list', '2025-11-25')), 400, -32602, 'o-2');
      // a header mismatch beats an unsupported version
      expectError(await post('o-3', 'tools/list', { _meta: envelope({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }) }), 400, -32020, 'o-3');
    });

    test.each(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'no/such/method'])(
      '%s inside a stateless request: 404, -32601',
      async (method) => {
        const params: Record<string, unknown> = { _meta: envelope() };
        if (method === 'initialize') Object.assign(params, { protocolVersion: V, capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
        if (method === 'logging/setLevel') params.level = 'info';
        if (method.startsWith('resources/')) params.uri = 'x://a';
        expectError(await post(`gone ${method}`, method, params), 404, -32601, `gone ${method}`);
      },
    );

    test('a POST without envelope or session is still a 2025 initialize', async () => {
      const res = await raw(`${b.url}/mcp`, { headers: JSON_HEADERS, body: initializeBody(1, '2025-11-25') });
      expect(res.status).toBe(200);
      expect(res.json.result.protocolVersion).toBe('2025-11-25');
      expect(res.headers.get('mcp-session-id')).toBeTruthy();
    });
  });

  describe('input_required by hand', () => {
    const askParams = (question: string, extra: Record<string, unknown> = {}) => ({
      name: 'ask',
      arguments: { question },
      ...extra,
      _meta: envelope(),
    });
    const ask = (id: string, question: string, extra?: Record<string, unknown>) =>
      post(id, 'tools/call', askParams(question, extra), headersFor('tools/call', V, 'ask'));

    async function firstRound(id: string, question: string) {
      const res = await ask(id, question);
      expect(res.status).toBe(200);
      expect(res.json.id).toBe(id);
      const r = res.json.result;
      expect(r.resultType).toBe('input_required');
      expect(typeof r.requestState).toBe('string');
      const entries = Object.entries(r.inputRequests as Record<string, { method: string; params: any }>);
      expect(entries).toHaveLength(1);
      const [key, request] = entries[0];
      expect(request.method).toBe('elicitation/create');
      expect(request.params.message).toBe(question);
      expect(request.params._meta?.['mcpshare/inputKey']).toBeUndefined();
      return { key, requestState: r.requestState as string };
    }

    test('the answer completes the parked call', async () => {
      const { key, requestState } = await firstRound('a-1', 'Name, please?');
      const res = await ask('a-2', 'Name, please?', { inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } }, requestState });
      expect(res.status).toBe(200);
      expect(res.json.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'hello Ada' }] });
    });

    test('a tampered requestState is rejected and the parked call survives it', async () => {
      const { key, requestState } = await firstRound('t-1', 'Tamper?');
      const i = Math.floor(requestState.length / 2);
      const tampered = requestState.slice(0, i) + (requestState[i] === 'A' ? 'B' : 'A') + requestState.slice(i + 1);
      const bad = await ask('t-2', 'Tamper?', { inputResponses: { [key]: { action: 'accept', content: { name: 'Mallory' } } }, requestState: tampered });
      expect(bad.json.id).toBe('t-2');
      expect(bad.json.result).toBeUndefined();
      expect(bad.json.error.code).toBe(-32602);
      // The child never saw Mallory: the genuine state still completes with the genuine answer.
      const good = await ask('t-3', 'Tamper?', { inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } }, requestState });
      expect(good.json.result).toMatchObject({ resultType: 'complete', content: [{ text: 'hello Ada' }] });
    });

    test('a missing answer is asked again with a fresh requestState; unknown keys are ignored', async () => {
      const { key, requestState } = await firstRound('k-1', 'Again?');
      const again = await ask('k-2', 'Again?', { inputResponses: { 'not-a-key': { action: 'accept', content: { name: 'Eve' } } }, requestState });
      expect(again.status).toBe(200);
      expect(again.json.result.resultType).toBe('input_required');
      expect(Object.keys(again.json.result.inputRequests)).toEqual([key]);
      expect(typeof again.json.result.requestState).toBe('string');
      const done = await ask('k-3', 'Again?', {
        inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } },
        requestState: again.json.result.requestState,
      });
      expect(done.json.result).toMatchObject({ resultType: 'complete', content: [{ text: 'hello Ada' }] });
    });

    test('inputResponses that is not an object: -32602', async () => {
      const { requestState } = await firstRound('n-1', 'Object?');
      const res = await ask('n-2', 'Object?', { inputResponses: ['Ada'], requestState });
      expect(res.json.id).toBe('n-2');
      expect(res.json.error?.code).toBe(-32602);
    });
  });
});
