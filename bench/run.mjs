#!/usr/bin/env node
/**
 * mcpshare benchmarks (`npm run bench`; a benchmark, not timed tests). One run measures, in turn:
 *   bridge   latency/throughput through the bridge vs direct stdio, bridge RSS (bench/bridge.mjs);
 *   memory   RSS and PSS vs sessions: a stdio child per session per server vs one bridge per
 *            server, with four real servers (bench/memory.mjs);
 *   peers    mcpshare vs supergateway (SSE, stateful Streamable HTTP) and mcp-proxy fronting the
 *            same server: memory, latency, throughput, misrouted replies, lost progress (bench/peers.mjs);
 *   health   what the tray's periodic handshakes cost with ten daemons (bench/health.mjs);
 *   connect  RSS and PSS of `mcpshare connect` (the stdio shim for Claude Desktop) next to the server
 *            copy it replaces (bench/connect.mjs);
 *   tray     RSS over time of the tray (`mcpshare tray --interval 1`: its node process and its native
 *            tray binary) with 2, 10 and 20 bridged daemons, on a private Xvfb + trayer desktop
 *            (bench/tray.mjs; needs xvfb, trayer, dbus, xdotool, x11-utils, zenity, else it cannot run);
 *   era2026  a stateless MCP 2026-07-28 tools/call (SDK v2 client) vs a 2025 session tools/call through the
 *            same bridge: added latency, calls/s, bridge RSS idle and with open listen streams (bench/era2026.mjs);
 *   share    10 sessions over 3 projects on server-filesystem: a stdio child per session vs one
 *            `--share project` bridge with a child per project, RSS and PSS, leaks counted (bench/share.mjs);
 *   idle     seven registered servers asleep (lazy start, idle stop) vs always on, total PSS; the first
 *            call after idle (cold) vs a warm one (bench/idle.mjs).
 * BENCH_ONLY=bridge|memory|peers|health|connect|tray|era2026|share|idle (comma-separated) runs some parts only. The parts run one after
 * the other, never overlapping, and every process a part started is killed before the next begins.
 *
 * Writes bench/results/<part>-<timestamp>.json per part, and latest.json (every part of this run)
 * plus latest.md (bench/report.mjs), and prints the Markdown.
 * Exit code: 0 when measured (performance target misses are reported, not fatal); 1 when mcpshare
 * misrouted or failed a call or lost progress; 2 when a part could not run.
 * Each part's knobs are described in its module; BENCH_BRIDGE_NODE_FLAGS applies to all of them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { bridgeNodeFlags, killAll, ROOT } from './procs.mjs';
import { runBridgeBench } from './bridge.mjs';
import { runMemoryBench } from './memory.mjs';
import { runPeersBench } from './peers.mjs';
import { runHealthBench } from './health.mjs';
import { runConnectBench } from './connect.mjs';
import { runTrayBench } from './tray.mjs';
import { runEra2026Bench } from './era2026.mjs';
import { runShareBench } from './share.mjs';
import { runIdleBench } from './idle.mjs';
import { renderMarkdown } from './report.mjs';

const PARTS = {
  bridge: ({ log, clientListenerWarnings }) => runBridgeBench({ log, clientListenerWarnings }),
  memory: async ({ log }) => runMemoryBench({ log, nodeFlags: await bridgeNodeFlags() }),
  peers: async ({ log }) => runPeersBench({ log, nodeFlags: await bridgeNodeFlags() }),
  health: async ({ log }) => runHealthBench({ log, nodeFlags: await bridgeNodeFlags() }),
  connect: async ({ log }) => runConnectBench({ log, nodeFlags: await bridgeNodeFlags() }),
  tray: async ({ log }) => runTrayBench({ log, nodeFlags: await bridgeNodeFlags() }),
  era2026: async ({ log }) => runEra2026Bench({ log, nodeFlags: await bridgeNodeFlags() }),
  share: async ({ log }) => runShareBench({ log, nodeFlags: await bridgeNodeFlags() }),
  idle: async ({ log }) => runIdleBench({ log, nodeFlags: await bridgeNodeFlags() }),
};

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const pkgVersion = (name) => JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')).version;

// The SDK's HTTP client passes one AbortSignal to every fetch and undici only drops its abort
// listener when the request is garbage-collected, so Node warns (once per request) past 1,500
// listeners. Count those warnings instead of printing thousands of lines; print any other warning.
const clientListenerWarnings = { count: 0, maxListeners: 0 };
process.removeAllListeners('warning');
process.on('warning', (w) => {
  const m = w.name === 'MaxListenersExceededWarning' && /(\d+) abort listeners/.exec(w.message);
  if (!m) return log(`warning: ${w.name}: ${w.message}`);
  clientListenerWarnings.count++;
  clientListenerWarnings.maxListeners = Math.max(clientListenerWarnings.maxListeners, Number(m[1]));
});

function selectedParts() {
  const only = process.env.BENCH_ONLY?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!only?.length) return Object.keys(PARTS);
  const unknown = only.filter((p) => !PARTS[p]);
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown part(s) ${unknown.join(', ')}; parts: ${Object.keys(PARTS).join(', ')}`);
  return Object.keys(PARTS).filter((p) => only.includes(p)); // always in the documented order
}

/** 1 when mcpshare itself misbehaved (a misrouted, failed or lost message) in any part that ran. */
function correctnessExitCode(all) {
  const b = all.bridge;
  if (b && !b.error && !(b.verdicts.noMisrouted && b.verdicts.noFailed)) return 1;
  if (all.connect && !all.connect.error && all.connect.misrouted) return 1;
  const v = all.peers?.summary?.verdicts;
  if (v && !(v.mcpshareNoMisrouted && v.mcpshareNoLostProgress)) return 1;
  const e = all.era2026;
  if (e && !e.error && !(e.verdicts.noMisrouted && e.verdicts.noFailed)) return 1;
  const s = all.share;
  if (s && !s.error && s.correctness.leaks > 0) return 1;
  return 0;
}

