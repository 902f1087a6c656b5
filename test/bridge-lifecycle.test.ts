/**
 * The child's life and death behind the real `mcpshare bridge` CLI, with real processes: kill -9 and
 * crashes with calls in flight on HTTP and SSE sessions, restart with replayed subscriptions and log
 * level, crash loops and a child that never answers initialize (the bridge exits non-zero for its
 * supervisor), junk on the child's stdout, the child's process group on stop, idle-session release,
 * and SIGTERM.
 *
 * Timings are measured and printed (for the report), but only asserted loosely: timing targets
 * belong to the benchmarks. A hang is caught by a 10 s client-side timeout instead of Jest's.
 */
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  BridgesAndClients,
  disconnect,
  FIXTURE,
  fixtureStats,
  startedPids,
  textOf,
  waitReady,
  waitRestarted as waitRestartedWithin,
  type RunningCli,
} from './helpers/bridge.js';
import { settle } from './helpers/soak.js';
import { sleep, waitFor } from './helpers/wait.js';
import { alive, groupMembers, procStat } from './helpers/procs.js';

/** Client-side timeout for every call that might hang: well under Jest's, well over any expectation. */
const CALL_TIMEOUT_MS = 10_000;
const CALL = { timeout: CALL_TIMEOUT_MS };

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: every bridge and client started here is cleaned up after each test.
// ---------------------------------------------------------------------------------------------

const timings: Record<string, number | string> = {};
let tmp: string | undefined;

/** Command-line marks of what this file starts: SIGKILL after a failed test touches only these. */
const OUR_PROCESSES = ['fixture-server.mjs', 'mcpshare-lifecycle-', "process.on('SIGTERM'"];
const started = new BridgesAndClients(OUR_PROCESSES);
const { bridge, client } = started;

// Whatever a failed test left behind: no process of a child's group may outlive its test.
afterEach(() => started.cleanup());

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  console.log(`bridge lifecycle timings (ms):\n${JSON.stringify(timings, null, 2)}`);
});

// ---------------------------------------------------------------------------------------------
// Call helpers
// ---------------------------------------------------------------------------------------------

/** Counts notifications/tools/list_changed per client. */
function countListChanged(list: Client[]): Map<Client, number> {
  const counts = new Map<Client, number>(list.map((c) => [c, 0]));
  for (const c of list) c.setNotificationHandler(ToolListChangedNotificationSchema, () => void counts.set(c, counts.get(c)! + 1));
  return counts;
}

async function echo(c: Client, text: string): Promise<string> {
  return textOf(await c.callTool({ name: 'echo', arguments: { text } }, undefined, CALL));
}

/** Waits until the child is ready again with a pid other than `oldPid`. */
const waitRestarted = (b: RunningCli, oldPid: number) => waitRestartedWithin(b, oldPid, CALL_TIMEOUT_MS);

// ---------------------------------------------------------------------------------------------
// Child death with calls in flight
// ---------------------------------------------------------------------------------------------

