/**
 * Health part of `npm run bench`: what the tray's periodic handshakes cost. Ten bridged servers
 * (server-memory, the lightest real one), probed the way HealthMonitor does (one real initialize +
 * DELETE each, all ten at once), ROUNDS times back to back. Reports, per round: wall time, CPU of
 * the probing process, CPU of the daemons answering, and whether any probe session was left behind.
 * Knobs: BENCH_HEALTH_SERVERS (10), BENCH_HEALTH_ROUNDS (30).
 */
import { cpuMsOf, memOf, ROOT, startBridge, waitReady } from './procs.mjs';

const MEMORY_SERVER = { id: 'memory', command: process.execPath, args: [`${ROOT}node_modules/@modelcontextprotocol/server-memory/dist/index.js`], env: {} };

export async function runHealthBench({ log, nodeFlags = [] }) {
  const { probe } = await import(`${ROOT}dist/health/probe.js`);
  const servers = Number(process.env.BENCH_HEALTH_SERVERS ?? 10);
  const rounds = Number(process.env.BENCH_HEALTH_ROUNDS ?? 30);
  log(`health: starting ${servers} bridges`);
  const bridges = await Promise.all(Array.from({ length: servers }, (_, i) => startBridge(nodeFlags, `health-${i}`, MEMORY_SERVER)));
  await Promise.all(bridges.map((b) => waitReady(b)));
  const targets = bridges.map((b) => ({ url: `${b.url}/mcp`, transport: 'http' }));
  // One warm-up round: module loading and first connections are not what a tray pays every 30 s.
  await Promise.all(targets.map((t) => probe(t, { noAlternatives: true })));

  const walls = [];
  const selfCpu = [];
  const daemonCpu = [];
  let failed = 0;
  const rssBefore = memOf(process.pid).rss;
  for (let i = 0; i < rounds; i++) {
    const d0 = bridges.reduce((s, b) => s + cpuMsOf(b.pid), 0);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const results = await Promise.all(targets.map((t) => probe(t, { noAlternatives: true })));
    walls.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    selfCpu.push((c.user + c.system) / 1000);
    daemonCpu.push(bridges.reduce((s, b) => s + cpuMsOf(b.pid), 0) - d0);
    failed += results.filter((r) => !r.ok).length;
  }
  const statuses = await Promise.all(bridges.map((b) => b.status()));
  const sessionsLeft = statuses.reduce((s, st) => s + (st.sessions?.total ?? 0), 0);
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const result = {
    servers,
    rounds,
    failedProbes: failed,
    sessionsLeft,
    roundWallMs: { p50: med(walls), max: Math.max(...walls) },
    proberCpuMsPerRound: { p50: med(selfCpu), max: Math.max(...selfCpu) },
    daemonsCpuMsPerRound: { p50: med(daemonCpu), max: Math.max(...daemonCpu) },
    /** Share of one core the prober spends at the default 30 s interval. */
    proberCpuShareAt30s: med(selfCpu) / 30_000,
    proberRssBytes: { before: rssBefore, after: memOf(process.pid).rss },
  };
  log(
    `health: round of ${servers} probes: ${result.roundWallMs.p50.toFixed(1)} ms wall, ${result.proberCpuMsPerRound.p50.toFixed(1)} ms CPU; ${failed} failed; ${sessionsLeft} sessions left`,
  );
  return result;
}

export function renderHealth(r) {
  const f = (n) => n.toFixed(1);
  return [
    '## Health probes',
    '',
    `${r.servers} bridged servers, each probed with a real initialize + DELETE, all at once, ${r.rounds} rounds.`,
    '',
    '| per round | p50 | max |',
    '|---|---|---|',
    `| wall time | ${f(r.roundWallMs.p50)} ms | ${f(r.roundWallMs.max)} ms |`,
    `| CPU of the prober (the tray) | ${f(r.proberCpuMsPerRound.p50)} ms | ${f(r.proberCpuMsPerRound.max)} ms |`,
    `| CPU of the ${r.servers} daemons answering | ${f(r.daemonsCpuMsPerRound.p50)} ms | ${f(r.daemonsCpuMsPerRound.max)} ms |`,
    '',
    `At the default 30 s interval the prober uses ${(r.proberCpuShareAt30s * 100).toFixed(3)}% of one core. ` +
      `Failed probes: ${r.failedProbes}; probe sessions left in the daemons: ${r.sessionsLeft}.`,
    '',
  ].join('\n');
}
