/**
 * Process plumbing for the bench: start the real bridge CLI, read /proc for RSS and CPU time, and
 * make sure every process the bench started is gone at the end (also on error or Ctrl-C).
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

// ---------------------------------------------------------------- cleanup registry

/** Every pid the bench (or its bridge) started; killed on exit whatever happens. */
const tracked = new Map(); // pid -> { label, group }

export function track(pid, label, group = false) {
  if (pid) tracked.set(pid, { label, group });
}

function killNow(pid, group, sig) {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // already gone
  }
}

/** SIGTERM everything tracked, wait up to graceMs, then SIGKILL. Returns the pids still alive after that. */
export async function killAll(graceMs = 3000) {
  for (const [pid, t] of tracked) if (alive(pid)) killNow(pid, t.group, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && [...tracked.keys()].some(alive)) await sleep(50);
  for (const [pid, t] of tracked) if (alive(pid)) killNow(pid, t.group, 'SIGKILL');
  await sleep(100);
  return [...tracked].filter(([pid]) => alive(pid)).map(([pid, t]) => `${t.label} (pid ${pid})`);
}

// Last resort: a synchronous SIGKILL of anything left when the bench process exits for any reason.
process.on('exit', () => {
  for (const [pid, t] of tracked) if (alive(pid)) killNow(pid, t.group, 'SIGKILL');
});

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

/**
 * Starts `node FLAGS dist/cli.js bridge --port 0 -- node server-everything stdio` and resolves once
 * it prints its URL. stderr is kept (last 64 KB) for error messages.
 */
export function startBridge(nodeFlags = [], name = 'bench') {
  const args = [...nodeFlags, CLI, 'bridge', '--port', '0', '--name', name, '--', process.execPath, EVERYTHING, 'stdio'];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc.pid, 'bridge');
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
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
        url,
        exited,
        stderr: () => err,
        status: async () => (await fetch(`${url}/status`)).json(),
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
      track(s.child.pid, 'bridge child (server-everything)', true);
      return s;
    }
    if (Date.now() > deadline) throw new Error(`bridge child not ready after ${timeoutMs} ms: ${JSON.stringify(s.child)}`);
    await sleep(50);
  }
}
