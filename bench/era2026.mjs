/**
 * Era-2026 part of `npm run bench` (BENCH_ONLY=era2026): what a stateless MCP 2026-07-28 request costs
 * through the bridge compared with a 2025-11-25 session request, against the same bridge and the same
 * server-everything child (tool `echo`). Paths, alternated in rounds so machine drift hits all alike:
 *   session        SDK v1 Client, Streamable HTTP session (initialize once, Mcp-Session-Id after);
 *   stateless      SDK v2 Client (`@modelcontextprotocol/client`) pinned to 2026-07-28: every request
 *                  carries the `_meta` envelope and the MCP-Protocol-Version/Mcp-Method/Mcp-Name headers;
 *   sessionRaw, statelessRaw   the same two on a minimal node:http client, to split the bridge's own
 *                  cost from the SDK clients'.
 * Cases 1 client × 1 and × 4 in flight. Added latency = stateless p50 − session p50 (per client kind).
 * RSS of the bridge: idle, with LISTENS open `subscriptions/listen` streams, and after the load (issue 12
 * wants it within 5 MB of the 2025-only bridge: compare `idle` with the bridge part's idle RSS).
 * Every reply is checked (a reply with someone else's text counts as misrouted).
 * Knobs (env): BENCH_ERA_WARMUP_MS (2500, once per path), BENCH_ERA_MEASURE_MS (2400 per case and path,
 * split over the rounds), BENCH_ERA_ROUNDS (3), BENCH_ERA_LISTENS (20). Runs in about 40 s.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { memOf, cpuMsOf, ROOT, sleep, startBridge, waitReady } from './procs.mjs';
import { connectHttp, connectRaw, newCounter, runLoad, summarize } from './load.mjs';

const V = '2026-07-28';
const env = (name, dflt) => Number(process.env[name] ?? dflt);
const WARMUP_MS = env('BENCH_ERA_WARMUP_MS', 2500);
const MEASURE_MS = env('BENCH_ERA_MEASURE_MS', 2400);
const ROUNDS = env('BENCH_ERA_ROUNDS', 3);
const LISTENS = env('BENCH_ERA_LISTENS', 20);
const ROUND_WARMUP_MS = 200;
const CLIENT_INFO = { name: 'mcpshare-bench-2026', version: '1.0.0' };

const CASES = [
  { id: '1x1', inFlight: 1 },
  { id: '1x4', inFlight: 4 },
];
const PATHS = ['session', 'stateless', 'sessionRaw', 'statelessRaw'];
const pkgVersion = (name) => JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')).version;

/** An SDK v2 client pinned to 2026-07-28 (fails at connect when the bridge does not offer it). */
async function connectStateless(base) {
  const client = new ClientV2(CLIENT_INFO, { capabilities: {}, versionNegotiation: { mode: { pin: V } } });
  try {
    await client.connect(new HttpTransportV2(new URL(`${base}/mcp`)));
  } catch (err) {
    throw new Error(`the bridge does not serve MCP ${V} to an SDK v2 client: ${err?.message ?? err}`, { cause: err });
  }
  return { client, close: () => client.close().catch(() => {}) };
}

/**
 * A minimal stateless 2026-07-28 client on node:http (keep-alive): one POST per request with the
 * envelope and the standard headers, reading the whole reply (JSON or a short SSE stream).
 */
function connectStatelessRaw(base) {
  const url = new URL(`${base}/mcp`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const envelope = {
    'io.modelcontextprotocol/protocolVersion': V,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': CLIENT_INFO,
  };
  let nextId = 1;
  const request = (method, params, name) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': method };
      if (name !== undefined) headers['mcp-name'] = name;
      const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('error', reject);
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
          const payloads = res.headers['content-type']?.includes('text/event-stream')
            ? body
                .split('\n')
                .filter((l) => l.startsWith('data:'))
                .map((l) => l.slice(5).trim())
            : [body];
          for (const p of payloads) {
            const m = JSON.parse(p);
            if (m.id === id) return m.error ? reject(new Error(m.error.message)) : resolve(m.result);
          }
          reject(new Error(`no response for id ${id}`));
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: envelope } }));
    });
  return {
    client: { callTool: ({ name, arguments: args }) => request('tools/call', { name, arguments: args }, name) },
    async close() {
      agent.destroy();
    },
  };
}

const MB = (b) => (b === undefined ? undefined : b / (1024 * 1024));

