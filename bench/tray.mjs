/**
 * Tray part of `npm run bench`: what the tray (`mcpshare tray`) costs in memory over time. On a
 * private headless desktop (Xvfb, a session D-Bus, trayer as the XEmbed tray host), the real tray
 * runs exactly as users run it — `node --max-semi-space-size=2 dist/cli.js tray --interval 1` — in
 * a temporary HOME under the built-in supervisor (MCPSHARE_BACKEND=supervisor), with N bridged
 * server-everything daemons registered with `mcpshare add NAME --port P -- node SERVER stdio` and
 * started by the tray itself (it starts stopped daemons at launch). Once `mcpshare status --json`
 * shows all N up, the RSS of the tray's node process and of its native tray binary (comm
 * tray_linux_rele) is read from /proc every second. Reported per N: node RSS settled (median of the
 * last half) and peak, the binary's RSS; target: tray node process < 80 MB (a miss is reported).
 *
 * - The X server is warmed first with one throwaway GTK3 client (zenity): the first GTK3 client on
 *   a fresh X server runs a GLX probe that loads Mesa + LLVM (~87 MB instead of ~29 for the tray
 *   binary) and caches the result in the root window's GDK_VISUALS; a desktop has long done that.
 * - bench/floor-server.mjs cannot be a bridged daemon (it speaks HTTP itself, not stdio), hence
 *   server-everything.
 * - The registrations accumulate (the N=10 step adds 8 to the 2 of N=2), but every step runs a new
 *   tray, a new supervisor and new daemons, and ends with `mcpshare tray --quit --stop-daemons`,
 *   the supervisor's shutdown and a kill of anything left with that HOME.
 * - When the tray's parallel daemon starts end in a split supervisor (several `supervise --idle`
 *   of one HOME, the socket's owner not running the daemons, so status never shows them up), that
 *   is recorded as mcpshare's failure (`failedAttempts`, a warning in the report) and the step is
 *   torn down and run once more.
 * - Environment: every inherited XDG_* variable, DISPLAY, D-Bus/Wayland/AT-SPI addresses and
 *   NODE_OPTIONS are removed; XDG_RUNTIME_DIR is the desktop's own temporary 0700 directory (a
 *   desktop session has one; the D-Bus-activated helpers put their sockets there).
 * Needs Xvfb, trayer, dbus-daemon, xdotool, xprop and zenity; without them the part does not run
 * (exit code 2, "skipped: needs … (apt-get install …)").
 * Knobs: BENCH_TRAY_SERVERS (2,10,20), BENCH_TRAY_SECONDS (40).
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { alive, CLI, descendants, EVERYTHING, memOf, ROOT, sleep, stopTree, track } from './procs.mjs';

const TARGET_MB = 80;
const BINARY_COMM = 'tray_linux_rele'; // systray2's tray_linux_release, cut to 15 characters by the kernel
const INTERVAL_S = 1;

/** The programs the desktop needs, with the Debian package of each (for the skip message). */
const TOOLS = [
  ['Xvfb', 'xvfb'],
  ['trayer', 'trayer'],
  ['dbus-daemon', 'dbus'],
  ['xdotool', 'xdotool'],
  ['xprop', 'x11-utils'],
  ['zenity', 'zenity'],
];

/** Variables that would point GTK, D-Bus or node somewhere outside the bench's own desktop. */
const SCRUBBED = [
  'DISPLAY',
  'WAYLAND_DISPLAY',
  'XAUTHORITY',
  'DBUS_SESSION_BUS_ADDRESS',
  'AT_SPI_BUS_ADDRESS',
  'NO_AT_BRIDGE',
  'SESSION_MANAGER',
  'DESKTOP_SESSION',
  'GDK_BACKEND',
  'GDK_SCALE',
  'GDK_DPI_SCALE',
  'GTK_THEME',
  'NODE_OPTIONS',
  'MCPSHARE_BACKEND',
  'CLAUDE_CONFIG_DIR',
];

const onPath = (cmd) =>
  (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, cmd), constants.X_OK);
      return !!dir;
    } catch {
      return false;
    }
  });

