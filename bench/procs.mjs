/**
 * Process plumbing for the bench: start the real bridge CLI, read /proc for RSS and CPU time, and
 * make sure every process the bench started is gone at the end (also on error or Ctrl-C).
 */
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = `${ROOT}dist/cli.js`;
export const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- /proc readers

function procStatus(pid) {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}

/** VmRSS (current) and VmHWM (peak) of one process, in bytes; undefined fields if gone. */
export function memOf(pid) {
  const s = procStatus(pid);
  const kb = (key) => {
    const m = s && new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(s);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

let clkTck;
function ticksPerSec() {
  clkTck ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  return clkTck;
}

/** user+system CPU time of one process in ms (0 if it is gone). */
export function cpuMsOf(pid) {
  const clkTck = ticksPerSec();
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes comm start at field 3 (state); utime is field 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clkTck;
  } catch {
    return 0;
  }
}

/** CPU ms the whole machine spent busy (all cores, all processes), from /proc/stat. */
export function machineBusyMs() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
    return (busy * 1000) / ticksPerSec();
  } catch {
    return NaN;
  }
}

/** True while the pid exists and is not a zombie. */
export function alive(pid) {
  const s = procStatus(pid);
  return !!s && !/^State:\s+Z/m.test(s);
}

/**
 * PSS (proportional set size) of one process in bytes, from /proc/PID/smaps_rollup: its private
 * pages plus its share of every page it shares (the node binary, libraries, forked pages). Summed
 * over a set of processes it counts shared pages once, where summed RSS counts them per process.
 * Pages shared with processes outside the set (other node processes on the machine) also lower it.
 */
export function pssOf(pid) {
  try {
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]; undefined if gone. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Start time of a process (clock ticks since boot): with the pid, it identifies one process for good. */
export function startTimeOf(pid) {
  return statFields(pid)?.[19];
}

/** Every live descendant of pid (children, grandchildren, ...), from one scan of /proc. */
export function descendants(pid) {
  const kids = new Map(); // ppid -> [pid]
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (!f || f[0] === 'Z') continue;
    const ppid = Number(f[1]);
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(Number(name));
  }
  const out = [];
  const walk = (p) => {
    for (const c of kids.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/**
 * Memory of a whole process tree: the root plus every descendant (a gateway's server children, a
 * shell it spawned them through). RSS and PSS summed over the tree, in bytes, and the pids counted.
 */
export function treeMem(rootPid) {
  const pids = alive(rootPid) ? [rootPid, ...descendants(rootPid)] : [];
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    rss += memOf(pid).rss ?? 0;
    pss += pssOf(pid) ?? 0;
  }
  return { rss, pss, processes: pids.length, pids };
}

/** Sums treeMem over several roots (e.g. one bridge per server). */
export function treesMem(rootPids) {
  const parts = rootPids.map(treeMem);
  return {
    rss: parts.reduce((a, p) => a + p.rss, 0),
    pss: parts.reduce((a, p) => a + p.pss, 0),
    processes: parts.reduce((a, p) => a + p.processes, 0),
  };
}

// ---------------------------------------------------------------- cleanup registry

/**
 * Every process the bench (or a gateway it started) runs; all are killed at the end whatever
 * happens. A pid is remembered with its start time, so a pid the kernel has since reused for an
 * unrelated process (other people's tests run on this machine) is never signalled.
 * `group`: signal the process group (the process was started as its leader). `tree`: before
 * signalling, also take in every current descendant: gateways start their server children in
 * process groups of their own (supergateway) or in theirs (mcp-proxy), through a shell or not, and
 * a child orphaned by its gateway's death can no longer be found from it.
 */
const tracked = new Map(); // pid -> { label, group, tree, start }

export function track(pid, label, group = false, tree = false) {
  if (pid) tracked.set(pid, { label, group, tree, start: startTimeOf(pid) });
}

const same = (pid, t) => t.start !== undefined && startTimeOf(pid) === t.start && alive(pid);

function killNow(pid, group, sig) {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // already gone
  }
}

/** Adds the current descendants of every `tree` entry among pids to the registry. */
function adoptDescendants(pids) {
  for (const pid of pids) {
    const t = tracked.get(pid);
    if (!t?.tree || !same(pid, t)) continue;
    for (const d of descendants(pid)) {
      if (tracked.has(d)) continue;
      // A descendant that leads its own process group (started detached) is signalled as a group.
      const leader = Number(statFields(d)?.[2]) === d;
      track(d, `${t.label} › descendant`, leader, false);
      pids.push(d);
    }
  }
  return pids;
}

/**
 * SIGTERM the given tracked pids (and their trees), wait up to graceMs, then SIGKILL what is left.
 * Forgets the ones that are gone; returns labels of any still alive after that.
 */
async function killPids(pids, graceMs) {
  const list = adoptDescendants([...pids]);
  const live = () => list.filter((pid) => tracked.has(pid) && same(pid, tracked.get(pid)));
  for (const pid of live()) killNow(pid, tracked.get(pid).group, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live().length) await sleep(50);
  for (const pid of live()) killNow(pid, tracked.get(pid).group, 'SIGKILL');
  await sleep(100);
  const left = live();
  for (const pid of list) if (!left.includes(pid)) tracked.delete(pid);
  return left.map((pid) => `${tracked.get(pid).label} (pid ${pid})`);
}

/** Stops one tracked process with its whole tree (e.g. one gateway under test). */
export function stopTree(pid, graceMs = 3000) {
  return killPids([pid], graceMs);
}

/** SIGTERM everything tracked, wait up to graceMs, then SIGKILL. Returns the pids still alive after that. */
export function killAll(graceMs = 3000) {
  return killPids([...tracked.keys()], graceMs);
}

// Last resort: a synchronous SIGKILL of anything left when the bench process exits for any reason.
process.on('exit', () => {
  const pids = adoptDescendants([...tracked.keys()]);
  for (const pid of pids) {
    const t = tracked.get(pid);
    if (t && same(pid, t)) killNow(pid, t.group, 'SIGKILL');
  }
});

// ---------------------------------------------------------------- generic processes

/** A free loopback TCP port (for tools that cannot listen on port 0 and report it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a long-running program as the leader of its own process group, tracked with its tree.
 * stdin stays an open pipe (supergateway exits when its stdin closes, so it also dies with the
 * bench); the last 64 KB of stdout+stderr are kept for error messages.
 */
export function startProcess(label, command, args, { env } = {}) {
  const proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: env ? { ...process.env, ...env } : process.env });
  track(proc.pid, label, true, true);
  let output = '';
  const keep = (d) => (output = (output + d).slice(-65536));
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  proc.stdin.on('error', () => {}); // EPIPE once it exits
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let exit;
  void exited.then((e) => (exit = e));
  return { proc, pid: proc.pid, label, exited, output: () => output, exitStatus: () => exit };
}