export async function runEra2026Bench({ log, nodeFlags = [] }) {
  const results = {
    startedAt: new Date().toISOString(),
    env: {
      node: process.version,
      sdk: pkgVersion('@modelcontextprotocol/sdk'),
      sdkV2Client: pkgVersion('@modelcontextprotocol/client'),
      serverEverything: pkgVersion('@modelcontextprotocol/server-everything'),
    },
    config: { warmupMs: WARMUP_MS, measureMs: MEASURE_MS, rounds: ROUNDS, listens: LISTENS },
  };
  log(`era2026: starting bridge (node ${nodeFlags.join(' ')} dist/cli.js bridge ...)`);
  const bridge = await startBridge(nodeFlags, 'bench-era2026');
  const ready = await waitReady(bridge);
  const childPid = ready.child.pid;
  await sleep(2000);
  const idle = { bridge: memOf(bridge.pid), child: memOf(childPid) };
  log(`era2026: idle bridge ${MB(idle.bridge.rss).toFixed(1)} MB`);

  const counter = newCounter();
  const opened = [];
  const open = async (connect) => {
    const c = await connect(bridge.url);
    opened.push(c);
    return c;
  };
  try {
    // RSS with open listen streams: what a room of idle 2026 clients holds on the bridge.
    const listeners = await Promise.all(Array.from({ length: LISTENS }, () => open(connectStateless)));
    const subs = await Promise.all(listeners.map((l) => l.client.listen({ toolsListChanged: true })));
    await sleep(1500);
    const withListens = { bridge: memOf(bridge.pid), streams: subs.length };
    log(`era2026: ${subs.length} listen streams: bridge ${MB(withListens.bridge.rss).toFixed(1)} MB`);
    await Promise.all(subs.map((s) => s.close()));

    const sides = {
      session: await Promise.all([open(connectHttp)]),
      stateless: await Promise.all([open(connectStateless)]),
      sessionRaw: await Promise.all([open(connectRaw)]),
      statelessRaw: [await open(async (base) => connectStatelessRaw(base))],
    };
    const cpu = () => {
      const u = process.cpuUsage();
      return { driver: (u.user + u.system) / 1000, bridge: cpuMsOf(bridge.pid), child: cpuMsOf(childPid) };
    };
    log(`era2026: warming up each path (${WARMUP_MS} ms)`);
    for (const path of PATHS) {
      await runLoad({ tag: `era-warm-${path}`, clients: sides[path].map((c) => c.client), inFlight: 2, warmupMs: 0, measureMs: WARMUP_MS, counter });
    }
    const latency = Object.fromEntries(PATHS.map((p) => [p, {}]));
    for (const c of CASES) {
      log(`era2026: case ${c.id}: ${ROUNDS} rounds × ${PATHS.join(', ')}`);
      const samples = Object.fromEntries(PATHS.map((p) => [p, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const path of PATHS) {
          samples[path].push(
            await runLoad({
              tag: `era-${path}-${c.id}-r${round}`,
              clients: sides[path].map((s) => s.client),
              inFlight: c.inFlight,
              warmupMs: ROUND_WARMUP_MS,
              measureMs: MEASURE_MS / ROUNDS,
              cpuProbe: cpu,
              counter,
            }),
          );
        }
      }
      for (const path of PATHS) latency[path][c.id] = summarize(samples[path]);
    }
    const afterLoad = { bridge: memOf(bridge.pid), child: memOf(childPid) };
    const status = await bridge.status();

    const added = {};
    for (const [stateless, session] of [
      ['stateless', 'session'],
      ['statelessRaw', 'sessionRaw'],
    ]) {
      added[stateless] = Object.fromEntries(CASES.map((c) => [c.id, latency[stateless][c.id].p50 - latency[session][c.id].p50]));
    }
    results.latency = latency;
    results.addedP50Ms = added;
    results.memory = { idle, withListens, afterLoad };
    results.correctness = { ...counter, bridgeMisroutedDropped: status.misroutedDropped };
    results.verdicts = { noMisrouted: counter.misrouted === 0 && status.misroutedDropped === 0, noFailed: counter.failed === 0 };
    return results;
  } finally {
    await Promise.allSettled(opened.map((c) => c.close()));
    bridge.proc.kill('SIGTERM');
    await Promise.race([bridge.exited, sleep(5000)]);
  }
}

const fmt = (v, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const mb = (b) => (b === undefined || b === null ? 'n/a' : (b / (1024 * 1024)).toFixed(1));
const row = (cells) => `| ${cells.join(' | ')} |`;

/** The era2026 section of bench/results/latest.md. */
export function renderEra2026(r) {
  const out = ['## MCP 2026-07-28 stateless requests vs 2025 session requests', ''];
  out.push(
    `Same bridge, same \`server-everything\` ${r.env.serverEverything} child, tool \`echo\`. SDK v1 ${r.env.sdk} (session), ` +
      `SDK v2 client ${r.env.sdkV2Client} pinned to 2026-07-28 (stateless); raw = minimal node:http clients. ` +
      `${r.config.rounds} rounds alternating the paths, ${Math.round(r.config.measureMs / r.config.rounds)} ms measured per round and path.`,
    '',
  );
  out.push(row(['case', 'path', 'p50 ms', 'p99 ms', 'calls/s', 'bridge CPU µs/call']), row(['---', '---', '---:', '---:', '---:', '---:']));
  for (const id of Object.keys(r.latency.session)) {
    for (const path of Object.keys(r.latency)) {
      const s = r.latency[path][id];
      out.push(row([id, path, fmt(s.p50), fmt(s.p99), fmt(s.callsPerSec, 0), fmt(s.cpuUsPerCall?.bridge, 0)]));
    }
  }
  out.push(
    '',
    row(['added p50 (stateless − session)', ...Object.keys(r.addedP50Ms.stateless)]),
    row(['---', ...Object.keys(r.addedP50Ms.stateless).map(() => '---:')]),
  );
  for (const [path, byCase] of Object.entries(r.addedP50Ms)) out.push(row([path, ...Object.values(byCase).map((v) => `${fmt(v)} ms`)]));
  const m = r.memory;
  out.push(
    '',
    `Bridge RSS: idle ${mb(m.idle.bridge.rss)} MB; with ${m.withListens.streams} open \`subscriptions/listen\` streams ` +
      `${mb(m.withListens.bridge.rss)} MB; after the load ${mb(m.afterLoad.bridge.rss)} MB.`,
    `Correctness: ${r.correctness.checked} replies checked, ${r.correctness.misrouted} misrouted, ${r.correctness.failed} failed; ` +
      `bridge misroutedDropped ${r.correctness.bridgeMisroutedDropped}.`,
    '',
  );
  return out.join('\n');
}
