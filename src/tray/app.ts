import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { isMcpshareError } from '../errors.js';
import { HealthMonitor, type ServerHealth } from '../health/monitor.js';
import type { ServerEntry } from '../registry/registry.js';
import type { Daemons } from '../health/daemons.js';
import { statusRow } from '../units/status.js';
import { ACTIONS, buildMenu, iconFile, type TrayClient } from './menu.js';
import { CrashLoopAlerts, type Notify } from './notify.js';
import { clickAction, steadyBytes, summarize, tooltip } from './summary.js';
import { TrayHost } from './tray-host.js';

/**
 * The tray: a thin loop that shows the health monitor's rows in the tray binary's menu and turns
 * clicks into the same calls the CLI makes (Daemons, applyConfig, revert, doctor). It owns no
 * daemon: quitting it leaves them running unless asked.
 */
export const ASSETS_DIR = fileURLToPath(new URL('../../assets/', import.meta.url));

/** What the tray needs from the desktop, injectable so the app logic can run without one. */
export interface TrayDesktop {
  notify: Notify;
  /** A folder path, null when cancelled, or why no picker could be shown. */
  pickFolder(title: string, startDir: string): Promise<string | null | Error>;
  /** A read-only text window; false when none could be shown. */
  showText(title: string, text: string): Promise<boolean>;
  openFile(file: string): Promise<boolean>;
}

/** Client-config actions; loaded lazily by the CLI wiring (they are not needed until clicked). */
export interface TrayConfigActions {
  /** "Write .mcp.json…": share every registered server that is up in DIR's .mcp.json. */
  writeProject(dir: string): Promise<string>;
  /** "Use shared servers for all projects": the same in the user scope (~/.claude.json). */
  useForAllProjects(): Promise<string>;
  /** "Connect a client": the clients found, and switching one to the shared daemons (its user config, adding the registered servers it lacks). */
  clients?(): readonly TrayClient[];
  connectClient?(name: string): Promise<string>;
  /** Undo the newest config change on record (any client's); the message says what was undone. */
  revertLast(): Promise<string>;
  canRevert(): boolean;
  memoryReport(): Promise<string>;
}

export interface TrayAutostart {
  status(): boolean | undefined;
  set(on: boolean): Promise<void>;
}

export interface TrayAppOptions {
  daemons: Daemons;
  desktop: TrayDesktop;
  config: TrayConfigActions;
  autostart?: TrayAutostart;
  /** Private folder for the tray binary's copy and temp files. */
  workDir: string;
  intervalMs?: number;
  probeTimeoutMs?: number;
  /** Start daemons that are stopped when the tray starts (login). Default true. */
  startDaemons?: boolean;
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** Called when the person quits from the menu. */
  onQuit: (code: number) => void;
}

export class TrayApp {
  readonly host: TrayHost;
  readonly monitor: HealthMonitor;
  private readonly alerts = new CrashLoopAlerts();
  private readonly pending = new Map<string, string>();
  /** Rows newer than the monitor's last round: the result of an action, shown at once. */
  private readonly fresh = new Map<string, ServerHealth>();
  /** The RSS each row shows now (see steadyMemory). */
  private readonly shownRss = new Map<string, number>();
  private rendering: Promise<void> = Promise.resolve();
  private hostRestarts = 0;
  private restartingHost = false;
  private launchedAt = Date.now();
  private closed = false;
  private readonly platform: NodeJS.Platform;
  private readonly o: TrayAppOptions;

  constructor(o: TrayAppOptions) {
    this.o = o;
    this.platform = o.platform ?? process.platform;
    this.host = new TrayHost({ workDir: o.workDir, env: o.env, platform: this.platform, log: o.log });
    this.monitor = new HealthMonitor(o.daemons, { intervalMs: o.intervalMs ?? 10_000, timeoutMs: o.probeTimeoutMs ?? 3000 });
  }

