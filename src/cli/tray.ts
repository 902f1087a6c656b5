import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
                    (port 8000, or the first free port from 8001) so there is something to share
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
export function runningTrayPid(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A reused pid belongs to some other program: only a process running "… tray" counts.
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!cmd.includes('tray')) return undefined;
  } catch {
    /* no /proc (macOS): trust kill(0) */
  }
  return pid;
}

function openLog(file: string): (line: string) => void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  try {
    if (statSync(file).size > LOG_LIMIT) renameSync(file, `${file}.1`);
  } catch {
    /* no log yet */
  }
  return (line) => {
    const stamped = `${new Date().toISOString()} ${line}\n`;
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
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
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
  const running = runningTrayPid(files.pidFile);
  if (running) {
    process.stdout.write(`the mcpshare tray is already running (pid ${running}); "mcpshare tray --quit" stops it\n`);
    return 0;
  }
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
      if (!values['no-start'] && manager.list().length) {
        await app.startStopped(15_000);
        for (const s of await manager.status()) process.stderr.write(`  ${s.name}: ${s.state} on ${s.url}\n`);
      }
      return 1;
    }
    throw err;
  }
  writeFileSync(files.pidFile, `${process.pid}\n`, { mode: 0o600 });
  log(`tray started (pid ${process.pid}, binary pid ${app.host.pid}), checking ${manager.list().length} server(s) every ${interval} s`);
  const onSignal = (sig: string) => {
    log(`${sig}: closing the tray; daemons keep running`);
    void app.close().then(() => finish(0));
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGHUP', () => onSignal('SIGHUP'));
  // Nothing else holds the event loop open for sure (the monitor's timers are unref'd).
  const keepAlive = setInterval(() => {}, 1 << 30);
  const code = await done;
  clearInterval(keepAlive);
  // Only our own pid file: a second tray started since owns the new one.
  try {
    if (Number.parseInt(readFileSync(files.pidFile, 'utf8'), 10) === process.pid) rmSync(files.pidFile, { force: true });
  } catch {
    /* already gone */
  }
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
