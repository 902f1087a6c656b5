import { EventEmitter } from 'node:events';
import { chmodSync, closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isMcpshareError, McpshareError, type TrayStartReason } from '../errors.js';

/**
 * Owns the native tray binary that systray2 drives (a Go program speaking JSON lines on stdin and
 * stdout) and smooths over what systray2 leaves to its callers:
 * - the binary ships without its exec bit and systray2's own chmod fails silently: we copy it to a
 *   private folder with mode 0755 and point systray2 there;
 * - `ready()` never settles when the binary dies at start (no display, a missing library): we race it
 *   against the process's exit and turn the binary's stderr into a message a person can act on;
 * - the menu's structure is fixed when the binary starts: `show()` diffs against what the binary
 *   shows, sends `update-item` for changed rows, and restarts the binary only when rows come or go;
 * - its stderr is piped but never read by systray2: we drain it, or GTK warnings would fill the pipe
 *   and freeze the tray after days;
 * - each icon change writes a temporary file into TMPDIR: we give the binary its own folder and sweep it.
 */

/** A row of the menu, addressed by its own key (never by systray2's ids). */
export interface TrayItem {
  key: string;
  title: string;
  enabled?: boolean;
  /** A submenu; its parent's own clicks (sent on hover) are ignored. */
  items?: TrayItem[];
}

export interface TrayMenu {
  /** Path to a PNG. */
  icon: string;
  /** macOS: the icon is black and alpha; the menu bar tints it. */
  template?: boolean;
  tooltip: string;
  items: TrayItem[];
}

export const SEPARATOR = '<SEPARATOR>';

/** Why the tray binary could not be shown: McpshareError 'tray-start' with the reason and the binary's stderr. */
export type TrayStartFailure = McpshareError<'tray-start'>;

export function trayStartError(message: string, reason: TrayStartReason, stderr = ''): TrayStartFailure {
  return new McpshareError('tray-start', message, { context: { reason, stderr } });
}

export interface TrayHostOptions {
  /** Private folder for the binary's copy and its temporary icon files. */
  workDir: string;
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  log?: (line: string) => void;
}

interface HostEvents {
  click: [key: string];
  /** The binary exited without being asked to (it crashed, or the display went away). */
  exit: [code: number | null, signal: NodeJS.Signals | null, stderr: string];
}

// systray2's own types, kept to what we use.
interface SysItem {
  title: string;
  tooltip: string;
  enabled?: boolean;
  checked?: boolean;
  hidden?: boolean;
  icon?: string;
  items?: SysItem[];
  __id?: number;
  key?: string;
}
interface SysTrayInstance {
  process: import('node:child_process').ChildProcess | null;
  ready(): Promise<void>;
  onClick(listener: (a: { item: SysItem; __id: number }) => void): Promise<unknown>;
  sendAction(action: object): Promise<unknown>;
}
type SysTrayClass = new (conf: { menu: object; copyDir: string }) => SysTrayInstance;

const require = createRequire(import.meta.url);
const BINARIES: Partial<Record<NodeJS.Platform, string>> = { linux: 'tray_linux_release', darwin: 'tray_darwin_release', win32: 'tray_windows_release.exe' };
const STDERR_KEEP = 4096;

/** Copies systray2's binary for this platform to `<workDir>/bin/<version>/` with the exec bit; returns the copy dir. */
export function prepareBinary(workDir: string, platform: NodeJS.Platform = process.platform): string {
  const name = BINARIES[platform];
  if (!name) throw trayStartError(`there is no tray binary for ${platform}`, 'no-binary');
  const pkgFile = require.resolve('systray2/package.json');
  const version = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string }).version;
  const source = join(dirname(pkgFile), 'traybin', name);
  const copyDir = join(workDir, 'bin');
  const target = join(copyDir, version, name);
  let sourceSize: number;
  try {
    sourceSize = statSync(source).size;
  } catch {
    throw trayStartError(`the tray binary ${source} is missing; reinstall mcpshare (npm ci)`, 'no-binary');
  }
  let current: number | undefined;
  try {
    current = statSync(target).size;
  } catch {
    current = undefined;
  }
  if (current !== sourceSize) {
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    copyFileSync(source, target);
  }
  chmodSync(target, 0o755);
  const arch = binaryArch(target);
  // systray2 ships x86-64 binaries only: elsewhere say so instead of a cryptic exec failure.
  // (An arm64 Mac runs it through Rosetta 2; explainSpawnError covers a Mac without it.)
  if (arch && arch !== process.arch && platform !== 'darwin') {
    throw trayStartError(
      `the tray binary bundled with systray2 is built for ${arch}, and this machine is ${process.arch}: the tray cannot run here. Your daemons work without it ("mcpshare status").`,
      'no-binary',
    );
  }
  return copyDir;
}

