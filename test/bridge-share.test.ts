/**
 * Sharing modes (issue 16): a server never reaches further than the sessions it serves asked for.
 * Real @modelcontextprotocol/server-filesystem and server-sequential-thinking behind the real
 * `mcpshare bridge` CLI, real SDK v1 clients that declare roots for their own project directory.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { bridgeArgs, JSON_HEADERS, raw, ROOT, runCli, textOf, type RunningCli } from './helpers/bridge.js';
import { waitFor } from './helpers/wait.js';
import type { BridgeStatus as BridgeStatusJson } from '../src/bridge/status.js';

const FILESYSTEM = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const THINKING = join(ROOT, 'node_modules/@modelcontextprotocol/server-sequential-thinking/dist/index.js');

interface ChildRowJson {
  scope: string;
  label: string;
  roots: string[];
  pid: number | null;
  state: string;
  sessions: number;
}
type ShareStatus = BridgeStatusJson & { share: string; children: ChildRowJson[] };

let base: string;
const dirs: Record<string, string> = {};
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'mcpshare-share-'));
  for (const p of ['alpha', 'beta', 'gamma']) {
    dirs[p] = join(base, p);
    mkdirSync(dirs[p]);
    writeFileSync(join(dirs[p], `${p}.txt`), `secret of ${p}`);
  }
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const open: Client[] = [];
const transportOf = new WeakMap<Client, StreamableHTTPClientTransport | SSEClientTransport>();
/** Ends a session the way a well-behaved client does (DELETE for Streamable HTTP), so the bridge sees it end. */
async function leave(c: Client): Promise<void> {
  const t = transportOf.get(c);
  if (t instanceof StreamableHTTPClientTransport) await t.terminateSession().catch(() => undefined);
  await c.close();
}
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map(leave));
});

/** An SDK client that declares roots (its project directory) unless `dir` is null. */
async function session(url: string, name: string, dir: string | null, o: { kind?: 'http' | 'sse'; headers?: Record<string, string> } = {}): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: dir === null ? {} : { roots: { listChanged: true } } });
  if (dir !== null) client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: pathToFileURL(rootsOf.get(client) ?? dir).href, name }] }));
  const transport =
    o.kind === 'sse'
      ? new SSEClientTransport(new URL(`${url}/sse`))
      : new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: o.headers ?? {} } });
  await client.connect(transport);
  transportOf.set(client, transport);
  open.push(client);
  return client;
}
/** A client's current root, when a test moves it to another directory. */
const rootsOf = new WeakMap<Client, string>();

async function allowed(c: Client): Promise<string[]> {
  const text = textOf(await c.callTool({ name: 'list_allowed_directories', arguments: {} }));
  return text.split('\n').slice(1).filter(Boolean).sort();
}

async function read(c: Client, path: string): Promise<{ ok: boolean; text: string }> {
  const r = (await c.callTool({ name: 'read_text_file', arguments: { path } })) as { isError?: boolean };
  return { ok: !r.isError, text: textOf(r) };
}

const status = async (b: RunningCli) => (await b.status()) as ShareStatus;
const childFor = (s: ShareStatus, dir: string) => s.children.find((c) => c.roots.includes(pathToFileURL(dir).href));

