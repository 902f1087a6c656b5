/**
 * Idle daemons (issue 13): what seven registered servers cost with their servers asleep against the
 * same seven always on, and what the first call after idle (cold: the server starts) costs against
 * a warm one.
 *
 * Seven bridges on fixed ports, each with its own state directory, in front of seven real servers
 * (server-everything, -memory, -filesystem, -sequential-thinking, and three more copies of them
 * under other names: seven entries in a registry, as a user with seven servers would have):
 *   (a) always on: `mcpshare bridge` as before, each server started at once; one client session
 *       per bridge (initialize, tools/list, its GET stream open);
 *   (b) asleep: the same with `--lazy --idle-stop 2` (what units now run, with 2 s for 600): the first
 *       start takes the discovery snapshot, then each server stops, except those known to keep state
 *       only in memory (sequential-thinking), which units never stop; the client sessions stay.
 * Memory is PSS (Linux smaps_rollup: each shared page counted once) and RSS, summed over every
 * bridge and its children, after the processes settled. Then, on the asleep server-everything:
 * N rounds of (wait until asleep, time one tools/call: cold) and (time the next tools/call: warm),
 * plus initialize + tools/list answered from the snapshot while asleep.
 * BENCH_IDLE_ROUNDS (default 3). Takes about half a minute.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, freePort, ROOT, sleep, stopTree, track, treesMem } from './procs.mjs';
import { connectHttp, textOf } from './load.mjs';
import { realServers } from './servers.mjs';

const mb = (b) => (b / 2 ** 20).toFixed(1);
const rounds = Number(process.env.BENCH_IDLE_ROUNDS ?? 3);

function startBridgeOn(nodeFlags, name, server, port, stateDir, extra) {
  const envArgs = Object.entries(server.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  const args = [
    ...nodeFlags,
    CLI,
    'bridge',
    '--port',
    String(port),
    '--name',
    name,
    '--state-dir',
    stateDir,
    ...extra,
    ...envArgs,
    '--',
    server.command,
    ...server.args,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc.pid, `bridge ${name}`, false, true);
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.resume();
  const url = `http://127.0.0.1:${port}`;
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (/listening on/.test(out)) {
        clearInterval(timer);
        resolve({ proc, pid: proc.pid, name, url, status: async () => (await fetch(`${url}/status`)).json() });
      }
    }, 20);
    proc.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`bridge ${name} exited (${code})`));
    });
  });
}

async function waitChild(bridge, states, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await bridge.status();
    if (states.includes(s.child.state) && s.idle.snapshot) return s;
    if (Date.now() > deadline) throw new Error(`${bridge.name}: child not ${states.join('/')} after ${timeoutMs} ms: ${JSON.stringify(s.child)}`);
    await sleep(100);
  }
}

/** Seven entries from the four real servers: the first four, then three more under other names. */
function sevenServers(servers) {
  const out = servers.map((s) => ({ ...s }));
  for (let i = 0; out.length < 7; i++) out.push({ ...servers[i % servers.length], id: `${servers[i % servers.length].id}-${i + 2}` });
  return out;
}

async function measureSet(label, nodeFlags, servers, stateRoot, extraOf, log) {
  const bridges = [];
  const clients = [];
  try {
    for (const s of servers) bridges.push(await startBridgeOn(nodeFlags, s.id, s, await freePort(), path.join(stateRoot, s.id), extraOf(s)));
    const extra = extraOf(servers[0]);
    // Always on: every server ready. Lazy: every server ran once and left its snapshot (it may be
    // asleep again already).
    for (const b of bridges) await waitChild(b, extra.includes('--lazy') ? ['ready', 'idle'] : ['ready']);
    for (const b of bridges) {
      const c = await connectHttp(b.url);
      await c.client.listTools();
      clients.push(c);
    }
    if (extra.includes('--lazy')) for (const [i, b] of bridges.entries()) if (extraOf(servers[i]).includes('--idle-stop')) await waitChild(b, ['idle']);
    await sleep(1500); // settle
    const mem = treesMem(bridges.map((b) => b.pid));
    const states = await Promise.all(bridges.map(async (b) => (await b.status()).child.state));
    log(`idle: ${label}: ${mb(mem.pss)} MB PSS, ${mb(mem.rss)} MB RSS over ${mem.processes} processes (children: ${states.join(', ')})`);
    return { label, pssBytes: mem.pss, rssBytes: mem.rss, processes: mem.processes, childStates: states, bridges, clients };
  } catch (err) {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const b of bridges) stopTree(b.pid);
    throw err;
  }
}