/** Runs a program to completion (never through a shell): { code, stdout, stderr }; 127 if it cannot start. */
function run(file, args, env, timeoutMs = 60_000, cwd = undefined) {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code === 'string') return resolve({ code: 127, stdout: '', stderr: `${file}: ${err.message}` });
      resolve({ code: err ? (err.code ?? null) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Polls `probe` every everyMs until it returns something truthy; throws `what` (and `seen()`) on timeout. */
async function poll(probe, what, timeoutMs, seen = () => '', everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms${await seen()}`);
    await sleep(everyMs);
  }
}

/** True when we could listen on 127.0.0.1:port right now. */
function canListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port in 20000–31999 (as the tests pick them): below the kernel's ephemeral range, away
 * from mcpshare's own 8001–8099. A daemon's port must stay free until the tray starts it.
 */
async function freeDaemonPort(exclude) {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!exclude.has(port) && (await canListen(port))) return port;
  }
  throw new Error('no free port found in 20000-31999');
}

/** True when something accepts a TCP connection on 127.0.0.1:port. */
function portAccepts(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const comm = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/** Live pids (not ours) for which match(environ entries, raw cmdline) is true. */
function pidsWhere(match) {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'latin1').split('\0');
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1');
      if (match(environ, cmdline) && alive(Number(name))) found.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}
const processesOfHome = (home) => pidsWhere((environ, cmdline) => environ.includes(`HOME=${home}`) || cmdline.includes(`${home}/`));

/** SIGTERM, up to graceMs, then SIGKILL; returns "comm (pid N)" of the ones that needed SIGKILL. */
async function killPids(pids, graceMs) {
  const labels = new Map(pids.map((p) => [p, `${comm(p) ?? '?'} (pid ${p})`]));
  const signal = (p, sig) => {
    try {
      process.kill(p, sig);
    } catch {
      // gone
    }
  };
  for (const p of pids) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  const hard = pids.filter(alive);
  for (const p of hard) signal(p, 'SIGKILL');
  await sleep(100);
  return hard.map((p) => labels.get(p));
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : undefined;
};

/** Least-squares slope of samples[k] over samples[].t (bytes per second); NaN with fewer than 2 points. */
function slope(samples, k) {
  const pts = samples.filter((s) => Number.isFinite(s[k]));
  if (pts.length < 2) return NaN;
  const mt = pts.reduce((a, s) => a + s.t, 0) / pts.length;
  const mv = pts.reduce((a, s) => a + s[k], 0) / pts.length;
  const num = pts.reduce((a, s) => a + (s.t - mt) * (s[k] - mv), 0);
  const den = pts.reduce((a, s) => a + (s.t - mt) ** 2, 0);
  return den ? num / den : NaN;
}

// ---------------------------------------------------------------- the desktop

/**
 * Xvfb (-displayfd: it picks a free display; -noreset), a session dbus-daemon, trayer as the tray
 * host (waits for its panel window), and the warm-up GTK client. Every process started with
 * desk.env carries a marker variable, so stop() also finds what D-Bus activated.
 */
async function startDesktop(log) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mcpshare-bench-tray-'));
  const home = path.join(root, 'desktop-home');
  const runtimeDir = path.join(root, 'xdg-runtime');
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(runtimeDir, { mode: 0o700 });
  const marker = `MCPSHARE_BENCH_TRAY=${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('XDG_') || SCRUBBED.includes(k)) delete base[k];
  const env = { ...base, HOME: home, XDG_RUNTIME_DIR: runtimeDir, [marker.split('=')[0]]: marker.split('=')[1] };
  if (!env.LANG && !env.LC_ALL) env.LANG = 'C.UTF-8';
  const logFile = (name) => path.join(root, `${name}.log`);
  const logTail = (name) => {
    try {
      return readFileSync(logFile(name), 'utf8').trim().slice(-1500);
    } catch {
      return '';
    }
  };
  const started = []; // { pid, label }, in start order
  const startChild = (label, file, args, extraStdio = []) => {
    const fd = openSync(logFile(label), 'a');
    try {
      const child = spawn(file, args, { env, stdio: ['ignore', fd, fd, ...extraStdio] });
      child.on('error', () => {}); // reported by the readiness checks
      track(child.pid, `tray desktop: ${label}`, false, true);
      started.push({ pid: child.pid, label, child });
      return child;
    } finally {
      closeSync(fd);
    }
  };

  let xvfbPid;
  const stop = async () => {
    // X clients first (they end on SIGTERM rather than a lost display), then Xvfb.
    for (const s of [...started].reverse()) if (s.pid !== xvfbPid) await stopTree(s.pid, 2000);
    await killPids(
      pidsWhere((environ) => environ.includes(marker)),
      2000,
    );
    if (xvfbPid) await stopTree(xvfbPid, 2000);
    rmSync(root, { recursive: true, force: true });
  };

  try {
    const t0 = performance.now();
    const xvfb = startChild('Xvfb', 'Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp', '-noreset'], ['pipe']);
    xvfbPid = xvfb.pid;
    const display = await new Promise((resolve) => {
      let buf = '';
      const timer = setTimeout(() => resolve(undefined), 15_000);
      xvfb.stdio[3]?.on('data', (d) => {
        buf += String(d);
        const m = /^(\d+)\n/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve(`:${m[1]}`);
        }
      });
      xvfb.once('exit', () => resolve(undefined));
    });
    if (!display) throw new Error(`Xvfb did not report a display within 15 s:\n${logTail('Xvfb')}`);
    xvfb.stdio[3].destroy();
    env.DISPLAY = display;

    // The session bus: --nofork keeps it our child; it prints its address on stdout.
    const dbus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    dbus.on('error', () => {});
    track(dbus.pid, 'tray desktop: dbus-daemon', false, true); // its tree: the services it activates
    started.push({ pid: dbus.pid, label: 'dbus-daemon', child: dbus });
    const address = await new Promise((resolve) => {
      let buf = '';
      const timer = setTimeout(() => resolve(undefined), 15_000);
      dbus.stdout.on('data', (d) => {
        buf += String(d);
        if (buf.includes('\n')) {
          clearTimeout(timer);
          resolve(buf.slice(0, buf.indexOf('\n')).trim());
        }
      });
      dbus.once('exit', () => resolve(undefined));
    });
    if (!address) throw new Error('dbus-daemon did not print its address within 15 s');
    dbus.stdout.destroy();
    env.DBUS_SESSION_BUS_ADDRESS = address;

    const trayer = startChild('trayer', 'trayer', ['--edge', 'top', '--align', 'right', '--widthtype', 'request', '--height', '32', '--SetDockType', 'true']);
    await poll(
      async () => {
        if (trayer.exitCode !== null || trayer.signalCode !== null)
          throw new Error(`trayer exited (${trayer.exitCode ?? trayer.signalCode}):\n${logTail('trayer')}`);
        return (await run('xdotool', ['search', '--classname', '^panel$'], env, 5000)).stdout.trim();
      },
      'the trayer panel appearing',
      15_000,
      () => `:\n${logTail('trayer')}`,
    );

    // Warm-up: one GTK3 client does the GLX probe and caches it in the root window's GDK_VISUALS.
    const tw = performance.now();
    const zenity = startChild('zenity', 'zenity', ['--info', '--text=x', '--timeout=1']);
    const visuals = () => run('xprop', ['-root', 'GDK_VISUALS'], env, 5000).then((r) => /GDK_VISUALS\(/.test(r.stdout));
    let warmedUp = false;
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && zenity.exitCode === null && zenity.signalCode === null && !(warmedUp = await visuals())) await sleep(30);
    await stopTree(zenity.pid, 1000);
    warmedUp ||= await visuals();
    const desktop = { display, warmedUp, warmUpMs: Math.round(performance.now() - tw), startMs: Math.round(performance.now() - t0) };
    log(`tray: desktop on ${display} up in ${desktop.startMs} ms (X server warmed up: ${warmedUp ? 'yes' : 'NO'})`);
    return { env, root, stop, info: desktop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------- one step: N daemons

const ppidOf = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
};

/**
 * Memory of the tray's node process and of its native binary: the child with comm tray_linux_rele
 * (systray2 restarts it when the menu's layout changes, so it is looked up again when gone).
 */
function sampleTray(trayPid, last) {
  let binPid = last && alive(last) && comm(last) === BINARY_COMM ? last : undefined;
  binPid ??= descendants(trayPid).find((p) => comm(p) === BINARY_COMM && ppidOf(p) === trayPid);
  return { node: memOf(trayPid), binary: binPid ? { pid: binPid, ...memOf(binPid) } : undefined };
}

async function measureStep({ log, nodeFlags, desk, home, servers, ports, seconds }) {
  const env = { ...desk.env, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
  const mcpshare = (args, timeoutMs = 60_000) => run(process.execPath, [...nodeFlags, CLI, ...args], env, timeoutMs, home);
  const statusRows = async () => {
    const r = await mcpshare(['status', '--json']);
    try {
      return JSON.parse(r.stdout).servers;
    } catch {
      throw new Error(`mcpshare status --json failed (exit ${r.code}): ${r.stderr.trim().slice(-1500)}`);
    }
  };

  const t0 = performance.now();
  let trayOut = '';
  const tray = spawn(process.execPath, [...nodeFlags, CLI, 'tray', '--interval', String(INTERVAL_S)], {
    env,
    cwd: home,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  track(tray.pid, `tray (${servers} servers)`, true, true);
  const keep = (d) => (trayOut = (trayOut + d).slice(-65536));
  tray.stdout.on('data', keep);
  tray.stderr.on('data', keep);
  const exited = new Promise((resolve) => tray.once('exit', (code, signal) => resolve({ code, signal })));
  let exit;
  void exited.then((e) => (exit = e));
  const trayLog = () => {
    try {
      return readFileSync(path.join(home, '.local/state/mcpshare/logs/tray.log'), 'utf8').slice(-2000);
    } catch {
      return trayOut.slice(-2000);
    }
  };
  const supervisorLog = () => {
    try {
      return readFileSync(path.join(home, '.local/state/mcpshare/logs/supervisor.log'), 'utf8').slice(-3000);
    } catch {
      return '(none)';
    }
  };
  const supervisors = () => pidsWhere((environ, cmdline) => environ.includes(`HOME=${home}`) && cmdline.split('\0').includes('supervise'));
  const checkTray = () => {
    if (exit) throw new Error(`the tray exited (${exit.code ?? exit.signal}) with ${servers} servers; its log:\n${trayLog()}`);
  };

  let result;
  let failure;
  try {
    // All N up (the tray starts them), as `mcpshare status --json` says. Its ports are watched
    // first: a status CLI every second would take CPU from the daemons starting up.
    await poll(
      async () => (checkTray(), (await Promise.all(ports.map(portAccepts))).every(Boolean)),
      `the ${servers} daemons' ports accepting connections`,
      60_000 + 3000 * servers,
      () => `; tray log:\n${trayLog()}`,
      200,
    );
    // Several supervisors of one HOME for more than a few seconds (the extra ones that find one
    // running exit at once) is a split brain: the socket's owner does not run the daemons.
    let last = [];
    let manySince;
    await poll(
      async () => {
        checkTray();
        last = await statusRows();
        if (last.length === servers && last.every((s) => s.state === 'up')) return true;
        const sup = supervisors();
        manySince = sup.length > 1 ? (manySince ?? Date.now()) : undefined;
        if (manySince !== undefined && Date.now() - manySince >= 5000) {
          const err = new Error(
            `${sup.length} supervisors run for one HOME (pids ${sup.join(', ')}) and the daemons they started are not the socket owner's: ` +
              `${last.filter((s) => s.state !== 'up').length} of ${servers} not up (${[...new Set(last.map((s) => s.detail).filter(Boolean))].join('; ')})`,
          );
          err.supervisorRace = {
            supervisors: sup.length,
            states: last.map((s) => ({ name: s.name, state: s.state, detail: s.detail })),
            supervisorLog: supervisorLog(),
          };
          throw err;
        }
        return false;
      },
      `all ${servers} daemons up`,
      30_000,
      () =>
        `; states: ${last.map((s) => `${s.name}=${s.state}${s.state === 'up' ? '' : ` (${s.detail ?? ''})`}`).join(' ')}\n` +
        `supervisor processes of the temp HOME: ${supervisors().join(', ') || 'none'}\nsupervisor log:\n${supervisorLog()}\ntray log:\n${trayLog()}`,
      1000,
    );
    const upSec = (performance.now() - t0) / 1000;
    // The icon is really shown by the tray host, from the tray's own binary.
    await poll(
      async () => (checkTray(), (await run('xdotool', ['search', '--onlyvisible', '--classname', '^systray$'], env, 5000)).stdout.trim()),
      'the tray icon (a visible window of class systray) in trayer',
      30_000,
      () => `; tray log:\n${trayLog()}`,
      200,
    );
    // The supervisor and the daemons: tracked, so a failure anywhere below still takes them down.
    for (const pid of processesOfHome(home)) track(pid, `tray (${servers} servers) › ${comm(pid) ?? 'process'} of the temp HOME`);
    log(`tray: ${servers} daemons up ${upSec.toFixed(1)} s after the tray started; sampling for ${seconds} s`);

    const samples = [];
    const s0 = performance.now();
    for (let i = 0; i <= seconds; i++) {
      checkTray();
      const s = sampleTray(tray.pid, samples[samples.length - 1]?.binaryPid);
      samples.push({
        t: Math.round(performance.now() - s0) / 1000,
        nodeRss: s.node.rss,
        nodeHwm: s.node.hwm,
        binaryPid: s.binary?.pid,
        binaryRss: s.binary?.rss,
        binaryHwm: s.binary?.hwm,
      });
      const next = s0 + (i + 1) * 1000;
      if (i < seconds) await sleep(Math.max(0, next - performance.now()));
    }
    const rows = await statusRows();
    const upAtEnd = rows.filter((s) => s.state === 'up').length;
    const restarts = rows.reduce((a, s) => a + (s.restarts ?? 0), 0);

    const lastHalf = samples.filter((s) => s.t >= seconds / 2);
    const nums = (list, k) => list.map((s) => s[k]).filter(Number.isFinite);
    const final = samples[samples.length - 1];
    const max = (list) => (list.length ? Math.max(...list) : undefined);
    const node = {
      first: samples[0].nodeRss,
      last: final.nodeRss,
      settled: median(nums(lastHalf, 'nodeRss')),
      maxInWindow: max(nums(samples, 'nodeRss')),
      // VmHWM: the peak over the process's whole life, startup included. The kernel's RSS counters
      // are per-CPU batched, so a VmRSS read can exceed the VmHWM read a moment later by a few pages.
      hwm: max([...nums(samples, 'nodeHwm'), ...nums(samples, 'nodeRss')]),
      slopeBytesPerMin: slope(samples, 'nodeRss') * 60,
    };
    const binary = {
      pids: [...new Set(samples.map((s) => s.binaryPid).filter(Boolean))],
      settled: median(nums(lastHalf, 'binaryRss')),
      maxInWindow: max(nums(samples, 'binaryRss')),
      hwm: max([...nums(samples, 'binaryHwm'), ...nums(samples, 'binaryRss')]),
      missingSamples: samples.filter((s) => !s.binaryPid).length,
    };
    const limit = TARGET_MB * 2 ** 20;
    result = {
      servers,
      upSec,
      node,
      binary,
      daemonsUpAtEnd: upAtEnd,
      daemonRestarts: restarts,
      verdicts: { settledUnderTarget: node.settled < limit, peakUnderTarget: node.hwm < limit },
      samples,
    };
    const mb = (b) => (b / 2 ** 20).toFixed(1);
    log(
      `tray: ${servers} servers: node RSS settled ${mb(node.settled)} MB (window ${mb(node.first)} → ${mb(node.last)}, peak ${mb(node.hwm)}), ` +
        `binary ${binary.settled ? mb(binary.settled) : 'n/a'} MB; ${upAtEnd}/${servers} up at the end`,
    );
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    // Teardown as a user would: quit the tray and stop every daemon, then the supervisor goes.
    const td = performance.now();
    const quit = await mcpshare(['tray', '--quit', '--stop-daemons'], 120_000);
    await Promise.race([exited, sleep(10_000)]);
    const trayStopped = !!exit;
    const { sendControl } = await import(`${ROOT}dist/units/supervisor-control.js`);
    const { userPaths } = await import(`${ROOT}dist/registry/paths.js`);
    const shutdown = await sendControl(userPaths(env), { op: 'shutdown' }, 5000).catch((err) => ({ ok: false, error: String(err) }));
    // Give the supervisor a moment to exit on its own; whatever still runs with that HOME is killed.
    await poll(async () => processesOfHome(home).length === 0, 'the temp HOME processes exiting', 5000).catch(() => {});
    const killed = await killPids(processesOfHome(home), 2000);
    const left = [...(await stopTree(tray.pid, 1000))];
    const teardown = {
      quitCode: quit.code,
      trayStopped,
      supervisorShutdown: shutdown === undefined ? 'no supervisor answering' : shutdown.ok ? 'ok' : shutdown.error,
      killedAfterShutdown: killed,
      stillAlive: left,
      sec: (performance.now() - td) / 1000,
    };
    if (quit.code !== 0) log(`tray: "mcpshare tray --quit --stop-daemons" exited ${quit.code}: ${quit.stderr.trim().slice(-500)}`);
    if (killed.length) log(`tray: had to kill after the supervisor's shutdown: ${killed.join(', ')}`);
    if (result) result.teardown = teardown;
    if (failure) failure.teardown = teardown;
  }
  return result;
}

// ---------------------------------------------------------------- the part

export async function runTrayBench({ log, nodeFlags = [] }) {
  const missing = TOOLS.filter(([cmd]) => !onPath(cmd));
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
    const err = new Error(`skipped: needs ${pkgs} (apt-get install -y --no-install-recommends ${pkgs}); missing: ${missing.map(([c]) => c).join(', ')}`);
    err.stack = err.message; // a plain line in the report, not a stack trace
    throw err;
  }
  const steps = [
    ...new Set(
      (process.env.BENCH_TRAY_SERVERS ?? '2,10,20')
        .split(',')
        .map((s) => Number(s.trim()))
        .filter((n) => Number.isInteger(n) && n > 0),
    ),
  ].sort((a, b) => a - b);
  const seconds = Number(process.env.BENCH_TRAY_SECONDS ?? 40);
  if (!steps.length) throw new Error('BENCH_TRAY_SERVERS: give server counts, e.g. 2,10,20');
  if (!(seconds >= 2)) throw new Error(`BENCH_TRAY_SECONDS: want 2 or more, got ${process.env.BENCH_TRAY_SECONDS}`);

  const loadBefore = os.loadavg()[0];
  const desk = await startDesktop(log);
  const home = path.join(desk.root, 'home');
  mkdirSync(home, { mode: 0o700 });
  const ports = new Set();
  const rows = [];
  const addSec = [];
  try {
    let registered = 0;
    for (const servers of steps) {
      // Register the servers this step adds, as a user does (the tray starts them).
      const ta = performance.now();
      for (; registered < servers; registered++) {
        const port = await freeDaemonPort(ports);
        ports.add(port);
        const name = `everything-${String(registered + 1).padStart(2, '0')}`;
        const env = { ...desk.env, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
        const r = await run(
          process.execPath,
          [...nodeFlags, CLI, 'add', name, '--port', String(port), '--', process.execPath, EVERYTHING, 'stdio'],
          env,
          60_000,
          home,
        );
        if (r.code !== 0) throw new Error(`mcpshare add ${name} failed (exit ${r.code}): ${r.stderr.trim().slice(-1500)}`);
      }
      addSec.push({ servers, sec: (performance.now() - ta) / 1000 });
      // A split brain of the supervisor is mcpshare's failure, not the measurement's: it is
      // recorded (and reported), and the step runs once more from a clean slate.
      const failedAttempts = [];
      for (;;) {
        try {
          const row = await measureStep({ log, nodeFlags, desk, home, servers, ports: [...ports], seconds });
          rows.push({ ...row, failedAttempts });
          break;
        } catch (err) {
          if (!err.supervisorRace || failedAttempts.length) throw err;
          log(`tray: WARNING: ${servers} servers: ${err.message}; tearing down and trying this step once more`);
          failedAttempts.push({ error: err.message, ...err.supervisorRace, teardown: err.teardown });
        }
      }
    }
  } finally {
    await desk.stop();
  }
  return {
    config: {
      servers: steps,
      seconds,
      intervalSec: INTERVAL_S,
      trayCommand: ['node', ...nodeFlags, 'dist/cli.js', 'tray', '--interval', String(INTERVAL_S)].join(' '),
      server: `node ${path.relative(ROOT, EVERYTHING)} stdio`,
      serverEverything: JSON.parse(readFileSync(`${ROOT}node_modules/@modelcontextprotocol/server-everything/package.json`, 'utf8')).version,
      binaryComm: BINARY_COMM,
    },
    desktop: desk.info,
    /** 1-minute load average before and after (timings such as upSec stretch on a busy machine). */
    loadAverage: { before: loadBefore, after: os.loadavg()[0], cpus: os.cpus().length },
    addSec,
    targets: { trayNodeRssMB: TARGET_MB },
    rows,
    supervisorRaces: rows.reduce((a, r) => a + r.failedAttempts.length, 0),
    verdicts: { allSettledUnderTarget: rows.every((r) => r.verdicts.settledUnderTarget), allPeaksUnderTarget: rows.every((r) => r.verdicts.peakUnderTarget) },
  };
}