describe('child death with calls in flight', () => {
  test('kill -9: every in-flight call gets an error at once, the same sessions keep working, settings are replayed', async () => {
    const b = await bridge([]);
    const before = await waitReady(b);
    const oldPid = before.child.pid!;
    const http = await client(b, 'http', 'http-client');
    const sse = await client(b, 'sse', 'sse-client');
    const quiet = await client(b, 'http', 'quiet-client');
    const listChanged = countListChanged([http, sse, quiet]);
    const updates: string[] = [];
    http.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    const sseLogs: string[] = [];
    sse.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void sseLogs.push(`${n.params.level}:${String(n.params.data)}`));

    await http.subscribeResource({ uri: 'fixture://a' }, CALL);
    await sse.setLoggingLevel('debug', CALL);
    const statsBefore = await fixtureStats(http);
    expect(statsBefore.pid).toBe(oldPid);
    expect(statsBefore.subscriptions).toEqual(['fixture://a']);
    expect(statsBefore.setLevelCalls).toEqual(['debug']);

    const inflight = [
      settle(http.callTool({ name: 'hang', arguments: {} }, undefined, CALL)),
      settle(http.callTool({ name: 'echo', arguments: { text: 'slow', delayMs: 30_000 } }, undefined, CALL)),
      settle(sse.callTool({ name: 'hang', arguments: {} }, undefined, CALL)),
      settle(sse.callTool({ name: 'echo', arguments: { text: 'slow', delayMs: 30_000 } }, undefined, CALL)),
    ];
    await waitFor(async () => (await b.status()).requests.inFlight === 4, 'four calls in flight');

    const killedAt = Date.now();
    process.kill(oldPid, 'SIGKILL');
    const results = await Promise.all(inflight);
    const worst = Math.max(...results.map((r) => r.at - killedAt));
    timings['kill -9 → last in-flight error'] = worst;
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(r.error!.message).toMatch(/killed by SIGKILL|exited/);
      expect(r.error!.message).toMatch(/restart/);
      expect(r.error!.message).not.toMatch(/timed out/i);
    }
    // Far from the client timeout: the error comes from the bridge, not from waiting.
    expect(worst).toBeLessThan(CALL_TIMEOUT_MS / 2);

    const after = await waitRestarted(b, oldPid);
    timings['kill -9 → child ready again (/status)'] = Date.now() - killedAt;
    expect(after.child.restarts).toBe(1);
    expect(after.child.lastExit?.reason).toMatch(/SIGKILL/);
    expect(after.sessions.total).toBe(3);
    await waitFor(() => !alive(oldPid), 'the old child to be gone', 5000);

    // The same sessions, no re-initialize: the next call works.
    const firstCallAt = Date.now();
    expect(await echo(http, 'after-http')).toBe('after-http');
    timings['first call after restart (HTTP)'] = Date.now() - firstCallAt;
    expect(await echo(sse, 'after-sse')).toBe('after-sse');
    expect(await echo(quiet, 'after-quiet')).toBe('after-quiet');

    // Every connected session is told to refresh its tools (sent after the replay).
    await waitFor(() => [...listChanged.values()].every((n) => n >= 1), 'tools/list_changed on every session', 5000);

    // Subscription and log level were replayed on the new process, once.
    const statsAfter = await fixtureStats(sse);
    expect(statsAfter.pid).toBe(after.child.pid);
    expect(statsAfter.pid).not.toBe(oldPid);
    expect(statsAfter.initializeCount).toBe(1);
    expect(statsAfter.subscriptions).toEqual(['fixture://a']);
    expect(statsAfter.setLevelCalls).toEqual(['debug']);
    expect(statsAfter.nonIntegerIds).toBe(0);

    // ...and they actually work: the subscriber gets updates, the debug-level session gets debug logs.
    await http.callTool({ name: 'touch', arguments: { uri: 'fixture://a' } }, undefined, CALL);
    await sse.callTool({ name: 'log', arguments: { level: 'debug', data: 'after restart' } }, undefined, CALL);
    await waitFor(() => updates.includes('fixture://a'), 'resources/updated after restart', 5000);
    await waitFor(() => sseLogs.includes('debug:after restart'), 'debug log after restart', 5000);

    const final = await b.status();
    expect(final.child.restarts).toBe(1);
    expect(final.requests.inFlight).toBe(0);
    expect(b.proc.exitCode).toBeNull();
  });

  test('the child exits mid-call (crash tool): the call and the others in flight get an error, then the sessions work', async () => {
    const b = await bridge([]);
    const before = await waitReady(b);
    const oldPid = before.child.pid!;
    const http = await client(b, 'http', 'http-client');
    const sse = await client(b, 'sse', 'sse-client');
    const listChanged = countListChanged([http, sse]);
    // The other way round from the kill -9 test: SSE subscribes, HTTP sets the level.
    await sse.subscribeResource({ uri: 'fixture://b' }, CALL);
    await http.setLoggingLevel('notice', CALL);

    const slow = [
      settle(sse.callTool({ name: 'hang', arguments: {} }, undefined, CALL)),
      settle(http.callTool({ name: 'echo', arguments: { text: 'slow', delayMs: 30_000 } }, undefined, CALL)),
    ];
    await waitFor(async () => (await b.status()).requests.inFlight === 2, 'two calls in flight');
    const crashedAt = Date.now();
    const crash = await settle(http.callTool({ name: 'crash', arguments: { code: 3 } }, undefined, CALL));
    const results = [crash, ...(await Promise.all(slow))];
    timings['crash → last in-flight error'] = Math.max(...results.map((r) => r.at - crashedAt));
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(r.error!.message).toMatch(/exited with code 3/);
      expect(r.error!.message).toMatch(/restart/);
    }
    expect(Math.max(...results.map((r) => r.at - crashedAt))).toBeLessThan(CALL_TIMEOUT_MS / 2);

    // Calls made while it restarts wait for the new child instead of failing.
    expect(await echo(sse, 'next-sse')).toBe('next-sse');
    expect(await echo(http, 'next-http')).toBe('next-http');
    const after = await b.status();
    expect(after.child.restarts).toBe(1);
    expect(after.child.pid).not.toBe(oldPid);
    expect(after.child.lastExit?.reason).toMatch(/code 3/);
    expect(b.stderr()).toContain('fixture: crashing as asked');
    await waitFor(() => !alive(oldPid), 'the old child to be gone', 5000);

    await waitFor(() => [...listChanged.values()].every((n) => n >= 1), 'tools/list_changed on every session', 5000);
    const stats = await fixtureStats(http);
    expect(stats.pid).toBe(after.child.pid);
    expect(stats.subscriptions).toEqual(['fixture://b']);
    expect(stats.setLevelCalls).toEqual(['notice']);
  });
});

