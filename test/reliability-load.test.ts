/**
 * Reliability under load (issue: "Reliability suite — Load"): 30 concurrent sessions (20 Streamable
 * HTTP, 10 legacy SSE) of real SDK clients drive sustained calls through one `mcpshare bridge` for a
 * bounded time. Asserted: zero errors, zero misroutes (every reply carries the text its own call
 * sent; progress updates only ever for their own call and never after its result, and complete and
 * in order on Streamable HTTP; lost SSE updates are counted, see the note in runLoad), the bridge's
 * RSS shows no growth trend and its heap after a full GC does not grow with the calls served, memory
 * per idle session is small, and no session is left once the clients close.
 *
 * The bridge runs with a test-only `--require` hook (helpers/soak.ts heapProbe) that answers
 * SIGUSR2 with a full GC and its memory usage: RSS alone is a sawtooth (V8 lets old space grow by
 * tens of MB between major GCs), which hides a slow leak in a short run.
 *
 * Short by default (3 s warm-up + 10 s of load); SOAK=1 runs 30 + 300 s (SOAK_SECONDS sets the
 * load time). Numbers are printed as "MEASURED:" lines; timing is never asserted tightly (the CI
 * machine has 2 shared cores).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { bridgeArgs, connect, disconnect, FIXTURE, runCli, textOf, waitReady, type Kind, type RunningCli } from './helpers/bridge.js';
import { knob, mb, MB, measured, median, heapProbe, percentile, printMeasured, sampleRss, scratchDir, steadyRss, testTimeout } from './helpers/soak.js';
import { sleep, waitFor } from './helpers/wait.js';
import { alive } from './helpers/procs.js';

const LOAD_SECONDS = knob('SOAK_SECONDS', 10, 300);
/** Load before the heap baseline is taken (JIT and heap sizing happen once). */
const WARMUP_SECONDS = Math.max(3, Math.round(LOAD_SECONDS / 10));
const HTTP_SESSIONS = 20;
const SSE_SESSIONS = 10;
const SESSIONS = HTTP_SESSIONS + SSE_SESSIONS;
/** Calls each session keeps in flight. */
const IN_FLIGHT = 2;
/** Every Nth call of a worker is a progress call (3 updates, then the result). */
const PROGRESS_EVERY = 15;
const CALL = { timeout: 20_000 };

let b: RunningCli;
let bridgePid: number;
let childPid: number;
const scratch = scratchDir('mcpshare-load-');
const heap = heapProbe(scratch.dir);
type Heap = Awaited<ReturnType<typeof heap.measure>>;
/** What the bridge keeps after a full GC: JS heap plus Buffers (socket data lives there). */
const kept = (h: Heap) => h.heapUsed + h.arrayBuffers;
let heapIdle0: Heap | undefined;
let heapIdle30: Heap | undefined;
let callsServed = 0;
const clients: Array<{ client: Client; kind: Kind; name: string }> = [];
const clientErrors: string[] = [];
/** "unknown token" errors raised by SDK SSE clients: see the progress note in the load test. */
const sseLostProgress: string[] = [];

beforeAll(async () => {
  b = await runCli(bridgeArgs([process.execPath, FIXTURE], ['--name', 'load']), heap.env);
  const ready = await waitReady(b);
  bridgePid = b.proc.pid!;
  childPid = ready.child.pid!;
  // Warm-up: load both transports' code paths once (the SSE transport is loaded on first use), so
  // the idle baseline below is the bridge's steady state and not its cold start.
  for (const kind of ['http', 'sse'] as const) {
    const c = await connect(b.url, kind, `warm-${kind}`);
    for (let i = 0; i < 50; i++) expect(textOf(await c.callTool({ name: 'echo', arguments: { text: `w${i}` } }))).toBe(`w${i}`);
    await disconnect(c);
  }
  await waitFor(async () => (await b.status()).sessions.total === 0, 'warm-up sessions to close', 5000);
});

afterAll(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => disconnect(c.client)));
  await b?.stop();
  scratch.remove();
  printMeasured('reliability-load');
});