/** CPU of an ELF or Mach-O executable, from its header: 'x64', 'arm64', or undefined. */
export function binaryArch(file: string): 'x64' | 'arm64' | undefined {
  let head: Buffer;
  try {
    const fd = openSync(file, 'r');
    head = Buffer.alloc(20);
    readSync(fd, head, 0, 20, 0);
    closeSync(fd);
  } catch {
    return undefined;
  }
  if (head.readUInt32BE(0) === 0x7f454c46) {
    const machine = head.readUInt16LE(18);
    return machine === 0x3e ? 'x64' : machine === 0xb7 ? 'arm64' : undefined;
  }
  if (head.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = head.readUInt32LE(4);
    return cpu === 0x01000007 ? 'x64' : cpu === 0x0100000c ? 'arm64' : undefined;
  }
  return undefined;
}

/** A spawn that failed outright; on an Apple Silicon Mac without Rosetta 2 that is error -86. */
export function explainSpawnError(err: TrayStartFailure, platform: NodeJS.Platform): TrayStartFailure {
  if (platform === 'darwin' && /-86|bad CPU type/i.test(err.message)) {
    return trayStartError(
      'the tray binary is an Intel (x86-64) program and this Mac cannot run it without Rosetta 2: install it with "softwareupdate --install-rosetta --agree-to-license", then start the tray again. Your daemons keep running.',
      'no-binary',
    );
  }
  return err;
}

/** Turns how the binary died at start into what to do about it. */
export function explainStartFailure(code: number | null, signal: string | null, stderr: string, env: NodeJS.ProcessEnv): TrayStartFailure {
  const lib = /error while loading shared libraries: ([^:\s]+)/.exec(stderr)?.[1];
  if (lib || code === 127) {
    const which = lib ?? 'a shared library';
    return trayStartError(
      `the tray cannot start: ${which} is missing. It needs GTK 3 and an AppIndicator library: on Debian/Ubuntu "sudo apt install libgtk-3-0 libayatana-appindicator3-1", on Fedora "sudo dnf install gtk3 libayatana-appindicator-gtk3". Your daemons keep running; "mcpshare status" shows them.`,
      'missing-library',
      stderr,
    );
  }
  if (/cannot open display/i.test(stderr)) {
    return trayStartError(
      `the tray cannot open the display ${env.DISPLAY ? `"${env.DISPLAY}"` : '(DISPLAY is not set)'}: it needs a graphical session. Your daemons keep running; "mcpshare status" shows them.`,
      'no-display',
      stderr,
    );
  }
  const tail = stderr.trim().split('\n').slice(-3).join(' / ');
  return trayStartError(`the tray binary exited at start (${signal ?? `exit code ${code}`})${tail ? `: ${tail}` : ''}`, 'exited', stderr);
}

/** Before spawning anything: a Linux tray without any display cannot work. */
export function displayProblem(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): TrayStartFailure | undefined {
  if (platform !== 'linux' || env.DISPLAY || env.WAYLAND_DISPLAY) return undefined;
  return trayStartError(
    'the tray needs a graphical session, and neither DISPLAY nor WAYLAND_DISPLAY is set. Your daemons keep running; "mcpshare status" shows them.',
    'no-display',
  );
}

export class TrayHost extends EventEmitter<HostEvents> {
  private tray: SysTrayInstance | undefined;
  /** What the binary shows now, by key: the fields update-item can change, plus systray2's id. */
  private shown = new Map<string, { id: number; title: string; enabled: boolean }>();
  private structure = '';
  private icon = '';
  private stderrTail = '';
  private readonly opts: Required<Omit<TrayHostOptions, 'log'>> & { log: (line: string) => void };

