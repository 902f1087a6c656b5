import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isMcpshareError } from '../errors.js';
import { Daemons } from '../health/daemons.js';
import { userPaths } from '../registry/paths.js';
import { rotateLog } from '../units/logs.js';
import type { ServerManager } from '../units/manager.js';
import { acquirePidLock, lockHolder, processAlive, releasePidLock } from '../util/pid-lock.js';
import type { TrayAutostart } from './app.js';

/**
 * The tray as a process: one per user (a pid lock), its own rotating log, its signals, and what it
 * does where no tray can be shown (the headless policy). `mcpshare tray` only parses its options
 * and calls runTrayProcess or quitTray.
 */

export interface TrayRunOptions {
  /** Seconds between health checks. */
  interval: number;
  /** Do not start stopped daemons when the tray starts. */
  noStart?: boolean;
  /** Register the bundled demo server when nothing is registered; headless, exit 0 once it serves. */
  demo?: boolean;
}

const LOG_LIMIT = 1024 * 1024;

export function trayFiles(env: NodeJS.ProcessEnv = process.env): { pidFile: string; logFile: string; workDir: string } {
  const p = userPaths(env);
  return { pidFile: join(p.stateDir, 'tray.pid'), logFile: join(p.logDir, 'tray.log'), workDir: join(p.stateDir, 'tray') };
}

/** The pid of a running tray, from its pid file (stale files are ignored). */
export const runningTrayPid = (pidFile: string): number | undefined => lockHolder(pidFile, 'tray');

/** Takes the one-tray-per-user lock before any other work; returns the pid of another live tray. */
export const lockTray = (pidFile: string): number | undefined => acquirePidLock(pidFile, 'tray');

/** The tray's log: timestamped lines, rotated at start and as it grows (a tray runs for weeks). */
export function openTrayLog(file: string): (line: string) => void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  rotateLog(file, LOG_LIMIT);
  let written = 0;
  return (line) => {
    const stamped = `${new Date().toISOString()} ${line}\n`;
    // Rotate as it goes, not only at start (checked every 128 KB written).
    written += stamped.length;
    if (written > LOG_LIMIT / 8) {
      written = 0;
      rotateLog(file, LOG_LIMIT);
    }
    try {
      appendFileSync(file, stamped, { mode: 0o600 });
    } catch {
      /* a full disk must not take the tray down */
    }
    // Under launchd or the installer stderr is the log file itself: write it there once.
    if (process.stderr.isTTY) process.stderr.write(stamped);
  };
}

/** `tray --quit`: SIGTERM the running tray and wait for it; with stopDaemons, stop every daemon too. */
export async function quitTray(stopDaemons: boolean): Promise<number> {
  const { pidFile } = trayFiles();
  const pid = runningTrayPid(pidFile);
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (processAlive(pid)) {
      process.stderr.write(`the tray (pid ${pid}) did not quit within 10 s of SIGTERM; "kill -9 ${pid}" ends it (the daemons are separate and keep running)\n`);
      return 1;
    }
    process.stdout.write(`stopped the tray (pid ${pid})\n`);
  } else {
    process.stdout.write('the tray is not running\n');
  }
  if (stopDaemons) {
    const { ServerManager } = await import('../units/manager.js');
    const daemons = new Daemons(new ServerManager());
    for (const e of daemons.list()) {
      const s = await daemons.stop(e.name);
      process.stdout.write(`${e.name}: ${s.state}\n`);
    }
  }
  return 0;
}

/** Runs the tray until it quits, unless another one already runs for this user (then exit 0). */
export async function runTrayProcess(o: TrayRunOptions): Promise<number> {
  const files = trayFiles();
  const running = lockTray(files.pidFile);
  if (running) {
    process.stdout.write(`the mcpshare tray is already running (pid ${running}); "mcpshare tray --quit" stops it\n`);
    return 0;
  }
  try {
    return await runTray(o, files);
  } finally {
    releasePidLock(files.pidFile);
  }
}