  /** Shows the tray (throws TrayStartError when it cannot), then starts monitoring. */
  async start(): Promise<void> {
    await this.host.show(this.menu());
    this.host.on('click', (key) => void this.onClick(key));
    this.host.on('exit', (code, signal, stderr) => void this.onHostExit(code, signal, stderr));
    this.monitor.on('change', (cur, prev) => {
      const notice = this.alerts.onChange(cur, prev);
      if (notice) {
        this.o.log(`${notice.title}: ${notice.message}`);
        void this.o.desktop.notify(notice);
      }
      if (prev && prev.state !== cur.state) this.o.log(`${cur.name}: ${prev.state} → ${cur.state}${cur.state === 'up' ? '' : ` (${cur.detail})`}`);
    });
    this.monitor.on('removed', (prev) => this.alerts.forget(prev.name));
    this.monitor.on('update', (all) => {
      pruneFresh(this.fresh, all);
      this.render();
    });
    this.monitor.on('error', (err) => this.o.log(`health round failed: ${err.message}`));
    if (this.o.startDaemons !== false) await this.startStopped();
    this.monitor.start();
  }

  /** Closes the tray; daemons keep running unless `stopDaemons`. */
  async close(opts: { stopDaemons?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.monitor.stop();
    if (opts.stopDaemons) await this.stopAll();
    await this.host.stop();
  }

  /**
   * The rows as shown: the monitor's last round, overlaid with results of actions since. A server
   * not checked yet gets a "checking" row, so the menu's rows (fixed per tray binary run) are all
   * there from the first frame and the binary is not restarted when the first round lands.
   */
  rows(): ServerHealth[] {
    return shownRows(this.o.daemons.list(), this.monitor.snapshot(), this.fresh);
  }

  private menu() {
    const rows = this.rows().map((r) => this.steadyMemory(r));
    const summary = summarize(rows);
    const icon = iconFile(summary, this.platform);
    return {
      icon: join(ASSETS_DIR, icon.file),
      template: icon.template,
      tooltip: tooltip(rows),
      items: buildMenu({
        rows,
        pending: this.pending,
        autostart: this.o.autostart?.status(),
        canRevert: this.o.config.canRevert(),
        clients: this.o.config.clients?.(),
      }),
    };
  }

  /**
   * A row's memory figure moves only when the daemon's RSS moved by 5 MB (or 5%) from what is shown:
   * redrawing 20 rows for every 1 MB of jitter grew the tray binary by ~1 MB a minute at a 1 s
   * interval (measured: 12,000 update-items, +10.8 MB).
   */
  private steadyMemory(r: ServerHealth): ServerHealth {
    // The figure shown is PSS where the OS gives it (status.memory), else RSS.
    const memory = r.status.memory;
    const bytes = memory?.bytes ?? r.status.rssBytes;
    if (bytes == null) {
      this.shownRss.delete(r.name);
      return r;
    }
    const shown = steadyBytes(this.shownRss.get(r.name), bytes);
    this.shownRss.set(r.name, shown);
    if (shown === bytes) return r;
    return { ...r, status: memory ? { ...r.status, memory: { ...memory, bytes: shown } } : { ...r.status, rssBytes: shown } };
  }

  /** Queues a redraw; redraws never overlap, and one never waits for a probe. */
  render(): void {
    // While the binary is being brought back, onHostExit owns the (only) relaunch.
    if (this.closed || this.restartingHost) return;
    this.rendering = this.rendering
      .then(() => (this.closed ? undefined : this.host.show(this.menu())))
      .catch((err: Error) => this.o.log(`tray update failed: ${err.message}`));
  }

  private async onClick(key: string): Promise<void> {
    try {
      const [kind, name] = key.includes(':') ? [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)] : [key, ''];
      switch (kind) {
        case 'server':
          return await this.toggle(name);
        case 'restart':
          return await this.perform(name, 'restart');
        case 'log':
          return await this.showLog(name);
        case ACTIONS.startAll:
          return await this.startAll();
        case ACTIONS.stopAll:
          return await this.stopAll();
        case ACTIONS.writeProject:
          return await this.writeProject();
        case ACTIONS.useUser:
          return await this.report('Use shared servers for all projects', () => this.o.config.useForAllProjects());
        case 'connect': {
          const client = this.o.config.clients?.().find((c) => c.name === name);
          if (!client || !this.o.config.connectClient) return;
          return await this.report(`Connect ${client.label}`, () => this.o.config.connectClient!(name));
        }
        case ACTIONS.revert:
          return await this.report('Revert', () => this.o.config.revertLast());
        case ACTIONS.memory:
          return await this.memoryReport();
        case ACTIONS.autostart:
          return await this.toggleAutostart();
        case ACTIONS.quit:
          await this.close();
          return this.o.onQuit(0);
        case ACTIONS.quitAndStop:
          await this.close({ stopDaemons: true });
          return this.o.onQuit(0);
        default:
          return;
      }
    } catch (err) {
      this.o.log(`${key}: ${(err as Error).message}`);
      await this.o.desktop.notify({ title: 'mcpshare', message: (err as Error).message });
    }
  }

