/**
 * `mcpshare connect`, the stdio shim for stdio-only clients (Claude Desktop), driven the way such a
 * client drives it: a real SDK v1 Client over StdioClientTransport spawning the real CLI, against a
 * real bridge with a real server child. The bridge's routing rules must hold through it (ids,
 * progress, cancellation, notifications, server requests), and a daemon restart must not be seen.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, everythingEntry, FIXTURE, fixtureStats, runCli, textOf, waitReady, type RunningCli } from './helpers/bridge.js';
import { sleep, waitFor } from './helpers/wait.js';
import { connectShim, freePort, initializeMessage, rawShim, type Shim } from './helpers/shim.js';

const open: Shim[] = [];
async function shim(url: string, name: string, capabilities = {}): Promise<Shim> {
  const s = await connectShim(url, { name, capabilities });
  open.push(s);
  return s;
}
/** A raw shim with initialize and initialized done. */
async function rawSession(url: string) {
  const r = rawShim(url);
  r.send(initializeMessage(1));
  await r.next((m) => m.id === 1);
  r.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return r;
}

/** The progress values for a token before the reply to request `id`, the reply's text, and how many updates came after it. */
function progressThenResult(received: any[], id: number) {
  const at = received.findIndex((m) => m.id === id && 'result' in m);
  const isMine = (m: any) => m.method === 'notifications/progress' && m.params.progressToken === id;
  return {
    progress: received
      .slice(0, at)
      .filter(isMine)
      .map((m) => m.params.progress),
    result: received[at]?.result.content[0].text,
    after: received.slice(at + 1).filter(isMine).length,
  };
}

const bridge = (port: number | string, name: string, command: string[], extra: string[] = []) =>
  runCli(['bridge', '--port', String(port), '--name', name, ...extra, '--', ...command]);

let fixture: RunningCli;
let fixtureUrl: string;
beforeAll(async () => {
  fixture = await bridge(0, 'fixture', [process.execPath, FIXTURE]);
  await waitReady(fixture);
  fixtureUrl = `${fixture.url}/mcp`;
});
afterAll(async () => {
  await Promise.allSettled(open.map((s) => s.close()));
  await fixture?.stop();
});

describe('messages through the shim', () => {
  test('client ids of any type come back exactly; the server only sees integers; stdout is protocol only', async () => {
    const raw = rawShim(fixtureUrl);
    raw.send(initializeMessage('init:1'));
    expect((await raw.next((m) => m.id === 'init:1')).result.serverInfo.name).toBe('fixture');
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const ids = ['abc:1', 'sess|7', 7, 0, '7', -3];
    // All at once: replies arrive in any order and each must find its own id.
    for (const id of ids)
      raw.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `id ${String(id)}`, delayMs: 50 } } });
    for (const id of ids) {
      const reply = await raw.next((m) => m.id === id && 'result' in m);
      expect(reply.id).toStrictEqual(id);
      expect(reply.result.content[0].text).toBe(`id ${String(id)}`);
    }
    raw.send({ jsonrpc: '2.0', id: 'ping-1', method: 'ping' });
    expect(await raw.next((m) => m.id === 'ping-1')).toEqual({ jsonrpc: '2.0', id: 'ping-1', result: {} });
    raw.send({ jsonrpc: '2.0', id: 's', method: 'tools/call', params: { name: 'stats', arguments: {} } });
    const stats = JSON.parse((await raw.next((m) => m.id === 's')).result.content[0].text);
    expect(stats.nonIntegerIds).toBe(0);
    expect(raw.received.filter((m) => m.id !== undefined && !('result' in m))).toEqual([]); // no error replies
    expect(await raw.end()).toBe(0);
  });

  test('progress reaches its own client, every update in order, before the result; late progress never', async () => {
    // Line level, not an SDK Client: SDK v1 dispatches notifications a microtask after responses, so
    // it drops a last progress update that arrives in the same read as the result (also with no
    // shim, straight from a stdio server). What the shim writes, and in what order, is checked here.
    const shims = await Promise.all([1, 2, 3].map(() => rawSession(fixtureUrl)));
    // The same token and request id in every session, as every SDK client would use.
    shims.forEach((r) =>
      r.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'progress', arguments: { steps: 5, delayMs: 20 }, _meta: { progressToken: 2 } } }),
    );
    await Promise.all(shims.map((r) => r.next((m) => m.id === 2)));
    await sleep(200); // the fixture sends a late update right after the result: it must not come through
    for (const r of shims) expect(progressThenResult(r.received, 2)).toEqual({ progress: [1, 2, 3, 4, 5], result: 'done 5', after: 0 });
    for (const r of shims) expect(await r.end()).toBe(0);
  });

  test('a cancelled call is cancelled upstream, and the session goes on', async () => {
    const s = await shim(fixtureUrl, 'canceller');
    const before = (await fixtureStats(s.client)).cancelled.length;
    const ac = new AbortController();
    const pending = s.client.callTool({ name: 'hang', arguments: {} }, undefined, { signal: ac.signal });
    await sleep(100);
    ac.abort('user pressed escape');
    await expect(pending).rejects.toThrow();
    const stats = await waitFor(async () => {
      const st = await fixtureStats(s.client);
      return st.cancelled.length > before ? st : undefined;
    }, 'the cancellation to reach the server');
    expect(Number.isInteger(stats!.cancelled.at(-1))).toBe(true);
    expect(textOf(await s.client.callTool({ name: 'echo', arguments: { text: 'next' } }))).toBe('next');
    expect(s.errors).toEqual([]);
    expect((await fixture.status()).misroutedDropped).toBe(0);
  });
});