  constructor(opts: TrayHostOptions) {
    super();
    this.opts = {
      workDir: opts.workDir,
      readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
      env: opts.env ?? process.env,
      platform: opts.platform ?? process.platform,
      log: opts.log ?? (() => {}),
    };
  }

  get running(): boolean {
    return !!this.tray?.process && this.tray.process.exitCode === null && this.tray.process.signalCode === null;
  }

  get pid(): number | undefined {
    return this.tray?.process?.pid;
  }

  /**
   * Shows `menu`: starts the binary, updates rows in place, or restarts it when rows came or went.
   * Calls are queued: two overlapping shows must not both find no binary and start two (two icons).
   */
  show(menu: TrayMenu): Promise<void> {
    return this.serial(() => this.doShow(menu));
  }

  /** Closes the binary (the icon goes away). Never throws; idempotent. */
  stop(): Promise<void> {
    return this.serial(() => this.doStop());
  }

  private queue: Promise<unknown> = Promise.resolve();
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doShow(menu: TrayMenu): Promise<void> {
    const structure = structureOf(menu.items);
    if (!this.running || structure !== this.structure) {
      await this.doStop();
      await this.launch(menu, structure);
      return;
    }
    for (const item of flatten(menu.items)) {
      const now = this.shown.get(item.key)!;
      const enabled = item.enabled !== false;
      if (now.title === item.title && now.enabled === enabled) continue;
      await this.send({ type: 'update-item', item: { title: item.title, tooltip: '', enabled, checked: false, hidden: false, icon: '', __id: now.id } });
      this.shown.set(item.key, { id: now.id, title: item.title, enabled });
    }
    const iconKey = iconKeyOf(menu);
    if (iconKey !== this.icon) {
      // update-menu only changes the icon, title and tooltip; its items are ignored by the binary.
      await this.send({ type: 'update-menu', menu: { icon: menu.icon, isTemplateIcon: !!menu.template, title: '', tooltip: menu.tooltip, items: [] } });
      this.icon = iconKey;
    }
  }

  private async doStop(): Promise<void> {
    const tray = this.tray;
    this.tray = undefined;
    const proc = tray?.process;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    try {
      proc.stdin?.write('{"type":"exit"}\n');
    } catch {
      /* its stdin is gone: the kill below does it */
    }
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    this.sweepTemp();
  }

