/**
 * Peer comparison: mcpshare, supergateway and mcp-proxy fronting the same stdio server-everything,
 * on the same work, in the same run (bench/gateways.mjs says how each is started).
 *
 * Per gateway:
 *  1. memory (own process, and whole tree: the gateway plus every server child and shell it runs)
 *     idle, then with 10 and 30 sessions open (each initialized, one echo call, client streams open);
 *  2. closed-loop `echo` load at 10 clients × 4 in flight: p50/p99 latency and calls/s. Gateways
 *     take turns in rounds so drift of this shared machine hits all alike; every reply is checked
 *     against the unique message its caller sent (misrouted), and memory is read again afterwards;
 *  3. progress: several fresh sessions at once run the long-running tool (bench/progress.mjs).
 * A gateway that fails a phase (crash, error, timeout) gets that failure recorded and skips its
 * later phases; the others go on. Every wait is bounded.
 */
import { alive, cpuMsOf, descendants, machineBusyMs, memOf, pssOf, sleep, stopTree, treeMem } from './procs.mjs';
import { echoOnce, mapLimit, newCounter, runLoad, summarize, withTimeout } from './load.mjs';
import { gatewayTargets } from './gateways.mjs';
import { findLongRunningTool, progressRound } from './progress.mjs';

const env = (name, dflt) => process.env[name] ?? dflt;
export function peersConfig() {
  return {
    settleMs: Number(env('BENCH_PEERS_SETTLE_MS', 1500)),
    sessions: String(env('BENCH_PEERS_SESSIONS', '10,30')).split(',').map(Number),
    clients: Number(env('BENCH_PEERS_CLIENTS', 10)),
    inFlight: Number(env('BENCH_PEERS_IN_FLIGHT', 4)),
    warmupMs: Number(env('BENCH_PEERS_WARMUP_MS', 2000)),
    measureMs: Number(env('BENCH_PEERS_MEASURE_MS', 3000)),
    rounds: Number(env('BENCH_PEERS_ROUNDS', 3)),
    progressClients: Number(env('BENCH_PEERS_PROGRESS_CLIENTS', 5)),
    progressSeconds: Number(env('BENCH_PEERS_PROGRESS_SECONDS', 2)),
    callTimeoutMs: 10000,
    only: process.env.BENCH_PEERS_ONLY?.split(',').filter(Boolean),
    rssTargetRatio: 0.6,
  };
}

const START_TIMEOUT_MS = 60000;
const CONNECT_TIMEOUT_MS = 30000;
const CONNECT_CONCURRENCY = 5; // supergateway's stateful mode starts a server child per session

/** Memory of the gateway process alone and of its whole process tree. */
function memSnap(pid) {
  const tree = treeMem(pid);
  return { own: { rss: memOf(pid).rss, pss: pssOf(pid) }, tree: { rss: tree.rss, pss: tree.pss, processes: tree.processes } };
}

/** user+system CPU ms of a whole tree right now (children that already exited are not counted). */
const treeCpuMs = (pid) => [pid, ...descendants(pid)].reduce((a, p) => a + cpuMsOf(p), 0);

const driverCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Counts what the SDK client reports outside any call: "unknown message ID" is a reply meant for
 * another session; "unknown token" a progress update for an operation this session never started
 * (these clients start none). Errors from our own close() (the aborted GET stream) are not counted.
 */
function watchClientErrors(c, r) {
  c.client.onerror = (e) => {
    if (c.closing) return;
    const msg = String(e?.message ?? e);
    if (/unknown message id/i.test(msg)) r.strayReplies++;
    else if (/progress notification for an unknown token/i.test(msg)) r.strayProgress++;
    else {
      r.otherClientErrors++;
      if (r.clientErrorExamples.length < 3) r.clientErrorExamples.push(msg.slice(0, 200));
    }
  };
  const close = c.close;
  c.close = () => {
    c.closing = true;
    return close.call(c);
  };
}

/** Opens n sessions on a gateway (bounded concurrency); each makes one checked echo call. */
async function openSessions(state, n) {
  const { t, gw, r } = state;
  const results = await mapLimit(Array.from({ length: n }), CONNECT_CONCURRENCY, async () => {
    const c = await withTimeout(t.connect(gw.url), CONNECT_TIMEOUT_MS, 'connect');
    watchClientErrors(c, r);
    state.clients.push(c);
    await echoOnce(c.client, `${t.id}|open|${state.clients.length}|${Math.random()}`, r.correctness);
    return c;
  });
  const failed = results.filter((x) => !x.ok);
  if (failed.length)
    r.errors.push({
      phase: 'sessions',
      message: `${failed.length} of ${n} sessions failed to open: ${String(failed[0].error?.message ?? failed[0].error).slice(0, 200)}`,
    });
}