describe('notifications through the shim (the standalone GET stream)', () => {
  test('list_changed reaches every client', async () => {
    const cs = await Promise.all(['l1', 'l2', 'l3'].map((n) => shim(fixtureUrl, n)));
    const seen = new Set<number>();
    cs.forEach((s, i) => s.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void seen.add(i)));
    await waitFor(async () => {
      await cs[0].client.callTool({ name: 'list_changed', arguments: {} });
      return seen.size === 3;
    }, 'list_changed at all three clients');
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });

  test('resources/updated only to subscribers', async () => {
    const cs = await Promise.all(['s1', 's2', 's3'].map((n) => shim(fixtureUrl, n)));
    const got: string[][] = [[], [], []];
    cs.forEach((s, i) => s.client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void got[i].push(n.params.uri)));
    await cs[0].client.subscribeResource({ uri: 'fixture://a' });
    await cs[1].client.subscribeResource({ uri: 'fixture://b' });
    await waitFor(async () => {
      await cs[2].client.callTool({ name: 'touch', arguments: { uri: 'fixture://a' } });
      await cs[2].client.callTool({ name: 'touch', arguments: { uri: 'fixture://b' } });
      return got[0].length > 0 && got[1].length > 0;
    }, 'updates at both subscribers');
    expect(new Set(got[0])).toEqual(new Set(['fixture://a']));
    expect(new Set(got[1])).toEqual(new Set(['fixture://b']));
    expect(got[2]).toEqual([]);
  });

  test('logging: each client gets only what its own level allows', async () => {
    const quiet = await shim(fixtureUrl, 'quiet');
    const chatty = await shim(fixtureUrl, 'chatty');
    const got: Record<string, string[]> = { quiet: [], chatty: [] };
    for (const [name, s] of Object.entries({ quiet, chatty })) {
      s.client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void got[name].push(`${n.params.level}:${String(n.params.data)}`));
    }
    await quiet.client.setLoggingLevel('error');
    await chatty.client.setLoggingLevel('debug');
    await waitFor(async () => {
      await chatty.client.callTool({ name: 'log', arguments: { level: 'error', data: 'probe' } });
      return got.quiet.length > 0 && got.chatty.length > 0;
    }, 'both streams to carry logs');
    await chatty.client.callTool({ name: 'log', arguments: { level: 'debug', data: 'd' } });
    await chatty.client.callTool({ name: 'log', arguments: { level: 'critical', data: 'c' } });
    await waitFor(() => got.quiet.includes('critical:c') && got.chatty.includes('critical:c'), 'the critical message at both');
    expect(got.chatty).toContain('debug:d');
    expect(got.quiet).not.toContain('debug:d');
  });
});