describe('project mode: server-filesystem', () => {
  let b: RunningCli;
  beforeAll(async () => {
    b = await runCli(bridgeArgs([process.execPath, FILESYSTEM], ['--name', 'fs', '--share', 'project']));
  });
  afterAll(async () => {
    await b?.stop();
  });

  test('two projects each see only their own directory; a session of the same project shares its child; a third project gets its own', async () => {
    const a = await session(b.url, 'a', dirs.alpha);
    const bb = await session(b.url, 'b', dirs.beta, { kind: 'sse' });
    expect(await allowed(a)).toEqual([dirs.alpha]);
    expect(await allowed(bb)).toEqual([dirs.beta]);
    const stolen = await read(a, join(dirs.beta, 'beta.txt'));
    expect(stolen.ok).toBe(false);
    expect(stolen.text).toMatch(/Access denied/);
    expect(await read(bb, join(dirs.beta, 'beta.txt'))).toEqual({ ok: true, text: 'secret of beta' });
    expect((await read(bb, join(dirs.alpha, 'alpha.txt'))).ok).toBe(false);

    const a2 = await session(b.url, 'a2', dirs.alpha);
    expect(await allowed(a2)).toEqual([dirs.alpha]);
    const g = await session(b.url, 'g', dirs.gamma);
    expect(await allowed(g)).toEqual([dirs.gamma]);

    const s = await status(b);
    expect(s.share).toBe('project');
    expect(s.children).toHaveLength(3);
    expect(childFor(s, dirs.alpha)).toMatchObject({ scope: 'project', sessions: 2, state: 'ready' });
    expect(childFor(s, dirs.beta)).toMatchObject({ scope: 'project', sessions: 1 });
    expect(childFor(s, dirs.gamma)).toMatchObject({ scope: 'project', sessions: 1 });
    expect(new Set(s.children.map((c) => c.pid)).size).toBe(3);
    expect(s.sessions.total).toBe(4);
    expect(s.warnings).toEqual([]);
  });

  test('a session that declares no roots is placed by its X-Mcpshare-Project header, and without one gets a child of its own', async () => {
    const a = await session(b.url, 'with-roots', dirs.alpha);
    expect(await allowed(a)).toEqual([dirs.alpha]);
    const byHeader = await session(b.url, 'header', null, { headers: { 'X-Mcpshare-Project': dirs.alpha } });
    expect(await allowed(byHeader)).toEqual([dirs.alpha]);
    const s = await status(b);
    expect(childFor(s, dirs.alpha)!.sessions).toBe(2);

    const nowhere = await session(b.url, 'nowhere', null);
    // Its own child, given no roots: server-filesystem started without directories allows none.
    expect(await allowed(nowhere)).toEqual([]);
    expect((await read(nowhere, join(dirs.alpha, 'alpha.txt'))).ok).toBe(false);
    const own = (await status(b)).children.filter((c) => c.scope === 'session');
    expect(own).toHaveLength(1);
    expect(own[0].roots).toEqual([]);
    await leave(nowhere);
    await waitFor(async () => (await status(b)).children.every((c) => c.scope !== 'session'), 'the session child to be reaped');
  });

  test('a session whose roots change moves to the child of its new project', async () => {
    const mover = await session(b.url, 'mover', dirs.alpha);
    expect(await allowed(mover)).toEqual([dirs.alpha]);
    rootsOf.set(mover, dirs.beta);
    await mover.sendRootsListChanged();
    expect(await allowed(mover)).toEqual([dirs.beta]);
    expect((await read(mover, join(dirs.alpha, 'alpha.txt'))).ok).toBe(false);
    expect(b.stderr()).toMatch(/\(mover 1\.0\.0\) moved to the child for project /);
  });

  test("2026-07-28 stateless requests: refused without the project header, served by that project's child with it", async () => {
    const V = '2026-07-28';
    const call = (headers: Record<string, string>) =>
      raw(`${b.url}/mcp`, {
        headers: { ...JSON_HEADERS, 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': 'list_allowed_directories', ...headers },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 's1',
          method: 'tools/call',
          params: {
            name: 'list_allowed_directories',
            arguments: {},
            _meta: {
              'io.modelcontextprotocol/protocolVersion': V,
              'io.modelcontextprotocol/clientCapabilities': {},
              'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
            },
          },
        }),
      });
    const refused = await call({});
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe(-32600);
    expect(refused.json.error.message).toMatch(/X-Mcpshare-Project/);
    const served = await call({ 'x-mcpshare-project': dirs.gamma });
    expect(served.status).toBe(200);
    expect(textOf(served.json.result)).toContain(dirs.gamma);
    expect(textOf(served.json.result)).not.toContain(dirs.alpha);

    // Discovery without the header offers sessions only, so a client that can fall back opens one.
    const discover = (headers: Record<string, string>) =>
      raw(`${b.url}/mcp`, {
        headers: { ...JSON_HEADERS, 'mcp-protocol-version': V, 'mcp-method': 'server/discover', ...headers },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 'd',
          method: 'server/discover',
          params: { _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} } },
        }),
      });
    const plain = await discover({});
    expect(plain.json.result.supportedVersions).not.toContain(V);
    expect(plain.json.result.supportedVersions).toContain('2025-11-25');
    expect((await discover({ 'x-mcpshare-project': dirs.gamma })).json.result.supportedVersions).toContain(V);
  });
});

