/**
 * The headless desktop harness (test/helpers/desktop.ts) against a tiny REAL systray2 tray
 * (test/fixtures/tray-fixture.mjs): the icon is drawn by trayer, the menu is opened and clicked
 * with real X input, read back through AT-SPI, notifications arrive in dunst, and a real zenity
 * folder chooser is answered. The tray's own end-to-end tests build on exactly these steps, so
 * each of them must be able to fail here first.
 *
 * One desktop and one fixture for the whole file; the tests run in order and build on each other.
 * Without the tools the suite is skipped with one line naming them and the apt-get line (a failure
 * under MCPSHARE_REQUIRE_ALL=1, as in CI).
 * Screenshots: test/artifacts/desktop-harness/*.png.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/bridge.js';
import { measured, printMeasured } from './helpers/soak.js';
import { DESKTOP, MARKER_VAR, missingDesktopTools, missingToolsError, startDesktop, type Desktop, type MenuItem } from './helpers/desktop.js';
import { pidsWithEnv } from './helpers/procs.js';
import { describeWith, missingLine } from './helpers/requirements.js';
import { waitFor } from './helpers/wait.js';

const FIXTURE = join(ROOT, 'test/fixtures/tray-fixture.mjs');
const ARTIFACTS = join(ROOT, 'test/artifacts/desktop-harness');
const GREEN = { r: 0x2e, g: 0xb8, b: 0x4b };
const RED = { r: 0xd9, g: 0x30, b: 0x25 };

interface Fixture {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** Waits for a stdout line matching `pred` at index >= from; returns it. */
  waitLine(pred: (l: Record<string, unknown>) => boolean, what: string, from?: number, timeoutMs?: number): Promise<Record<string, unknown>>;
}