describe('server→client requests through the shim', () => {
  const caps = { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } };
  const answerAs = (s: Shim, name: string, log: string[]) => {
    s.client.setRequestHandler(CreateMessageRequestSchema, async () => {
      log.push(`sampling:${name}`);
      return { model: 'm', role: 'assistant', content: { type: 'text', text: `from ${name}` } };
    });
    s.client.setRequestHandler(ElicitRequestSchema, async () => {
      log.push(`elicit:${name}`);
      return { action: 'accept', content: { name } };
    });
    s.client.setRequestHandler(ListRootsRequestSchema, async () => {
      log.push(`roots:${name}`);
      return { roots: [{ uri: `file:///work/${name}`, name }] };
    });
  };

  test('sampling, elicitation and roots go to the client whose call asked, and its answer goes back', async () => {
    const log: string[] = [];
    const ann = await shim(fixtureUrl, 'ann', caps);
    const zed = await shim(fixtureUrl, 'zed', caps);
    answerAs(ann, 'ann', log);
    answerAs(zed, 'zed', log);
    expect(textOf(await zed.client.callTool({ name: 'sample', arguments: {} }))).toContain('from zed');
    expect(textOf(await ann.client.callTool({ name: 'elicit', arguments: {} }))).toContain('"name":"ann"');
    // Roots are access scope: a global-mode child gets only the roots every session shares (issue
    // 16), here none, however the question reaches it; the shim relayed the bridge's own question.
    expect(JSON.parse(textOf(await zed.client.callTool({ name: 'roots', arguments: {} })))).toEqual({ roots: [] });
    expect(log.filter((l) => !l.startsWith('roots:'))).toEqual(['sampling:zed', 'elicit:ann']);
    expect([...ann.errors, ...zed.errors]).toEqual([]);
  });
});

describe('with server-everything', () => {
  let everything: RunningCli;
  beforeAll(async () => {
    everything = await bridge(0, 'everything', [process.execPath, EVERYTHING, 'stdio']);
    await waitReady(everything);
  });
  afterAll(async () => everything?.stop());

  test('many calls from four clients at once: every reply to the client that asked; progress and sampling routed', async () => {
    const url = `${everything.url}/mcp`;
    const clients = await Promise.all(['e1', 'e2', 'e3', 'e4'].map((n) => shim(url, n, { sampling: {} })));
    let misrouted = 0;
    await Promise.all(
      clients.map(async (s, ci) => {
        await Promise.all(
          Array.from({ length: 25 }, async (_, n) => {
            const message = `c${ci}-n${n}`;
            if (textOf(await s.client.callTool({ name: 'echo', arguments: { message } })) !== `Echo: ${message}`) misrouted++;
          }),
        );
      }),
    );
    expect(misrouted).toBe(0);
    // Progress from the real server, at line level (see the progress test above for why).
    const raws = await Promise.all([1, 2].map(() => rawSession(url)));
    raws.forEach((r) =>
      r.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'trigger-long-running-operation', arguments: { duration: 0.5, steps: 5 }, _meta: { progressToken: 2 } },
      }),
    );
    await Promise.all(raws.map((r) => r.next((m) => m.id === 2, 20000)));
    for (const r of raws) {
      const seen = progressThenResult(r.received, 2);
      expect(seen.progress).toEqual([1, 2, 3, 4, 5]);
      expect(seen.after).toBe(0);
      expect(seen.result).toMatch(/completed/);
      await r.end();
    }
    clients.forEach((s, i) =>
      s.client.setRequestHandler(CreateMessageRequestSchema, async () => ({
        model: 't',
        role: 'assistant',
        content: { type: 'text', text: `answer from e${i + 1}` },
      })),
    );
    expect(textOf(await clients[2].client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } }))).toContain(
      'answer from e3',
    );
    for (const s of clients) expect(s.errors).toEqual([]);
    expect((await everything.status()).misroutedDropped).toBe(0);
  });
});