async function teardown(set) {
  await Promise.allSettled(set.clients.map((c) => c.close()));
  await Promise.all(set.bridges.map((b) => stopTree(b.pid)));
}

export async function runIdleBench({ log, nodeFlags }) {
  const { servers, cleanup } = realServers();
  const stateRoot = mkdtempSync(path.join(os.tmpdir(), 'mcpshare-bench-idle-'));
  try {
    const seven = sevenServers(servers);
    const { idleStopDefault } = await import(`${ROOT}dist/registry/shareability.js`);
    // What `mcpshare add` gives each server: idle stop unless it keeps state only in memory (then
    // it stays on: sequential-thinking), here after 2 s instead of 600 so the bench is short.
    const lazyFlags = (s) => ['--lazy', ...(idleStopDefault(s.command, s.args).seconds > 0 ? ['--idle-stop', '2'] : [])];
    const on = await measureSet('always on', nodeFlags, seven, path.join(stateRoot, 'on'), () => [], log);
    const onFigures = { pssBytes: on.pssBytes, rssBytes: on.rssBytes, processes: on.processes };
    await teardown(on);
    await sleep(500);
    const asleep = await measureSet('asleep', nodeFlags, seven, path.join(stateRoot, 'asleep'), lazyFlags, log);
    const asleepFigures = { pssBytes: asleep.pssBytes, rssBytes: asleep.rssBytes, processes: asleep.processes };

    // Cold vs warm on the asleep server-everything (its session stays connected throughout).
    const ev = asleep.bridges[0];
    const evClient = asleep.clients[0].client;
    const cold = [];
    const warm = [];
    const snapshotAnswers = [];
    for (let i = 0; i < rounds; i++) {
      await waitChild(ev, ['idle']);
      let t = performance.now();
      const c = await connectHttp(ev.url);
      await c.client.listTools();
      snapshotAnswers.push(performance.now() - t);
      await c.close();
      t = performance.now();
      const r1 = await evClient.callTool({ name: 'echo', arguments: { message: `cold ${i}` } });
      cold.push(performance.now() - t);
      if (textOf(r1) !== `Echo: cold ${i}`) throw new Error(`cold call answered ${textOf(r1)}`);
      t = performance.now();
      await evClient.callTool({ name: 'echo', arguments: { message: `warm ${i}` } });
      warm.push(performance.now() - t);
    }
    await teardown(asleep);
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
    const result = {
      servers: seven.map((s) => s.id),
      alwaysOn: onFigures,
      asleep: asleepFigures,
      asleepChildStates: asleep.childStates,
      savedPssBytes: onFigures.pssBytes - asleepFigures.pssBytes,
      coldMs: cold,
      warmMs: warm,
      snapshotInitListMs: snapshotAnswers,
      medians: { coldMs: median(cold), warmMs: median(warm), snapshotInitListMs: median(snapshotAnswers) },
    };
    log(
      `idle: cold call median ${result.medians.coldMs.toFixed(0)} ms, warm ${result.medians.warmMs.toFixed(1)} ms, initialize+tools/list from the snapshot ${result.medians.snapshotInitListMs.toFixed(1)} ms`,
    );
    return result;
  } finally {
    cleanup();
    rmSync(stateRoot, { recursive: true, force: true });
  }
}

export function renderIdle(r) {
  const row = (cells) => `| ${cells.join(' | ')} |`;
  return [
    '## Idle daemons (7 registered servers)',
    '',
    `Servers: ${r.servers.join(', ')}; one client session per server stays connected. Memory summed over every bridge and its children.`,
    '',
    row(['', 'PSS (MB)', 'RSS (MB)', 'processes']),
    row(['---', '---:', '---:', '---:']),
    row(['always on', mb(r.alwaysOn.pssBytes), mb(r.alwaysOn.rssBytes), r.alwaysOn.processes]),
    row([`asleep (\`--lazy --idle-stop\`; children: ${r.asleepChildStates.join(', ')})`, mb(r.asleep.pssBytes), mb(r.asleep.rssBytes), r.asleep.processes]),
    '',
    `Asleep saves ${mb(r.savedPssBytes)} MB PSS. First call after idle (cold: the server starts) median ${r.medians.coldMs.toFixed(0)} ms ` +
      `(${r.coldMs.map((v) => v.toFixed(0)).join(', ')}); warm ${r.medians.warmMs.toFixed(1)} ms; a new session's initialize + tools/list ` +
      `answered from the snapshot while asleep ${r.medians.snapshotInitListMs.toFixed(1)} ms (server-everything).`,
    '',
  ].join('\n');
}
