/**
 * The tray end to end, as a person on a Linux desktop meets it: a real headless desktop (Xvfb, a
 * D-Bus session, trayer as the tray host, dunst for notifications; test/helpers/desktop.ts), the real
 * `mcpshare tray` command with real bridged daemons under the built-in supervisor in a temporary
 * HOME. The menu is opened and clicked with real X input and read back through AT-SPI; the folder
 * picker is the real zenity, answered by typing. Screenshots: test/artifacts/tray/*.png.
 *
 * The tests run in order and build on each other (one desktop, one tray).
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userPaths } from '../src/registry/paths.js';
import { CLI, EVERYTHING, ROOT } from './helpers/bridge.js';
import { DESKTOP, startDesktop, type Desktop, type MenuItem, type Rgb } from './helpers/desktop.js';
import { describeWith } from './helpers/requirements.js';
import { waitFor, sleep } from './helpers/wait.js';
import { mcpshare, stopEverythingOf } from './helpers/systemd.js';
import { freePort } from './helpers/ports.js';

const ARTIFACTS = join(ROOT, 'test/artifacts/tray');
const MEMORY = join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js');
/** The centre pixels of assets/tray-*.png. */
const COLOUR: Record<'up' | 'degraded' | 'crash-loop' | 'stopped', Rgb> = {
  up: { r: 34, g: 152, b: 58 },
  degraded: { r: 222, g: 156, b: 1 },
  'crash-loop': { r: 215, g: 36, b: 25 },
  stopped: { r: 131, g: 137, b: 146 },
};
const INTERVAL_S = 1;

