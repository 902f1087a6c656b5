/**
 * Test helpers: a REAL headless desktop for the tray's end-to-end tests — Xvfb, a private session
 * D-Bus, dunst (notifications), trayer (an XEmbed system tray), driven with real X input (xdotool),
 * read back with AT-SPI (menu labels, window text) and ImageMagick (screenshots, icon colour).
 * Each choice below was first tried by hand on Debian 12; the comments next to it say why.
 *
 *   const desk = await startDesktop();                          // ~0.7 s idle, warm-up included
 *   const app = spawn(node, [cli, 'tray'], { env: { ...desk.env, HOME: appHome } });
 *   await desk.waitTrayIcon();  await desk.waitIconColor({ r: 34, g: 152, b: 58 });
 *   const items = await desk.menuItems();                       // opens the menu by a real click
 *   await desk.clickMenuItem(['Show log', 'everything']);       // hovers "Show log", clicks the entry
 *   const base = await desk.lastNotificationId(); …; await desk.waitNotifications(base, 1);
 *   await desk.stop();                                          // in afterAll
 *
 * Isolation: every startDesktop() gets its own display (Xvfb -displayfd picks a free one), its own
 * dbus-daemon, dunst and trayer, and a throwaway HOME + XDG_RUNTIME_DIR, so parallel jest workers
 * never share anything. Every process it starts — and everything spawned with `desktop.env`,
 * including D-Bus-activated helpers like at-spi-bus-launcher — carries a per-desktop marker
 * variable, and stop() kills exactly those pids (never by name).
 *
 * Suites declare the need with `describeWith(DESKTOP, …)` (helpers/requirements.ts): on a machine
 * without these tools they are skipped with one line naming what is missing and the apt-get line
 * (a failure under MCPSHARE_REQUIRE_ALL=1, as in CI). startDesktop() itself throws that line.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAndWait, pidsWithEnv, signal } from './procs.js';
import { onPath, type Requirement } from './requirements.js';
import { sleep, waitFor } from './wait.js';

// ---------------------------------------------------------------------------------------------
// What the desktop needs
// ---------------------------------------------------------------------------------------------

/** Debian's python: it has python3-gi + the Atspi typelib; a pyenv/venv `python3` on PATH does not. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
/** The AT-SPI reader run by menuItems()/windowText(). */
export const ATSPI_SCRIPT = fileURLToPath(new URL('./atspi.py', import.meta.url));
/** Failure screenshots go here unless DesktopOptions.artifactsDir says otherwise (git-ignored). */
const DEFAULT_ARTIFACTS = fileURLToPath(new URL('../artifacts/desktop', import.meta.url));
/** Every Debian package the desktop uses (.ci/run installs the same list). */
export const DESKTOP_PACKAGES = [
  'xvfb',
  'trayer',
  'dbus',
  'xdotool',
  'imagemagick',
  'dunst',
  'libnotify-bin',
  'libgtk-3-0',
  'libayatana-appindicator3-1',
  'zenity',
  'at-spi2-core',
  'gir1.2-atspi-2.0',
  'python3-gi',
  'fonts-dejavu-core',
  'x11-utils',
] as const;
export const DESKTOP_APT_COMMAND = `apt-get install -y --no-install-recommends ${DESKTOP_PACKAGES.join(' ')}`;
/** The multiarch library directories (/usr/lib/x86_64-linux-gnu …) plus the plain ones. */
function libDirs(): string[] {
  const dirs = ['/usr/lib', '/lib', '/usr/lib64'];
  for (const base of ['/usr/lib', '/lib']) {
    try {
      for (const e of readdirSync(base)) if (/-linux-gnu/.test(e)) dirs.push(join(base, e));
    } catch {
      // no such directory
    }
  }
  return dirs;
}
const inLibDirs = (rel: string) => libDirs().some((d) => existsSync(join(d, rel)));