/** Phase 1 for one gateway: start it, read memory idle and with each session count. */
async function memoryPhase(state, cfg, log) {
  const { t, r } = state;
  state.gw = await withTimeout(t.start(), START_TIMEOUT_MS, 'start');
  r.command = state.gw.command;
  await sleep(cfg.settleMs);
  r.memory.idle = memSnap(state.gw.pid);
  for (const n of cfg.sessions) {
    await openSessions(state, n - state.clients.length);
    await sleep(cfg.settleMs);
    r.memory[`sessions${n}`] = { ...memSnap(state.gw.pid), open: state.clients.length };
    log(
      `  ${t.id}: ${state.clients.length} sessions, own ${mb(r.memory[`sessions${n}`].own.rss)} MB, tree ${mb(r.memory[`sessions${n}`].tree.rss)} MB (${r.memory[`sessions${n}`].tree.processes} processes)`,
    );
  }
  // Keep as many sessions as the load phase needs; end the rest (DELETE / stream closed).
  const extra = state.clients.splice(cfg.clients);
  await Promise.all(extra.map((c) => withTimeout(c.close(), 5000, 'close').catch(() => {})));
}

/** Records a failed phase; the gateway skips its later phases. */
function fail(state, phase, err) {
  state.r.errors.push({ phase, message: String(err?.message ?? err).slice(0, 300) });
  state.failed = true;
}

const mb = (b) => (b === undefined ? 'n/a' : (b / 2 ** 20).toFixed(1));

/** A client whose every call is bounded, so a gateway that never answers cannot stall the load loop. */
const bounded = (client, timeout) => ({ callTool: (p) => client.callTool(p, undefined, { timeout }) });

/**
 * Phase 2 for all gateways together: warm each up, then rounds in turn. Returns how much CPU other
 * processes on the machine took meanwhile (other people's tests skew every number).
 */
async function loadPhase(states, cfg, log) {
  const oursCpuMs = () => driverCpuMs() + states.filter((s) => s.gw && alive(s.gw.pid)).reduce((a, s) => a + treeCpuMs(s.gw.pid), 0);
  const t0 = { t: performance.now(), machine: machineBusyMs(), ours: oursCpuMs() };
  const load = (s, tag, warmupMs, measureMs, cpuProbe) =>
    withTimeout(
      runLoad({
        tag: `${s.t.id}-${tag}`,
        clients: s.clients.map((c) => bounded(c.client, cfg.callTimeoutMs)),
        inFlight: cfg.inFlight,
        warmupMs,
        measureMs,
        cpuProbe,
        counter: s.r.correctness,
      }),
      warmupMs + measureMs + cfg.callTimeoutMs + 5000,
      `${tag} load`,
    );
  // A fresh Node process is much slower for its first seconds (JIT, heap growth): warm each up.
  for (const s of states.filter((x) => !x.failed)) {
    if (s.clients.length < cfg.clients) fail(s, 'load', `only ${s.clients.length} of ${cfg.clients} sessions open`);
    else {
      const before = { ...s.r.correctness };
      await load(s, 'warmup', 0, cfg.warmupMs).catch((e) => fail(s, 'load warm-up', e));
      // A gateway that answered nothing in the warm-up would only spend every round timing out.
      const c = s.r.correctness;
      if (!s.failed && c.checked === before.checked) fail(s, 'load warm-up', `no call succeeded (${c.failed - before.failed} failed)`);
    }
  }
  const samples = new Map(states.map((s) => [s, []]));
  for (let round = 0; round < cfg.rounds; round++) {
    for (const s of states.filter((x) => !x.failed)) {
      const cpu = () => ({ driver: driverCpuMs(), gateway: treeCpuMs(s.gw.pid) });
      try {
        samples.get(s).push(await load(s, `r${round}`, 300, cfg.measureMs / cfg.rounds, cpu));
      } catch (e) {
        fail(s, `load round ${round}`, e);
      }
    }
  }
  for (const s of states) {
    if (samples.get(s).length) s.r.load = summarize(samples.get(s));
    if (s.gw && alive(s.gw.pid)) s.r.memory.afterLoad = { ...memSnap(s.gw.pid), open: s.clients.length };
    const c = s.r.correctness;
    if (s.r.load)
      log(
        `  ${s.t.id}: ${Math.round(s.r.load.callsPerSec)} calls/s, p50 ${s.r.load.p50.toFixed(2)} ms, p99 ${s.r.load.p99.toFixed(2)} ms; ${c.misrouted} misrouted, ${c.failed} failed of ${c.checked}`,
      );
  }
  const t1 = { t: performance.now(), machine: machineBusyMs(), ours: oursCpuMs() };
  const wallMs = t1.t - t0.t;
  const otherCores = Math.max(0, (t1.machine - t0.machine - (t1.ours - t0.ours)) / wallMs);
  return { wallMs, oursCores: (t1.ours - t0.ours) / wallMs, otherCores };
}