  private async launch(menu: TrayMenu, structure: string): Promise<void> {
    const { env, platform, workDir, readyTimeoutMs, log } = this.opts;
    const early = displayProblem(env, platform);
    if (early) throw early;
    const copyDir = prepareBinary(workDir, platform);
    const tmp = join(workDir, 'tmp');
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    this.sweepTemp();
    // systray2 spawns the binary with process.env: give it our env, with TMPDIR pointing at our
    // folder, for that spawn only (every daemon the tray starts later inherits process.env).
    const restoreEnv = swapProcessEnv({ ...env, TMPDIR: tmp });
    const SysTray = ((await import('systray2')) as unknown as { default: SysTrayClass | { default: SysTrayClass } }).default;
    const Ctor = (typeof SysTray === 'function' ? SysTray : SysTray.default) as SysTrayClass;

    const byId = new Map<number, TrayItem>();
    const sysItems = menu.items.map(toSysItem);
    const tray = new Ctor({ menu: { icon: menu.icon, isTemplateIcon: !!menu.template, title: '', tooltip: menu.tooltip, items: sysItems }, copyDir });
    this.tray = tray;
    this.stderrTail = '';
    let proc: import('node:child_process').ChildProcess;
    try {
      proc = await waitForProcess(tray);
    } catch (err) {
      this.tray = undefined;
      throw isMcpshareError(err, 'tray-start') ? explainSpawnError(err, platform) : err;
    } finally {
      restoreEnv();
    }
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_KEEP);
      for (const line of chunk.split('\n')) if (line.trim() && !/gdk_window_thaw_toplevel_updates/.test(line)) log(`tray binary: ${line.trim()}`);
    });
    proc.stdin?.on('error', () => {}); // a write after the binary died must not become an uncaught error

    const exit = new Promise<never>((_, reject) => proc.once('exit', (code, signal) => reject(explainStartFailure(code, signal, this.stderrTail, env))));
    exit.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(trayStartError(`the tray binary did not report ready within ${readyTimeoutMs / 1000} s`, 'timeout', this.stderrTail)),
        readyTimeoutMs,
      );
    });
    try {
      await Promise.race([tray.ready(), exit, timeout]);
    } catch (err) {
      this.tray = undefined;
      proc.kill('SIGKILL');
      throw isMcpshareError(err, 'tray-start')
        ? err
        : explainSpawnError(trayStartError(`the tray binary could not be started: ${(err as Error).message}`, 'exited'), platform);
    } finally {
      clearTimeout(timer);
    }

    this.shown.clear();
    for (const item of flatten(menu.items)) {
      const sys = findSys(sysItems, item.key)!;
      byId.set(sys.__id!, item);
      this.shown.set(item.key, { id: sys.__id!, title: item.title, enabled: item.enabled !== false });
    }
    this.structure = structure;
    this.icon = iconKeyOf(menu);
    void tray.onClick((a) => {
      const item = byId.get(a.__id);
      // A submenu's parent reports a click when its submenu opens (even on hover): not an action.
      if (item && !item.items) this.emit('click', item.key);
    });
    proc.once('exit', (code, signal) => {
      // doStop() forgets the binary before asking it to exit: only an exit nobody asked for is reported.
      if (this.tray !== tray) return;
      this.tray = undefined;
      this.emit('exit', code, signal, this.stderrTail);
    });
  }

  private async send(action: object): Promise<void> {
    if (!this.tray) return;
    await this.tray.sendAction(action);
  }

  /** Icon files a killed binary left behind (a clean exit removes its own). */
  private sweepTemp(): void {
    const tmp = join(this.opts.workDir, 'tmp');
    try {
      for (const f of readdirSync(tmp)) if (f.startsWith('systray_')) rmSync(join(tmp, f), { force: true });
    } catch {
      /* nothing to sweep */
    }
  }
}

/** Makes process.env exactly `next` until the returned function puts the old values back. */
function swapProcessEnv(next: NodeJS.ProcessEnv): () => void {
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (!(k in next)) delete process.env[k];
  Object.assign(process.env, next);
  return () => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  };
}

function toSysItem(item: TrayItem): SysItem {
  if (item.title === SEPARATOR) return { title: SEPARATOR, tooltip: '', enabled: true, key: item.key };
  return {
    title: item.title,
    tooltip: '',
    enabled: item.enabled !== false,
    checked: false,
    hidden: false,
    key: item.key,
    ...(item.items ? { items: item.items.map(toSysItem) } : {}),
  };
}

function findSys(items: SysItem[], key: string): SysItem | undefined {
  for (const i of items) {
    if (i.key === key) return i;
    const inner = i.items && findSys(i.items, key);
    if (inner) return inner;
  }
  return undefined;
}

function flatten(items: readonly TrayItem[]): TrayItem[] {
  return items.flatMap((i) => [i, ...(i.items ? flatten(i.items) : [])]);
}

/** What update-menu changes: when this differs from what is shown, one is sent. */
const iconKeyOf = (menu: TrayMenu) => `${menu.icon}|${menu.template ? 1 : 0}|${menu.tooltip}`;

/** Rows and their nesting: when this changes the binary must be restarted. */
function structureOf(items: readonly TrayItem[]): string {
  return items.map((i) => (i.items ? `${i.key}[${structureOf(i.items)}]` : i.key)).join(',');
}

/** systray2 spawns the binary a few awaits after its constructor; `process` is null until then. */
async function waitForProcess(tray: SysTrayInstance): Promise<import('node:child_process').ChildProcess> {
  const spawnFailed = tray.ready().then(
    () => undefined,
    (err: Error) => err,
  );
  for (let i = 0; i < 500; i++) {
    if (tray.process) return tray.process;
    const err = await Promise.race([spawnFailed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10))]);
    if (err) throw trayStartError(`the tray binary could not be started: ${err.message}`, 'exited');
  }
  throw trayStartError('the tray binary was not started within 5 s', 'timeout');
}