// ---------------------------------------------------------------------------------------------
// Giving up: the bridge exits non-zero so systemd/launchd see the crash loop
// ---------------------------------------------------------------------------------------------

describe('giving up', () => {
  test('crash loop: exit code 1 with the exit code and last stderr; a client connecting meanwhile gets an error', async () => {
    const b = await bridge(['--restart-limit', '3'], { FIXTURE_EXIT_AT_START: '3' });
    const startedAt = Date.now();
    // A client that connects while the child keeps dying: an error (from the bridge, or a refused
    // connection once it has exited), never a hang.
    const early = new Client({ name: 'early', version: '1.0.0' });
    const attempt = await settle(early.connect(new StreamableHTTPClientTransport(new URL(`${b.url}/mcp`)), CALL));
    timings['crash loop: client connect → error'] = attempt.at - startedAt;
    await early.close().catch(() => undefined);
    expect(attempt.ok).toBe(false);
    // It asked while the bridge was still up (giving up takes ≥ 750 ms of backoff): the bridge's answer.
    expect(attempt.error!.message).toMatch(/crash loop/);
    expect(attempt.error!.message).not.toMatch(/timed out/i);
    expect(attempt.at - startedAt).toBeLessThan(CALL_TIMEOUT_MS / 2);

    const exit = await b.exited;
    timings['crash loop: start → bridge exit'] = Date.now() - startedAt;
    expect(exit.code).toBe(1);
    const err = b.stderr();
    expect(err).toMatch(/crash loop/);
    expect(err).toMatch(/stopped 3 times/);
    expect(err).toMatch(/exited with code 3/);
    expect(err).toContain('fixture: exiting at start as asked');
    // The final message (the one a supervisor's journal shows last) carries it all.
    const last = err.trim().split('\n').pop()!;
    expect(last).toMatch(/^mcpshare: crash loop.*code 3.*fixture: exiting at start as asked/);
    // Three tries, and no process of any try left behind.
    const pids = startedPids(b.stderr());
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  test('a child that never answers initialize: a clear error, then the bridge exits non-zero', async () => {
    const b = await bridge(['--init-timeout', '1', '--restart-limit', '2'], { FIXTURE_HANG_INIT: '1' });
    const startedAt = Date.now();
    const status = await b.status();
    expect(status.child.state).toMatch(/^(starting|restarting)$/);
    const exit = await b.exited;
    timings['hang init (1 s × 2 tries): start → bridge exit'] = Date.now() - startedAt;
    expect(exit.code).not.toBe(0);
    expect(exit.code).toBe(1);
    const err = b.stderr();
    expect(err).toMatch(/did not answer initialize within 1 s/);
    expect(err).toMatch(/mcpshare: crash loop.*did not answer initialize/);
    // Each hung child was killed, not leaked.
    const pids = startedPids(b.stderr());
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Junk on stdout
// ---------------------------------------------------------------------------------------------

describe('junk on the child stdout', () => {
  test('a banner and junk lines are logged and skipped; calls keep working', async () => {
    const b = await bridge([], { FIXTURE_BANNER: '1' });
    const ready = await waitReady(b);
    const c = await client(b, 'http', 'junk-client');
    expect(await echo(c, 'one')).toBe('one');
    expect(textOf(await c.callTool({ name: 'junk', arguments: {} }, undefined, CALL))).toBe('junk written');
    expect(await echo(c, 'two')).toBe('two');
    const sse = await client(b, 'sse', 'junk-sse');
    expect(await echo(sse, 'three')).toBe('three');
    await waitFor(() => (b.stderr().match(/ignored a line on the child's stdout/g) ?? []).length >= 3, 'three ignored lines in the log', 5000);
    const err = b.stderr();
    // The log says which line it ignored, so a person can find what printed it.
    expect(err).toContain('this line is not JSON');
    expect(err).toContain('this is not json');
    expect(err).toContain('not a jsonrpc message');
    const s = await b.status();
    expect(s.child.restarts).toBe(0);
    expect(s.child.pid).toBe(ready.child.pid);
    expect(s.misroutedDropped).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Process group
// ---------------------------------------------------------------------------------------------

/**
 * An npx-style launcher: `wrapper.mjs SERVER [hold-stdout]` starts the real server as a grandchild
 * sharing its stdio and exits when the server exits. It also starts a helper that ignores SIGTERM
 * (so only a group SIGKILL ends it); with "hold-stdout" that helper keeps the launcher's stdout
 * open too, like a stray grandchild that would stop the bridge from ever seeing the pipes close.
 */
function wrapperScript(): string {
  tmp ??= mkdtempSync(join(tmpdir(), 'mcpshare-lifecycle-'));
  const path = join(tmp, 'wrapper.mjs');
  if (!existsSync(path)) {
    writeFileSync(
      path,
      `import { spawn } from 'node:child_process';
const hold = process.argv[3] === 'hold-stdout';
spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], {
  stdio: hold ? ['ignore', 'inherit', 'ignore'] : 'ignore',
});
const server = spawn(process.execPath, [process.argv[2]], { stdio: 'inherit' });
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
`,
    );
  }
  return path;
}

describe('process group', () => {
  test('SIGTERM to the bridge: exit code 0, and no process of the child group survives (npx-style grandchildren)', async () => {
    const b = await bridge([], {}, [process.execPath, wrapperScript(), FIXTURE]);
    const ready = await waitReady(b);
    const leader = ready.child.pid!;
    const c = await client(b, 'http', 'group-client');
    const sse = await client(b, 'sse', 'group-sse');
    const server = (await fixtureStats(c)).pid as number;
    expect(server).not.toBe(leader); // the server really is a grandchild
    expect(procStat(server)?.pgrp).toBe(leader);
    // Whether launcher, server and the SIGTERM-ignoring helper are all in the child's own group.
    const members = await waitFor(() => (groupMembers(leader).length >= 3 ? groupMembers(leader) : undefined), 'three group members');
    expect(members).toEqual(expect.arrayContaining([leader, server]));
    expect(procStat(b.proc.pid!)?.pgrp).not.toBe(leader);
    const pending = settle(sse.callTool({ name: 'hang', arguments: {} }, undefined, CALL));
    const pendingHttp = settle(c.callTool({ name: 'hang', arguments: {} }, undefined, CALL));
    await waitFor(async () => (await b.status()).requests.inFlight >= 2, 'both hanging calls in flight');

    const termAt = Date.now();
    b.proc.kill('SIGTERM');
    const exit = await b.exited;
    timings['SIGTERM (with a SIGTERM-ignoring grandchild) → bridge exit'] = Date.now() - termAt;
    expect(exit.code).toBe(0);
    expect(b.stderr()).toMatch(/SIGTERM received: stopping/);
    await waitFor(() => groupMembers(leader).length === 0, 'the child process group to be empty', 3000).catch(() => undefined);
    expect(groupMembers(leader)).toEqual([]);
    expect(alive(server)).toBe(false);
    // The call in flight ended (with an error or a closed stream), it did not hang.
    const r = await pending;
    expect(r.at - termAt).toBeLessThan(CALL_TIMEOUT_MS / 2);
    expect(r.ok).toBe(false);
    // Over Streamable HTTP a closed stream alone would leave the SDK client waiting for its timeout:
    // the bridge answers in-flight calls with an error before it closes the sessions.
    const h = await pendingHttp;
    expect(h.ok).toBe(false);
    expect(h.error?.message).toMatch(/shutting down/);
  });

  test('the launcher dies (kill -9) while a grandchild still holds its stdout: calls get an error, the group is killed, the child restarts', async () => {
    const b = await bridge([], {}, [process.execPath, wrapperScript(), FIXTURE, 'hold-stdout']);
    const ready = await waitReady(b);
    const leader = ready.child.pid!;
    const c = await client(b, 'http', 'orphan-client');
    const server = (await fixtureStats(c)).pid as number;
    const pending = settle(c.callTool({ name: 'hang', arguments: {} }, undefined, CALL));
    await waitFor(async () => (await b.status()).requests.inFlight === 1, 'a call in flight');

    const killedAt = Date.now();
    process.kill(leader, 'SIGKILL');
    const r = await pending;
    timings['launcher kill -9 (orphaned server) → in-flight error'] = r.at - killedAt;
    expect(r.ok).toBe(false);
    expect(r.error!.message).toMatch(/killed by SIGKILL/);
    expect(r.at - killedAt).toBeLessThan(CALL_TIMEOUT_MS / 2);

    await waitRestarted(b, leader);
    await waitFor(() => groupMembers(leader).length === 0, 'the old group to be empty', 5000).catch(() => undefined);
    expect(groupMembers(leader)).toEqual([]);
    expect(alive(server)).toBe(false);
    expect(await echo(c, 'back')).toBe('back');
    const stats = await fixtureStats(c);
    expect(stats.pid).not.toBe(server);
    expect((await b.status()).child.restarts).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Idle sessions
// ---------------------------------------------------------------------------------------------

describe('idle sessions', () => {
  test('a client gone without DELETE is released after the idle timeout; a quiet client with its GET stream open is not', async () => {
    const b = await bridge(['--session-idle-timeout', '1']);
    await waitReady(b);
    const quiet = await client(b, 'http', 'quiet-but-listening');
    const dropped = new Client({ name: 'vanishes', version: '1.0.0' });
    await dropped.connect(new StreamableHTTPClientTransport(new URL(`${b.url}/mcp`)));
    expect(await echo(quiet, 'hi')).toBe('hi');
    expect(await echo(dropped, 'hi')).toBe('hi');
    // Both have their standalone GET stream open by now (the SDK opens it after initialize).
    await sleep(300);
    expect((await b.status()).sessions['streamable-http']).toBe(2);

    const quietSince = Date.now();
    const droppedAt = Date.now();
    await dropped.close(); // no terminateSession(): the client just vanishes
    await waitFor(async () => (await b.status()).sessions['streamable-http'] === 1, 'the vanished session to be released', 6000);
    timings['vanished session released after (idle timeout 1 s)'] = Date.now() - droppedAt;
    expect(b.stderr()).toMatch(/idle for \d+ s with no open stream: released/);

    // The quiet one stays, however long it says nothing, while its stream is open.
    const wait = 3200 - (Date.now() - quietSince);
    if (wait > 0) await sleep(wait);
    expect((await b.status()).sessions['streamable-http']).toBe(1);
    expect(await echo(quiet, 'still here')).toBe('still here');
    expect((await b.status()).sessions['streamable-http']).toBe(1);
    await disconnect(quiet);
    await waitFor(async () => (await b.status()).sessions.total === 0, 'the DELETEd session to be released', 3000);
  });
});
