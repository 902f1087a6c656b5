/**
 * The bridge benchmark, one part of `npm run bench` (BENCH_ONLY=bridge runs it alone).
 *
 * Against the real `server-everything` (tool `echo`), in one run:
 *  1. latency p50/p99 and calls/s of `tools/call echo` at 1×1, 1×4 and 10×4 (clients × in flight)
 *     on three paths:
 *       direct      SDK Client + StdioClientTransport, one server child per client (the 10-client
 *                   case runs 10 separate children, as clients do today);
 *       bridge      SDK Client + StreamableHTTPClientTransport → bridge → one shared child;
 *       bridgeRaw   a minimal node:http client → bridge, to split the bridge's own cost from the
 *                   SDK HTTP client's;
 *     plus a 1×1 `ping` (answered by the bridge itself) to show the cost of the HTTP hop alone, and
 *     at 1×1 the same two clients against a bare node:http "floor" server (bench/floor-server.mjs)
 *     that answers echo itself: what HTTP costs on this machine before the bridge does anything;
 *  2. the bridge process's RSS idle and with 30 open sessions (child RSS for scale);
 *  3. correctness: every reply must echo exactly what its caller sent (misrouted count must be 0).
 * Each case runs in ROUNDS rounds that alternate the paths, so slow drift of a shared VM hits every
 * path alike. bench/run.mjs writes the result as bench/results/bridge-<timestamp>.json.
 *
 * Knobs (env): BENCH_PROCESS_WARMUP_MS (default 6000, once per side before any case),
 * BENCH_WARMUP_MS (300, before each round), BENCH_MEASURE_MS (4500 per case and path, split over
 * the rounds), BENCH_ROUNDS (3), BENCH_SETTLE_MS (3000), BENCH_SESSIONS (30),
 * BENCH_BRIDGE_NODE_FLAGS (default: dist/runtime.js NODE_MEMORY_FLAGS, the flags the bridge is
 * deployed with; set it to "" to run the bridge with plain `node`).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { alive, bridgeNodeFlags, cpuMsOf, killAll, machineBusyMs, memOf, ROOT, sleep, startBridge, startFloorServer, waitReady } from './procs.mjs';
import { connectHttp, connectRaw, connectStdio, correctness, echoOnce, runLoad, summarize } from './load.mjs';

const env = (name, dflt) => Number(process.env[name] ?? dflt);
const PROCESS_WARMUP_MS = env('BENCH_PROCESS_WARMUP_MS', 6000);
const WARMUP_MS = env('BENCH_WARMUP_MS', 300);
const MEASURE_MS = env('BENCH_MEASURE_MS', 4500);
const ROUNDS = env('BENCH_ROUNDS', 3);
const SETTLE_MS = env('BENCH_SETTLE_MS', 3000);
const SESSIONS = env('BENCH_SESSIONS', 30);

const TARGETS = { addedP50Ms: 1, idleRssMB: 60, sessionsRssMB: 90 };

/** The load shapes; each runs on every path (plus `extra` ones). `ping` cases get 2/3 of the time. */
const SCENARIOS = [
  { id: '1x1', clients: 1, inFlight: 1, method: 'echo', extra: ['floor', 'floorRaw'] },
  { id: '1x4', clients: 1, inFlight: 4, method: 'echo' },
  { id: '10x4', clients: 10, inFlight: 4, method: 'echo' },
  { id: 'ping-1x1', clients: 1, inFlight: 1, method: 'ping' },
];
const PATHS = ['direct', 'bridge', 'bridgeRaw'];

const MB = (b) => (b === undefined ? undefined : b / (1024 * 1024));
const pkgVersion = (name) => JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')).version;

