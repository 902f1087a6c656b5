import { appendFileSync, mkdirSync } from 'node:fs';
import { rotateLog } from '../units/logs.js';
import { acquirePidLock, lockHolder, processAlive, releasePidLock } from '../util/pid-lock.js';
import { join } from 'node:path';
import { parseCommandLine, UsageError } from '../util/args.js';
import { userPaths } from '../units/paths.js';

export const trayUsage = `Usage: mcpshare tray [--interval SEC] [--no-start] [--demo]
       mcpshare tray --quit [--stop-daemons]

Shows a tray icon (green: all servers up, amber: some down or starting, red: a crash loop, grey:
all stopped) with one menu row per registered server: its state, port, sessions and memory. Click a
server to start or stop it. The menu also has Start all / Stop all, Restart and Show log per server,
"Write .mcp.json…" (pick a project folder; its .mcp.json then points at the shared daemons),
"Use shared servers for all projects" (the user scope in ~/.claude.json), "Revert last config
change", "Memory report" (what "mcpshare doctor" shows) and "Start at login".

A desktop notification says when a daemon hits its restart limit, and when it is back up.
At start the tray starts the registered daemons that are stopped (unless --no-start). Quitting the
tray leaves the daemons running; "Quit and stop all servers" stops them too.

  --interval SEC    seconds between health checks (default 10)
  --no-start        do not start stopped daemons when the tray starts
  --demo            when no server is registered yet, register the bundled demo server as "demo"
                    (port 8000, or the first free port from 8001) so there is something to share;
                    without a desktop, exit 0 once the daemons are up (their URLs are printed)
  --quit            stop the running tray (daemons keep running)
  --stop-daemons    with --quit: stop every daemon as well

The tray's log: ~/.local/state/mcpshare/logs/tray.log (macOS: ~/Library/Logs/mcpshare/tray.log).
`;

const LOG_LIMIT = 1024 * 1024;

export function trayFiles(env: NodeJS.ProcessEnv = process.env): { pidFile: string; logFile: string; workDir: string } {
  const p = userPaths(env);
  return { pidFile: join(p.stateDir, 'tray.pid'), logFile: join(p.logDir, 'tray.log'), workDir: join(p.stateDir, 'tray') };
}

/** The pid of a running tray, from its pid file (stale files are ignored). */
export const runningTrayPid = (pidFile: string): number | undefined => lockHolder(pidFile, 'tray');

/** Takes the one-tray-per-user lock before any other work; returns the pid of another live tray. */
export const lockTray = (pidFile: string): number | undefined => acquirePidLock(pidFile, 'tray');

function openLog(file: string): (line: string) => void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  rotateLog(file, LOG_LIMIT);
  let written = 0;
  return (line) => {
    const stamped = `${new Date().toISOString()} ${line}\n`;
    // A tray runs for weeks: rotate as it goes, not only at start (checked every 128 KB written).
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

async function quit(stopDaemons: boolean): Promise<number> {
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
    const m = new ServerManager();
    for (const e of m.list()) {
      const s = await m.stop(e.name);
      process.stdout.write(`${e.name}: ${s.state}\n`);
    }
  }
  return 0;
}

export async function trayCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { interval: { type: 'string' }, 'no-start': { type: 'boolean' }, demo: { type: 'boolean' }, quit: { type: 'boolean' }, 'stop-daemons': { type: 'boolean' } }, false);
  if (values['stop-daemons'] && !values.quit) throw new UsageError('--stop-daemons goes with --quit');
  if (values.quit) return quit(!!values['stop-daemons']);
  const interval = values.interval === undefined ? 10 : Number(values.interval);
  if (!Number.isFinite(interval) || interval < 0.5) throw new UsageError(`--interval wants seconds (0.5 or more), not "${values.interval}"`);

  const files = trayFiles();
  const running = lockTray(files.pidFile);
  if (running) {
    process.stdout.write(`the mcpshare tray is already running (pid ${running}); "mcpshare tray --quit" stops it\n`);
    return 0;
  }
  try {
    return await runTray(values, interval, files);
  } finally {
    releasePidLock(files.pidFile);
  }
}

async function runTray(values: { 'no-start'?: boolean; demo?: boolean }, interval: number, files: ReturnType<typeof trayFiles>): Promise<number> {
  const log = openLog(files.logFile);
  mkdirSync(files.workDir, { recursive: true, mode: 0o700 });
  const [{ TrayApp, ASSETS_DIR }, { ServerManager }, { systemDesktop }, { trayConfigActions }, { TrayStartError }] = await Promise.all([
    import('../tray/app.js'),
    import('../units/manager.js'),
    import('../tray/dialogs.js'),
    import('../tray/config-actions.js'),
    import('../tray/tray-host.js'),
  ]);
  const manager = new ServerManager();
  if (values.demo) await registerDemo(manager, log);
  const platform = process.platform;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));
  const app = new TrayApp({
    manager,
    desktop: await systemDesktop({ platform, env: process.env, icon: join(ASSETS_DIR, 'mcpshare.png'), log }),
    config: trayConfigActions(manager),
    autostart: await loadAutostart(),
    workDir: files.workDir,
    intervalMs: interval * 1000,
    startDaemons: !values['no-start'],
    platform,
    log,
    onQuit: (code) => finish(code),
  });
  try {
    await app.start();
  } catch (err) {
    if (err instanceof TrayStartError) {
      log(`mcpshare tray: ${err.message}`);
      if (!process.stderr.isTTY) process.stderr.write(`mcpshare tray: ${err.message}\n`);
      // The tray's other job at login still gets done: the daemons come up without an icon.
      let allUp = false;
      if (!values['no-start'] && manager.list().length) {
        await app.startStopped(15_000);
        const rows = await manager.status();
        for (const s of rows) process.stderr.write(`  ${s.name}: ${s.state} on ${s.url}\n`);
        allUp = rows.every((s) => s.state === 'up');
      }
      // --demo is the "try it" path (npm start): on a machine without a desktop its daemons serving
      // is the result, so that is a success.
      if (values.demo && allUp) return 0;
      // Under launchd (KeepAlive restarts any failed exit) a fault that no retry can fix would
      // restart the tray every few seconds, forever: exit 0 there, the log says why.
      return process.env.XPC_SERVICE_NAME === 'dev.mcpshare.tray' && err.reason !== 'exited' && err.reason !== 'timeout' ? 0 : 1;
    }
    throw err;
  }
  log(`tray started (pid ${process.pid}, binary pid ${app.host.pid}), checking ${manager.list().length} server(s) every ${interval} s`);
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

/** Login autostart of the tray, where this platform has one. */
async function loadAutostart(): Promise<import('../tray/app.js').TrayAutostart | undefined> {
  if (process.platform !== 'linux' && process.platform !== 'darwin') return undefined;
  const m = await import('../tray/autostart.js');
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
async function registerDemo(manager: import('../units/manager.js').ServerManager, log: (line: string) => void): Promise<void> {
  if (manager.list().length > 0) return;
  const [{ fileURLToPath }, { isPortFree }] = await Promise.all([import('node:url'), import('../registry/ports.js')]);
  const server = fileURLToPath(new URL('../demo/server.js', import.meta.url));
  const { entry } = await manager.add({ name: 'demo', command: process.execPath, args: [server], port: (await isPortFree(8000)) ? 8000 : undefined });
  log(`registered the bundled demo server as "demo" on http://localhost:${entry.port}/mcp (remove it with "mcpshare remove demo")`);
}