/** Phase 3 for one gateway: progress with unique tokens, then with one shared token. */
async function progressPhase(state, cfg) {
  const { t, gw, r } = state;
  const opened = await mapLimit(Array.from({ length: cfg.progressClients }), CONNECT_CONCURRENCY, () =>
    withTimeout(t.connect(gw.url), CONNECT_TIMEOUT_MS, 'connect'),
  );
  const clients = opened.filter((x) => x.ok).map((x) => x.value);
  try {
    if (clients.length < cfg.progressClients) throw new Error(`only ${clients.length} of ${cfg.progressClients} progress sessions opened`);
    const tool = await withTimeout(findLongRunningTool(clients[0].client), 10000, 'tools/list');
    r.progress = { tool, rounds: [] };
    for (const variant of ['unique', 'shared']) {
      r.progress.rounds.push(
        await progressRound({ clients, tool, variant, durationSec: cfg.progressSeconds, callTimeoutMs: cfg.progressSeconds * 1000 + 10000 }),
      );
    }
  } finally {
    await Promise.all(clients.map((c) => withTimeout(c.close(), 5000, 'close').catch(() => {})));
  }
}

/** mcpshare's own counters (replies with unknown ids it dropped, child restarts). */
async function bridgeCounters(url) {
  try {
    const s = await (await fetch(`${url}/status`, { signal: AbortSignal.timeout(5000) })).json();
    return { misroutedDropped: s.misroutedDropped, requestsServed: s.requests?.served, childRestarts: s.child?.restarts };
  } catch (err) {
    return { error: String(err?.message ?? err) };
  }
}

export async function runPeersBench({ log, nodeFlags, config = peersConfig() }) {
  const cfg = config;
  const targets = gatewayTargets(nodeFlags).filter((t) => !cfg.only || cfg.only.includes(t.id));
  const states = targets.map((t) => ({
    t,
    gw: undefined,
    clients: [],
    failed: false,
    r: {
      label: t.label,
      product: t.product,
      version: t.version,
      transport: t.transport,
      memory: {},
      correctness: newCounter(),
      strayReplies: 0,
      strayProgress: 0,
      otherClientErrors: 0,
      clientErrorExamples: [],
      errors: [],
    },
  }));
  let machineLoad;
  try {
    log(`peers: memory idle and with ${cfg.sessions.join('/')} sessions`);
    for (const s of states) {
      await memoryPhase(s, cfg, log).catch((e) => fail(s, 'memory', e));
      if (s.failed && s.gw) await stopTree(s.gw.pid);
    }
    log(`peers: ${cfg.clients} clients × ${cfg.inFlight} in flight, ${cfg.rounds} rounds in turn`);
    machineLoad = await loadPhase(states, cfg, log);
    if (machineLoad.otherCores > 0.15) log(`WARNING: other processes used ${machineLoad.otherCores.toFixed(2)} cores on average during the load rounds`);
    log(`peers: progress, ${cfg.progressClients} sessions at once`);
    for (const s of states.filter((x) => !x.failed)) {
      await withTimeout(progressPhase(s, cfg), 2 * (cfg.progressSeconds * 1000 + 15000) + 20000, 'progress phase').catch((e) => fail(s, 'progress', e));
      const lost = s.r.progress?.rounds
        .map((x) => `${x.variant}: ${x.received}/${x.expected} (late ${x.late}, foreign ${x.foreign}, wrong results ${x.wrongResults})`)
        .join('; ');
      if (lost) log(`  ${s.t.id}: progress ${lost}`);
    }
  } finally {
    for (const s of states) {
      if (!s.gw) continue;
      if (s.t.product === 'mcpshare' && alive(s.gw.pid)) s.r.bridge = await bridgeCounters(s.gw.url);
      s.r.exitedDuringBench = s.gw.process?.exitStatus() ?? (alive(s.gw.pid) ? undefined : 'exited');
      await Promise.all(s.clients.map((c) => withTimeout(c.close(), 5000, 'close').catch(() => {})));
      s.r.leftovers = await stopTree(s.gw.pid);
    }
  }
  const results = { config: cfg, machineLoad, targets: Object.fromEntries(states.map((s) => [s.t.id, s.r])) };
  results.summary = summarizePeers(results, cfg);
  return results;
}

