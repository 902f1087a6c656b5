/**
 * Daemons that cost nothing when idle (issue 13): the real `mcpshare bridge` CLI with --lazy and
 * --idle-stop in front of real servers. The child starts only when a request needs it; initialize,
 * server/discover and list requests are answered from the discovery snapshot while it sleeps; it
 * stops after the idle time (sessions stay) and the next call starts it again; a changed server
 * tells its sessions; crash loops of a lazily started child end the bridge as before.
 */
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { BridgeStatus } from '../src/bridge/status.js';
import { bridgeArgs, connect, EVERYTHING, FIXTURE, JSON_HEADERS, runCli, startedPids, textOf, type RunningCli } from './helpers/bridge.js';
import { freePort } from './helpers/ports.js';
import { alive as isAlive, killLeftovers } from './helpers/procs.js';
import { measured, printMeasured } from './helpers/soak.js';
import { sleep, waitFor } from './helpers/wait.js';

const CALL = { timeout: 15_000 };
const bridges: RunningCli[] = [];
const clients: Client[] = [];
const dirs: string[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'mcpshare-idle-'));
  dirs.push(d);
  return d;
}

async function bridge(command: string[], port: number, stateDir: string, extra: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningCli> {
  const args = bridgeArgs(command, ['--state-dir', stateDir, ...extra]);
  args[args.indexOf('--port') + 1] = String(port);
  const b = await runCli(args, env);
  bridges.push(b);
  return b;
}

async function client(b: RunningCli, name: string): Promise<Client> {
  const c = await connect(b.url, 'http', name);
  clients.push(c);
  return c;
}

type IdleStatus = BridgeStatus & {
  child: BridgeStatus['child'] & { memory: { bytes: number; kind: string } | null };
  idle: { lazy: boolean; idleStopSec: number | null; idleStops: number; snapshot: { tools: number | null } | null };
};
const status = async (b: RunningCli) => (await b.status()) as IdleStatus;
const childPids = (b: RunningCli) => startedPids(b.stderr());

afterEach(async () => {
  if (process.env.H13_DEBUG) for (const b of bridges) console.log(b.stderr());
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  const stopping = bridges.splice(0);
  await Promise.allSettled(stopping.map((b) => b.stop()));
  for (const b of stopping) for (const pid of childPids(b)) killLeftovers(pid, ['fixture-server.mjs', 'server-everything']);
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  printMeasured('bridge idle');
});

describe('lazy start and idle stop with server-everything', () => {
  test('a first start takes the snapshot; asleep after the idle time (memory 0, process gone); the snapshot answers initialize, lists and server/discover meanwhile; a call starts it again; after a bridge restart no child until a request needs one', async () => {
    const port = await freePort();
    const state = tmp();
    const EV = [process.execPath, EVERYTHING, 'stdio'];
    const flags = ['--lazy', '--idle-stop', '1'];
    let b = await bridge(EV, port, state, flags);
    // No snapshot yet: the server starts once to take one (and to prove that it starts).
    await waitFor(async () => (await status(b)).idle.snapshot !== null, 'the first snapshot', 15_000);
    let st = await status(b);
    expect(st.idle).toMatchObject({ lazy: true, idleStopSec: 1 });
    const tools = Array.from({ length: st.idle.snapshot!.tools! });
    const first = await client(b, 'first');
    const firstPid = (await status(b)).child.pid ?? childPids(b)[0];
    expect((await first.listTools(undefined, CALL)).tools.length).toBe(tools.length);

    // Unused: the child stops, the session stays.
    await waitFor(async () => (await status(b)).child.state === 'idle', 'the child to go to sleep', 10_000);
    st = await status(b);
    expect(st.child).toMatchObject({ pid: null, memory: { bytes: 0 } });
    expect(st.idle.idleStops).toBe(1);
    expect(st.sessions.total).toBe(1);
    await waitFor(() => !isAlive(firstPid), 'the child process to be gone', 5000);

    // Asleep: a new client initializes and lists everything; nobody starts the child.
    const second = await client(b, 'second');
    const names = (await second.listTools(undefined, CALL)).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names.length).toBe(tools.length);
    expect((await second.listPrompts(undefined, CALL)).prompts.length).toBeGreaterThan(0);
    expect((await second.listResources(undefined, CALL)).resources.length).toBeGreaterThan(0);
    expect((await second.listResourceTemplates(undefined, CALL)).resourceTemplates.length).toBeGreaterThan(0);
    const discover = await fetch(`${b.url}/mcp`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'server/discover',
        params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
      }),
    });
    expect(discover.status).toBe(200);
    expect((await discover.json()).result.capabilities.tools).toBeDefined();
    st = await status(b);
    expect(st.child.state).toBe('idle');
    expect(st.sessions.total).toBe(2);

    // A call starts the child again, for the old session as for the new one.
    let t = Date.now();
    expect(textOf(await first.callTool({ name: 'echo', arguments: { message: 'cold' } }, undefined, CALL))).toBe('Echo: cold');
    measured('first call after idle (cold, server-everything)', Date.now() - t, 'ms');
    t = Date.now();
    expect(textOf(await second.callTool({ name: 'echo', arguments: { message: 'warm' } }, undefined, CALL))).toBe('Echo: warm');
    measured('next call (warm)', Date.now() - t, 'ms');
    expect((await status(b)).child.state).toBe('ready');

    // A bridge restart (SIGTERM): with the snapshot on disk, no child at all until a call.
    await b.stop();
    b = await bridge(EV, port, state, flags);
    st = await status(b);
    expect(st.child).toMatchObject({ state: 'idle', pid: null, memory: { bytes: 0 } });
    expect(st.idle.snapshot?.tools).toBe(tools.length);
    const third = await client(b, 'third');
    expect((await third.listTools(undefined, CALL)).tools.map((t) => t.name)).toEqual(names);
    expect((await status(b)).child.state).toBe('idle');
    expect(childPids(b)).toEqual([]);
    // The first session, resumed, starts the child with its call.
    expect(textOf(await first.callTool({ name: 'echo', arguments: { message: 'resumed' } }, undefined, CALL))).toBe('Echo: resumed');
    expect(b.stderr()).toMatch(/\(first 1\.0\.0\) resumed/);
  });

  test('the child is kept while a call runs or a subscription is held, and stops once neither is left', async () => {
    const port = await freePort();
    const b = await bridge([process.execPath, FIXTURE], port, tmp(), ['--lazy', '--idle-stop', '1']);
    const c = await client(b, 'holder');
    // A call three times the idle time: the child is the same one before and after it.
    const call = c.callTool({ name: 'echo', arguments: { text: 'slow', delayMs: 3000 } }, undefined, CALL);
    await waitFor(async () => (await status(b)).requests.inFlight === 1, 'the call in flight');
    const pid = (await status(b)).child.pid;
    expect(textOf(await call)).toBe('slow');
    expect((await status(b)).child).toMatchObject({ state: 'ready', pid });
    // A subscription holds it too.
    await c.subscribeResource({ uri: 'fixture://a' }, CALL);
    const held = (await status(b)).child.pid;
    await sleep(3000);
    expect((await status(b)).child).toMatchObject({ state: 'ready', pid: held });
    await c.unsubscribeResource({ uri: 'fixture://a' }, CALL);
    await waitFor(async () => (await status(b)).child.state === 'idle', 'the child to sleep once the subscription is gone', 10_000);
  });
});