  private async toggle(name: string): Promise<void> {
    if (this.pending.has(name)) return;
    const row = this.rows().find((r) => r.name === name);
    if (!row || row.checkedAt === 0) return; // not checked yet: its state is not known
    return this.perform(name, clickAction(row));
  }

  /** Runs one daemon action with its row marked busy ("stopping…"), then shows the state it left. */
  private async perform(name: string, action: 'start' | 'stop' | 'restart'): Promise<void> {
    if (this.pending.has(name)) return;
    const busy = BUSY[action];
    const m = this.o.daemons;
    this.pending.set(name, busy);
    this.render();
    try {
      const status = await (action === 'stop' ? m.stop(name) : m[action](name, { waitMs: 20_000 }));
      this.fresh.set(name, { name, state: status.state, detail: status.detail, status, checkedAt: Date.now() });
      this.o.log(`${name}: ${busy.replace('…', '')} → ${status.state}`);
    } catch (err) {
      this.o.log(`${name}: ${busy.replace('…', '')} failed: ${(err as Error).message}`);
      await this.o.desktop.notify({ title: `mcpshare: ${name}`, message: (err as Error).message });
    } finally {
      this.pending.delete(name);
      this.render();
      void this.monitor.refresh().catch(() => {});
    }
  }

  /** Starts the registered daemons that are stopped (what the tray does at login). */
  async startStopped(waitMs = 0): Promise<void> {
    const rows = await this.o.daemons.status();
    const stopped = rows.filter((r) => r.state === 'stopped');
    if (stopped.length) this.o.log(`starting ${stopped.map((r) => r.name).join(', ')}`);
    // Not awaited one by one: a slow server must not delay the others or the first health round.
    await Promise.all(
      stopped.map((r) => this.o.daemons.start(r.name, { waitMs }).catch((err: Error) => this.o.log(`${r.name}: start failed: ${err.message}`))),
    );
  }

  private async startAll(): Promise<void> {
    // Each the way its row's click would: start what is stopped, restart what runs but fails.
    const targets = this.rows().filter((r) => r.checkedAt > 0 && r.state !== 'up' && r.state !== 'starting');
    await Promise.all(targets.map((r) => this.perform(r.name, clickAction(r))));
  }

  private async stopAll(): Promise<void> {
    const names = this.o.daemons.list().map((e) => e.name);
    await Promise.all(names.map((n) => this.perform(n, 'stop')));
  }

  private async showLog(name: string): Promise<void> {
    const status = await this.o.daemons.statusOf(this.o.daemons.list().find((e) => e.name === name)!);
    if (!status.logFile || !existsSync(status.logFile)) {
      await this.o.desktop.notify({ title: `mcpshare: ${name}`, message: `${name} has not written a log yet (${status.logFile || 'no log file'})` });
      return;
    }
    if (await this.o.desktop.openFile(status.logFile)) return;
    const { tailLines } = await import('../units/logs.js');
    if (!(await this.o.desktop.showText(`mcpshare: log of ${name}`, tailLines(status.logFile, 400)))) {
      await this.o.desktop.notify({ title: `mcpshare: ${name}`, message: `its log is ${status.logFile}` });
    }
  }

