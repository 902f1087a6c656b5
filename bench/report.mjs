/**
 * Renders a bench run as the Markdown a person reads (bench/results/latest.md): a header, then one
 * section per part that ran (bridge here; memory, peers and tray in their own modules).
 */
import { renderMemory } from './report-memory.mjs';
import { renderPeers } from './report-peers.mjs';
import { renderHealth } from './health.mjs';
import { renderConnect } from './connect.mjs';
import { renderTray } from './report-tray.mjs';
import { renderEra2026 } from './era2026.mjs';
import { renderShare } from './share.mjs';
import { renderIdle } from './idle.mjs';

const ms = (v) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const mb = (b) => (b === undefined || b === null ? 'n/a' : (b / (1024 * 1024)).toFixed(1));
const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const verdict = (ok) => (ok ? '**pass**' : '**MISS**');
const row = (cells) => `| ${cells.join(' | ')} |`;

const PATHS = ['direct', 'floor', 'floorRaw', 'bridge', 'bridgeRaw'];
const PATH_LABELS = {
  direct: 'direct (stdio)',
  floor: 'floor server (SDK)',
  floorRaw: 'floor server (raw http)',
  bridge: 'bridge (SDK)',
  bridgeRaw: 'bridge (raw http)',
};

const LABELS = {
  '1x1': '1 client × 1 in flight',
  '1x4': '1 client × 4 in flight',
  '10x4': '10 clients × 4 in flight',
  'ping-1x1': '`ping`, 1 client × 1 in flight',
};