async function runTray(o: TrayRunOptions, files: ReturnType<typeof trayFiles>): Promise<number> {
  const log = openTrayLog(files.logFile);
  mkdirSync(files.workDir, { recursive: true, mode: 0o700 });
  const [{ TrayApp, ASSETS_DIR }, { ServerManager }, { systemDesktop }, { trayConfigActions }] = await Promise.all([
    import('./app.js'),
    import('../units/manager.js'),
    import('./dialogs.js'),
    import('./config-actions.js'),
  ]);
  const manager = new ServerManager();
  const daemons = new Daemons(manager);
  if (o.demo) await registerDemo(manager, log);
  const platform = process.platform;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));
  const app = new TrayApp({
    daemons,
    desktop: await systemDesktop({ platform, env: process.env, icon: join(ASSETS_DIR, 'mcpshare.png'), log }),
    config: trayConfigActions(manager),
    autostart: await loadAutostart(),
    workDir: files.workDir,
    intervalMs: o.interval * 1000,
    startDaemons: !o.noStart,
    platform,
    log,
    onQuit: (code) => finish(code),
  });
  try {
    await app.start();
  } catch (err) {
    if (!isMcpshareError(err, 'tray-start')) throw err;
    return headless(err, o, { app, daemons, log });
  }
  log(`tray started (pid ${process.pid}, binary pid ${app.host.pid}), checking ${daemons.list().length} server(s) every ${o.interval} s`);
  const onSignal = (sig: string) => {
    log(`${sig}: closing the tray; daemons keep running`);
    void app.close().then(() => finish(0));
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  // SIGHUP: the terminal that started the tray closed. A tray started in the background (installer,
  // nohup) must outlive it; one run in a terminal's foreground goes with it.
  process.on('SIGHUP', () => (process.stdin.isTTY ? onSignal('SIGHUP') : log('SIGHUP ignored: the tray runs on without its terminal')));
  // Nothing else holds the event loop open for sure (the monitor's timers are unref'd).
  const keepAlive = setInterval(() => {}, 1 << 30);
  const code = await done;
  clearInterval(keepAlive);
  log(`tray closed (exit ${code})`);
  return code;
}

/**
 * No tray can be shown (no display, a missing library, no binary for this machine): the tray's other
 * job at login still gets done, the daemons come up without an icon and their URLs are printed.
 * Returns the exit code.
 */
async function headless(
  err: import('./tray-host.js').TrayStartFailure,
  o: TrayRunOptions,
  { app, daemons, log }: { app: { startStopped(waitMs: number): Promise<void> }; daemons: Daemons; log: (line: string) => void },
): Promise<number> {
  log(`mcpshare tray: ${err.message}`);
  if (!process.stderr.isTTY) process.stderr.write(`mcpshare tray: ${err.message}\n`);
  let allUp = false;
  if (!o.noStart && daemons.list().length) {
    await app.startStopped(15_000);
    const rows = await daemons.status();
    for (const s of rows) process.stderr.write(`  ${s.name}: ${s.state} on ${s.url}\n`);
    allUp = rows.every((s) => s.state === 'up');
  }
  // --demo is the "try it" path (npm start): on a machine without a desktop its daemons serving
  // is the result, so that is a success.
  if (o.demo && allUp) return 0;
  // Under launchd (KeepAlive restarts any failed exit) a fault that no retry can fix would
  // restart the tray every few seconds, forever: exit 0 there, the log says why.
  const { reason } = err.context;
  return process.env.XPC_SERVICE_NAME === 'dev.mcpshare.tray' && reason !== 'exited' && reason !== 'timeout' ? 0 : 1;
}

/** Login autostart of the tray, where this platform has one. */
async function loadAutostart(): Promise<TrayAutostart | undefined> {
  if (process.platform !== 'linux' && process.platform !== 'darwin') return undefined;
  const m = await import('./autostart.js');
  let state: boolean | undefined;
  const read = async () => {
    try {
      state = (await m.autostartStatus()).enabled;
    } catch {
      state = undefined;
    }
  };
  await read();
  return {
    status: () => state,
    async set(on) {
      // start: false — this tray is the one running; launchd must not start a second one now.
      await (on ? m.enableAutostart({ start: false }) : m.disableAutostart());
      await read();
    },
  };
}

/** `--demo` on a machine with nothing registered: the bundled demo server becomes the first shared daemon. */
async function registerDemo(manager: ServerManager, log: (line: string) => void): Promise<void> {
  if (manager.list().length > 0) return;
  const [{ fileURLToPath }, { isPortFree }] = await Promise.all([import('node:url'), import('../registry/ports.js')]);
  const server = fileURLToPath(new URL('../demo/server.js', import.meta.url));
  const { entry } = await manager.add({ name: 'demo', command: process.execPath, args: [server], port: (await isPortFree(8000)) ? 8000 : undefined });
  log(`registered the bundled demo server as "demo" on http://localhost:${entry.port}/mcp (remove it with "mcpshare remove demo")`);
}