async function openSessions(): Promise<void> {
  if (clients.length === SESSIONS) return;
  const kinds: Kind[] = [...Array<Kind>(HTTP_SESSIONS).fill('http'), ...Array<Kind>(SSE_SESSIONS).fill('sse')];
  // A few at a time: 30 simultaneous handshakes would measure the connect storm, not the sessions.
  for (let i = 0; i < kinds.length; i += 5) {
    const batch = await Promise.all(
      kinds.slice(i, i + 5).map(async (kind, j) => {
        const name = `load-${kind}-${i + j}`;
        const client = await connect(b.url, kind, name);
        client.onerror = (e) => {
          if (kind === 'sse' && /progress notification for an unknown token/.test(e.message)) sseLostProgress.push(`${name}: ${e.message}`);
          else clientErrors.push(`${name}: ${e.message}`);
        };
        return { client, kind, name };
      }),
    );
    clients.push(...batch);
  }
  await waitFor(async () => (await b.status()).sessions.total === SESSIONS, `${SESSIONS} sessions open`, 10_000);
}

interface LoadStats {
  progressCalls: number;
  sseProgressCalls: number;
  sseProgressIncomplete: number;
  errors: string[];
  misrouted: string[];
  latencies: number[];
}

function newStats(): LoadStats {
  clientErrors.length = 0;
  sseLostProgress.length = 0;
  return { progressCalls: 0, sseProgressCalls: 0, sseProgressIncomplete: 0, errors: [], misrouted: [], latencies: [] };
}

/** Every session keeps IN_FLIGHT calls going for `seconds`; returns the calls completed. */
async function runLoad(seconds: number, stats: LoadStats): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let calls = 0;
  const worker = async ({ client, name, kind }: (typeof clients)[number], w: number) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const t0 = performance.now();
      try {
        if (i % PROGRESS_EVERY === PROGRESS_EVERY - 1) {
          const seen: number[] = [];
          let done = false;
          let late = 0;
          const r = await client.callTool({ name: 'progress', arguments: { steps: 3, delayMs: 1 } }, undefined, {
            ...CALL,
            onprogress: (p) => {
              if (done) late++;
              seen.push(p.progress);
            },
          });
          done = true;
          stats.progressCalls++;
          // On the wire the bridge sends every update before the result (asserted for the SDK's
          // Streamable HTTP client here). The SDK's legacy SSE client handles a notification one
          // microtask after a response that came in the same read, so when its process is busy
          // (30 clients share this one) updates and result arrive together and it drops the
          // updates as "unknown token": counted and printed for SSE, not asserted (it depends on
          // the client's event-loop lag; see the report). Updates of another call, out of order,
          // or late after the result are failures on both transports.
          const complete = seen.join(',') === '1,2,3';
          const prefix = '1,2,3'.startsWith(seen.join(','));
          if (kind === 'sse') {
            stats.sseProgressCalls++;
            if (!complete && prefix) stats.sseProgressIncomplete++;
          }
          if (textOf(r) !== 'done 3' || late || (kind === 'http' && !complete) || !prefix) {
            stats.misrouted.push(`${name}/${w}/${i}: progress ${seen.join(',')} late=${late} result=${textOf(r)}`);
          }
        } else {
          const text = `${name}|${w}|${i}`;
          const got = textOf(await client.callTool({ name: 'echo', arguments: { text } }, undefined, CALL));
          if (got !== text) stats.misrouted.push(`${text} got ${got}`);
        }
        calls++;
        stats.latencies.push(performance.now() - t0);
      } catch (e) {
        stats.errors.push(`${name}/${w}/${i}: ${(e as Error).message}`);
        // Never spin on a broken session: the assertion reports it.
        await sleep(100);
      }
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: IN_FLIGHT }, (_, w) => worker(c, w))));
  return calls;
}