describeWith(DESKTOP, 'the tray on a real desktop', () => {
  let desktop: Desktop;
  let tmp: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let tray: ChildProcess | undefined;
  let trayOut = '';
  let trayExit: Promise<number | null>;
  const ports: Record<string, number> = {};

  const cli = (args: string[], timeoutMs = 60_000) => mcpshare(args, env, timeoutMs);
  /** What the tray printed plus its log file (log lines go to the file when stderr is not a terminal). */
  const trayLog = () => {
    let file = '';
    try {
      file = readFileSync(join(userPaths(env).logDir, 'tray.log'), 'utf8');
    } catch {
      /* not written yet */
    }
    return `${trayOut}${file}`;
  };
  const shot = (name: string) => desktop.screenshot(join(ARTIFACTS, `${name}.png`));
  const serverRows = (items: MenuItem[]) => items.filter((i) => i.depth === 0 && /^[●◐◌▲○✖] \S+ — /.test(i.name));
  const rowOf = (items: MenuItem[], name: string) => serverRows(items).find((i) => i.name.split(' ')[1] === name);

  /** Re-opens the menu until `want` holds for its rows (the tray updates on its own interval). */
  async function waitMenu(want: (items: MenuItem[]) => boolean, what: string, timeoutMs = 20_000): Promise<MenuItem[]> {
    let last: MenuItem[] = [];
    return waitFor(
      async () => {
        last = await desktop.menuItems();
        if (want(last)) return last;
        await desktop.closeMenu();
        return undefined;
      },
      what,
      timeoutMs,
      {
        seen: () =>
          `menu rows: ${serverRows(last)
            .map((i) => i.name)
            .join(' | ')}\ntray output:\n${trayLog().slice(-2000)}`,
        everyMs: 300,
      },
    );
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    desktop = await startDesktop({ artifactsDir: ARTIFACTS });
    tmp = mkdtempSync(join(tmpdir(), 'mcpshare-tray-e2e-'));
    home = join(tmp, 'home');
    mkdirSync(home);
    env = { ...desktop.env, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
    for (const k of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'NODE_OPTIONS', 'CLAUDE_CONFIG_DIR']) delete env[k];
    ports.everything = await freePort();
    ports.memory = await freePort(new Set([ports.everything]));
    ports.broken = await freePort(new Set([ports.everything, ports.memory]));
    expect((await cli(['add', 'everything', '--port', String(ports.everything), '--', process.execPath, EVERYTHING, 'stdio'])).code).toBe(0);
    expect((await cli(['add', 'memory', '--port', String(ports.memory), '--', process.execPath, MEMORY])).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    if (tray && tray.exitCode === null) tray.kill('SIGKILL');
    if (home) await stopEverythingOf(home);
    await desktop?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 30_000);

  test('the tray comes up, starts the stopped daemons, and its icon turns green', async () => {
    tray = spawn(process.execPath, ['--max-semi-space-size=2', CLI, 'tray', '--interval', String(INTERVAL_S)], {
      env,
      cwd: home,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    tray.stdout!.on('data', (d) => (trayOut += String(d)));
    tray.stderr!.on('data', (d) => (trayOut += String(d)));
    trayExit = new Promise((resolve) => tray!.once('exit', (code) => resolve(code)));
    const icon = await desktop.waitTrayIcon(20_000);
    expect(icon.w).toBeGreaterThanOrEqual(16);
    await desktop.waitIconColor(COLOUR.up, 60_000);
    await shot('1-tray-up');
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as { servers: { name: string; state: string }[] };
    expect(status.servers.map((s) => [s.name, s.state])).toEqual([
      ['everything', 'up'],
      ['memory', 'up'],
    ]);
  }, 90_000);

  test('the menu, opened by a real click, lists every server with its state, port, sessions and memory', async () => {
    const items = await waitMenu((it) => serverRows(it).length === 2 && serverRows(it).every((r) => r.name.startsWith('●')), 'both servers shown up');
    await shot('2-menu-open');
    expect(items[0]!.name).toBe('mcpshare — 2 of 2 up');
    // Memory as PSS where Linux gives it (smaps_rollup), else RSS; the label says which.
    expect(rowOf(items, 'everything')!.name).toMatch(new RegExp(`^● everything — up · :${ports.everything} · \\d+ sessions? · \\d+ MB (PSS|RSS)$`));
    expect(rowOf(items, 'memory')!.name).toMatch(new RegExp(`^● memory — up · :${ports.memory} · \\d+ sessions? · \\d+ MB (PSS|RSS)$`));
    const names = items.filter((i) => i.depth === 0).map((i) => i.name);
    for (const action of [
      'Start all',
      'Stop all',
      'Restart',
      'Show log',
      'Write .mcp.json…',
      'Use shared servers for all projects',
      'Revert last config change',
      'Memory report',
      'Quit (servers keep running)',
    ]) {
      expect(names).toContain(action);
    }
    await desktop.closeMenu();
  }, 60_000);

  test('clicking a server stops its daemon, and its row and the icon change within an interval', async () => {
    await desktop.clickMenuItem(/^● everything — /);
    const items = await waitMenu((it) => rowOf(it, 'everything')?.name.startsWith('○') ?? false, 'everything shown stopped');
    expect(rowOf(items, 'everything')!.name).toBe(`○ everything — stopped · :${ports.everything}`);
    expect(rowOf(items, 'memory')!.name).toMatch(/^● memory — up/);
    expect(items[0]!.name).toBe('mcpshare — 1 of 2 up');
    await shot('3-everything-stopped');
    await desktop.closeMenu();
    await desktop.waitIconColor(COLOUR.degraded, 10_000);
    const status = JSON.parse((await cli(['status', 'everything', '--json'])).stdout) as { servers: { state: string }[] };
    expect(status.servers[0]!.state).toBe('stopped');
    // And a second click starts it again.
    await desktop.clickMenuItem(/^○ everything — /);
    // Up again: its snapshot exists now, so the daemon starts lazily and shows idle (◐) until a
    // request needs its server.
    await waitMenu((it) => /^[●◐]/.test(rowOf(it, 'everything')?.name ?? ''), 'everything shown up again', 60_000);
    await desktop.closeMenu();
    await desktop.waitIconColor(COLOUR.up, 10_000);
  }, 120_000);

  test('a daemon in a crash loop: exactly one notification in dunst, a red icon and row', async () => {
    const baseline = await desktop.lastNotificationId();
    // A server that exits at once: the bridge gives up on it, the supervisor restarts the bridge twice, then stops.
    expect(
      (
        await cli([
          'add',
          'broken',
          '--port',
          String(ports.broken),
          '--restart-sec',
          '0.2',
          '--restart-burst',
          '2',
          '--',
          process.execPath,
          '-e',
          'process.exit(3)',
        ])
      ).code,
    ).toBe(0);
    await cli(['start', 'broken', '--wait', '1']);
    const notes = await desktop.waitNotifications(baseline, 1, 60_000, 4000 + 3 * INTERVAL_S * 1000);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.summary).toBe('mcpshare: broken keeps crashing');
    expect(notes[0]!.body).toMatch(/broken stopped after \d+ restarts?; its log is .*broken\.log/);
    const items = await waitMenu((it) => rowOf(it, 'broken')?.name.startsWith('✖') ?? false, 'broken shown in a crash loop');
    expect(rowOf(items, 'broken')!.name).toMatch(new RegExp(`^✖ broken — crash loop after \\d+ restarts? · :${ports.broken}$`));
    await shot('4-crash-loop');
    await desktop.closeMenu();
    await desktop.waitIconColor(COLOUR['crash-loop'], 10_000);
    // Still failed several intervals later, and still one notification.
    await sleep(3 * INTERVAL_S * 1000);
    expect(await desktop.notificationsSince(baseline)).toHaveLength(1);
    expect((await cli(['remove', 'broken'])).code).toBe(0);
    // One row fewer: the tray restarts its binary with the new menu.
    await waitMenu((it) => serverRows(it).length === 2, 'broken gone from the menu');
    await desktop.closeMenu();
  }, 120_000);

  test('"Write .mcp.json…" asks for the project folder and points its .mcp.json at the running daemons', async () => {
    const project = join(tmp, 'my project');
    mkdirSync(project);
    const before = await desktop.lastNotificationId();
    await desktop.clickMenuItem('Write .mcp.json…');
    await desktop.answerFolderPicker(/choose the project folder/, project, 20_000);
    const file = join(project, '.mcp.json');
    await waitFor(() => existsSync(file), `${file} written`, 30_000, { seen: () => trayLog().slice(-2000) });
    const written = JSON.parse(readFileSync(file, 'utf8')) as { mcpServers: Record<string, unknown> };
    expect(written.mcpServers).toEqual({
      everything: { type: 'http', url: `http://localhost:${ports.everything}/mcp` },
      memory: { type: 'http', url: `http://localhost:${ports.memory}/mcp` },
    });
    const [note] = await desktop.waitNotifications(before, 1, 10_000);
    expect(note!.summary).toBe('mcpshare: Write .mcp.json');
    expect(note!.body).toContain(file);
    await shot('5-mcp-json-written');

    // An existing stdio entry of a registered server is switched, the rest of the file kept.
    const second = join(tmp, 'second');
    mkdirSync(second);
    const original = `{\n  "mcpServers": {\n    "memory": { "command": "node", "args": ["${MEMORY}"] },\n    "own": { "command": "my-own-server" }\n  },\n  "x-note": 1\n}\n`;
    writeFileSync(join(second, '.mcp.json'), original);
    await desktop.clickMenuItem('Write .mcp.json…');
    await desktop.answerFolderPicker(/choose the project folder/, second, 20_000);
    await waitFor(() => readFileSync(join(second, '.mcp.json'), 'utf8') !== original, 'second .mcp.json rewritten', 30_000, {
      seen: () => trayLog().slice(-2000),
    });
    const after = JSON.parse(readFileSync(join(second, '.mcp.json'), 'utf8')) as { mcpServers: Record<string, unknown>; 'x-note': number };
    expect(after.mcpServers.memory).toEqual({ type: 'http', url: `http://localhost:${ports.memory}/mcp` });
    expect(after.mcpServers.own).toEqual({ command: 'my-own-server' });
    expect(after['x-note']).toBe(1);

    // "Revert last config change" undoes the newest one.
    await desktop.clickMenuItem('Revert last config change');
    await waitFor(() => readFileSync(join(second, '.mcp.json'), 'utf8') === original, 'second .mcp.json reverted', 20_000, {
      seen: () => trayLog().slice(-2000),
    });
  }, 120_000);

  test('"Memory report" opens a window with the doctor\'s numbers', async () => {
    await desktop.clickMenuItem('Memory report');
    const win = await desktop.waitWindow('mcpshare: memory report', 20_000);
    const text = (await desktop.windowText('mcpshare: memory report')).join('\n');
    expect(text).toMatch(/scanned \d+ processes/);
    await shot('6-memory-report');
    await desktop.closeWindow(win.id);
  }, 60_000);

  test('"Start at login" writes and removes the XDG autostart entry', async () => {
    const entry = join(home, '.config', 'autostart', 'mcpshare-tray.desktop');
    expect(existsSync(entry)).toBe(false);
    await desktop.clickMenuItem('Start at login: off');
    await waitFor(() => existsSync(entry), 'autostart entry written', 10_000, { seen: () => trayLog().slice(-2000) });
    expect(readFileSync(entry, 'utf8')).toMatch(/^Exec=.*cli\.js tray$/m);
    const items = await waitMenu((it) => it.some((i) => i.name === 'Start at login: on'), 'the menu says on');
    expect(items.some((i) => i.name === 'Start at login: off')).toBe(false);
    await desktop.closeMenu();
    await desktop.clickMenuItem('Start at login: on');
    await waitFor(() => !existsSync(entry), 'autostart entry removed', 10_000, { seen: () => trayLog().slice(-2000) });
  }, 60_000);

  test('overlapping redraws never start a second tray binary (two icons)', async () => {
    // In its own node process: systray2 spawns the binary with the real process.env, which a jest
    // sandbox cannot set. A new layout while a first start is under way, then an update.
    const work = mkdtempSync(join(tmp, 'host-'));
    const script = `
      import { execFileSync } from 'node:child_process';
      const { TrayHost } = await import(${JSON.stringify(join(ROOT, 'dist/tray/tray-host.js'))});
      const work = ${JSON.stringify(work)};
      const before = JSON.stringify(process.env);
      const host = new TrayHost({ workDir: work, platform: 'linux' });
      const menu = (title, rows) => ({ icon: ${JSON.stringify(join(ROOT, 'assets/tray-up.png'))}, tooltip: '', items: rows.map((k) => ({ key: k, title: title + ' ' + k })) });
      const binaries = () => { try { return execFileSync('pgrep', ['-f', work + '/bin'], { encoding: 'utf8' }).trim().split('\\n'); } catch { return []; } };
      await Promise.all([host.show(menu('a', ['x'])), host.show(menu('b', ['x', 'y'])), host.show(menu('c', ['x', 'y']))]);
      const during = binaries();
      const pid = host.pid;
      await host.stop();
      console.log(JSON.stringify({ during, pid, after: binaries(), envKept: JSON.stringify(process.env) === before }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...desktop.env, HOME: home }, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr.replace(/.*Gdk-CRITICAL.*\n?/g, '')).toBe('');
    const out = JSON.parse(r.stdout) as { during: string[]; pid: number; after: string[]; envKept: boolean };
    expect(out.during).toEqual([String(out.pid)]);
    expect(out.after).toEqual([]);
    expect(out.envKept).toBe(true);
  }, 60_000);

  test('the tray process stays small', async () => {
    const pid = tray!.pid!;
    const rss = (p: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))![1]) * 1024;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    const name = (p: number) => readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    const report = {
      trayNodeRssMB: Math.round(rss(pid) / 1048576),
      children: children.map((c) => ({ pid: c, name: name(c), rssMB: Math.round(rss(c) / 1048576) })),
    };
    writeFileSync(join(ARTIFACTS, 'rss.json'), JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`tray RSS: ${JSON.stringify(report)}\n`);
    // A regression guard well above the measured ~65 MB (the 80 MB target lives in `npm run bench`).
    expect(report.trayNodeRssMB).toBeLessThan(120);
  });

  test('a tray binary that dies is brought back, with the same menu', async () => {
    const pid = tray!.pid!;
    const binary = () =>
      readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number)
        .find((c) => readFileSync(`/proc/${c}/comm`, 'utf8').startsWith('tray_linux'));
    const first = binary()!;
    process.kill(first, 'SIGKILL');
    await waitFor(
      () => {
        const b = binary();
        return b && b !== first ? b : undefined;
      },
      'a new tray binary',
      15_000,
      { seen: () => trayLog().slice(-2000) },
    );
    await desktop.waitTrayIcon(15_000);
    const items = await waitMenu((it) => serverRows(it).length === 2, 'the menu back with both servers');
    expect(items[0]!.name).toMatch(/^mcpshare — 2 of 2 up( \(\d idle\))?$/);
    await desktop.closeMenu();
    expect(trayLog()).toMatch(/tray binary exited \(SIGKILL\)/);
    expect(trayLog()).toContain('tray binary restarted');
  }, 60_000);

  test('a daemon whose server sleeps (idle stop) shows as idle, distinct from stopped and down; the icon stays green', async () => {
    // A short idle stop: the daemon restarts with it, lazily (its snapshot exists), so it is idle at once.
    expect((await cli(['edit', 'memory', '--idle-stop', '2'])).code).toBe(0);
    const items = await waitMenu((it) => rowOf(it, 'memory')?.name.startsWith('◐') ?? false, 'memory shown idle', 30_000);
    expect(rowOf(items, 'memory')!.name).toMatch(new RegExp(`^◐ memory — idle · :${ports.memory} · \\d+ sessions? · \\d+ MB (PSS|RSS)$`));
    expect(rowOf(items, 'everything')!.name).toMatch(/^(● everything — up|◐ everything — idle)/);
    expect(items[0]!.name).toMatch(/^mcpshare — 2 of 2 up \([12] idle\)$/);
    await shot('6b-memory-idle');
    await desktop.closeMenu();
    await desktop.waitIconColor(COLOUR.up, 10_000);
    const row = (JSON.parse((await cli(['status', 'memory', '--json'])).stdout) as { servers: { state: string; idle: boolean }[] }).servers[0];
    expect(row).toMatchObject({ state: 'up', idle: true });
  }, 60_000);

  test('"Quit" closes the tray and leaves the daemons running', async () => {
    await desktop.clickMenuItem('Quit (servers keep running)');
    expect(await trayExit).toBe(0);
    await waitFor(async () => (await desktop.windows()).every((w) => w.instance !== 'systray'), 'tray icon gone', 10_000);
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as { servers: { name: string; state: string }[] };
    expect(status.servers.map((s) => [s.name, s.state])).toEqual([
      ['everything', 'up'],
      ['memory', 'up'],
    ]);
    expect(existsSync(join(userPaths(env).stateDir, 'tray.pid'))).toBe(false);
    await shot('7-after-quit');
  }, 30_000);
});