/** The bridge part (bench/bridge.mjs): latency, throughput, CPU, RSS and correctness. */
export function renderBridge(r) {
  const L = r.latency;
  const out = [];
  out.push('## Bridge: latency, throughput and RSS', '');
  const cfg = r.config;
  out.push(
    `Server: \`server-everything\` ${r.env.serverEverything} (stdio), tool \`echo\`, SDK ${r.env.sdk}. ` +
      `Bridge run as \`node ${[...(r.bridge.nodeFlags ?? []), 'dist/cli.js bridge'].join(' ')}\`. ` +
      `Node ${r.env.node}, ${r.env.cpus} CPU (${r.env.cpuModel}); the bench driver, bridge and server(s) share these cores. ` +
      `Each side first gets ${cfg.processWarmupMs} ms of load to reach steady state (a fresh Node process is several times slower at first). ` +
      `Each case then runs ${cfg.rounds} rounds alternating the paths; per round and path: ${cfg.warmupMs} ms warm-up, ` +
      `${Math.round(cfg.measureMs / cfg.rounds)} ms measured (ping: 2/3 of that), closed loop.`,
    '',
  );

  const ml = r.machineLoad;
  if (ml && ml.otherCores > 0.15)
    out.push(
      `> **Warning:** other processes on this machine used ${ml.otherCores.toFixed(2)} of ${r.env.cpus} cores on average during the ` +
        'latency cases; latency and throughput numbers are skewed. Re-run on a quiet machine.',
      '',
    );

  out.push('### Targets', '');
  out.push(row(['target', 'measured', 'limit', 'result']), row(['---', '---:', '---:', '---']));
  out.push(
    row([
      'added p50 latency, 1 client × 1 in flight',
      `${ms(r.addedP50Ms.bridge['1x1'])} ms`,
      `≤ ${r.targets.addedP50Ms} ms`,
      verdict(r.verdicts.addedP50_1x1),
    ]),
  );
  out.push(
    row([
      'added p50 latency, 1 client × 4 in flight',
      `${ms(r.addedP50Ms.bridge['1x4'])} ms`,
      `≤ ${r.targets.addedP50Ms} ms`,
      verdict(r.verdicts.addedP50_1x4),
    ]),
  );
  out.push(row(['bridge RSS idle', `${mb(r.memory.idle.bridge.rss)} MB`, `≤ ${r.targets.idleRssMB} MB`, verdict(r.verdicts.idleRss)]));
  out.push(
    row([
      `bridge RSS with ${r.config.sessions} sessions`,
      `${mb(r.memory.withSessions.bridge.rss)} MB`,
      `≤ ${r.targets.sessionsRssMB} MB`,
      verdict(r.verdicts.sessionsRss),
    ]),
  );
  const c = r.correctness;
  out.push(row(['misrouted replies', `${c.misrouted} of ${int(c.checked)} checked`, '0', verdict(r.verdicts.noMisrouted)]));
  out.push(row(['failed calls', String(c.failed), '0', verdict(r.verdicts.noFailed)]), '');

  // Split the 1×1 added latency into "any HTTP server with this client" and "the bridge's own work".
  const at = (path) => L[path]?.['1x1']?.p50;
  if (Number.isFinite(at('floor')) && Number.isFinite(at('floorRaw'))) {
    out.push(
      `Where the added p50 at 1×1 comes from: with the SDK client, a bare HTTP server already adds ${ms(at('floor') - at('direct'))} ms ` +
        `over stdio; the bridge adds ${ms(at('bridge') - at('floor'))} ms on top of that. With the raw node:http client: ` +
        `${ms(at('floorRaw') - at('direct'))} ms for HTTP, ${ms(at('bridgeRaw') - at('floorRaw'))} ms for the bridge.`,
      '',
    );
  }

  out.push('### Latency and throughput', '');
  out.push(
    row(['load', 'path', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'calls/s', 'calls', 'added p50 ms', 'p50 per round']),
    row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
  );
  for (const id of Object.keys(L.direct)) {
    for (const path of PATHS) {
      const x = L[path][id];
      if (!x) continue;
      const addedMs = path === 'direct' ? '' : ms(r.addedP50Ms[path][id]);
      const rounds = x.roundP50s.map((v) => v.toFixed(2)).join(' / ');
      out.push(row([LABELS[id] ?? id, PATH_LABELS[path], ms(x.p50), ms(x.p90), ms(x.p99), ms(x.max), int(x.callsPerSec), int(x.calls), addedMs, rounds]));
    }
  }
  out.push(
    '',
    '- *direct*: SDK `Client` + `StdioClientTransport`, one server child per client. *bridge (SDK)*: SDK `Client` + ' +
      '`StreamableHTTPClientTransport` (what the targets are judged on). *bridge (raw http)*: a minimal node:http ' +
      "keep-alive client doing the same JSON-RPC, to separate the bridge's own cost from the SDK HTTP client's. " +
      '*floor server*: a bare node:http server that answers `echo` itself with a JSON body (bench/floor-server.mjs): ' +
      'what one HTTP round trip costs on this machine with that client, before any bridge work.',
    '- `ping` is answered by the bridge itself (it never reaches the child): its bridge rows are the cost of the HTTP hop alone.',
    '',
  );

  out.push('### Where the CPU goes (µs of CPU per call, measured phase)', '');
  out.push(row(['load', 'path', 'bench driver (clients)', 'bridge (or floor server)', 'server child(ren)']), row(['---', '---', '---:', '---:', '---:']));
  for (const id of Object.keys(L.direct)) {
    for (const path of PATHS) {
      const x = L[path][id]?.cpuUsPerCall;
      if (!x) continue;
      const server = path === 'direct' ? int(x.children) : path.startsWith('floor') ? '—' : int(x.child);
      out.push(row([LABELS[id] ?? id, PATH_LABELS[path], int(x.driver), path === 'direct' ? '—' : int(x.bridge), server]));
    }
  }
  out.push('', 'From /proc/<pid>/stat utime+stime (10 ms ticks) and process.cpuUsage(), divided by the calls measured.', '');

  const m = r.memory;
  out.push('### Memory (VmRSS from /proc/<pid>/status)', '');
  out.push(row(['moment', 'bridge RSS MB', 'bridge peak (VmHWM) MB', 'child RSS MB']), row(['---', '---:', '---:', '---:']));
  out.push(row([`idle (child ready, ${r.config.settleMs} ms settled, no client yet)`, mb(m.idle.bridge.rss), mb(m.idle.bridge.hwm), mb(m.idle.child.rss)]));
  out.push(
    row([
      `${r.config.sessions} sessions open (initialized, 1 call each, GET streams open on ${m.withSessions.clientsWithOpenGetStream}/${r.config.sessions}; bridge counts ${m.withSessions.sessionsOnBridge.total})`,
      mb(m.withSessions.bridge.rss),
      mb(m.withSessions.bridge.hwm),
      mb(m.withSessions.child.rss),
    ]),
  );
  out.push(row(['after all latency runs (sessions closed)', mb(m.afterLoad.bridge.rss), mb(m.afterLoad.bridge.hwm), mb(m.afterLoad.child.rss)]));
  out.push('');
  const shared = (m.withSessions.bridge.rss ?? 0) + (m.withSessions.child.rss ?? 0);
  out.push(
    `For scale: the ${m.direct.children} direct stdio children used ${mb(m.direct.totalRss)} MB in total ` +
      `(${mb(m.direct.totalRss / m.direct.children)} MB each); bridge + its one child with ${r.config.sessions} sessions: ${mb(shared)} MB.`,
    '',
  );

  out.push('### Correctness and cleanup', '');
  out.push(
    `- Every echo reply was compared with the unique message its caller sent: ${int(c.checked)} checked, ` +
      `${c.misrouted} misrouted, ${c.failed} failed. The bridge's own count of dropped replies with unknown ids: ${c.bridgeMisroutedDropped}; ` +
      `requests it served: ${int(c.bridgeRequestsServed)}; child restarts: ${c.childRestarts}.`,
  );
  if (c.examples.length) out.push(`- First problems: \`${JSON.stringify(c.examples)}\``);
  out.push(`- Sessions left on the bridge after the ${r.config.sessions} clients sent DELETE: ${m.withSessions.sessionsLeftAfterDelete}.`);
  out.push(
    `- Processes left after the bench: ${r.cleanup.leftovers.length ? r.cleanup.leftovers.join(', ') : 'none'} ` +
      `(bridge child gone: ${r.cleanup.bridgeChildGone ? 'yes' : 'NO'}).`,
  );
  const w = r.clientListenerWarnings;
  if (w?.count)
    out.push(
      `- The SDK HTTP client triggered ${int(w.count)} MaxListenersExceededWarning (up to ${int(w.maxListeners)} abort listeners on one ` +
        'AbortSignal): it passes one signal to every fetch and undici removes its listener only on GC. Client-side cost, suppressed in the output.',
    );
  if (ml)
    out.push(
      `- CPU during the latency cases: the bench's own processes ${ml.oursCores.toFixed(2)} cores, other processes ${ml.otherCores.toFixed(2)} cores (of ${r.env.cpus}).`,
    );
  out.push(`- Whole run: ${r.durationSec.toFixed(0)} s.`, '');
  return out.join('\n');
}

