/**
 * Memory vs sessions: what N concurrent sessions cost when each uses the same set of real servers
 * (server-everything, server-memory, server-filesystem, server-sequential-thinking; bench/servers.mjs).
 *
 *  (a) forks:  every session starts its own stdio child of every server, as a client does today;
 *  (b) shared: one mcpshare bridge per server (its one child behind it), N sessions connected to each.
 *
 * A session is what a client does at startup: connect (initialize), then `tools/list`; over HTTP
 * the SDK client also keeps its standalone GET stream open. Client-side memory is not counted on
 * either side (the client holds a pipe or a socket either way). Sessions are added step by step up
 * to each N; after each step the processes settle, then RSS and PSS are summed over (a) every
 * server child, (b) every bridge with its child. The shared side runs first, with nothing else of
 * the bench alive, then it is stopped and the forks side runs.
 */
import { alive, sleep, startBridge, stopTree, treeMem, waitReady } from './procs.mjs';
import { connectHttp, connectStdio, mapLimit, withTimeout } from './load.mjs';
import { realServers } from './servers.mjs';

const env = (name, dflt) => process.env[name] ?? dflt;
export function memoryConfig() {
  return {
    sessions: String(env('BENCH_MEMORY_SESSIONS', '1,2,4,8,15,30')).split(',').map(Number),
    settleMs: Number(env('BENCH_MEMORY_SETTLE_MS', 1500)),
    // Server children starting at once compete for the 2 cores; a few at a time is as fast and
    // keeps one slow start from hitting the connect timeout.
    spawnConcurrency: Number(env('BENCH_MEMORY_SPAWN_CONCURRENCY', 4)),
  };
}

const CONNECT_TIMEOUT_MS = 60000;
const mb = (b) => (b / 2 ** 20).toFixed(0);

/** One session's startup traffic: initialize (done by connect) and tools/list. */
async function openSession(connect) {
  const c = await withTimeout(connect(), CONNECT_TIMEOUT_MS, 'connect');
  await withTimeout(c.client.listTools(), CONNECT_TIMEOUT_MS, 'tools/list');
  return c;
}

/** Sums treeMem over roots, per server id and in total. */
function measure(rootsByServer) {
  const perServer = {};
  const total = { rss: 0, pss: 0, processes: 0 };
  for (const [id, roots] of Object.entries(rootsByServer)) {
    const m = { rss: 0, pss: 0, processes: 0 };
    for (const pid of roots) {
      const t = treeMem(pid);
      m.rss += t.rss;
      m.pss += t.pss;
      m.processes += t.processes;
    }
    perServer[id] = m;
    for (const k of Object.keys(total)) total[k] += m[k];
  }
  return { perServer, total };
}

/**
 * Grows `opened[server.id]` to n sessions per server, opening them with bounded concurrency.
 * Throws if any fails: a missing session would make the sum meaningless.
 */
async function growTo(servers, opened, n, open, cfg) {
  const jobs = servers.flatMap((s) => Array.from({ length: n - opened[s.id].length }, () => s));
  const results = await mapLimit(jobs, cfg.spawnConcurrency, async (s) => {
    const c = await open(s);
    opened[s.id].push(c);
  });
  const failed = results.find((r) => !r.ok);
  if (failed) throw new Error(`opening sessions for N=${n}: ${failed.error?.message ?? failed.error}`);
}

