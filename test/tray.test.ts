/**
 * The tray's logic without a desktop: what the menu and icon say for a set of health rows, which
 * crash-loop changes deserve a notification, the dialog command lines per platform, and how the real
 * tray binary's start failures are explained. The desktop end-to-end test is test/tray-e2e.test.ts.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerHealth } from '../src/health/monitor.js';
import { describeApply, trayConfigActions } from '../src/tray/config-actions.js';
import { Registry } from '../src/registry/registry.js';
import { ServerManager } from '../src/units/manager.js';
import { appleString, folderPickerCommand, openFileCommand, pickFolder, textWindowCommand, which } from '../src/tray/dialogs.js';
import { ACTIONS, buildMenu, iconFile } from '../src/tray/menu.js';
import { CrashLoopAlerts } from '../src/tray/notify.js';
import { clickAction, headerLabel, serverLabel, shortReason, steadyBytes, summarize, tooltip } from '../src/tray/summary.js';
import { binaryArch, displayProblem, explainSpawnError, explainStartFailure, prepareBinary, TrayHost, trayStartError } from '../src/tray/tray-host.js';
import { pruneFresh, shownRows } from '../src/tray/app.js';
import { lockTray } from '../src/tray/lifecycle.js';
import type { ServerEntry } from '../src/registry/registry.js';
import type { DaemonState, ServerStatus } from '../src/units/status.js';
import { userPaths } from '../src/registry/paths.js';
import { EVERYTHING, everythingEntry, ROOT, runCli } from './helpers/bridge.js';
import { mcpshare, stopEverythingOf } from './helpers/systemd.js';
import { freePort } from './helpers/ports.js';
import { thrownBy, waitFor } from './helpers/wait.js';
import { TRAY_LIBRARIES } from './helpers/desktop.js';
import { describeWith } from './helpers/requirements.js';

const MiB = 1024 * 1024;

function row(name: string, state: DaemonState, over: Partial<ServerStatus> = {}, detail = ''): ServerHealth {
  const status: ServerStatus = {
    name,
    kind: 'bridged',
    transport: 'http',
    url: `http://localhost:8011/mcp`,
    port: 8011,
    backend: 'systemd',
    state,
    restarts: 0,
    pid: state === 'stopped' ? null : 4242,
    rssBytes: state === 'up' ? 62 * MiB : null,
    sessions: state === 'up' ? 3 : null,
    server: null,
    detail,
    logFile: `/home/u/.local/state/mcpshare/logs/${name}.log`,
    unitFile: null,
    share: 'global',
    children: [],
    idle: false,
    memory: null,
    ...over,
  } as ServerStatus;
  return { name, state, detail, status, checkedAt: 0 };
}

describe('what the tray shows', () => {
  test('the icon sums up all servers, worst first', () => {
    expect(summarize([row('a', 'up'), row('b', 'up')])).toBe('up');
    expect(summarize([row('a', 'up'), row('b', 'starting')])).toBe('degraded');
    expect(summarize([row('a', 'up'), row('b', 'down')])).toBe('degraded');
    expect(summarize([row('a', 'up'), row('b', 'stopped')])).toBe('degraded');
    expect(summarize([row('a', 'stopped'), row('b', 'stopped')])).toBe('stopped');
    expect(summarize([])).toBe('stopped');
    expect(summarize([row('a', 'up'), row('b', 'crash-loop'), row('c', 'down')])).toBe('crash-loop');
  });

  test('a server row carries state as a symbol and a word, port, sessions and memory', () => {
    expect(serverLabel(row('memory', 'up'))).toBe('● memory — up · :8011 · 3 sessions · 62 MB');
    expect(serverLabel(row('memory', 'up', { sessions: 1, rssBytes: null }))).toBe('● memory — up · :8011 · 1 session');
    expect(serverLabel(row('fs', 'stopped'))).toBe('○ fs — stopped · :8011');
    expect(serverLabel(row('g', 'crash-loop', { restarts: 5 }))).toBe('✖ g — crash loop after 5 restarts · :8011');
    expect(serverLabel(row('g', 'down', {}, 'port 8011 refused the connection; mcpshare start g'))).toBe(
      '▲ g — down: port 8011 refused the connection · :8011',
    );
    expect(serverLabel(row('s', 'starting', { sessions: null, rssBytes: 20 * MiB }))).toBe('◌ s — starting · :8011 · 20 MB');
    // PSS where the OS gives it, saying so; an idle daemon (server asleep) is its own word and symbol.
    expect(serverLabel(row('memory', 'up', { memory: { bytes: 31 * MiB, kind: 'pss' } }))).toBe('● memory — up · :8011 · 3 sessions · 31 MB PSS');
    expect(serverLabel(row('fs', 'up', { idle: true, sessions: 1, memory: { bytes: 9 * MiB, kind: 'pss' } }))).toBe(
      '◐ fs — idle · :8011 · 1 session · 9 MB PSS',
    );
    expect(serverLabel(row('mac', 'up', { idle: true, memory: { bytes: 40 * MiB, kind: 'rss' } }))).toBe('◐ mac — idle · :8011 · 3 sessions · 40 MB RSS');
  });

  test('the memory figure holds still until the RSS moved 5 MB or 5% (each relabel costs the tray binary memory)', () => {
    expect(steadyBytes(undefined, 62 * MiB)).toBe(62 * MiB);
    expect(steadyBytes(62 * MiB, 64 * MiB)).toBe(62 * MiB);
    expect(steadyBytes(62 * MiB, 58 * MiB)).toBe(62 * MiB);
    expect(steadyBytes(62 * MiB, 67 * MiB)).toBe(67 * MiB);
    expect(steadyBytes(1000 * MiB, 1040 * MiB)).toBe(1000 * MiB);
    expect(steadyBytes(1000 * MiB, 1050 * MiB)).toBe(1050 * MiB);
  });

  test('a long reason is cut to fit a menu row', () => {
    const long = 'the server answered with something that is not MCP at all, and more words follow here';
    expect(shortReason(long)).toHaveLength(48);
    expect(shortReason(long).endsWith('…')).toBe(true);
    expect(shortReason('')).toBe('not answering');
  });

  test('header and tooltip count what is up and what loops', () => {
    expect(headerLabel([])).toBe('mcpshare — no servers registered');
    expect(headerLabel([row('a', 'up'), row('b', 'crash-loop'), row('c', 'stopped')])).toBe('mcpshare — 1 of 3 up, 1 crash-looping');
    expect(tooltip([row('a', 'up'), row('b', 'crash-loop')])).toBe('mcpshare: a up, b crash loop');
    // Idle daemons are up (they answer) and counted apart; summarize() keeps the icon green for them.
    const idle = row('i', 'up', { idle: true });
    expect(headerLabel([row('a', 'up'), idle, row('c', 'stopped')])).toBe('mcpshare — 2 of 3 up (1 idle)');
    expect(tooltip([row('a', 'up'), idle])).toBe('mcpshare: a up, i idle');
    expect(summarize([row('a', 'up'), idle])).toBe('up');
    expect(clickAction(idle)).toBe('stop');
  });

  test('a click stops what serves, starts what does not, restarts what runs but fails its handshake', () => {
    expect(clickAction(row('a', 'up'))).toBe('stop');
    expect(clickAction(row('a', 'starting'))).toBe('stop');
    expect(clickAction(row('a', 'stopped'))).toBe('start');
    expect(clickAction(row('a', 'crash-loop', { pid: null }))).toBe('start');
    expect(clickAction(row('a', 'down', { pid: null }))).toBe('start');
    expect(clickAction(row('a', 'down', { pid: 99 }))).toBe('restart');
  });

  test('the menu: one row per server, then the actions; keys say what a click does', () => {
    const items = buildMenu({
      rows: [row('everything', 'up'), row('memory', 'stopped')],
      pending: new Map([['memory', 'starting…']]),
      autostart: true,
      canRevert: false,
    });
    const keys = items.map((i) => i.key);
    expect(keys.slice(0, 3)).toEqual(['header', 'server:everything', 'server:memory']);
    expect(items[2]).toMatchObject({ title: '◌ memory — starting…', enabled: false });
    for (const k of Object.values(ACTIONS)) expect(keys).toContain(k);
    expect(items.find((i) => i.key === ACTIONS.revert)?.enabled).toBe(false);
    expect(items.find((i) => i.key === ACTIONS.autostart)?.title).toBe('Start at login: on');
    expect(items.find((i) => i.key === 'restart-menu')?.items?.map((i) => i.key)).toEqual(['restart:everything', 'restart:memory']);
    expect(items.find((i) => i.key === 'log-menu')?.items?.map((i) => i.key)).toEqual(['log:everything', 'log:memory']);
    // Keys are unique: the host addresses rows by key.
    const all = items.flatMap((i) => [i.key, ...(i.items ?? []).map((c) => c.key)]);
    expect(new Set(all).size).toBe(all.length);
  });

  test('with no servers the menu still offers the memory report and quit, and no dead actions', () => {
    const items = buildMenu({ rows: [], pending: new Map(), autostart: undefined, canRevert: false });
    expect(items[0]!.title).toBe('mcpshare — no servers registered');
    expect(items.some((i) => i.key === 'restart-menu')).toBe(false);
    expect(items.find((i) => i.key === ACTIONS.writeProject)?.enabled).toBe(false);
    expect(items.find((i) => i.key === ACTIONS.memory)?.enabled).not.toBe(false);
    expect(items.some((i) => i.key === ACTIONS.autostart)).toBe(false);
  });

  test('every icon the tray can ask for exists in assets/, 22 px on Linux, 44 px on macOS', () => {
    for (const s of ['up', 'degraded', 'crash-loop', 'stopped'] as const) {
      for (const platform of ['linux', 'darwin'] as const) {
        const { file } = iconFile(s, platform);
        const png = readFileSync(join(ROOT, 'assets', file));
        expect(png.subarray(1, 4).toString()).toBe('PNG');
        // IHDR width and height, big-endian at bytes 16 and 20.
        const size = platform === 'linux' ? 22 : 44;
        expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([size, size]);
      }
    }
    expect(iconFile('up', 'darwin')).toEqual({ file: 'tray-template@2x.png', template: true });
    expect(iconFile('crash-loop', 'darwin').template).toBe(false);
  });
});

describe('which reading a row shows', () => {
  const entry = (name: string): ServerEntry => everythingEntry(name, 8011);
  const at = (h: ServerHealth, t: number): ServerHealth => ({ ...h, checkedAt: t });

  test('a server not read yet is a disabled "checking" row, never a guess a click could act on', () => {
    const rows = shownRows([entry('b'), entry('a')], [], new Map());
    expect(rows.map((r) => [r.name, r.checkedAt])).toEqual([
      ['a', 0],
      ['b', 0],
    ]);
    const items = buildMenu({ rows, pending: new Map(), autostart: undefined, canRevert: false });
    expect(items.find((i) => i.key === 'server:a')).toMatchObject({ title: '◌ a — checking…', enabled: false });
  });

  test("an action's result stands until a reading newer than it arrives", () => {
    const fresh = new Map([['a', at(row('a', 'starting'), 2000)]]);
    // A round that read "stopped" at t=1000, before the start finished, lands afterwards.
    const stale = [at(row('a', 'stopped'), 1000)];
    pruneFresh(fresh, stale);
    expect(shownRows([entry('a')], stale, fresh)[0]!.state).toBe('starting');
    // The next round reads it at t=3000: that is what shows now.
    const next = [at(row('a', 'up'), 3000)];
    pruneFresh(fresh, next);
    expect(fresh.size).toBe(0);
    expect(shownRows([entry('a')], next, fresh)[0]!.state).toBe('up');
  });

  test('a server removed from the registry leaves the menu even if a reading of it remains', () => {
    expect(shownRows([entry('a')], [at(row('a', 'up'), 1), at(row('gone', 'up'), 1)], new Map()).map((r) => r.name)).toEqual(['a']);
  });
});

describe('crash-loop notifications', () => {
  test('one notice on entering a crash loop, none while it stays there, one when it is back up', () => {
    const alerts = new CrashLoopAlerts();
    const up = row('g', 'up');
    const loop = row('g', 'crash-loop', { restarts: 5 });
    expect(alerts.onChange(up, undefined)).toBeUndefined();
    const notice = alerts.onChange(loop, up);
    expect(notice).toMatchObject({ title: 'mcpshare: g keeps crashing', urgent: true });
    expect(notice!.message).toContain('5 restarts');
    expect(notice!.message).toContain('/home/u/.local/state/mcpshare/logs/g.log');
    expect(alerts.onChange(loop, loop)).toBeUndefined();
    expect(alerts.onChange(up, loop)).toMatchObject({ title: 'mcpshare: g is back up' });
    expect(alerts.onChange(up, up)).toBeUndefined();
  });

  test('a daemon found looping when the tray starts is announced too', () => {
    expect(new CrashLoopAlerts().onChange(row('g', 'crash-loop'), undefined)?.title).toBe('mcpshare: g keeps crashing');
  });

  test('flapping (loop, restarted, loop again) is announced once per window, not once per loop', () => {
    let now = 0;
    const alerts = new CrashLoopAlerts({ repeatAfterMs: 600_000, now: () => now });
    const loop = row('g', 'crash-loop');
    const starting = row('g', 'starting');
    expect(alerts.onChange(loop, undefined)).toBeDefined();
    for (let i = 0; i < 5; i++) {
      now += 30_000;
      expect(alerts.onChange(starting, loop)).toBeUndefined();
      expect(alerts.onChange(loop, starting)).toBeUndefined();
    }
    now += 600_000;
    expect(alerts.onChange(starting, loop)).toBeUndefined();
    expect(alerts.onChange(loop, starting)).toBeDefined();
  });

  test('an up that was never announced as failing says nothing; other servers are independent', () => {
    const alerts = new CrashLoopAlerts();
    expect(alerts.onChange(row('a', 'up'), row('a', 'down'))).toBeUndefined();
    expect(alerts.onChange(row('a', 'crash-loop'), row('a', 'up'))).toBeDefined();
    expect(alerts.onChange(row('b', 'crash-loop'), row('b', 'up'))).toBeDefined();
  });
});

describe('desktop dialogs', () => {
  const bin = mkdtempSync(join(tmpdir(), 'tray-dialogs-'));
  const withTools = (...tools: string[]) => {
    const dir = mkdtempSync(join(bin, 'path-'));
    for (const t of tools) {
      writeFileSync(join(dir, t), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, t), 0o755);
    }
    return { PATH: dir };
  };

  test('Linux: zenity first (opening in a real folder, else OK stays greyed), then kdialog, else none', () => {
    expect(folderPickerCommand('linux', { title: 'Pick', startDir: '/home/u', env: withTools('zenity', 'kdialog') })).toEqual({
      file: 'zenity',
      args: ['--file-selection', '--directory', '--title=Pick', '--filename=/home/u/'],
    });
    expect(folderPickerCommand('linux', { title: 'Pick', startDir: '/home/u/', env: withTools('kdialog') })).toEqual({
      file: 'kdialog',
      args: ['--title', 'Pick', '--getexistingdirectory', '/home/u/'],
    });
    expect(folderPickerCommand('linux', { title: 'Pick', startDir: '/home/u', env: withTools() })).toBeUndefined();
  });

  test('macOS: AppleScript choose folder, with quotes and backslashes escaped', () => {
    const cmd = folderPickerCommand('darwin', { title: 'Pick "the" project', startDir: '/Users/u', env: withTools() })!;
    expect(cmd.file).toBe('osascript');
    expect(cmd.args).toEqual(['-e', 'POSIX path of (choose folder with prompt "Pick \\"the\\" project" default location POSIX file "/Users/u/")']);
    expect(appleString('a\\b"c')).toBe('"a\\\\b\\"c"');
  });

  test('text windows and opening a log', () => {
    expect(textWindowCommand('linux', { title: 'R', text: 'hello', env: withTools('zenity') })).toMatchObject({ file: 'zenity', input: 'hello' });
    expect(textWindowCommand('linux', { title: 'R', text: 'hello', env: withTools() })).toBeUndefined();
    expect(textWindowCommand('darwin', { title: 'R', text: 'a "b"', env: withTools() })!.args[1]).toContain('display dialog "a \\"b\\"" with title "R"');
    expect(openFileCommand('darwin', '/x.log')).toEqual({ file: 'open', args: ['-a', 'Console', '/x.log'] });
    expect(openFileCommand('linux', '/x.log', withTools('xdg-open'))).toEqual({ file: 'xdg-open', args: ['/x.log'] });
    expect(openFileCommand('linux', '/x.log', withTools())).toBeUndefined();
  });

  test('pickFolder runs the picker: a path, null on cancel, an Error when it cannot be shown', async () => {
    const dir = mkdtempSync(join(bin, 'fake-'));
    const fake = (body: string) => {
      writeFileSync(join(dir, 'zenity'), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, 'zenity'), 0o755);
    };
    const env = { PATH: `${dir}:/usr/bin:/bin` };
    fake('echo "/home/u/my project/"');
    expect(await pickFolder('linux', { title: 'T', startDir: '/', env })).toBe('/home/u/my project');
    fake('exit 1');
    expect(await pickFolder('linux', { title: 'T', startDir: '/', env })).toBeNull();
    fake('echo "Gtk-WARNING **: cannot open display: :9" >&2; exit 1');
    const err = await pickFolder('linux', { title: 'T', startDir: '/', env });
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('cannot open display');
    expect(await pickFolder('linux', { title: 'T', startDir: '/', env: { PATH: '/nonexistent' } })).toEqual(
      new Error('no folder picker is installed (zenity or kdialog)'),
    );
  });

  test('which finds executables only', () => {
    const env = withTools('zenity');
    writeFileSync(join(env.PATH, 'notexec'), '');
    expect(which('zenity', env)).toBe(join(env.PATH, 'zenity'));
    expect(which('notexec', env)).toBeUndefined();
  });
});

describe('the tray binary', () => {
  test('explains a missing library, no display and other exits in words a person can act on', () => {
    const lib = explainStartFailure(
      127,
      null,
      './tray_linux_release: error while loading shared libraries: libappindicator3.so.1: cannot open shared object file: No such file or directory',
      {},
    );
    expect(lib.context.reason).toBe('missing-library');
    expect(lib.message).toContain('libappindicator3.so.1 is missing');
    expect(lib.message).toContain('apt install libgtk-3-0 libayatana-appindicator3-1');
    expect(lib.message).toContain('daemons keep running');
    const disp = explainStartFailure(1, null, '(tray_linux_release:1): Gtk-WARNING **: cannot open display: :77', { DISPLAY: ':77' });
    expect(disp.context.reason).toBe('no-display');
    expect(disp.message).toContain('":77"');
    const other = explainStartFailure(null, 'SIGSEGV', 'boom', {});
    expect(other.context.reason).toBe('exited');
    expect(other.message).toContain('SIGSEGV');
    expect(displayProblem({}, 'linux')?.context.reason).toBe('no-display');
    expect(displayProblem({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux')).toBeUndefined();
    expect(displayProblem({}, 'darwin')).toBeUndefined();
  });

  test("the bundled binaries' CPU is read from their headers; a Mac without Rosetta gets the command that fixes it", () => {
    expect(binaryArch(join(ROOT, 'node_modules/systray2/traybin/tray_linux_release'))).toBe('x64');
    expect(binaryArch(join(ROOT, 'node_modules/systray2/traybin/tray_darwin_release'))).toBe('x64');
    expect(binaryArch(join(ROOT, 'package.json'))).toBeUndefined();
    const mac = explainSpawnError(trayStartError('the tray binary could not be started: Unknown system error -86', 'exited'), 'darwin');
    expect(mac.message).toContain('softwareupdate --install-rosetta');
    const other = trayStartError('the tray binary could not be started: EACCES', 'exited');
    expect(explainSpawnError(other, 'darwin')).toBe(other);
  });

  test('one tray per user: the lock is taken exclusively, a stale or foreign pid file is replaced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tray-lock-'));
    const pidFile = join(dir, 'state', 'tray.pid');
    expect(lockTray(pidFile)).toBeUndefined();
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(process.pid));
    // A dead pid: replaced.
    writeFileSync(pidFile, '999999999\n');
    expect(lockTray(pidFile)).toBeUndefined();
    // A live process that is not a tray (a reused pid): replaced.
    const other = spawn('sleep', ['30']);
    writeFileSync(pidFile, `${other.pid}\n`);
    expect(lockTray(pidFile)).toBeUndefined();
    other.kill();
    // A live tray: it holds the lock.
    const tray = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'tray']);
    await new Promise((r) => tray.once('spawn', r));
    writeFileSync(pidFile, `${tray.pid}\n`);
    expect(lockTray(pidFile)).toBe(tray.pid);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(tray.pid));
    tray.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a private copy of the binary gets its exec bit (systray2 ships it without one)', () => {
    const work = mkdtempSync(join(tmpdir(), 'tray-bin-'));
    const copyDir = prepareBinary(work, 'linux');
    const version = JSON.parse(readFileSync(join(ROOT, 'node_modules/systray2/package.json'), 'utf8')).version;
    const bin = join(copyDir, version, 'tray_linux_release');
    expect(statSync(bin).mode & 0o777).toBe(0o755);
    // A truncated copy (an interrupted upgrade) is replaced.
    writeFileSync(bin, 'x');
    prepareBinary(work, 'linux');
    expect(statSync(bin).size).toBe(statSync(join(ROOT, 'node_modules/systray2/traybin/tray_linux_release')).size);
    expect(thrownBy(() => prepareBinary(work, 'aix'))).toMatchObject({ code: 'tray-start', context: { reason: 'no-binary' } });
    rmSync(work, { recursive: true, force: true });
  });

  describeWith(TRAY_LIBRARIES, 'the real binary without a display', () => {
    test('the real binary on a display that does not exist: a clear tray-start error, no process left', async () => {
      const work = mkdtempSync(join(tmpdir(), 'tray-nodisp-'));
      const host = new TrayHost({ workDir: work, env: { ...process.env, DISPLAY: ':97' }, platform: 'linux', readyTimeoutMs: 10_000 });
      const saved = process.env.DISPLAY;
      const savedTmp = process.env.TMPDIR; // systray2 spawns the binary with process.env
      try {
        const err = await host.show({ icon: join(ROOT, 'assets/tray-up.png'), tooltip: '', items: [{ key: 'a', title: 'A' }] }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'tray-start', context: { reason: 'no-display' } });
        expect(host.running).toBe(false);
        // TMPDIR pointed at the tray's own folder for the spawn only: later children must not inherit it.
        expect(process.env.TMPDIR).toBe(savedTmp);
        expect(process.env.DISPLAY).toBe(saved);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
      const left = spawnSync('pgrep', ['-f', join(work, 'bin')], { encoding: 'utf8' }).stdout.trim();
      expect(left).toBe('');
    });
  });
});

describe('describing an apply for a notification', () => {
  test('what was shared, what already was, and what was left with its reason', () => {
    const msg = describeApply({
      file: '/p/.mcp.json',
      scope: 'project',
      exists: true,
      dryRun: false,
      wrote: true,
      ok: false,
      outcomes: [
        { name: 'a', status: 'switched', failed: false },
        { name: 'b', status: 'already-shared', failed: false },
        { name: 'c', status: 'left', failed: true, reason: 'its daemon refused the connection' },
        { name: 'd', status: 'per-session', failed: false },
      ],
    });
    expect(msg).toBe('Wrote /p/.mcp.json\nShared now: a\nAlready shared: b\nLeft as they were: c (its daemon refused the connection)');
    expect(
      describeApply({ file: '/p/.mcp.json', scope: 'project', exists: false, dryRun: false, wrote: false, ok: true, outcomes: [], note: 'nothing here' }),
    ).toBe('nothing here');
  });
});

describe('Connect a client', () => {
  test('the submenu lists the clients found, with a mark on those that use the shared daemons; none found, no submenu', () => {
    const base = { rows: [row('memory', 'up')], pending: new Map<string, string>(), autostart: undefined, canRevert: false };
    const items = buildMenu({
      ...base,
      clients: [
        { name: 'cursor', label: 'Cursor', connected: true },
        { name: 'codex', label: 'Codex CLI', connected: false },
      ],
    });
    const menu = items.find((i) => i.key === 'connect-menu')!;
    expect(menu.title).toBe('Connect a client');
    expect(menu.items).toEqual([
      { key: 'connect:cursor', title: 'Cursor ✓', enabled: true },
      { key: 'connect:codex', title: 'Codex CLI', enabled: true },
    ]);
    // Right after "Use shared servers for all projects", before Revert.
    const keys = items.map((i) => i.key);
    expect(keys.indexOf('connect-menu')).toBe(keys.indexOf(ACTIONS.useUser) + 1);
    expect(buildMenu({ ...base, clients: [] }).some((i) => i.key === 'connect-menu')).toBe(false);
    expect(buildMenu(base).some((i) => i.key === 'connect-menu')).toBe(false);
  });

  test("clicking a client switches its user config to the running daemon (real files, real handshake); the tray's Revert puts back the exact bytes", async () => {
    const home = mkdtempSync(join(tmpdir(), 'tray-connect-'));
    // Without node_modules/.bin (npm test puts it on PATH, and the claude CLI there would be detected).
    const env: NodeJS.ProcessEnv = {
      HOME: home,
      PATH: (process.env.PATH ?? '')
        .split(':')
        .filter((d) => !d.includes('node_modules'))
        .join(':'),
    };
    const port = await freePort();
    const bridge = await runCli(['bridge', '--port', String(port), '--name', 'everything', '--', process.execPath, EVERYTHING]);
    try {
      const file = join(home, '.cursor', 'mcp.json');
      mkdirSync(join(home, '.cursor'));
      const text =
        '{\n\t// mine\n\t"mcpServers": {\n\t\t"everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]},\n\t},\n}\n';
      writeFileSync(file, text);
      const manager = new ServerManager({ registryDir: join(home, 'registry'), paths: userPaths(env), env });
      new Registry({ dir: join(home, 'registry') }).add(everythingEntry('everything', port));
      const actions = trayConfigActions(manager, env);
      expect(actions.clients!()).toEqual([]); // read in the background
      const found = await waitFor(() => (actions.clients!().length ? actions.clients!() : undefined), 'the clients', 10_000);
      expect(found).toEqual([{ name: 'cursor', label: 'Cursor', connected: false }]);
      const msg = await actions.connectClient!('cursor');
      expect(msg).toBe(`Wrote ${file}\nShared now: everything`);
      expect(readFileSync(file, 'utf8')).toContain(`"everything": {"url": "http://localhost:${port}/mcp"},`);
      expect(actions.clients!()).toEqual([{ name: 'cursor', label: 'Cursor', connected: true }]);
      expect(actions.canRevert()).toBe(true);
      expect(await actions.revertLast()).toContain('put back the file exactly as it was before the apply');
      expect(readFileSync(file, 'utf8')).toBe(text);
    } finally {
      await bridge.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('mcpshare tray without a desktop', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tray-cli-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: tmp, MCPSHARE_BACKEND: 'supervisor' };
  for (const k of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'NODE_OPTIONS', 'DISPLAY', 'WAYLAND_DISPLAY']) delete env[k];

  afterAll(async () => {
    await stopEverythingOf(tmp);
    rmSync(tmp, { recursive: true, force: true });
  });

  test('no display: exit 1 with what to do, the daemons keep running, nothing is left behind', async () => {
    const port = await freePort();
    expect((await mcpshare(['add', 'everything', '--port', String(port), '--', process.execPath, EVERYTHING, 'stdio'], env)).code).toBe(0);
    expect((await mcpshare(['start', 'everything'], env, 60_000)).code).toBe(0);
    const r = await mcpshare(['tray', '--no-start'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the tray needs a graphical session');
    expect(r.stderr).toContain('daemons keep running');
    const log = readFileSync(join(userPaths(env).logDir, 'tray.log'), 'utf8');
    expect(log).toContain('the tray needs a graphical session');
    expect(existsSync(join(userPaths(env).stateDir, 'tray.pid'))).toBe(false);
    const status = JSON.parse((await mcpshare(['status', '--json'], env)).stdout);
    expect(status.servers[0]).toMatchObject({ name: 'everything', state: 'up' });
  }, 90_000);

  test('npm start on a machine without a desktop (tray --demo): the demo daemon serves, exit 0, its URL printed', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tray-demo-'));
    const demoEnv = { ...env, HOME: home };
    try {
      const r = await mcpshare(['tray', '--demo'], demoEnv, 60_000);
      expect(r.stderr).toContain('the tray needs a graphical session');
      const url = /demo: up on (http:\/\/localhost:\d+\/mcp)/.exec(r.stderr)?.[1];
      expect(url).toBeDefined();
      expect(r.code).toBe(0);
      const check = await mcpshare(['check', 'demo'], demoEnv);
      expect(check.stdout).toContain('up: MCP server "mcpshare-demo"');
      // Nothing registered twice on a second run.
      expect((await mcpshare(['tray', '--demo', '--no-start'], demoEnv)).code).toBe(1);
      expect(JSON.parse((await mcpshare(['list', '--json'], demoEnv)).stdout)).toHaveLength(1);
    } finally {
      await stopEverythingOf(home);
      rmSync(home, { recursive: true, force: true });
    }
  }, 90_000);

  test('--quit with no tray running, and flags that do not go together', async () => {
    const q = await mcpshare(['tray', '--quit'], env);
    expect(q).toMatchObject({ code: 0 });
    expect(q.stdout).toContain('the tray is not running');
    const bad = await mcpshare(['tray', '--stop-daemons'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--stop-daemons goes with --quit');
    const iv = await mcpshare(['tray', '--interval', 'soon'], env);
    expect(iv.code).toBe(2);
    expect(iv.stderr).toContain('--interval wants seconds');
  });
});