describe('the discovery snapshot', () => {
  test('a server whose tools changed since the snapshot: sessions get tools/list_changed when the child starts, and then the new list', async () => {
    const port = await freePort();
    const state = tmp();
    const FIX = [process.execPath, FIXTURE];
    let b = await bridge(FIX, port, state, ['--lazy']);
    await waitFor(async () => (await status(b)).idle.snapshot !== null, 'the first snapshot');
    const c = new Client({ name: 'watcher', version: '1.0.0' });
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    await c.connect(new StreamableHTTPClientTransport(new URL(`${b.url}/mcp`)));
    clients.push(c);
    const before = (await c.listTools(undefined, CALL)).tools.map((t) => t.name);
    expect(before).not.toContain('extra');
    await waitFor(async () => (await status(b)).idle.snapshot !== null, 'the snapshot');
    await sleep(1200); // the session's record reaches the disk

    // The same server, upgraded: a new bridge answers from the old snapshot until the child runs.
    await b.stop();
    b = await bridge(FIX, port, state, ['--lazy'], { FIXTURE_EXTRA_TOOL: '1' });
    expect((await c.listTools(undefined, CALL)).tools.map((t) => t.name)).toEqual(before);
    expect((await status(b)).child.state).toBe('idle');
    expect(changed).toBe(0);
    // A call starts it; the fresh lists differ, so the session is told, on its GET stream.
    expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'go' } }, undefined, CALL))).toBe('go');
    await waitFor(() => changed === 1, 'tools/list_changed after the changed server started', 10_000);
    expect((await c.listTools(undefined, CALL)).tools.map((t) => t.name)).toContain('extra');
    expect(b.stderr()).toMatch(/changed since the last snapshot/);
  });
});

describe('crash loops of a lazily started child', () => {
  test('a server broken since its snapshot: the bridge waits idle and answers discovery, the first call starts it, and the crash loop ends the bridge with exit code 1 as before', async () => {
    const port = await freePort();
    const state = tmp();
    const good = await bridge([process.execPath, FIXTURE], port, state, ['--lazy']);
    await waitFor(async () => (await status(good)).idle.snapshot !== null, 'the first snapshot');
    await good.stop();
    const b = await bridge([process.execPath, FIXTURE], port, state, ['--lazy', '--restart-limit', '2'], { FIXTURE_EXIT_AT_START: '3' });
    expect((await status(b)).child.state).toBe('idle');
    const c = await client(b, 'victim');
    expect((await c.listTools(undefined, CALL)).tools.length).toBeGreaterThan(0);
    expect(b.proc.exitCode).toBeNull(); // nothing started, nothing crashed
    const r = await c.callTool({ name: 'echo', arguments: { text: 'x' } }, undefined, CALL).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    expect(r).toMatch(/crash loop|exited with code 3|keeps crashing|restarted/);
    const exit = await b.exited;
    expect(exit.code).toBe(1);
    expect(b.stderr()).toMatch(/crash loop: the MCP server stopped 2 times/);
  });
});