async function main() {
  const parts = selectedParts();
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-'); // ISO time, filename-safe
  const all = {
    startedAt: started.toISOString(),
    parts,
    env: {
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memTotalBytes: os.totalmem(),
      mcpshare: JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version,
      sdk: pkgVersion('@modelcontextprotocol/sdk'),
      supergateway: pkgVersion('supergateway'),
      mcpProxy: pkgVersion('mcp-proxy'),
      servers: Object.fromEntries(
        ['server-everything', 'server-memory', 'server-filesystem', 'server-sequential-thinking'].map((s) => [s, pkgVersion(`@modelcontextprotocol/${s}`)]),
      ),
    },
  };
  const dir = `${ROOT}bench/results`;
  mkdirSync(dir, { recursive: true });
  let couldNotRun = false;
  for (const part of parts) {
    const t0 = Date.now();
    log(`== ${part}`);
    try {
      all[part] = await PARTS[part]({ log, clientListenerWarnings });
    } catch (err) {
      couldNotRun = true;
      log(`${part} FAILED: ${err?.stack ?? err}`);
      all[part] = { error: String(err?.stack ?? err) };
    }
    // Whatever the part left running (also after a failure) goes before the next part measures.
    const left = await killAll(2000);
    all[part].leftoverProcesses = left;
    all[part].durationSec = (Date.now() - t0) / 1000;
    if (left.length) log(`WARNING: processes still alive after ${part}: ${left.join(', ')}`);
    writeFileSync(`${dir}/${part}-${stamp}.json`, JSON.stringify(all[part], null, 2));
  }
  all.finishedAt = new Date().toISOString();
  all.durationSec = (Date.now() - started.getTime()) / 1000;

  const md = renderMarkdown(all);
  writeFileSync(`${dir}/latest.json`, JSON.stringify(all, null, 2));
  writeFileSync(`${dir}/latest.md`, md);
  process.stdout.write(md);
  log(`wrote bench/results/{${parts.map((p) => `${p}-${stamp}.json`).join(', ')}, latest.json, latest.md} (${all.durationSec.toFixed(0)} s)`);
  if (couldNotRun) return 2;
  return correctnessExitCode(all);
}

// Ctrl-C / kill: take every started process down with us (main's resulting errors are expected).
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    interrupted = true;
    log(`${sig}: cleaning up`);
    void killAll(1000).finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await killAll(1000);
    process.exit(code);
  },
  async (err) => {
    if (interrupted) return; // the signal handler cleans up and exits
    log(`FAILED: ${err?.stack ?? err}`);
    const left = await killAll(1000);
    if (left.length) log(`processes still alive after cleanup: ${left.join(', ')}`);
    process.exit(2);
  },
);