describe(`load: ${SESSIONS} concurrent sessions`, () => {
  test('memory per idle session: RSS with 0 and with 30 idle sessions (GET/SSE streams open)', async () => {
    const idle = await b.status();
    expect(idle.sessions.total).toBe(0);
    heapIdle0 = await heap.measure(bridgePid);
    const base = await steadyRss(bridgePid);
    await openSessions();
    // The SDK opens the standalone GET stream after initialize: let all of them land.
    await sleep(1000);
    const s = await b.status();
    expect(s.sessions).toEqual({ 'streamable-http': HTTP_SESSIONS, sse: SSE_SESSIONS, total: SESSIONS });
    heapIdle30 = await heap.measure(bridgePid);
    const withSessions = await steadyRss(bridgePid);
    const perSession = (withSessions - base) / SESSIONS;
    const heapPerSession = (kept(heapIdle30) - kept(heapIdle0)) / SESSIONS;
    measured('bridge RSS idle, 0 sessions (after a full GC)', mb(base), 'MB');
    measured(`bridge RSS idle, ${SESSIONS} sessions (after a full GC)`, mb(withSessions), 'MB');
    measured('bridge memory per idle session (RSS)', Math.round(perSession / 1024), 'kB');
    measured('bridge memory per idle session (heap + buffers after GC)', Math.round(heapPerSession), 'bytes');
    // README measured ~0.1 MB per session (59 MB idle → 62 MB with 30). 1 MB per session (30 MB in
    // all) is far outside GC noise and would mean per-session buffers are being kept.
    expect(perSession).toBeLessThan(1 * MB);
    expect(heapPerSession).toBeLessThan(256 * 1024);
    // Sanity: the child is shared, never one per session.
    expect(s.child.pid).toBe(childPid);
  });

  test(
    `sustained calls for ${LOAD_SECONDS} s: zero errors, zero misroutes, no RSS growth trend, no heap growth`,
    async () => {
      await openSessions();
      const stats = newStats();
      const before = await b.status();
      // Warm-up under the same load: V8 compiles the hot paths and sizes its heap to the working
      // set; what that costs once is not a leak. Then the heap after a full GC is the baseline.
      const warm = await runLoad(WARMUP_SECONDS, stats);
      await sleep(300);
      const heapBefore = await heap.measure(bridgePid);
      const rss = sampleRss(bridgePid, 250);
      const started = Date.now();
      const main = await runLoad(LOAD_SECONDS, stats);
      const elapsed = (Date.now() - started) / 1000;
      const samples = rss.stop();
      const after = await b.status();
      await sleep(300);
      const heapAfter = await heap.measure(bridgePid);
      const calls = warm + main;

      measured('load: sessions × calls in flight each', `${SESSIONS} × ${IN_FLIGHT}`);
      measured('load: warm-up + measured duration', `${WARMUP_SECONDS} + ${elapsed.toFixed(1)}`, 's');
      measured('load: calls completed (warm-up + measured)', `${warm} + ${main}`);
      measured('load: progress calls', stats.progressCalls);
      measured('load: calls/s (measured phase)', Math.round(main / elapsed));
      measured('load: latency p50', percentile(stats.latencies, 50), 'ms');
      measured('load: latency p99', percentile(stats.latencies, 99), 'ms');
      measured('load: errors / misroutes', `${stats.errors.length} / ${stats.misrouted.length}`);
      measured(
        'load: SSE progress calls whose updates the SDK SSE client dropped ("unknown token")',
        `${stats.sseProgressIncomplete} of ${stats.sseProgressCalls} (${sseLostProgress.length} updates)`,
      );
      if (process.env.RSS_DEBUG) measured('load: RSS samples (MB)', samples.map(mb).join(' '));

      expect(stats.errors.slice(0, 10)).toEqual([]);
      expect(stats.misrouted.slice(0, 10)).toEqual([]);
      expect(clientErrors.slice(0, 10)).toEqual([]);
      // Enough work happened for the memory checks to mean something (≥ 20 calls/s on a busy box).
      expect(main).toBeGreaterThan(LOAD_SECONDS * 20);
      expect(stats.progressCalls).toBeGreaterThan(0);
      expect(after.misroutedDropped).toBe(0);
      expect(after.requests.inFlight).toBe(0);
      expect(after.requests.queued).toBe(0);
      expect(after.requests.served - before.requests.served).toBeGreaterThanOrEqual(calls);
      expect(after.child).toMatchObject({ pid: childPid, restarts: 0, state: 'ready' });
      expect(after.sessions.total).toBe(SESSIONS);

      // RSS trend over the measured phase: the median of its last third against the median of its
      // first third. RSS is a sawtooth under load: V8 lets old space grow between major GCs (measured
      // here at ~180 calls/s: 88 → 129 MB, then back to ~90 MB, a cycle of ~30 s), so a run shorter
      // than a cycle sees one rising edge. Tolerance: +40 MB or +40%, whichever is larger, which one
      // rising edge fits in and a growing floor across a soak run does not. The exact leak check
      // is the heap after a full GC, below. The peak is bounded too.
      const third = Math.max(1, Math.floor(samples.length / 3));
      const first = median(samples.slice(0, third));
      const last = median(samples.slice(-third));
      const peak = Math.max(...samples);
      measured('load: RSS samples', samples.length);
      measured('load: bridge RSS median, first third', mb(first), 'MB');
      measured('load: bridge RSS median, last third', mb(last), 'MB');
      measured('load: bridge RSS peak', mb(peak), 'MB');
      expect(samples.length).toBeGreaterThanOrEqual(8);
      expect(last).toBeLessThanOrEqual(first + Math.max(40 * MB, first * 0.4));
      expect(peak).toBeLessThan(250 * MB);

      // What the bridge keeps after a full GC, same 30 idle sessions, before and after the measured
      // phase. Tolerance 4 MB (GC/JIT noise is ~1 MB): in the 10 s CI run that catches a leak of
      // ~2 kB per call, in a 300 s soak run one of a few dozen bytes per call.
      const growth = kept(heapAfter) - kept(heapBefore);
      callsServed = after.requests.served;
      measured('load: bridge heap + buffers after GC, before the measured phase', mb(kept(heapBefore)), 'MB');
      measured('load: bridge heap + buffers after GC, after it', mb(kept(heapAfter)), 'MB');
      measured('load: bridge heap growth per call (measured phase)', Math.round(growth / Math.max(1, main)), 'bytes');
      expect(growth).toBeLessThan(4 * MB);
    },
    testTimeout(LOAD_SECONDS + WARMUP_SECONDS),
  );

  test('after the clients close (DELETE / SSE stream closed): no session left, the child unchanged, nothing left running after stop', async () => {
    await openSessions();
    await Promise.all(clients.splice(0).map((c) => disconnect(c.client)));
    const released = Date.now();
    const s = await waitFor(
      async () => {
        const st = await b.status();
        return st.sessions.total === 0 && st;
      },
      'every session to be released',
      10_000,
    );
    measured('sessions released after all clients closed', Date.now() - released, 'ms');
    if (!s) throw new Error('unreachable');
    expect(s.sessions).toEqual({ 'streamable-http': 0, sse: 0, total: 0 });
    expect(s.requests.inFlight).toBe(0);
    expect(s.child.pid).toBe(childPid);
    await sleep(500);
    const h = await heap.measure(bridgePid);
    measured('bridge RSS after load, all sessions closed (after a full GC)', mb(await steadyRss(bridgePid)), 'MB');
    measured('bridge heap + buffers after GC, all sessions closed', mb(kept(h)), 'MB');
    // Every session's state is released: back to the idle heap of before the sessions opened
    // (same 4 MB tolerance as above; it also covers the router's bounded caches).
    if (heapIdle0) expect(kept(h) - kept(heapIdle0)).toBeLessThan(4 * MB);
    measured('calls served in this file', callsServed);
    await b.stop();
    expect(await b.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => !alive(childPid), 'the child to be gone after the bridge stopped', 5000);
    expect(alive(bridgePid)).toBe(false);
  });
});