function startFixture(env: NodeJS.ProcessEnv): Fixture {
  const proc = spawn(process.execPath, [FIXTURE], { env, cwd: env.HOME, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let err = '';
  proc.stdout!.on('data', (d) => {
    buf += String(d);
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  proc.stderr!.on('data', (d) => (err += String(d)));
  const waitLine = (pred: (l: Record<string, unknown>) => boolean, what: string, from = 0, timeoutMs = 5000) =>
    waitFor(
      () => {
        const hit = lines.slice(from).find(pred);
        if (hit) return hit;
        if (proc.exitCode !== null || proc.signalCode !== null)
          throw new Error(
            `the fixture exited (${proc.exitCode ?? proc.signalCode}) while waiting for ${what}; stdout: ${JSON.stringify(lines)}; stderr: ${err.slice(-1500)}`,
          );
        return undefined;
      },
      `the fixture printing ${what}`,
      timeoutMs,
      { seen: () => `stdout so far: ${JSON.stringify(lines)}`, everyMs: 20 },
    );
  return { proc, lines, stderr: () => err, waitLine };
}

const shot = (name: string) => join(ARTIFACTS, name);
/** A PNG of the whole 1280x1024 screen (read from its IHDR). */
const screenPng = (path: string) => {
  const b = readFileSync(path);
  return { png: b.subarray(1, 4).toString() === 'PNG', w: b.readUInt32BE(16), h: b.readUInt32BE(20) };
};
const simplify = (items: MenuItem[]) => items.map((i) => ({ name: i.name, role: i.role, depth: i.depth, enabled: i.enabled, visible: i.visible }));

test('missingDesktopTools() names what is missing and the error gives the apt-get line', () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  let missing: string[];
  try {
    missing = missingDesktopTools();
  } finally {
    process.env.PATH = saved;
  }
  expect(missing).toEqual(expect.arrayContaining(['Xvfb (xvfb)', 'xdotool (xdotool)', 'zenity (zenity)', 'dunstctl (dunst)']));
  const msg = missingToolsError(missing).message;
  expect(msg).toMatch(/apt-get install -y --no-install-recommends .*\bxvfb\b.*\bxdotool\b/);
});

test('a machine without them gets one line for the skipped suites: what is missing and the apt-get line', () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  let line: string | undefined;
  try {
    line = missingLine(DESKTOP);
  } finally {
    process.env.PATH = saved;
  }
  expect(line).toMatch(
    /^needs a headless desktop \(Xvfb, trayer, dunst, xdotool, zenity, AT-SPI\), missing here: .*Xvfb \(xvfb\).*; install with: apt-get install -y --no-install-recommends .*\bxvfb\b.*\bzenity\b/,
  );
  expect(line).not.toContain('\n');
});

describeWith(DESKTOP, 'headless desktop harness against a real systray2 tray', () => {
  let desk: Desktop;
  let fx: Fixture;
  let appHome: string;
  const t0 = Date.now();

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const t = Date.now();
    desk = await startDesktop({ artifactsDir: ARTIFACTS });
    measured('desktop start (Xvfb+dbus+trayer+dunst+warm-up)', Date.now() - t, 'ms');
    for (const [k, v] of Object.entries(desk.timings)) measured(`  ${k} ready at`, v, 'ms');
    // The app under test brings its own HOME: GTK's files must land there, not in ours.
    appHome = mkdtempSync(join(tmpdir(), 'mcpshare-desktop-app-'));
    fx = startFixture({ ...desk.env, HOME: appHome });
  });

  afterAll(async () => {
    if (fx && fx.proc.exitCode === null && fx.proc.signalCode === null) fx.proc.kill('SIGTERM');
    await desk?.stop();
    if (appHome) rmSync(appHome, { recursive: true, force: true });
    measured('whole file', Date.now() - t0, 'ms');
    printMeasured('desktop-harness');
  });

  test("the fixture's icon appears in the tray, green, and a screenshot is written", async () => {
    const t = Date.now();
    const ready = await fx.waitLine((l) => l.ready === true, 'ready', 0, 10_000);
    const icon = await desk.waitTrayIcon(10_000);
    measured('fixture start → tray icon stable', Date.now() - t, 'ms');
    // The warm-up worked: the tray binary skipped the GLX probe (~87 MB RSS cold, ~30 MB warm).
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${String(ready.trayPid)}/status`, 'utf8'))![1]) / 1024;
    measured('tray binary RSS after warm-up', Math.round(rssMb), 'MB');
    expect(rssMb).toBeLessThan(60);
    // A 22 px PNG is drawn 1:1 in a 22x30 window under trayer --height 32.
    expect(icon.w).toBe(22);
    expect(icon.y).toBeLessThan(32);
    const c = await desk.waitIconColor(GREEN, 5000, 30);
    expect(c.g).toBeGreaterThan(c.r);
    const path = await desk.screenshot(shot('01-icon.png'));
    expect(screenPng(path)).toEqual({ png: true, w: 1280, h: 1024 });
  });

  test('the menu opens on a real click and AT-SPI reads its entries', async () => {
    let t = Date.now();
    const win = await desk.openMenu();
    measured('click → menu mapped', Date.now() - t, 'ms');
    expect(win.w).toBeGreaterThan(20);
    t = Date.now();
    const items = await desk.menuItems();
    measured('AT-SPI menu dump', Date.now() - t, 'ms');
    expect(simplify(items)).toEqual([
      { name: 'Alpha', role: 'menu item', depth: 0, enabled: true, visible: true },
      { name: 'Beta', role: 'menu', depth: 0, enabled: true, visible: true },
      { name: 'Start', role: 'menu item', depth: 1, enabled: true, visible: true },
      { name: 'Stop', role: 'menu item', depth: 1, enabled: true, visible: true },
      { name: '', role: 'separator', depth: 0, enabled: true, visible: true },
      { name: 'Quit', role: 'menu item', depth: 0, enabled: true, visible: true },
    ]);
    // Top-level entries are on screen inside the popup, the closed submenu's are not.
    for (const i of items.filter((x) => x.depth === 0 && x.role !== 'separator')) {
      expect(i.showing).toBe(true);
      expect(i.x).toBeGreaterThanOrEqual(win.x);
      expect(i.y + i.h).toBeLessThanOrEqual(win.y + win.h);
    }
    expect(items.filter((x) => x.depth === 1).every((x) => !x.showing && x.parent === 'Beta')).toBe(true);
    await desk.screenshot(shot('02-menu.png'));
    // Mistakes say what the menu has instead of clicking something else.
    await expect(desk.clickMenuItem('Gamma')).rejects.toThrow(/no menu entry Gamma; the menu has:\n.*"Alpha"/);
    await expect(desk.clickMenuItem(/^St/)).rejects.toThrow(`ambiguous: "Beta" > "Start", "Beta" > "Stop"`);
    await expect(desk.clickMenuItem(['Alpha', 'Start'])).rejects.toThrow('no menu entry Alpha > Start');
    t = Date.now();
    await desk.closeMenu();
    measured('Escape → menu unmapped', Date.now() - t, 'ms');
    expect(await desk.menuWindows()).toEqual([]);
  });

  test('a real click on Alpha reaches the tray, which changes the title and the icon colour', async () => {
    const from = fx.lines.length;
    let t = Date.now();
    await desk.clickMenuItem('Alpha');
    const clicked = await fx.waitLine((l) => 'clicked' in l, 'a click', from);
    measured('clickMenuItem (open + AT-SPI + click) → fixture event', Date.now() - t, 'ms');
    expect(clicked).toEqual({ clicked: 'Alpha', key: 'alpha' });
    t = Date.now();
    await desk.waitIconColor(RED, 5000, 30);
    measured('click → icon red on screen', Date.now() - t, 'ms');
    const items = await desk.menuItems();
    expect(items.map((i) => i.name)).toContain('Alpha flipped');
    expect(items.map((i) => i.name)).not.toContain('Alpha');
    await desk.screenshot(shot('03-alpha-flipped.png'));
    // …and back, by a regex this time: exactly one more click event, green again.
    await desk.clickMenuItem(/^Alpha/);
    await fx.waitLine((l) => l.clicked === 'Alpha flipped', 'the second click', from + 1);
    await desk.waitIconColor(GREEN, 5000, 30);
    expect(fx.lines.slice(from).filter((l) => 'clicked' in l)).toEqual([
      { clicked: 'Alpha', key: 'alpha' },
      { clicked: 'Alpha flipped', key: 'alpha' },
    ]);
    expect(await desk.menuWindows()).toEqual([]);
  });

  test('a click inside the Beta submenu reaches the tray, and its notification reaches dunst exactly once', async () => {
    const base = await desk.lastNotificationId();
    const from = fx.lines.length;
    await desk.clickMenuItem(['Beta', 'Stop']);
    const clicked = await fx.waitLine((l) => 'clicked' in l, 'a click', from);
    expect(clicked).toEqual({ clicked: 'Stop', key: 'beta.stop' });
    // Opening the submenu by hover is reported by GTK as a click on its parent (not an action).
    expect(fx.lines.slice(from).some((l) => l.parentClicked === 'Beta')).toBe(true);
    const notified = await fx.waitLine((l) => 'notified' in l, 'the notifier callback', from);
    expect(notified.err).toBeNull();
    const t = Date.now();
    const got = await desk.waitNotifications(base, 1, 5000, 800);
    measured('notification → in dunst (incl. 800 ms settle)', Date.now() - t, 'ms');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ appname: 'tray-fixture', summary: 'tray-fixture: Beta stopped', body: 'Stop was clicked in the Beta submenu' });
    // Start in the same submenu: reaches the tray, sends nothing.
    const base2 = await desk.lastNotificationId();
    await desk.clickMenuItem('Start');
    await fx.waitLine((l) => l.clicked === 'Start', 'the Start click', from + 1);
    expect(await desk.notificationsSince(base2)).toEqual([]);
    expect(
      fx.lines
        .slice(from)
        .filter((l) => 'clicked' in l)
        .map((l) => l.clicked),
    ).toEqual(['Stop', 'Start']);
  });

  test('a real zenity folder chooser, answered by the harness, returns the folder', async () => {
    const dir = join(appHome, 'my project'); // a space on purpose
    mkdirSync(dir);
    const title = 'tray-fixture: choose a project folder';
    // --filename=<existing dir>/: without it the chooser opens in "Recent" and Return does nothing.
    const z = spawn('zenity', ['--file-selection', '--directory', `--title=${title}`, `--filename=${appHome}/`], {
      env: { ...desk.env, HOME: appHome },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    z.stdout.on('data', (d) => (out += d));
    z.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => z.on('exit', (code) => r(code)));
    const t = Date.now();
    try {
      await desk.answerFolderPicker(title, dir, 10_000);
    } catch (e) {
      z.kill('SIGKILL');
      throw e;
    }
    const code = await exited;
    measured('zenity folder chooser answered', Date.now() - t, 'ms');
    expect({ code, out: out.trim(), err: err.replace(/.*Gtk-WARNING.*\n?/g, '').trim() }).toEqual({ code: 0, out: dir, err: '' });
  });

  test('a zenity --text-info window can be read through AT-SPI and closed', async () => {
    const title = 'tray-fixture: memory report';
    const report = 'server      copies  RSS\neverything      12  840 MB\nsaving: 1.2 GB\n';
    const z = spawn('zenity', ['--text-info', `--title=${title}`, '--width=560', '--height=320'], {
      env: { ...desk.env, HOME: appHome },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    z.stdin.end(report);
    const exited = new Promise<number | null>((r) => z.on('exit', (code) => r(code)));
    try {
      const w = await desk.waitWindow(title, 10_000);
      const t = Date.now();
      const texts = await desk.windowText(title);
      measured('AT-SPI window text', Date.now() - t, 'ms');
      expect(texts.join('\n')).toContain('everything      12  840 MB');
      await desk.screenshot(shot('04-report.png'));
      await desk.closeWindow(w.id);
      expect(await exited).toBe(1); // Escape = cancel
    } finally {
      z.kill('SIGKILL');
    }
  });

  test('Quit removes the icon, and stop() leaves no process, socket or file behind', async () => {
    const from = fx.lines.length;
    await desk.clickMenuItem('Quit');
    await fx.waitLine((l) => l.clicked === 'Quit', 'the Quit click', from);
    await waitFor(() => fx.proc.exitCode !== null, 'the fixture exiting after Quit', 5000);
    expect(fx.proc.exitCode).toBe(0);
    await waitFor(async () => !(await desk.windows()).some((w) => w.instance === 'systray'), 'the tray icon disappearing', 5000);
    // The fixture removed its temp dir (binary copy + the TMPDIR the binary writes icons into).
    const ready = fx.lines.find((l) => l.ready === true)!;
    expect(existsSync(String(ready.work))).toBe(false);

    const marker = `${MARKER_VAR}=${desk.env[MARKER_VAR]}`;
    const marked = () => pidsWithEnv(marker);
    expect(marked().length).toBeGreaterThanOrEqual(4); // Xvfb, dbus-daemon, dunst, trayer (+ at-spi)
    const socket = `/tmp/.X11-unix/X${desk.display.slice(1)}`;
    expect(existsSync(socket)).toBe(true);
    await desk.stop();
    expect(marked()).toEqual([]);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(desk.home)).toBe(false);
  });
});
