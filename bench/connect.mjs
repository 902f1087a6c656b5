/**
 * Connect part of `npm run bench`: what `mcpshare connect` (the stdio shim Claude Desktop runs
 * instead of its own copy of a server) costs in memory, next to the copy it replaces.
 *
 * One bridge in front of server-everything. Then, in turn:
 *  - a direct stdio copy of server-everything with one SDK client (what Claude Desktop runs today);
 *  - SHIMS shims (`node CONNECT_NODE_FLAGS dist/cli.js connect URL`, as a client config runs them), each with one SDK client
 *    over stdio doing a session's startup (initialize, tools/list) and then CALLS echo calls and one
 *    progress call, so every path of the relay (JSON replies, SSE replies, the GET stream) has run.
 * After SETTLE_MS, RSS (VmRSS), peak RSS (VmHWM) and PSS (/proc/PID/smaps_rollup) of each process.
 * PSS shares the node binary's pages among the processes that map it: with several shims each one's
 * PSS is lower than one shim alone, so both are reported.
 * Knobs: BENCH_CONNECT_SHIMS (5), BENCH_CONNECT_CALLS (200), BENCH_CONNECT_SETTLE_MS (1500),
 * BENCH_CONNECT_NODE_FLAGS (the shims' node flags; default CONNECT_NODE_FLAGS from dist/runtime.js).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { connectStdio } from './load.mjs';
import { spawn } from 'node:child_process';
import { CLI, memOf, pssOf, ROOT, sleep, startBridge, track, waitReady } from './procs.mjs';

const env = (name, dflt) => Number(process.env[name] ?? dflt);

async function openShim(url, nodeFlags) {
  // What connectLaunch (src/connect/launch.ts) writes into a client's config.
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...nodeFlags, CLI, 'connect', url],
    env: { PATH: process.env.PATH ?? '' },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'mcpshare-bench', version: '1.0.0' }, { capabilities: {} });
  try {
    await client.connect(transport);
  } finally {
    track(transport.pid, 'mcpshare connect');
  }
  return { client, pid: transport.pid, close: () => client.close().catch(() => {}) };
}

/** A session's work: startup, `calls` echo calls (4 in flight), one call with progress. Returns misrouted echo replies. */
async function work(client, calls) {
  await client.listTools();
  let misrouted = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < calls) {
        const message = `m${next++}`;
        const r = await client.callTool({ name: 'echo', arguments: { message } });
        if (r.content?.[0]?.text !== `Echo: ${message}`) {
          misrouted++;
          process.stderr.write(`[bench] connect: echo ${message} answered ${JSON.stringify(r).slice(0, 300)}\n`);
        }
      }
    }),
  );
  // Exercised, not judged: SDK v1 drops a last update that arrives in the same read as the result,
  // straight from a stdio server too (test/connect.test.ts checks the shim's order at line level).
  await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 4 } }, undefined, { onprogress: () => {} });
  return misrouted;
}

const memory = (pid) => ({ ...memOf(pid), pss: pssOf(pid) });

export async function runConnectBench({ log, nodeFlags = [] }) {
  const shims = env('BENCH_CONNECT_SHIMS', 5);
  const calls = env('BENCH_CONNECT_CALLS', 200);
  const settleMs = env('BENCH_CONNECT_SETTLE_MS', 1500);
  const shimFlags =
    process.env.BENCH_CONNECT_NODE_FLAGS !== undefined
      ? process.env.BENCH_CONNECT_NODE_FLAGS.split(/\s+/).filter(Boolean)
      : [...(await import(`${ROOT}dist/runtime.js`)).CONNECT_NODE_FLAGS];

  // The floor: node doing nothing, with the same flags. What a shim adds to it is the shim's own cost.
  const idle = spawn(process.execPath, [...shimFlags, '-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
  track(idle.pid, 'idle node');
  await sleep(settleMs);
  const floor = memory(idle.pid);
  idle.kill();

  log('connect: a direct stdio copy of server-everything');
  const direct = await connectStdio();
  await work(direct.client, calls);
  await sleep(settleMs);
  const copy = memory(direct.pid);
  await direct.close();

  const bridge = await startBridge(nodeFlags, 'connect-bench');
  await waitReady(bridge);
  const url = `${bridge.url}/mcp`;
  log(`connect: one shim, then ${shims} at once, through ${url}`);
  const first = await openShim(url, shimFlags);
  let misrouted = await work(first.client, calls);
  await sleep(settleMs);
  const alone = memory(first.pid);
  const more = await Promise.all(Array.from({ length: shims - 1 }, () => openShim(url, shimFlags)));
  const all = [first, ...more];
  misrouted += (await Promise.all(more.map((s) => work(s.client, calls)))).reduce((a, b) => a + b, 0);
  await sleep(settleMs);
  const each = all.map((s) => memory(s.pid));
  await Promise.all(all.map((s) => s.close()));
  const avg = (key) => each.reduce((a, m) => a + (m[key] ?? 0), 0) / each.length;
  const result = {
    nodeFlags: shimFlags,
    calls,
    shims,
    misrouted,
    idleNode: floor,
    serverCopy: copy,
    shimAlone: alone,
    shimsAverage: { rss: avg('rss'), hwm: avg('hwm'), pss: avg('pss') },
    shimsTotal: { rss: avg('rss') * each.length, pss: avg('pss') * each.length },
  };
  const mb = (b) => (b / 2 ** 20).toFixed(1);
  log(`connect: shim alone RSS ${mb(alone.rss)} MB, PSS ${mb(alone.pss)} MB; a server-everything copy RSS ${mb(copy.rss)} MB, PSS ${mb(copy.pss)} MB`);
  return result;
}

export function renderConnect(r) {
  const mb = (b) => (b === undefined || b === null ? 'n/a' : (b / 2 ** 20).toFixed(1));
  const row = (label, m) => `| ${label} | ${mb(m.rss)} MB | ${mb(m.hwm)} MB | ${mb(m.pss)} MB |`;
  return [
    '## `mcpshare connect` (the stdio shim for Claude Desktop)',
    '',
    `Each process after a session's startup, ${r.calls} \`echo\` calls and one call with progress, then a pause. ` +
      `Shims run as \`node ${[...r.nodeFlags, 'dist/cli.js connect URL'].join(' ')}\` against one bridge in front of server-everything.`,
    '',
    '| process | RSS | peak RSS | PSS |',
    '|---|---|---|---|',
    row('a stdio copy of server-everything (what the shim replaces)', r.serverCopy),
    row('node doing nothing, same flags (the floor)', r.idleNode),
    row('one shim alone', r.shimAlone),
    row(`one shim of ${r.shims} (average)`, r.shimsAverage),
    '',
    `A shim costs ${((r.shimAlone.rss / r.serverCopy.rss) * 100).toFixed(0)}% of a server copy's RSS and ` +
      `${((r.shimAlone.pss / r.serverCopy.pss) * 100).toFixed(0)}% of its PSS when alone; above node's own floor it adds ` +
      `${mb(r.shimAlone.rss - r.idleNode.rss)} MB of RSS and ${mb(r.shimAlone.pss - r.idleNode.pss)} MB of PSS. Misrouted or failed replies: ${r.misrouted}.`,
    '',
  ].join('\n');
}