describe('lifecycle', () => {
  test('the session is deleted when the client closes stdin, and the shim exits', async () => {
    const s = await connectShim(fixtureUrl, { name: 'leaver' });
    await waitFor(async () => (await fixture.status()).sessions['streamable-http'] > 0, 'the session');
    const before = (await fixture.status()).sessions['streamable-http'];
    const exited = new Promise((resolve) => (s.transport.onclose = () => resolve(undefined)));
    await s.close();
    await exited;
    await waitFor(async () => (await fixture.status()).sessions['streamable-http'] === before - 1, 'the session to be deleted');
  });

  test('a registered NAME is resolved through the registry', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcpshare-connect-'));
    try {
      mkdirSync(join(home, '.config', 'mcpshare'), { recursive: true });
      const entry = everythingEntry('fx', fixture.port, { command: process.execPath, args: [FIXTURE] });
      writeFileSync(join(home, '.config', 'mcpshare', 'config.json'), JSON.stringify({ version: 1, servers: { fx: entry } }));
      const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
      const s = await connectShim('fx', { env });
      try {
        expect(textOf(await s.client.callTool({ name: 'echo', arguments: { text: 'by name' } }))).toBe('by name');
      } finally {
        await s.close();
      }
      // A name that is not registered: a clear error for the request and on stderr, not a hang.
      const err = await connectShim('nosuch', { env }).then(
        () => undefined,
        (e: Error & { stderr: string }) => e,
      );
      expect(err?.message).toMatch(/no server named "nosuch" is registered \(registered: fx\)/);
      expect(err?.stderr).toMatch(/no server named "nosuch"/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('a daemon that is not running: the request gets an error that says so, at once with --retry 0', async () => {
    const port = await freePort();
    const raw = rawShim(`http://127.0.0.1:${port}/mcp`, ['--retry', '0']);
    raw.send(initializeMessage(1));
    const reply = await raw.next((m) => m.id === 1);
    expect(reply.error.message).toMatch(new RegExp(`not reachable at http://127.0.0.1:${port}/mcp \\(connection refused\\)`));
    expect(raw.stderr()).toMatch(/cannot reach/);
    expect(await raw.end()).toBe(0);
  });

  test('bad arguments are refused with a usage error', async () => {
    for (const [arg, re] of [
      ['https://127.0.0.1:1/mcp', /plain http/],
      ['http://127.0.0.1:1/sse', /legacy SSE/],
      ['bad name', /invalid server name/],
    ] as const) {
      const raw = rawShim(arg);
      expect(await raw.exited).not.toBe(0);
      expect(raw.stderr()).toMatch(re);
    }
  });
});

describe('a daemon restart mid-session', () => {
  test('the session goes on: calls, subscriptions, log level and the event stream come back; the client sees no error', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/mcp`;
    const states = mkdtempSync(join(tmpdir(), 'mcpshare-connect-state-'));
    let stateDir = join(states, 'first');
    const start = async () => {
      const b = await bridge(port, 'restart', [process.execPath, FIXTURE], ['--state-dir', stateDir]);
      await waitReady(b);
      return b;
    };
    let b = await start();
    const s = await connectShim(url, { name: 'survivor', capabilities: { sampling: {} } });
    try {
      const updates: string[] = [];
      const logs: string[] = [];
      s.client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void updates.push(n.params.uri));
      s.client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void logs.push(String(n.params.data)));
      s.client.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'sampled' } }));
      await s.client.subscribeResource({ uri: 'fixture://a' });
      await s.client.setLoggingLevel('debug');
      await waitFor(async () => {
        await s.client.callTool({ name: 'touch', arguments: { uri: 'fixture://a' } });
        return updates.length > 0;
      }, 'the event stream before the restart');

      // A restart and a crash: the daemon resumes the session itself. Then a daemon that lost its
      // state (its session records gone): the relay opens a new session and restores it.
      for (const how of ['restart (SIGTERM)', 'crash (SIGKILL)', 'state lost']) {
        const firstChild = (await b.status()).child.pid;
        if (how === 'state lost') stateDir = join(states, 'second');
        if (how.includes('SIGKILL')) {
          b.proc.kill('SIGKILL');
          await b.exited;
          // Its child leaves when its stdin closes; the port is free at once.
        } else {
          await b.stop();
        }
        // A call made while the daemon is away completes once it is back.
        const during = s.client.callTool({ name: 'echo', arguments: { text: `during ${how}` } });
        await sleep(300);
        b = await start();
        expect((await b.status()).child.pid).not.toBe(firstChild);
        expect(textOf(await during)).toBe(`during ${how}`);
        expect(textOf(await s.client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
        // The new child got the client's subscription and log level, and one initialize (the bridge's own).
        const stats = await fixtureStats(s.client);
        expect(stats.subscriptions).toEqual(['fixture://a']);
        expect(stats.setLevelCalls).toEqual(['debug']);
        expect(stats.initializeCount).toBe(1);
        // The event stream is back: notifications with no request of their own arrive again.
        updates.length = 0;
        logs.length = 0;
        await waitFor(async () => {
          await s.client.callTool({ name: 'touch', arguments: { uri: 'fixture://a' } });
          await s.client.callTool({ name: 'log', arguments: { level: 'debug', data: 'after-restart' } });
          return updates.length > 0 && logs.includes('after-restart');
        }, `the event stream after the ${how}`);
        expect(textOf(await s.client.callTool({ name: 'sample', arguments: {} }))).toContain('sampled');
        const status = await b.status();
        expect(status.sessions['streamable-http']).toBe(1);
        expect(status.misroutedDropped).toBe(0);
        // Resumed by the daemon, or restored by the relay only when the daemon could not.
        if (how === 'state lost') expect(s.stderr()).toMatch(/restored/);
        else {
          expect(status.idle.resumed).toBe(1);
          expect(s.stderr()).not.toMatch(/restored/);
        }
      }
      expect(s.errors).toEqual([]);
    } finally {
      await s.close();
      await b.stop();
      rmSync(states, { recursive: true, force: true });
    }
  });
});
