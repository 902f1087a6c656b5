/**
 * Many real SDK clients, over both transports at once, against one real server-everything behind
 * the bridge: nothing misrouted, progress complete and ordered, server requests to the right client.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { bridgeArgs, connect, disconnect, EVERYTHING, runCli, textOf, waitReady, type Kind, type RunningCli } from './helpers/bridge.js';
import { sleep } from './helpers/wait.js';

let b: RunningCli;
beforeAll(async () => {
  b = await runCli(bridgeArgs([process.execPath, EVERYTHING, 'stdio'], ['--name', 'everything']));
  await waitReady(b);
});
afterAll(async () => b?.stop());

/** Runs `total` calls with at most `width` in flight. */
async function pool(total: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < total) await task(next++);
    }),
  );
}

describe('routing with 10 Streamable HTTP and 10 SSE sessions at once', () => {
  test('every reply reaches the client that asked, with its own id', async () => {
    const kinds: Kind[] = [...Array(10).fill('http'), ...Array(10).fill('sse')];
    const clients = await Promise.all(kinds.map((k, i) => connect(b.url, k, `client-${i}`)));
    const errors: Error[] = [];
    clients.forEach((c) => (c.onerror = (e) => errors.push(e)));
    let misrouted = 0;
    let calls = 0;
    await Promise.all(
      clients.map((client, ci) =>
        pool(40, 4, async (n) => {
          const message = `c${ci}-n${n}-${kinds[ci]}`;
          const result = await client.callTool({ name: 'echo', arguments: { message } });
          calls++;
          if (textOf(result) !== `Echo: ${message}`) misrouted++;
        }),
      ),
    );
    expect(calls).toBe(800);
    expect(misrouted).toBe(0);
    expect(errors).toEqual([]);
    const status = await b.status();
    expect(status.sessions['streamable-http']).toBe(10);
    expect(status.sessions.sse).toBe(10);
    expect(status.misroutedDropped).toBe(0);
    await Promise.all(clients.map(disconnect));
  });

  test('progress: every update, in order, before its own result, for many clients with the same token values', async () => {
    const clients = await Promise.all(['http', 'sse', 'http', 'sse', 'http', 'sse'].map((k, i) => connect(b.url, k as Kind, `progress-${i}`)));
    const errors: Error[] = [];
    clients.forEach((c) => (c.onerror = (e) => errors.push(e)));
    const runs = await Promise.all(
      clients.map(async (client) => {
        const seen: number[] = [];
        let resolved = false;
        let lateProgress = 0;
        // Every SDK client uses its request id as progress token: the same values in every session.
        await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.5, steps: 5 } }, undefined, {
          onprogress: (p) => {
            if (resolved) lateProgress++;
            seen.push(p.progress);
          },
        });
        resolved = true;
        return { seen, lateProgress };
      }),
    );
    for (const r of runs) {
      expect(r.seen).toEqual([1, 2, 3, 4, 5]);
      expect(r.lateProgress).toBe(0);
    }
    expect(errors).toEqual([]);
    await Promise.all(clients.map(disconnect));
  });

  test('sampling goes to the session whose call asked for it, never to another', async () => {
    const calls: string[] = [];
    const mk = async (name: string, kind: Kind) => {
      const c = await connect(b.url, kind, name, { sampling: {} });
      c.setRequestHandler(CreateMessageRequestSchema, async () => {
        calls.push(name);
        return { model: 'test', role: 'assistant', content: { type: 'text', text: `answer from ${name}` } };
      });
      return c;
    };
    const a = await mk('alice', 'http');
    const bob = await mk('bob', 'sse');
    const ra = textOf(await a.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } }));
    expect(ra).toContain('answer from alice');
    const rb = textOf(await bob.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } }));
    expect(rb).toContain('answer from bob');
    expect(calls).toEqual(['alice', 'bob']);
    await disconnect(a);
    await disconnect(bob);
  });

  test('a second client never disturbs the first (the "Already connected to a transport" crash)', async () => {
    const first = await connect(b.url, 'http', 'first');
    const second = await connect(b.url, 'http', 'second');
    const sse = await connect(b.url, 'sse', 'third');
    for (const [i, c] of [first, second, sse].entries()) {
      expect(textOf(await c.callTool({ name: 'get-sum', arguments: { a: i, b: 10 } }))).toContain(String(i + 10));
    }
    const before = await b.status();
    await disconnect(first);
    const fourth = await connect(b.url, 'http', 'fourth');
    expect(textOf(await second.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe('Echo: still here');
    expect(textOf(await fourth.callTool({ name: 'echo', arguments: { message: 'new' } }))).toBe('Echo: new');
    const after = await b.status();
    expect(after.pid).toBe(before.pid);
    expect(after.child.pid).toBe(before.child.pid);
    expect(after.child.restarts).toBe(0);
    await Promise.all([second, sse, fourth].map((c: Client) => disconnect(c)));
  });

  test('closed sessions are released', async () => {
    const clients = await Promise.all([connect(b.url, 'http'), connect(b.url, 'sse')]);
    await Promise.all(clients.map(disconnect));
    const deadline = Date.now() + 5000;
    let total = -1;
    while (Date.now() < deadline) {
      total = (await b.status()).sessions.total;
      if (total === 0) break;
      await sleep(50);
    }
    expect(total).toBe(0);
  });
});