/** Progress totals over both token variants. */
function progressTotals(r) {
  if (!r.progress) return undefined;
  const sum = (k) => r.progress.rounds.reduce((a, x) => a + x[k], 0);
  return {
    expected: sum('expected'),
    received: sum('received'),
    lost: sum('lost'),
    late: sum('late'),
    foreign: sum('foreign'),
    failedCalls: sum('failedCalls'),
    wrongResults: sum('wrongResults'),
  };
}

/**
 * Ratios mcpshare/peer (each peer against mcpshare on the same transport, so client code is the
 * same) and the issue's targets: mcpshare misroutes and loses nothing; its calls/s ≥ every peer
 * that routes correctly; its process RSS ≤ 0.6 × mcp-proxy's.
 */
export function summarizePeers(results, cfg) {
  const T = results.targets;
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : undefined);
  const moments = ['idle', ...cfg.sessions.map((n) => `sessions${n}`), 'afterLoad'];
  for (const r of Object.values(T)) r.progressTotals = progressTotals(r);
  const routesCorrectly = (r) =>
    !!r.load && r.correctness.misrouted === 0 && (r.progressTotals?.foreign ?? 0) === 0 && (r.progressTotals?.wrongResults ?? 0) === 0;

  const ratios = {};
  for (const [id, r] of Object.entries(T)) {
    if (r.product === 'mcpshare') continue;
    const ms = T[`mcpshare-${r.transport}`];
    if (!ms) continue;
    ratios[id] = {
      against: `mcpshare-${r.transport}`,
      ownRss: Object.fromEntries(moments.map((m) => [m, ratio(ms.memory[m]?.own.rss, r.memory[m]?.own.rss)])),
      treeRss: Object.fromEntries(moments.map((m) => [m, ratio(ms.memory[m]?.tree.rss, r.memory[m]?.tree.rss)])),
      callsPerSec: ratio(ms.load?.callsPerSec, r.load?.callsPerSec),
      p50: ratio(ms.load?.p50, r.load?.p50),
      p99: ratio(ms.load?.p99, r.load?.p99),
    };
  }

  const mcpshare = Object.entries(T).filter(([, r]) => r.product === 'mcpshare');
  const verdicts = {
    mcpshareNoMisrouted:
      mcpshare.length > 0 &&
      mcpshare.every(
        ([, r]) =>
          r.load &&
          r.correctness.misrouted === 0 &&
          r.correctness.failed === 0 &&
          r.strayReplies === 0 &&
          r.strayProgress === 0 &&
          r.progressTotals?.foreign === 0 &&
          r.progressTotals?.wrongResults === 0 &&
          r.progressTotals?.failedCalls === 0,
      ),
    mcpshareNoLostProgress: mcpshare.length > 0 && mcpshare.every(([, r]) => r.progressTotals && r.progressTotals.lost === 0 && r.progressTotals.late === 0),
    throughput: {},
    rssVsMcpProxy: {},
  };
  for (const [id, r] of Object.entries(T)) {
    if (r.product === 'mcpshare' || !routesCorrectly(r)) continue;
    const ms = T[`mcpshare-${r.transport}`];
    verdicts.throughput[id] = { mcpshare: ms?.load?.callsPerSec, peer: r.load.callsPerSec, pass: !!ms?.load && ms.load.callsPerSec >= r.load.callsPerSec };
  }
  const proxy = T['mcp-proxy-http'];
  const ms = T['mcpshare-http'];
  if (proxy && ms) {
    for (const m of moments) {
      const a = ms.memory[m]?.own.rss;
      const b = proxy.memory[m]?.own.rss;
      if (a && b) verdicts.rssVsMcpProxy[m] = { mcpshare: a, mcpProxy: b, ratio: a / b, pass: a <= cfg.rssTargetRatio * b };
    }
  }
  return { moments, ratios, routesCorrectly: Object.fromEntries(Object.entries(T).map(([id, r]) => [id, routesCorrectly(r)])), verdicts };
}