describe('project mode: idle children', () => {
  let b: RunningCli;
  beforeAll(async () => {
    b = await runCli(bridgeArgs([process.execPath, FILESYSTEM], ['--name', 'fs-idle', '--share', 'project', '--child-idle-timeout', '1']));
  });
  afterAll(async () => {
    await b?.stop();
  });

  test('an idle child is stopped, and comes back on the next request with the same reach', async () => {
    const a = await session(b.url, 'idle-a', dirs.alpha);
    expect(await allowed(a)).toEqual([dirs.alpha]);
    const before = childFor(await status(b), dirs.alpha)!;
    const stopped = await waitFor(async () => {
      const c = childFor(await status(b), dirs.alpha);
      // Asleep, not stopped: the daemon still serves its project, and the next request wakes it.
      return c?.state === 'idle' ? c : undefined;
    }, 'the idle child to fall asleep');
    expect(stopped.pid).toBeNull();
    expect(await allowed(a)).toEqual([dirs.alpha]);
    expect((await read(a, join(dirs.beta, 'beta.txt'))).ok).toBe(false);
    const after = childFor(await status(b), dirs.alpha)!;
    expect(after.state).toBe('ready');
    expect(after.pid).not.toBe(before.pid);
  });
});

describe('global mode: server-filesystem', () => {
  let b: RunningCli;
  beforeAll(async () => {
    b = await runCli(bridgeArgs([process.execPath, FILESYSTEM], ['--name', 'fs-global']));
  });
  afterAll(async () => {
    await b?.stop();
  });

  test('two sessions with different roots never see a directory only the other declared', async () => {
    const a = await session(b.url, 'ga', dirs.alpha);
    // Alone, the session's roots are the ones every session shares.
    expect(await allowed(a)).toEqual([dirs.alpha]);
    const pidAlone = (await status(b)).child.pid;
    const bb = await session(b.url, 'gb', dirs.beta);
    expect(await allowed(bb)).toEqual([]);
    expect((await read(bb, join(dirs.alpha, 'alpha.txt'))).ok).toBe(false);
    expect(await allowed(a)).toEqual([]);
    expect((await read(a, join(dirs.beta, 'beta.txt'))).ok).toBe(false);
    const s = await status(b);
    // The child that held alpha was replaced, not told to forget it.
    expect(s.child.pid).not.toBe(pidAlone);
    expect(s.share).toBe('global');
    expect(s.children).toHaveLength(1);
    expect(s.warnings.join(' ')).toMatch(/asks clients for their roots.*global mode.*--share project/);
  });

  test('a session that declares no roots shares none with the others', async () => {
    const a = await session(b.url, 'gc', dirs.gamma);
    const bare = await session(b.url, 'bare', null);
    expect(await allowed(bare)).toEqual([]);
    expect((await read(bare, join(dirs.gamma, 'gamma.txt'))).ok).toBe(false);
    expect(await allowed(a)).toEqual([]);
  });
});

describe('session mode: server-sequential-thinking', () => {
  let b: RunningCli;
  beforeAll(async () => {
    b = await runCli(bridgeArgs([process.execPath, THINKING], ['--name', 'thinking', '--share', 'session']), { DISABLE_THOUGHT_LOGGING: 'true' });
  });
  afterAll(async () => {
    await b?.stop();
  });

  const think = async (c: Client, n: number) =>
    JSON.parse(
      textOf(
        await c.callTool({ name: 'sequentialthinking', arguments: { thought: `step ${n}`, thoughtNumber: n, totalThoughts: 3, nextThoughtNeeded: true } }),
      ),
    ) as { thoughtHistoryLength: number };

  test('each session has its own thought history, and its child ends with it', async () => {
    const one = await session(b.url, 'one', null);
    const two = await session(b.url, 'two', null, { kind: 'sse' });
    expect((await think(one, 1)).thoughtHistoryLength).toBe(1);
    expect((await think(one, 2)).thoughtHistoryLength).toBe(2);
    expect((await think(two, 1)).thoughtHistoryLength).toBe(1);
    const s = await status(b);
    expect(s.share).toBe('session');
    expect(s.children.map((c) => c.scope)).toEqual(['session', 'session']);
    expect(s.children.every((c) => c.sessions === 1)).toBe(true);
    await leave(one);
    await waitFor(async () => (await status(b)).children.length === 1, "the ended session's child to be reaped");
    expect((await think(two, 2)).thoughtHistoryLength).toBe(2);
  });
});