/**
 * Waits until an HTTP server answers anything at url (any status counts: the port is served), or
 * rejects when the process exits or timeoutMs passes.
 */
export async function waitHttp(started, url, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (started.exitStatus())
      throw new Error(`${started.label} exited (${JSON.stringify(started.exitStatus())}) before serving:\n${started.output().slice(-2000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${started.label} did not serve ${url} within ${timeoutMs} ms:\n${started.output().slice(-2000)}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- the bridge

/**
 * The V8 flags the bridge runs with when deployed (its shebang and units use dist/runtime.js's
 * NODE_MEMORY_FLAGS); BENCH_BRIDGE_NODE_FLAGS (space-separated, may be empty) overrides them.
 */
export async function bridgeNodeFlags() {
  if (process.env.BENCH_BRIDGE_NODE_FLAGS !== undefined) return process.env.BENCH_BRIDGE_NODE_FLAGS.split(/\s+/).filter(Boolean);
  try {
    return [...(await import(`${ROOT}dist/runtime.js`)).NODE_MEMORY_FLAGS];
  } catch {
    return [];
  }
}

/** server-everything over stdio: the server the latency bench and the peer comparison use. */
export const EVERYTHING_SERVER = { id: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], env: {} };

/**
 * Starts `node FLAGS dist/cli.js bridge --port 0 --name NAME [--env K=V...] [BRIDGE ARGS] -- SERVER...` (by
 * default server-everything) and resolves once it prints its URL. Output is kept (last 64 KB) for
 * error messages. The bridge is tracked with its tree, so its child goes down with it.
 */
export function startBridge(nodeFlags = [], name = 'bench', server = EVERYTHING_SERVER, bridgeArgs = []) {
  const envArgs = Object.entries(server.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  const args = [...nodeFlags, CLI, 'bridge', '--port', '0', '--name', name, ...envArgs, ...bridgeArgs, '--', server.command, ...server.args];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc.pid, `bridge ${name}`, false, true);
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out = (out + d).slice(-65536)));
  proc.stderr.on('data', (d) => (err = (err + d).slice(-65536)));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      proc.stdout.off('data', onData);
      const url = m[1];
      resolve({
        proc,
        pid: proc.pid,
        name,
        url,
        exited,
        stderr: () => err,
        status: async () => (await fetch(`${url}/status`, { signal: AbortSignal.timeout(5000) })).json(),
      });
    };
    proc.stdout.on('data', onData);
    void exited.then(({ code, signal }) => reject(new Error(`bridge exited (${code ?? signal}) before listening:\n${err}`)));
  });
}

/** Starts bench/floor-server.mjs (the bare HTTP baseline) and resolves with its base URL. */
export function startFloorServer() {
  const proc = spawn(process.execPath, [`${ROOT}bench/floor-server.mjs`], { stdio: ['ignore', 'pipe', 'inherit'] });
  track(proc.pid, 'floor server');
  return new Promise((resolve, reject) => {
    proc.stdout.once('data', (d) => resolve({ pid: proc.pid, url: `http://127.0.0.1:${Number(String(d))}` }));
    proc.once('exit', (code) => reject(new Error(`floor server exited (${code}) before listening`)));
  });
}

/** Polls /status until the child is ready; tracks the child's process group for cleanup. */
export async function waitReady(bridge, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await bridge.status();
    if (s.child?.state === 'ready' && s.child.pid) {
      track(s.child.pid, `bridge child (${bridge.name ?? 'server'})`, true);
      return s;
    }
    if (Date.now() > deadline) throw new Error(`bridge child not ready after ${timeoutMs} ms: ${JSON.stringify(s.child)}`);
    await sleep(50);
  }
}