/** What each check needs, and which package provides it (for the error message). */
const REQUIREMENTS: { what: string; pkg: string; ok: () => boolean }[] = [
  ...(
    [
      ['Xvfb', 'xvfb'],
      ['trayer', 'trayer'],
      ['dbus-daemon', 'dbus'],
      ['dbus-send', 'dbus'],
      ['xdotool', 'xdotool'],
      ['import', 'imagemagick'],
      ['dunst', 'dunst'],
      ['dunstctl', 'dunst'],
      ['notify-send', 'libnotify-bin'],
      ['zenity', 'zenity'],
      ['xwininfo', 'x11-utils'],
    ] as const
  ).map(([cmd, pkg]) => ({ what: cmd, pkg, ok: () => onPath(cmd) })),
  { what: SYSTEM_PYTHON, pkg: 'python3-gi', ok: () => existsSync(SYSTEM_PYTHON) },
  { what: 'python3 gi module', pkg: 'python3-gi', ok: () => existsSync('/usr/lib/python3/dist-packages/gi/__init__.py') },
  { what: 'Atspi-2.0 typelib', pkg: 'gir1.2-atspi-2.0', ok: () => inLibDirs('girepository-1.0/Atspi-2.0.typelib') },
  {
    what: 'at-spi-bus-launcher',
    pkg: 'at-spi2-core',
    ok: () => existsSync('/usr/libexec/at-spi-bus-launcher') || existsSync('/usr/lib/at-spi2-core/at-spi-bus-launcher'),
  },
  { what: 'libgtk-3.so.0', pkg: 'libgtk-3-0', ok: () => inLibDirs('libgtk-3.so.0') },
  { what: 'libappindicator3.so.1', pkg: 'libayatana-appindicator3-1', ok: () => inLibDirs('libappindicator3.so.1') },
  { what: 'DejaVu fonts', pkg: 'fonts-dejavu-core', ok: () => existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf') },
];

/** What is missing for a desktop, as "tool (package)" strings; [] when everything is there. */
export function missingDesktopTools(): string[] {
  return REQUIREMENTS.filter((r) => !r.ok()).map((r) => `${r.what} (${r.pkg})`);
}

/** The apt-get line that installs the packages behind `missing` (missingDesktopTools() strings). */
function installCommand(missing: string[]): string {
  const pkgs = [...new Set(REQUIREMENTS.filter((r) => missing.includes(`${r.what} (${r.pkg})`)).map((r) => r.pkg))];
  return `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

/** What the desktop suites need: `describeWith(DESKTOP, title, fn)` skips (or, in CI, fails) without it. */
export const DESKTOP: Requirement = {
  what: 'a headless desktop (Xvfb, trayer, dunst, xdotool, zenity, AT-SPI)',
  check: () => {
    const missing = missingDesktopTools();
    return { missing, install: installCommand(missing) };
  },
};

/** What the tray binary itself needs to start (GTK 3 and an AppIndicator library), display aside. */
export const TRAY_LIBRARIES: Requirement = {
  what: "the tray binary's libraries (GTK 3, AppIndicator)",
  check: () => {
    const missing = missingDesktopTools().filter((m) => /^lib(gtk-3|appindicator3)\.so/.test(m));
    return { missing, install: installCommand(missing) };
  },
};

/** The error startDesktop() throws when tools are missing: what, and the apt-get line that fixes it. */
export function missingToolsError(missing: string[]): Error {
  return new Error(
    `the headless desktop tests need tools that are missing here: ${missing.join(', ')}.\n` +
      `Install them (as root; .ci/run does this): ${installCommand(missing)}\n` +
      `(the whole set: ${DESKTOP_APT_COMMAND})`,
  );
}

// ---------------------------------------------------------------------------------------------
// Small process utilities
// ---------------------------------------------------------------------------------------------

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (never through a shell); a spawn failure comes back as code 127. */
export function exec(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
      if (e && typeof e.code === 'string') return resolve({ code: 127, stdout: '', stderr: `${file}: ${e.message}` });
      if (e?.killed) return resolve({ code: null, stdout: String(stdout), stderr: `${String(stderr)}\n${file} timed out after ${timeoutMs} ms` });
      resolve({ code: e ? ((e.code as number | undefined) ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export interface Geometry {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A top-level or embedded X window as `xwininfo -tree` sees it; x/y are root (screen) coordinates. */
export interface WindowInfo extends Geometry {
  id: number;
  name: string;
  /** WM_CLASS instance and class ("systray"/"systray", "zenity"/"Zenity"); '' when unset. */
  instance: string;
  class: string;
}

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** One entry of an open GTK menu, as AT-SPI reports it (atspi.py menu). */
export interface MenuItem extends Geometry {
  name: string;
  /** 'menu item' | 'menu' (a submenu parent) | 'separator' | 'check menu item' | 'radio menu item' … */
  role: string;
  enabled: boolean;
  /** false for systray2's hidden:true items. */
  visible: boolean;
  /** On screen right now: false for the items of a closed submenu (their x/y/w/h are then garbage). */
  showing: boolean;
  /** 0 for the top-level menu, 1 inside a submenu, … */
  depth: number;
  /** Child indexes from the AT-SPI desktop down; a submenu item's path extends its parent's. */
  path: number[];
  /** The submenu parent's name, null at depth 0. */
  parent: string | null;
}

/** An entry's name (string = exact, RegExp = test), or a path of them from the top level down through submenus. */
export type MenuPath = string | RegExp | readonly (string | RegExp)[];

export interface Notification {
  id: number;
  appname: string;
  summary: string;
  body: string;
}

export interface WindowText {
  app: string;
  role: string;
  name: string;
  texts: string[];
}

export interface DesktopOptions {
  /** Xvfb screen, default 1280x1024x24 (zenity's chooser is 1096x822: on 1024x768 its buttons are off-screen). */
  screen?: string;
  /**
   * Warm the X server with one throwaway GDK3 client (default true). The FIRST GTK3 client on a fresh
   * X server runs a GLX probe that loads Mesa + libLLVM and inflates its RSS to ~87 MB instead of
   * ~29 MB; the result is cached in the root window's GDK_VISUALS, so later clients skip it.
   */
  warmUp?: boolean;
  /** Where failure screenshots go (default test/artifacts/desktop); error messages give the path. */
  artifactsDir?: string;
  /** Startup budget for each step (default 15 s: generous for a loaded CI machine). */
  timeoutMs?: number;
}

export interface Desktop {
  /** ":N", picked by Xvfb itself. */
  display: string;
  /** The throwaway HOME / XDG_RUNTIME_DIR of the desktop's own processes (dbus, dunst, at-spi …). */
  home: string;
  runtimeDir: string;
  /**
   * The environment to spawn the app under test with: DISPLAY, DBUS_SESSION_BUS_ADDRESS,
   * XDG_RUNTIME_DIR, HOME (the desktop's), LANG, the stop() marker; NO_AT_BRIDGE, WAYLAND_DISPLAY,
   * XDG_*_HOME etc. removed so GTK talks X11 + AT-SPI and writes under HOME. An app that sets its own
   * HOME ({ ...desktop.env, HOME: appHome }) gets GTK/dconf/at-spi/recently-used files in THAT HOME
   * (~/.cache, ~/.config/dconf, ~/.local/share) — clean it up with the app's HOME.
   */
  env: NodeJS.ProcessEnv;
  /** ms spent in startDesktop, split by step (for reports). */
  timings: Record<string, number>;
  /** Kills every process of this desktop (and everything spawned with `env`) by pid; deletes the temp dirs. */
  stop(): Promise<void>;
  /** The logs of Xvfb, dbus, dunst and trayer (for error messages). */
  logs(): string;

  /** Runs a program under `env` (xdotool, dunstctl …) and returns its output; never throws. */
  run(file: string, args: readonly string[], timeoutMs?: number): Promise<ExecResult>;
  /** `import -window root` into `path` (PNG; the directory is created). */
  screenshot(path: string): Promise<string>;
  /** All viewable windows (including ones embedded in trayer), with root coordinates. */
  windows(): Promise<WindowInfo[]>;
  /** The first viewable window whose name matches (string = exact name), or throws listing what was seen. */
  waitWindow(name: string | RegExp, timeoutMs?: number): Promise<WindowInfo>;
  /** Waits until the window is no longer viewable (closed or unmapped). */
  waitWindowGone(id: number, timeoutMs?: number): Promise<void>;
  /** Closes a dialog: focus + Escape (no WM, so no WM_DELETE_WINDOW); XKillClient if it stays. */
  closeWindow(id: number, timeoutMs?: number): Promise<void>;
  /** Text of the text widgets/labels of every window whose name matches, via AT-SPI (zenity --text-info). */
  windowText(name: string | RegExp, timeoutMs?: number): Promise<string[]>;

  /** The tray icon: the viewable window of class `systray` (GtkStatusIcon under XEmbed), once its size is stable. */
  waitTrayIcon(timeoutMs?: number): Promise<WindowInfo>;
  /** The colour at the icon's centre, from a fresh capture of the screen. */
  iconColor(): Promise<Rgb>;
  /** Polls iconColor() until it is within `tolerance` (per channel) of `expected`. */
  waitIconColor(expected: Rgb, timeoutMs?: number, tolerance?: number): Promise<Rgb>;

  /** The open menu's popup windows (main menu first, then open submenus); [] when closed. */
  menuWindows(): Promise<WindowInfo[]>;
  /** Opens the tray menu with a real click on the icon (retried once); no-op when already open. */
  openMenu(timeoutMs?: number): Promise<WindowInfo>;
  /** Closes the menu with Escape (once per open level) and waits until it is unmapped. */
  closeMenu(timeoutMs?: number): Promise<void>;
  /** The open menu's entries via AT-SPI (opens the menu first when it is closed; leaves it open). */
  menuItems(opts?: { app?: string; timeoutMs?: number }): Promise<MenuItem[]>;
  /**
   * Finds an entry via AT-SPI and really clicks its centre, opening its submenu(s) by hovering the
   * parents first; waits for the menu to close (not after a submenu parent, which just opens). A name
   * matching several visible entries is an error: pass a path, ['Show log', 'everything'].
   * Hidden or disabled entries throw too. Opens the menu first when it is closed.
   */
  clickMenuItem(name: MenuPath, opts?: { app?: string; timeoutMs?: number }): Promise<MenuItem>;

  /** Highest id in dunst's history (after close-all), 0 when empty: the baseline for notificationsSince. */
  lastNotificationId(): Promise<number>;
  /** Notifications dunst received with id > baseline, oldest first. */
  notificationsSince(baselineId: number): Promise<Notification[]>;
  /** Waits for at least `count` notifications after the baseline; with settleMs, waits that long more and re-reads (to catch extras). */
  waitNotifications(baselineId: number, count: number, timeoutMs?: number, settleMs?: number): Promise<Notification[]>;

  /** Answers a GTK folder chooser (zenity --file-selection --directory): focus, ctrl+L, type the path, Return. */
  answerFolderPicker(title: string | RegExp, dir: string, timeoutMs?: number): Promise<void>;
}

/** The variable that marks every process of one desktop (stop() kills exactly those). */
export const MARKER_VAR = 'MCPSHARE_TEST_DESKTOP';

/** Variables that would send GTK elsewhere (Wayland, another bus) or switch AT-SPI off. */
const SCRUBBED = [
  'NO_AT_BRIDGE',
  'WAYLAND_DISPLAY',
  'XAUTHORITY',
  'AT_SPI_BUS_ADDRESS',
  'DBUS_SESSION_BUS_ADDRESS',
  'SESSION_MANAGER',
  'XDG_CONFIG_HOME',
  'XDG_CACHE_HOME',
  'XDG_DATA_HOME',
  'XDG_STATE_HOME',
  'XDG_CURRENT_DESKTOP',
  'XDG_SESSION_TYPE',
  'DESKTOP_SESSION',
  'GDK_SCALE',
  'GDK_DPI_SCALE',
  'GTK_THEME',
  'DISPLAY',
];

/** The test dunstrc: keep everything, merge nothing, keep notifications away from the tray. */
const DUNSTRC = `[global]
    # default true merges identical notifications into one, which would hide a storm
    stack_duplicates = false
    history_length = 1000
    sticky_history = yes
    # 0 = no limit: every notification is displayed, none waits
    notification_limit = 0
    # bottom-right: the tray (trayer) is top-right, and a notification over it would eat the click
    origin = bottom-right
    offset = 10x10
    font = DejaVu Sans 10
    idle_threshold = 0
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
`;

const TRAY_CLASS = 'Tray_linux_release';
const INT_MIN = -2147483648;

/** A string matches exactly; a RegExp is tested without its g/y flags (no lastIndex state between polls). */
const nameMatches = (pattern: string | RegExp, name: string) =>
  typeof pattern === 'string' ? name === pattern : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).test(name);
const center = (g: Geometry) => ({ x: Math.round(g.x + g.w / 2), y: Math.round(g.y + g.h / 2) });
const fmtWin = (w: WindowInfo) => `${w.id} "${w.name}" (${w.instance}/${w.class}) ${w.w}x${w.h}+${w.x}+${w.y}`;
const fmtItem = (i: MenuItem) =>
  `${'  '.repeat(i.depth)}[${i.role}${i.enabled ? '' : ', disabled'}${i.visible ? '' : ', hidden'}${i.showing ? '' : ', not showing'}] "${i.name}"`;
const onScreen = (i: MenuItem) => i.showing && i.x !== INT_MIN && i.w > 1 && i.h > 1;

/** Parses one line of `xwininfo -root -tree -int`. */
const TREE_LINE = /^\s*(\d+) (?:"(.*)"|\(has no name\)): \((.*?)\)\s+(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s+\+(-?\d+)\+(-?\d+)\s*$/;

// ---------------------------------------------------------------------------------------------
// startDesktop
// ---------------------------------------------------------------------------------------------

/**
 * Starts Xvfb (-displayfd, -noreset: without it ~5% of runs lose the display), a session
 * dbus-daemon, dunst (test dunstrc) and trayer, waits for the tray panel and for dunst to own
 * org.freedesktop.Notifications (a notification sent earlier would D-Bus-activate a default dunst),
 * and warms the X server (see DesktopOptions.warmUp).
 */
export async function startDesktop(opts: DesktopOptions = {}): Promise<Desktop> {
  const missing = missingDesktopTools();
  if (missing.length) throw missingToolsError(missing);
  const screen = opts.screen ?? '1280x1024x24';
  const stepTimeout = opts.timeoutMs ?? 15_000;
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (step: string) => (timings[step] = Date.now() - t0);

  const root = mkdtempSync(join(tmpdir(), 'mcpshare-desktop-'));
  const home = join(root, 'home');
  const runtimeDir = join(root, 'xdg');
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(runtimeDir, { mode: 0o700 });
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const markerEntry = `${MARKER_VAR}=${tag}`;
  const logFiles: Record<string, string> = {
    Xvfb: join(root, 'xvfb.log'),
    dbus: join(root, 'dbus.log'),
    dunst: join(root, 'dunst.log'),
    trayer: join(root, 'trayer.log'),
  };

  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of SCRUBBED) delete base[k];
  const env: NodeJS.ProcessEnv = {
    ...base,
    HOME: home,
    XDG_RUNTIME_DIR: runtimeDir,
    GDK_BACKEND: 'x11',
    [MARKER_VAR]: tag,
  };
  if (!env.LANG && !env.LC_ALL) env.LANG = 'C.UTF-8';

  const children: ChildProcess[] = [];
  // Only children node has not reaped yet: an exited child's pid may already belong to someone else.
  const liveChildren = () => children.filter((c) => c.pid && c.exitCode === null && c.signalCode === null).map((c) => c.pid!);
  let xvfbPid: number | undefined;
  // If the jest worker exits without stop() (a crash, a forced exit), still kill our processes.
  const onExit = () => {
    for (const p of pidsWithEnv(markerEntry)) signal(p, 'SIGKILL');
    for (const p of liveChildren()) signal(p, 'SIGKILL');
  };
  process.on('exit', onExit);

  const logs = () =>
    Object.entries(logFiles)
      .map(([k, f]) => {
        let text = '';
        try {
          text = readFileSync(f, 'utf8').trim();
        } catch {
          // not started
        }
        return text ? `--- ${k} log:\n${text.slice(-2000)}` : '';
      })
      .filter(Boolean)
      .join('\n');

  const startChild = (file: string, args: string[], log: string, extraFds: ('pipe' | 'ignore')[] = []): ChildProcess => {
    const fd = openSync(log, 'a');
    try {
      const child = spawn(file, args, { env, stdio: ['ignore', fd, fd, ...extraFds] });
      children.push(child);
      child.on('error', () => {
        // reported by the readiness checks (exitCode / the log)
      });
      return child;
    } finally {
      closeSync(fd);
    }
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Everything but Xvfb first (the app under test, zenity, at-spi, dunst, trayer, dbus), so X
    // clients end on SIGTERM rather than on a lost display; then Xvfb (it removes its lock file).
    const others = () => [...new Set([...pidsWithEnv(markerEntry), ...liveChildren()])].filter((p) => p !== xvfbPid);
    await killAndWait(others(), 2000);
    await killAndWait(others(), 1000); // anything spawned while the first round ran
    if (xvfbPid && liveChildren().includes(xvfbPid)) await killAndWait([xvfbPid], 2000);
    process.off('exit', onExit);
    rmSync(root, { recursive: true, force: true });
  };

  const fail = async (msg: string): Promise<never> => {
    const text = `${msg}\n${logs()}`;
    await stop();
    throw new Error(text);
  };

  // -- Xvfb: it picks a free display and writes the number on fd 3 ------------------------------
  const xvfb = startChild('Xvfb', ['-displayfd', '3', '-screen', '0', screen, '-nolisten', 'tcp', '-noreset'], logFiles.Xvfb, ['pipe']);
  xvfbPid = xvfb.pid;
  const displayNo = await new Promise<string | undefined>((resolve) => {
    let buf = '';
    const timer = setTimeout(() => resolve(undefined), stepTimeout);
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      resolve(v);
    };
    const fd3 = xvfb.stdio[3] as NodeJS.ReadableStream | null;
    fd3?.on('data', (d) => {
      buf += String(d);
      const m = /^(\d+)\n/.exec(buf);
      if (m) done(m[1]);
    });
    xvfb.on('exit', () => done(undefined));
    xvfb.on('error', () => done(undefined));
  });
  if (displayNo === undefined) return fail(`Xvfb did not report a display within ${stepTimeout} ms (exit ${xvfb.exitCode ?? xvfb.signalCode ?? 'none'})`);
  (xvfb.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
  const display = `:${displayNo}`;
  env.DISPLAY = display;
  mark('xvfb');

  // -- session bus: our own child (--nofork) so we hold its pid; it prints its address on stdout --
  const dbusLog = openSync(logFiles.dbus, 'a');
  const dbus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { env, stdio: ['ignore', 'pipe', dbusLog] });
  closeSync(dbusLog);
  children.push(dbus);
  dbus.on('error', () => {});
  const address = await new Promise<string | undefined>((resolve) => {
    let buf = '';
    const timer = setTimeout(() => resolve(undefined), stepTimeout);
    dbus.stdout!.on('data', (d) => {
      buf += String(d);
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl).trim());
      }
    });
    dbus.on('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  if (!address) return fail(`dbus-daemon did not print its address within ${stepTimeout} ms`);
  dbus.stdout!.destroy();
  env.DBUS_SESSION_BUS_ADDRESS = address;
  mark('dbus');

  // -- dunst + trayer ---------------------------------------------------------------------------
  const dunstrc = join(root, 'dunstrc');
  writeFileSync(dunstrc, DUNSTRC);
  const dunst = startChild('dunst', ['-config', dunstrc], logFiles.dunst);
  const trayer = startChild(
    'trayer',
    ['--edge', 'top', '--align', 'right', '--widthtype', 'request', '--height', '32', '--tint', '0xffffff', '--transparent', 'false', '--SetDockType', 'true'],
    logFiles.trayer,
  );
  const run = (file: string, args: readonly string[], timeoutMs = 15_000) => exec(file, args, env, timeoutMs);

  const windows = async (): Promise<WindowInfo[]> => {
    const [vis, tree] = await Promise.all([run('xdotool', ['search', '--onlyvisible', '--name', '']), run('xwininfo', ['-root', '-tree', '-int'])]);
    const visible = new Set(vis.stdout.split('\n').filter(Boolean).map(Number));
    const out: WindowInfo[] = [];
    for (const line of tree.stdout.split('\n')) {
      const m = TREE_LINE.exec(line);
      if (!m) continue;
      const id = Number(m[1]);
      if (!visible.has(id)) continue;
      const [instance = '', klass = ''] = [...(m[3] ?? '').matchAll(/"([^"]*)"/g)].map((q) => q[1]);
      out.push({ id, name: m[2] ?? '', instance, class: klass, w: Number(m[4]), h: Number(m[5]), x: Number(m[8]), y: Number(m[9]) });
    }
    return out;
  };
  const listWindows = async () => (await windows()).map(fmtWin).join('; ') || '(none)';

  const gone = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
  try {
    await waitFor(
      async () => {
        if (gone(trayer)) throw new Error(`trayer exited (${trayer.exitCode ?? trayer.signalCode})`);
        return (await windows()).some((w) => w.instance === 'panel' && w.class === 'trayer');
      },
      'the trayer panel appearing',
      stepTimeout,
      { seen: async () => `visible windows: ${await listWindows()}`, everyMs: 30 },
    );
    mark('trayer');
    await waitFor(
      async () => {
        if (gone(dunst)) throw new Error(`dunst exited (${dunst.exitCode ?? dunst.signalCode})`);
        const r = await run('dbus-send', [
          '--session',
          '--print-reply',
          '--dest=org.freedesktop.DBus',
          '/',
          'org.freedesktop.DBus.NameHasOwner',
          'string:org.freedesktop.Notifications',
        ]);
        return r.stdout.includes('boolean true');
      },
      'dunst owning org.freedesktop.Notifications',
      stepTimeout,
      { everyMs: 30 },
    );
    mark('dunst');
    if (opts.warmUp ?? true) {
      // Any GTK3 client does the GLX probe when it opens the display and caches it on the root
      // window (GDK_VISUALS). zenity is one we need anyway; it is killed as soon as the property
      // is there. It also D-Bus-activates the AT-SPI bus, so the first menu dump is not slower.
      const z = spawn('zenity', ['--info', '--text=warm-up', '--timeout=5'], { env, stdio: 'ignore' });
      children.push(z);
      z.on('error', () => {});
      try {
        await waitFor(
          async () => {
            if (gone(z)) throw new Error(`zenity exited (${z.exitCode ?? z.signalCode}) before GDK_VISUALS appeared`);
            return /GDK_VISUALS\(/.test((await run('xprop', ['-root', 'GDK_VISUALS'])).stdout);
          },
          'the warm-up GTK client setting GDK_VISUALS',
          stepTimeout,
          { everyMs: 30 },
        );
      } finally {
        z.kill('SIGTERM');
      }
      mark('warmUp');
    }
  } catch (err) {
    return fail(`starting the headless desktop on ${display} failed: ${(err as Error).message}`);
  }

  // ---------------------------------------------------------------------------------------------
  // The Desktop's methods
  // ---------------------------------------------------------------------------------------------

  const xdotool = async (...args: string[]) => {
    const r = await run('xdotool', args);
    if (r.code !== 0) throw new Error(`xdotool ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  };

  let shots = 0;
  const screenshot = async (path: string) => {
    mkdirSync(dirname(path), { recursive: true });
    const r = await run('import', ['-window', 'root', path]);
    if (r.code !== 0) throw new Error(`import -window root ${path} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return path;
  };
  /** A screenshot for an error message (into artifactsDir); returns " (screenshot: PATH)" or "". */
  const failureShot = async (what: string) => {
    const dir = opts.artifactsDir ?? DEFAULT_ARTIFACTS;
    try {
      return ` (screenshot: ${await screenshot(join(dir, `failure-d${displayNo}-${++shots}-${what}.png`))})`;
    } catch {
      return '';
    }
  };

  const waitWindow = (name: string | RegExp, timeoutMs = 10_000) =>
    waitFor(async () => (await windows()).find((w) => nameMatches(name, w.name)), `a window named ${String(name)}`, timeoutMs, {
      seen: async () => `visible windows: ${await listWindows()}`,
    });

  const waitWindowGone = async (id: number, timeoutMs = 5000) => {
    await waitFor(async () => !(await windows()).some((w) => w.id === id), `window ${id} closing`, timeoutMs, {
      seen: async () => `visible windows: ${await listWindows()}`,
    });
  };

  const closeWindow = async (id: number, timeoutMs = 3000) => {
    if (!(await windows()).some((w) => w.id === id)) return;
    // No window manager: there is nobody to deliver WM_DELETE_WINDOW, so use the dialog's own Escape.
    await run('xdotool', ['windowfocus', '--sync', String(id)], 3000);
    await run('xdotool', ['key', 'Escape']);
    try {
      await waitWindowGone(id, timeoutMs);
    } catch {
      await run('xdotool', ['windowkill', String(id)]);
      await waitWindowGone(id, timeoutMs);
    }
  };

  const atspi = async (args: string[], timeoutMs = 10_000): Promise<Record<string, unknown>> => {
    const r = await run(SYSTEM_PYTHON, [ATSPI_SCRIPT, ...args], timeoutMs);
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      throw new Error(`${SYSTEM_PYTHON} ${ATSPI_SCRIPT} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim().slice(-1500) || r.stdout.trim()}`);
    }
  };

  const windowText = async (name: string | RegExp, timeoutMs = 5000) => {
    let last: WindowText[] = [];
    return waitFor(
      async () => {
        last = (await atspi(['text'])).windows as WindowText[];
        const hits = last.filter((w) => nameMatches(name, w.name));
        return hits.length && hits.some((w) => w.texts.length) ? hits.flatMap((w) => w.texts) : undefined;
      },
      `AT-SPI text of a window named ${String(name)}`,
      timeoutMs,
      { seen: () => `AT-SPI windows: ${last.map((w) => `"${w.name}" (${w.app}, ${w.texts.length} texts)`).join('; ') || '(none)'}`, everyMs: 100 },
    );
  };

  const trayIcon = async () => (await windows()).find((w) => w.instance === 'systray' && w.class === 'systray' && w.w > 1 && w.h > 1);

  const waitTrayIcon = async (timeoutMs = 10_000) => {
    // The embedded window may be resized once its icon arrives: wait for two equal readings.
    let prev: WindowInfo | undefined;
    return waitFor(
      async () => {
        const cur = await trayIcon();
        const stable = cur && prev && cur.id === prev.id && cur.x === prev.x && cur.y === prev.y && cur.w === prev.w && cur.h === prev.h;
        prev = cur;
        return stable ? cur : undefined;
      },
      'the tray icon (a viewable window of class systray)',
      timeoutMs,
      { seen: async () => `visible windows: ${await listWindows()}${await failureShot('no-tray-icon')}` },
    );
  };

  const iconColor = async (): Promise<Rgb> => {
    const icon = await trayIcon();
    if (!icon) throw new Error(`no tray icon to sample; visible windows: ${await listWindows()}`);
    const c = center(icon);
    const r = await run('import', ['-window', 'root', '-crop', `1x1+${c.x}+${c.y}`, '-depth', '8', 'txt:-']);
    const m = /\(\s*(\d+),\s*(\d+),\s*(\d+)/.exec(r.stdout.split('\n').find((l) => /^\d+,\d+:/.test(l)) ?? '');
    if (r.code !== 0 || !m) throw new Error(`sampling the pixel at ${c.x},${c.y} failed (exit ${r.code}): ${r.stderr.trim()} ${r.stdout.slice(0, 200)}`);
    return { r: Number(m[1]), g: Number(m[2]), b: Number(m[3]) };
  };

  const waitIconColor = async (expected: Rgb, timeoutMs = 5000, tolerance = 40) => {
    let last: Rgb | undefined;
    return waitFor(
      async () => {
        // No icon for a moment (the app restarting its tray binary) is not a wrong colour: keep polling.
        const seen = await iconColor().catch(() => undefined);
        if (!seen) return undefined;
        last = seen;
        const ok = Math.abs(last.r - expected.r) <= tolerance && Math.abs(last.g - expected.g) <= tolerance && Math.abs(last.b - expected.b) <= tolerance;
        return ok ? last : undefined;
      },
      `the tray icon turning rgb(${expected.r},${expected.g},${expected.b}) ±${tolerance}`,
      timeoutMs,
      { seen: async () => `last colour seen: ${last ? `rgb(${last.r},${last.g},${last.b})` : 'none'}${await failureShot('icon-colour')}`, everyMs: 100 },
    );
  };

  // The GTK popup is a viewable Tray_linux_release window; a 10x10 one of that class always exists.
  const menuWindows = async () => (await windows()).filter((w) => w.class === TRAY_CLASS && w.w > 20 && w.h > 20);
  const trayClassWindows = async () =>
    (await windows())
      .filter((w) => w.class === TRAY_CLASS || w.instance === 'systray')
      .map(fmtWin)
      .join('; ') || '(none)';

  const openMenu = async (timeoutMs = 3000): Promise<WindowInfo> => {
    const open = await menuWindows();
    if (open.length) return open[0];
    // The app may be restarting its tray binary (a new menu layout): give the icon time to come back.
    const icon = (await trayIcon()) ?? (await waitTrayIcon(Math.max(timeoutMs, 10_000)).catch(() => undefined));
    if (!icon) throw new Error(`cannot open the tray menu: no tray icon; visible windows: ${await listWindows()}`);
    const c = center(icon);
    // Clicking the icon while the menu is open closes it: check again before the one retry.
    for (let attempt = 1; attempt <= 2; attempt++) {
      const already = await menuWindows();
      if (already.length) return already[0];
      await xdotool('mousemove', String(c.x), String(c.y), 'click', '1');
      try {
        return (await waitFor(async () => (await menuWindows())[0], 'menu', attempt === 1 ? Math.round(timeoutMs / 2) : timeoutMs, {
          everyMs: 25,
        })) as WindowInfo;
      } catch {
        // retry once
      }
    }
    throw new Error(
      `the tray menu did not open within ${(timeoutMs * 1.5) / 1000} s after 2 clicks at ${c.x},${c.y}; ` +
        `windows of class ${TRAY_CLASS}/systray: ${await trayClassWindows()}${await failureShot('menu-not-open')}`,
    );
  };

  const closeMenu = async (timeoutMs = 3000) => {
    // Escape closes one level (an open submenu first).
    for (let i = 0; i < 4; i++) {
      const before = (await menuWindows()).length;
      if (before === 0) return;
      await xdotool('key', 'Escape');
      await waitFor(async () => (await menuWindows()).length < before, 'a menu level closing', 500, { everyMs: 25 }).catch(() => {});
    }
    await waitFor(async () => (await menuWindows()).length === 0, 'the tray menu closing', timeoutMs, {
      seen: async () => `windows of class ${TRAY_CLASS}: ${await trayClassWindows()}${await failureShot('menu-not-closed')}`,
      everyMs: 25,
    });
  };

  const dumpMenu = async (app: string) => (await atspi(['menu', app])) as { apps: string[]; items: MenuItem[] };

  const menuItems = async (o: { app?: string; timeoutMs?: number } = {}) => {
    const app = o.app ?? 'tray_linux_release';
    await openMenu();
    // The AT-SPI tree can lag the X map by a frame: wait for at least one entry on screen.
    let last: { apps: string[]; items: MenuItem[] } = { apps: [], items: [] };
    return (
      await waitFor(
        async () => {
          // It may have closed meanwhile (a click elsewhere, the app replacing its menu): re-open.
          if ((await menuWindows()).length === 0) await openMenu();
          last = await dumpMenu(app);
          return last.items.some(onScreen) ? last : undefined;
        },
        `AT-SPI showing the menu of "${app}"`,
        o.timeoutMs ?? 5000,
        { seen: () => `AT-SPI applications: ${JSON.stringify(last.apps)}; items: ${last.items.map(fmtItem).join(', ') || '(none)'}`, everyMs: 100 },
      )
    ).items;
  };

  const clickMenuItem = async (name: MenuPath, o: { app?: string; timeoutMs?: number } = {}) => {
    const app = o.app ?? 'tray_linux_release';
    const timeoutMs = o.timeoutMs ?? 5000;
    let items = await menuItems({ app, timeoutMs });
    const samePath = (a: number[], b: number[]) => a.length === b.length && a.every((v, k) => v === b[k]);
    const listing = () => items.map(fmtItem).join('\n');
    const what = Array.isArray(name) ? name.map(String).join(' > ') : String(name);
    // A path walks down submenus: each step matches among the children of the previous match.
    const steps: readonly (string | RegExp)[] = Array.isArray(name) ? name : [name as string | RegExp];
    let candidates = items.filter((i) => i.role !== 'separator' && nameMatches(steps[0], i.name) && (Array.isArray(name) ? i.depth === 0 : true));
    for (const step of steps.slice(1)) {
      const parents = candidates.filter((c) => c.role === 'menu');
      candidates = items.filter((i) => i.role !== 'separator' && nameMatches(step, i.name) && parents.some((p) => samePath(i.path.slice(0, -1), p.path)));
    }
    const visible = candidates.filter((i) => i.visible);
    if (candidates.length === 0) throw new Error(`no menu entry ${what}; the menu has:\n${listing()}`);
    if (visible.length === 0) throw new Error(`menu entry ${what} is hidden; the menu has:\n${listing()}`);
    if (visible.length > 1) {
      const where = visible.map((i) => (i.parent ? `"${i.parent}" > "${i.name}"` : `"${i.name}"`)).join(', ');
      throw new Error(`menu entry ${what} is ambiguous: ${where}; pass a path such as ['Parent', 'Entry']`);
    }
    let target = visible[0];
    if (!target.enabled) throw new Error(`menu entry "${target.name}" is disabled; the menu has:\n${listing()}`);

    // Open each submenu on the way by hovering its parent (a submenu opens on hover, ~225 ms).
    const ancestors = items
      .filter((i) => i.role === 'menu' && i.path.length < target!.path.length && samePath(i.path, target!.path.slice(0, i.path.length)))
      .sort((a, b) => a.depth - b.depth);
    for (const a of ancestors) {
      const parent = items.find((i) => samePath(i.path, a.path));
      if (!parent || !onScreen(parent)) throw new Error(`submenu parent "${a.name}" is not on screen; the menu has:\n${listing()}`);
      const c = center(parent);
      const childShowing = (list: MenuItem[]) => list.some((i) => samePath(i.path.slice(0, -1), a.path) && onScreen(i));
      if (childShowing(items)) continue;
      let opened = false;
      for (let attempt = 0; attempt < 2 && !opened; attempt++) {
        const windowsBefore = (await menuWindows()).length;
        // A warp to the same spot sends no motion event: nudge the pointer on the retry.
        await xdotool('mousemove', String(c.x + attempt * 3), String(c.y));
        try {
          // Cheap first (one more popup window mapped), then AT-SPI for the entries' positions.
          await waitFor(async () => (await menuWindows()).length > windowsBefore, 'submenu window', Math.round(timeoutMs / 2), { everyMs: 25 });
          items = await waitFor(
            async () => {
              const l = (await dumpMenu(app)).items;
              return childShowing(l) ? l : undefined;
            },
            'submenu entries in AT-SPI',
            Math.round(timeoutMs / 2),
            { everyMs: 50 },
          );
          opened = true;
        } catch {
          // nudge and retry once
        }
      }
      if (!opened)
        throw new Error(
          `the submenu of "${a.name}" did not open on hover at ${c.x},${c.y}; menu windows: ${(await menuWindows()).map(fmtWin).join('; ')}${await failureShot('submenu-not-open')}`,
        );
    }

    target = items.find((i) => samePath(i.path, target!.path)) ?? target;
    if (!onScreen(target))
      throw new Error(`menu entry "${target.name}" is not on screen:\n${items.map(fmtItem).join('\n')}${await failureShot('item-not-showing')}`);
    const c = center(target);
    await xdotool('mousemove', String(c.x), String(c.y), 'click', '1');
    // Activating an entry closes the whole menu; a submenu parent just opens its submenu.
    if (target.role !== 'menu') {
      await waitFor(async () => (await menuWindows()).length === 0, `the menu closing after clicking "${target.name}" at ${c.x},${c.y}`, timeoutMs, {
        seen: async () => `windows of class ${TRAY_CLASS}: ${await trayClassWindows()}${await failureShot('menu-stayed-open')}`,
        everyMs: 25,
      });
    }
    return target;
  };

  // -- notifications (dunst 1.9: close-all moves displayed ones into history; no history-clear) --
  /** dunstctl's JSON gives each field as { data }; strings as they are, anything else as JSON. */
  const text = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
  const history = async (): Promise<Notification[]> => {
    const close = await run('dunstctl', ['close-all']);
    if (close.code !== 0) throw new Error(`dunstctl close-all failed (exit ${close.code}): ${close.stderr.trim()}`);
    const r = await run('dunstctl', ['history']);
    if (r.code !== 0) throw new Error(`dunstctl history failed (exit ${r.code}): ${r.stderr.trim()}`);
    const data = (JSON.parse(r.stdout) as { data: Record<string, { data: unknown }>[][] }).data[0] ?? [];
    return data
      .map((n) => ({ id: Number(n.id?.data), appname: text(n.appname?.data), summary: text(n.summary?.data), body: text(n.body?.data) }))
      .sort((a, b) => a.id - b.id);
  };
  const lastNotificationId = async () => Math.max(0, ...(await history()).map((n) => n.id));
  const notificationsSince = async (baselineId: number) => (await history()).filter((n) => n.id > baselineId);
  const waitNotifications = async (baselineId: number, count: number, timeoutMs = 5000, settleMs = 0) => {
    let last: Notification[] = [];
    await waitFor(
      async () => {
        last = await notificationsSince(baselineId);
        return last.length >= count;
      },
      `${count} notification(s) after id ${baselineId}`,
      timeoutMs,
      { seen: () => `got ${last.length}: ${JSON.stringify(last)}`, everyMs: 100 },
    );
    if (settleMs > 0) {
      await sleep(settleMs);
      last = await notificationsSince(baselineId);
    }
    return last;
  };

  // -- the GTK folder chooser --------------------------------------------------------------------
  const answerFolderPicker = async (title: string | RegExp, dir: string, timeoutMs = 10_000) => {
    const w = await waitWindow(title, timeoutMs);
    // No window manager: nobody gives the new dialog keyboard focus, so we do.
    await xdotool('windowfocus', '--sync', String(w.id));
    await xdotool('key', 'ctrl+l');
    await xdotool('type', '--delay', '5', dir.replace(/\/+$/, ''));
    await xdotool('key', 'Return');
    try {
      await waitWindowGone(w.id, 5000);
    } catch {
      throw new Error(`the folder chooser "${w.name}" was still open 5 s after typing ${JSON.stringify(dir)} + Return${await failureShot('folder-picker')}`);
    }
  };

  return {
    display,
    home,
    runtimeDir,
    env,
    timings,
    stop,
    logs,
    run,
    screenshot,
    windows,
    waitWindow,
    waitWindowGone,
    closeWindow,
    windowText,
    waitTrayIcon,
    iconColor,
    waitIconColor,
    menuWindows,
    openMenu,
    closeMenu,
    menuItems,
    clickMenuItem,
    lastNotificationId,
    notificationsSince,
    waitNotifications,
    answerFolderPicker,
  };
}