  private async writeProject(): Promise<void> {
    const picked = await this.o.desktop.pickFolder('mcpshare: choose the project folder for .mcp.json', this.o.env?.HOME ?? homedir());
    if (picked === null) return; // cancelled
    if (picked instanceof Error) {
      const remedy = this.platform === 'darwin' ? 'Run in Terminal' : 'Install zenity (or kdialog), or run in a terminal';
      await this.o.desktop.notify({ title: 'mcpshare: cannot ask for a folder', message: `${picked.message}. ${remedy}: mcpshare apply --project DIR --add` });
      return;
    }
    await this.report('Write .mcp.json', () => this.o.config.writeProject(picked));
  }

  private async memoryReport(): Promise<void> {
    const text = await this.o.config.memoryReport();
    if (await this.o.desktop.showText('mcpshare: memory report', text)) return;
    // No window tool: the verdict line in a notification still answers "what would I save".
    const verdict = text.split('\n').find((l) => /^Today:|No per-session/.test(l)) ?? text.split('\n')[0]!;
    await this.o.desktop.notify({ title: 'mcpshare: memory report', message: verdict });
  }

  private async report(what: string, action: () => Promise<string>): Promise<void> {
    const message = await action();
    this.o.log(`${what}: ${message.replace(/\n/g, '; ')}`);
    await this.o.desktop.notify({ title: `mcpshare: ${what}`, message });
    this.render();
  }

  private async toggleAutostart(): Promise<void> {
    const a = this.o.autostart;
    if (!a) return;
    await a.set(!a.status());
    this.render();
  }

  /**
   * The binary died under us (a crash, or the display went away): bring it back, up to five times
   * in a row with 1, 2, 4, 8, 16 s between tries; a binary that then stayed up a minute resets the count.
   */
  private async onHostExit(code: number | null, signal: string | null, stderr: string): Promise<void> {
    if (this.closed || this.restartingHost) return;
    this.o.log(`tray binary exited (${signal ?? `exit code ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}`);
    if (Date.now() - this.launchedAt > 60_000) this.hostRestarts = 0;
    this.restartingHost = true;
    try {
      for (;;) {
        if (this.hostRestarts >= 5) {
          this.o.log('the tray binary keeps exiting: giving up; your daemons keep running ("mcpshare status")');
          await this.close();
          return this.o.onQuit(1);
        }
        await new Promise((r) => setTimeout(r, 1000 * 2 ** this.hostRestarts++));
        if (this.closed) return;
        try {
          await this.host.show(this.menu());
          this.launchedAt = Date.now();
          this.o.log('tray binary restarted');
          return;
        } catch (err) {
          const e = err as Error;
          this.o.log(`tray binary could not be restarted: ${e.message}`);
          if (isMcpshareError(e, 'tray-start') && e.context.reason === 'no-display') {
            // The session is gone (logout): nothing to show on.
            await this.close();
            return this.o.onQuit(1);
          }
        }
      }
    } finally {
      this.restartingHost = false;
    }
  }
}

const BUSY = { start: 'starting…', stop: 'stopping…', restart: 'restarting…' } as const;

/**
 * What the menu shows per registered server: the newer of the monitor's last reading and an
 * action's result, or a "checking" row (checkedAt 0) before the first reading.
 */
export function shownRows(entries: readonly ServerEntry[], snapshot: readonly ServerHealth[], fresh: ReadonlyMap<string, ServerHealth>): ServerHealth[] {
  const byName = new Map(snapshot.map((r) => [r.name, r]));
  for (const [n, r] of fresh) if (r.checkedAt > (byName.get(n)?.checkedAt ?? 0)) byName.set(n, r);
  return entries.map((e) => byName.get(e.name) ?? checking(e)).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * After a health round: an action's result is dropped once a reading at least as new replaces it.
 * A round that read the state before the action finished must not undo what the action showed.
 */
export function pruneFresh(fresh: Map<string, ServerHealth>, round: readonly ServerHealth[]): void {
  for (const r of round) if ((fresh.get(r.name)?.checkedAt ?? Infinity) <= r.checkedAt) fresh.delete(r.name);
}

/** A registered server before its first health round. */
function checking(e: ServerEntry): ServerHealth {
  return { name: e.name, state: 'starting', detail: 'checking', status: statusRow(e, { state: 'starting', detail: 'checking' }), checkedAt: 0 };
}