const PART_RENDERERS = {
  bridge: renderBridge,
  memory: renderMemory,
  peers: renderPeers,
  health: renderHealth,
  connect: renderConnect,
  tray: renderTray,
  era2026: renderEra2026,
  share: renderShare,
  idle: renderIdle,
};
const PART_TITLES = {
  bridge: 'Bridge',
  memory: 'Memory vs sessions',
  peers: 'Peers',
  health: 'Health probes',
  connect: '`mcpshare connect`',
  tray: 'Tray memory over time',
  era2026: 'MCP 2026-07-28 stateless vs 2025 session',
  share: 'Sharing modes: per session vs per project',
  idle: 'Idle daemons',
};

/** The whole run: header, then each part's section (or the error that stopped it). */
export function renderMarkdown(all) {
  const e = all.env;
  const out = [`# mcpshare benchmarks — ${all.startedAt}`, ''];
  out.push(
    `Node ${e.node} on ${e.platform}, ${e.cpus} CPU (${e.cpuModel}), ${(e.memTotalBytes / 2 ** 30).toFixed(0)} GB RAM. ` +
      `mcpshare ${e.mcpshare}, SDK ${e.sdk}, supergateway ${e.supergateway}, mcp-proxy ${e.mcpProxy}; servers: ` +
      `${Object.entries(e.servers)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}. Parts run: ${all.parts.join(', ')} ` +
      `(${all.durationSec.toFixed(0)} s). MB = 2^20 bytes.`,
    '',
  );
  for (const part of all.parts) {
    const r = all[part];
    if (r.error) {
      out.push(`## ${PART_TITLES[part]}`, '', `**Could not run:**`, '', '```', r.error.slice(0, 3000), '```', '');
      continue;
    }
    out.push(PART_RENDERERS[part](r));
    if (r.leftoverProcesses?.length) out.push(`**Processes left after this part:** ${r.leftoverProcesses.join(', ')}`, '');
  }
  return out.join('\n');
}