async function waitUntil(probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** CPU ms of the bench process itself (the load driver: SDK clients, fetch, JSON). */
const driverCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Runs the bridge bench; resolves with its result object (bench/results/bridge-*.json). */
export async function runBridgeBench({ log, clientListenerWarnings }) {
  const started = new Date();
  const results = {
    startedAt: started.toISOString(),
    env: {
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      sdk: pkgVersion('@modelcontextprotocol/sdk'),
      serverEverything: pkgVersion('@modelcontextprotocol/server-everything'),
    },
    config: { processWarmupMs: PROCESS_WARMUP_MS, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, rounds: ROUNDS, settleMs: SETTLE_MS, sessions: SESSIONS },
    targets: TARGETS,
  };

  // ---- start the bridge in front of server-everything
  const nodeFlags = await bridgeNodeFlags();
  log(`starting bridge (node ${nodeFlags.join(' ')} dist/cli.js bridge ...)`);
  const bridge = await startBridge(nodeFlags);
  const ready = await waitReady(bridge);
  if (ready.pid !== bridge.pid) throw new Error(`/status pid ${ready.pid} is not the spawned bridge pid ${bridge.pid}`);
  const childPid = ready.child.pid;
  results.bridge = { pid: bridge.pid, childPid, url: bridge.url, nodeFlags, server: ready.server };

  // ---- 2a. idle RSS (child ready, no client ever connected)
  await sleep(SETTLE_MS);
  const idle = { bridge: memOf(bridge.pid), child: memOf(childPid) };
  log(`idle: bridge ${MB(idle.bridge.rss).toFixed(1)} MB, child ${MB(idle.child.rss).toFixed(1)} MB`);

  // ---- 2b. RSS with N open sessions: initialized, one call each, standalone GET streams open
  log(`opening ${SESSIONS} sessions`);
  const conns = await Promise.all(Array.from({ length: SESSIONS }, () => connectHttp(bridge.url)));
  await Promise.all(conns.map((c, i) => echoOnce(c.client, `sessions|c${i}`)));
  const streamsOk = await waitUntil(() => conns.every((c) => c.streams.open >= 1), 10000);
  await sleep(SETTLE_MS);
  const during = await bridge.status();
  const withSessions = {
    bridge: memOf(bridge.pid),
    child: memOf(childPid),
    sessionsOnBridge: during.sessions,
    clientsWithOpenGetStream: conns.filter((c) => c.streams.open >= 1).length,
    streamsOk,
  };
  log(`${SESSIONS} sessions: bridge ${MB(withSessions.bridge.rss).toFixed(1)} MB (sessions on bridge: ${during.sessions.total})`);
  await Promise.all(conns.map((c) => c.close()));
  withSessions.sessionsLeftAfterDelete = (await waitUntil(async () => (await bridge.status()).sessions.total === 0, 5000))
    ? 0
    : (await bridge.status()).sessions.total;

  // ---- the direct side (one stdio child per client, as many as the largest case needs), and the
  // bare HTTP floor server
  const maxClients = Math.max(...SCENARIOS.map((s) => s.clients));
  log(`starting ${maxClients} direct stdio children`);
  const direct = await Promise.all(Array.from({ length: maxClients }, () => connectStdio()));
  const floor = await startFloorServer();

  // A fresh Node process is several times slower for its first seconds (JIT tiers, heap growth,
  // first-touch page faults, which are costly in a VM). A bridge is a long-lived daemon, so bring
  // both sides to steady state before measuring anything.
  log(`warming up both sides (${PROCESS_WARMUP_MS} ms each)`);
  const warm = await Promise.all([
    ...[connectHttp, connectHttp, connectRaw, connectRaw].map((f) => f(bridge.url)),
    ...[connectHttp, connectRaw].map((f) => f(floor.url)),
  ]);
  await runLoad({ tag: 'warmup-http', clients: warm.map((c) => c.client), inFlight: 2, warmupMs: 0, measureMs: PROCESS_WARMUP_MS });
  await Promise.all(warm.map((c) => c.close()));
  await runLoad({ tag: 'warmup-direct', clients: direct.map((d) => d.client), inFlight: 2, warmupMs: 0, measureMs: PROCESS_WARMUP_MS });

  // ---- 1. latency and throughput: every case on every path, in alternating rounds
  // Other processes on the machine skew every number: measure how much CPU they took meanwhile.
  const oursCpuMs = () => driverCpuMs() + cpuMsOf(bridge.pid) + cpuMsOf(childPid) + cpuMsOf(floor.pid) + direct.reduce((a, d) => a + cpuMsOf(d.pid), 0);
  const load0 = { t: performance.now(), machine: machineBusyMs(), ours: oursCpuMs() };
  const bridgeCpu = () => ({ driver: driverCpuMs(), bridge: cpuMsOf(bridge.pid), child: cpuMsOf(childPid) });
  const floorCpu = () => ({ driver: driverCpuMs(), bridge: cpuMsOf(floor.pid) });
  const latency = Object.fromEntries([...PATHS, 'floor', 'floorRaw'].map((p) => [p, {}]));
  for (const s of SCENARIOS) {
    const paths = [...PATHS, ...(s.extra ?? [])];
    log(`case ${s.id} (${s.clients} client(s) × ${s.inFlight} in flight, ${s.method}): ${ROUNDS} rounds × ${paths.join(', ')}`);
    const used = direct.slice(0, s.clients);
    const httpClients = (connect, url) => Promise.all(used.map(() => connect(url)));
    const sides = {
      direct: { clients: used, cpu: () => ({ driver: driverCpuMs(), children: used.reduce((a, d) => a + cpuMsOf(d.pid), 0) }) },
      bridge: { clients: await httpClients(connectHttp, bridge.url), cpu: bridgeCpu },
      bridgeRaw: { clients: await httpClients(connectRaw, bridge.url), cpu: bridgeCpu },
    };
    if (paths.includes('floor')) sides.floor = { clients: await httpClients(connectHttp, floor.url), cpu: floorCpu };
    if (paths.includes('floorRaw')) sides.floorRaw = { clients: await httpClients(connectRaw, floor.url), cpu: floorCpu };
    const measureMs = (s.method === 'ping' ? (MEASURE_MS * 2) / 3 : MEASURE_MS) / ROUNDS;
    const samples = Object.fromEntries(paths.map((p) => [p, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const path of paths) {
        samples[path].push(
          await runLoad({
            tag: `${path}-${s.id}-r${round}`,
            clients: sides[path].clients.map((c) => c.client),
            inFlight: s.inFlight,
            warmupMs: WARMUP_MS,
            measureMs,
            method: s.method,
            cpuProbe: sides[path].cpu,
          }),
        );
      }
    }
    for (const path of paths) latency[path][s.id] = summarize(samples[path]);
    const opened = Object.entries(sides)
      .filter(([p]) => p !== 'direct')
      .flatMap(([, side]) => side.clients);
    await Promise.all(opened.map((c) => c.close()));
  }
  const afterLoad = { bridge: memOf(bridge.pid), child: memOf(childPid) };
  const load1 = { t: performance.now(), machine: machineBusyMs(), ours: oursCpuMs() };
  const wallMs = load1.t - load0.t;
  const otherCores = Math.max(0, (load1.machine - load0.machine - (load1.ours - load0.ours)) / wallMs);
  results.machineLoad = {
    wallMs,
    oursCores: (load1.ours - load0.ours) / wallMs,
    otherCores,
    note: otherCores > 0.15 ? 'other processes used CPU during the measurements: latency and throughput are skewed' : 'quiet',
  };
  if (otherCores > 0.15) log(`WARNING: other processes used ${otherCores.toFixed(2)} cores on average during the measurements`);
  const directRss = direct.map((d) => memOf(d.pid).rss ?? 0);
  const directMem = { children: direct.length, totalRss: directRss.reduce((a, b) => a + b, 0), perChildRss: directRss };
  await Promise.all(direct.map((d) => d.close()));

  // ---- bridge's own view, then stop it and check nothing is left behind
  const finalStatus = await bridge.status();
  bridge.proc.kill('SIGTERM');
  await Promise.race([bridge.exited, sleep(5000)]);
  const leftovers = await killAll();
  const childGone = !alive(childPid);

  // ---- assemble: added latency = bridge p50 − direct p50, per bridge path and case
  const added = {};
  for (const path of Object.keys(latency).filter((p) => p !== 'direct')) {
    added[path] = {};
    for (const id of Object.keys(latency[path])) added[path][id] = latency[path][id].p50 - latency.direct[id].p50;
  }
  results.latency = latency;
  results.addedP50Ms = added;
  results.memory = { idle, withSessions, afterLoad, direct: directMem };
  results.correctness = {
    ...correctness,
    bridgeMisroutedDropped: finalStatus.misroutedDropped,
    bridgeRequestsServed: finalStatus.requests.served,
    childRestarts: finalStatus.child.restarts,
  };
  results.cleanup = { leftovers, bridgeChildGone: childGone };
  results.clientListenerWarnings = clientListenerWarnings;
  results.verdicts = {
    addedP50_1x1: added.bridge['1x1'] <= TARGETS.addedP50Ms,
    addedP50_1x4: added.bridge['1x4'] <= TARGETS.addedP50Ms,
    idleRss: MB(idle.bridge.rss) <= TARGETS.idleRssMB,
    sessionsRss: MB(withSessions.bridge.rss) <= TARGETS.sessionsRssMB,
    noMisrouted: correctness.misrouted === 0 && finalStatus.misroutedDropped === 0,
    noFailed: correctness.failed === 0,
  };
  return results;
}