/** (b): one bridge per server, N SDK HTTP sessions on each. */
async function sharedSide(servers, nodeFlags, cfg, log) {
  const bridges = [];
  const sessions = Object.fromEntries(servers.map((s) => [s.id, []]));
  const steps = [];
  try {
    await Promise.all(
      servers.map(async (s) => {
        const b = await startBridge(nodeFlags, `mem-${s.id}`, s);
        bridges.push({ server: s, bridge: b, status: await waitReady(b) });
      }),
    );
    bridges.sort((a, b) => servers.indexOf(a.server) - servers.indexOf(b.server));
    const roots = () => Object.fromEntries(bridges.map((b) => [b.server.id, [b.bridge.pid]]));
    const urlOf = Object.fromEntries(bridges.map((b) => [b.server.id, b.bridge.url]));
    await sleep(cfg.settleMs);
    const idle = measure(roots());
    log(`  shared, 0 sessions: ${mb(idle.total.rss)} MB RSS, ${mb(idle.total.pss)} MB PSS`);
    for (const n of cfg.sessions) {
      await growTo(servers, sessions, n, (s) => openSession(() => connectHttp(urlOf[s.id])), cfg);
      await sleep(cfg.settleMs);
      const m = measure(roots());
      // The bridges' own count proves the sessions are really there (and nothing else is).
      const counts = await Promise.all(bridges.map(async (b) => (await b.bridge.status()).sessions.total));
      steps.push({ sessions: n, ...m, sessionsOnBridges: counts });
      log(`  shared, ${n} sessions: ${mb(m.total.rss)} MB RSS, ${mb(m.total.pss)} MB PSS (bridges count ${counts.join('/')})`);
    }
    return { idle, steps, bridges: bridges.map((b) => ({ server: b.server.id, pid: b.bridge.pid, childPid: b.status.child.pid })) };
  } finally {
    await Promise.all(
      Object.values(sessions)
        .flat()
        .map((c) => withTimeout(c.close(), 5000, 'close').catch(() => {})),
    );
    for (const b of bridges) await stopTree(b.bridge.pid);
  }
}

/** (a): every session forks its own stdio child of every server. */
async function forksSide(servers, cfg, log) {
  const sessions = Object.fromEntries(servers.map((s) => [s.id, []]));
  const steps = [];
  try {
    for (const n of cfg.sessions) {
      const t0 = performance.now();
      await growTo(servers, sessions, n, (s) => openSession(() => connectStdio(s)), cfg);
      const spawnMs = performance.now() - t0;
      await sleep(cfg.settleMs);
      const m = measure(Object.fromEntries(servers.map((s) => [s.id, sessions[s.id].map((c) => c.pid)])));
      steps.push({ sessions: n, ...m, spawnMs });
      log(`  forks, ${n} sessions: ${mb(m.total.rss)} MB RSS, ${mb(m.total.pss)} MB PSS (${m.total.processes} processes)`);
    }
    return { steps };
  } finally {
    const all = Object.values(sessions).flat();
    await mapLimit(all, 16, (c) => withTimeout(c.close(), 5000, 'close').catch(() => {}));
    const left = all.filter((c) => alive(c.pid));
    for (const c of left) await stopTree(c.pid, 1000);
  }
}

export async function runMemoryBench({ log, nodeFlags, config = memoryConfig() }) {
  const { servers, cleanup } = realServers();
  try {
    log(`memory: shared side (one bridge per server), sessions ${config.sessions.join(', ')}`);
    const shared = await sharedSide(servers, nodeFlags, config, log);
    log('memory: forks side (one stdio child per session per server)');
    const forks = await forksSide(servers, config, log);
    const rows = config.sessions.map((n, i) => {
      const f = forks.steps[i].total;
      const s = shared.steps[i].total;
      return {
        sessions: n,
        forks: { rss: f.rss, pss: f.pss, processes: f.processes },
        shared: { rss: s.rss, pss: s.pss, processes: s.processes },
        saved: { rss: f.rss - s.rss, pss: f.pss - s.pss },
        savedPct: { rss: (f.rss - s.rss) / f.rss, pss: (f.pss - s.pss) / f.pss },
      };
    });
    return {
      config,
      servers: servers.map((s) => ({ id: s.id, pkg: s.pkg, args: s.args.slice(1).map((a) => (a.startsWith('/') ? '<tmp dir>' : a)) })),
      nodeFlags,
      shared,
      forks,
      rows,
      breakEven: breakEven(rows, shared.idle.total),
    };
  } finally {
    cleanup();
  }
}

/**
 * Smallest session count at which sharing uses less memory, from the measured per-session cost of
 * a fork set and the shared side's cost: the first measured N where forks > shared, and the
 * linear estimate forks-per-session vs shared fixed cost.
 */
function breakEven(rows, sharedIdle) {
  const firstMeasured = rows.find((r) => r.saved.rss > 0)?.sessions;
  const perSessionRss = rows[0].forks.rss / rows[0].sessions;
  const perSessionPss = rows[0].forks.pss / rows[0].sessions;
  return {
    firstMeasuredSessions: firstMeasured,
    estimatedSessionsRss: sharedIdle.rss / perSessionRss,
    estimatedSessionsPss: sharedIdle.pss / perSessionPss,
  };
}
