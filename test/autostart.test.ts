/**
 * Starting the tray at login (src/tray/autostart.ts, `mcpshare autostart`).
 *
 * Linux: the XDG autostart entry is read back by systemd-xdg-autostart-generator, the program GNOME
 * and KDE sessions on systemd use to run autostart entries (an independent parser of the Desktop
 * Entry spec's Exec quoting), and its ExecStart is split by python3's shlex.
 * macOS, off macOS: the LaunchAgent is parsed by python3's plistlib, and `launchctl` is a fake on
 * PATH that records its argv and plays loaded/not loaded, so the exact command lines are asserted.
 * Nothing else is mocked: files are written to temporary HOMEs, and the CLI runs as a real process.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { NODE_MEMORY_FLAGS } from '../src/runtime.js';
import { CLI_PATH } from '../src/units/daemon.js';
import {
  autostartStatus,
  desktopEntryPath,
  disableAutostart,
  enableAutostart,
  execLine,
  launchAgentPath,
  quoteExecArg,
  stableNodePath,
  TRAY_LABEL,
  trayCommand,
} from '../src/tray/autostart.js';
import { ROOT } from './helpers/bridge.js';
import { mcpshare, XDG_AUTOSTART, XDG_AUTOSTART_GENERATOR } from './helpers/systemd.js';
import { describeWith, missingLine } from './helpers/requirements.js';
import { sleep } from './helpers/wait.js';

const UID = process.getuid?.() ?? 501;
/** The built CLI (helpers' CLI has a double slash; entries carry the normalized path). */
const CLI = join(ROOT, 'dist', 'cli.js');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-autostart-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

let homes = 0;
function newHome(name = 'home'): string {
  const h = join(tmp, `${name}-${++homes}`);
  mkdirSync(h, { recursive: true });
  return h;
}

const mode = (f: string) => statSync(f).mode & 0o777;

/** `Key=value` lines of the [Desktop Entry] group. */
function desktopKeys(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inGroup = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('[')) inGroup = line === '[Desktop Entry]';
    else if (inGroup && /^[A-Za-z0-9-]+=/.test(line)) out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  }
  return out;
}

/**
 * What a systemd-based desktop session would run for the autostart entries of `home`: the argv of
 * the unit systemd-xdg-autostart-generator makes of mcpshare-tray.desktop (undefined: no unit).
 */
function sessionWouldRun(home: string): { argv: string[] | undefined; stderr: string } {
  const generator = XDG_AUTOSTART_GENERATOR;
  if (!generator) throw new Error(missingLine(XDG_AUTOSTART)); // suites that call this are declared with describeWith(XDG_AUTOSTART)
  const out = mkdtempSync(join(tmp, 'gen-'));
  let stderr = '';
  try {
    execFileSync(generator, [out, out, out], {
      env: { HOME: home, XDG_CONFIG_DIRS: join(tmp, 'no-system-autostart') },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    stderr = String((err as { stderr?: string }).stderr ?? err);
  }
  const units = readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.service') && f.includes('mcpshare') && !f.includes('/'));
  if (units.length === 0) return { argv: undefined, stderr };
  const unit = readFileSync(join(out, units[0]), 'utf8');
  const exec = /^ExecStart=:?(.*)$/m.exec(unit)?.[1];
  if (!exec) throw new Error(`no ExecStart in the generated unit:\n${unit}`);
  // systemd writes ExecStart words in double quotes with \" \$ \` escapes, which is what a POSIX
  // shell's double quotes mean too: let /bin/sh split them. (%% is systemd's escaped %.)
  const split = execFileSync('/bin/sh', ['-c', 'eval "set -- $1"; printf "%s\\0" "$@"', 'sh', exec], { encoding: 'utf8' });
  return {
    argv: split
      .split('\0')
      .slice(0, -1)
      .map((a) => a.replace(/%%/g, '%')),
    stderr,
  };
}

interface ParsedPlist {
  plist: Record<string, unknown>;
  types: Record<string, string>;
}

function parsePlist(file: string): ParsedPlist {
  const py =
    'import plistlib, json, sys\nd = plistlib.load(open(sys.argv[1], "rb"))\nprint(json.dumps({"plist": d, "types": {k: type(v).__name__ for k, v in d.items()}}))';
  try {
    return JSON.parse(execFileSync(PYTHON, ['-c', py, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as ParsedPlist;
  } catch (err) {
    throw new Error(`plistlib rejected ${file}: ${(err as { stderr?: string }).stderr ?? String(err)}\n---\n${readFileSync(file, 'utf8')}`, { cause: err });
  }
}

/**
 * A fake `launchctl` in its own directory: appends its argv to calls.jsonl and keeps the job's
 * state in state.json (loaded, pid), answering print/bootstrap/bootout/kickstart as launchctl does.
 */
function fakeLaunchctl(): { dir: string; calls(): string[][]; setState(s: { loaded: boolean; pid?: number }): void; reset(): void } {
  const dir = mkdtempSync(join(tmp, 'fakebin-'));
  const script = `#!${process.execPath}
const fs = require('fs'), path = require('path');
const dir = ${JSON.stringify(dir)};
const args = process.argv.slice(2);
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify(args) + '\\n');
const stateFile = path.join(dir, 'state.json');
let s = { loaded: false };
try { s = JSON.parse(fs.readFileSync(stateFile, 'utf8')); } catch {}
const save = () => fs.writeFileSync(stateFile, JSON.stringify(s));
const [verb, target, file] = args;
const notFound = () => { process.stderr.write('Could not find service "' + String(target).split('/').pop() + '" in domain for user gui: ${UID}\\n'); process.exit(113); };
switch (verb) {
  case 'print':
    if (!s.loaded) notFound();
    process.stdout.write(target + ' = {\\n\\tactive count = ' + (s.pid ? 1 : 0) + '\\n\\tstate = ' + (s.pid ? 'running' : 'not running') + '\\n' + (s.pid ? '\\tpid = ' + s.pid + '\\n' : '') + '\\truns = 1\\n}\\n');
    process.exit(0);
  case 'bootstrap':
    if (s.loaded) { process.stderr.write('Bootstrap failed: 5: Input/output error\\n'); process.exit(5); }
    if (!fs.existsSync(file)) { process.stderr.write('Bootstrap failed: 2: No such file or directory\\n'); process.exit(2); }
    s = { loaded: true, plist: file }; save(); process.exit(0);
  case 'bootout':
    if (!s.loaded) { process.stderr.write('Boot-out failed: 3: No such process\\n'); process.exit(3); }
    s = { loaded: false }; save(); process.exit(0);
  case 'kickstart':
    if (!s.loaded) notFound();
    process.exit(0);
  default:
    process.stderr.write('fake launchctl: unexpected ' + verb + '\\n'); process.exit(64);
}
`;
  writeFileSync(join(dir, 'launchctl'), script);
  chmodSync(join(dir, 'launchctl'), 0o755);
  const calls = () => {
    try {
      return readFileSync(join(dir, 'calls.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]);
    } catch {
      return [];
    }
  };
  return {
    dir,
    calls,
    setState: (s) => writeFileSync(join(dir, 'state.json'), JSON.stringify(s)),
    reset: () => {
      rmSync(join(dir, 'calls.jsonl'), { force: true });
      rmSync(join(dir, 'state.json'), { force: true });
    },
  };
}

describe('the command line an entry runs', () => {
  test('this installation: absolute node, the memory flags, absolute dist/cli.js, "tray"', () => {
    expect(trayCommand()).toEqual([process.execPath, ...NODE_MEMORY_FLAGS, CLI_PATH, 'tray']);
    expect(CLI_PATH).toMatch(/^\/.*\/cli\.js$/);
  });

  test('node is named by a PATH entry that is the same binary when there is one (survives a Homebrew upgrade)', () => {
    const bin = join(tmp, 'stable bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(process.execPath, join(bin, 'node'));
    const other = join(tmp, 'other-bin');
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'node'), '#!/bin/sh\n');
    chmodSync(join(other, 'node'), 0o755);
    expect(stableNodePath([other, bin].join(delimiter))).toBe(join(bin, 'node'));
    expect(stableNodePath(other)).toBe(process.execPath);
    expect(stableNodePath('')).toBe(process.execPath);
    expect(stableNodePath(`relative${delimiter}${bin}`)).toBe(join(bin, 'node'));
  });
});

describe('Linux: the XDG autostart entry', () => {
  describeWith(XDG_AUTOSTART, 'read back by the XDG autostart generator a desktop session on systemd runs', () => {
    test('content: every key, Exec runs node/flags/cli/tray, Icon is the package icon; 0644 whatever the umask', async () => {
      const home = newHome();
      const env = { HOME: home, PATH: process.env.PATH };
      const old = process.umask(0o077);
      let r;
      try {
        r = await enableAutostart({ platform: 'linux', env });
      } finally {
        process.umask(old);
      }
      const file = join(home, '.config', 'autostart', 'mcpshare-tray.desktop');
      expect(r.file).toBe(file);
      expect(r.written).toBe(true);
      expect(r.enabled).toBe(true);
      expect(mode(file)).toBe(0o644);
      const text = readFileSync(file, 'utf8');
      const keys = desktopKeys(text);
      const node = stableNodePath(env.PATH ?? '');
      expect(keys).toEqual({
        Type: 'Application',
        Version: '1.5',
        Name: 'mcpshare',
        GenericName: 'Shared MCP servers',
        Comment: expect.stringContaining('MCP servers') as unknown as string,
        Exec: [node, ...NODE_MEMORY_FLAGS, CLI_PATH, 'tray'].join(' '),
        Icon: join(dirname(dirname(CLI_PATH)), 'assets', 'mcpshare.png'),
        Terminal: 'false',
        StartupNotify: 'false',
        'X-GNOME-Autostart-enabled': 'true',
      });
      // The icon the tray engineer ships (the entry does not need it to exist, but this checkout has it).
      expect(existsSync(join(ROOT, 'assets', 'mcpshare.png'))).toBe(true);
      expect(sessionWouldRun(home).argv).toEqual([node, ...NODE_MEMORY_FLAGS, CLI_PATH, 'tray']);
    });

    test('paths with spaces and shell/Exec metacharacters are quoted so a desktop session runs exactly them', async () => {
      const home = newHome('home with space');
      const odd = `"dq" 'sq' $HOME \`id\` #h (p) & ; <lt> ~t *? =eq ü`;
      const nodeDir = join(home, `node dir ${odd}`);
      mkdirSync(nodeDir, { recursive: true });
      // The generator only makes a unit when the program exists.
      symlinkSync(process.execPath, join(nodeDir, 'node'));
      const nodePath = join(nodeDir, 'node');
      const weird = join(home, `inst dir ${odd} 100%`);
      const cliPath = join(weird, 'dist', 'cli.js');
      const r = await enableAutostart({ platform: 'linux', env: { HOME: home, PATH: '/usr/bin:/bin' }, nodePath, cliPath });
      expect(r.command).toEqual([nodePath, ...NODE_MEMORY_FLAGS, cliPath, 'tray']);
      const keys = desktopKeys(readFileSync(r.file, 'utf8'));
      expect(keys.Exec).toContain('100%%');
      expect(keys.Exec).toContain('\\\\$HOME');
      expect(keys.Icon).toBe(join(weird, 'assets', 'mcpshare.png'));
      const { argv, stderr } = sessionWouldRun(home);
      expect(stderr).toBe('');
      expect(argv).toEqual([nodePath, ...NODE_MEMORY_FLAGS, cliPath, 'tray']);
    });
  });

  test('Exec quoting of single arguments', () => {
    expect(quoteExecArg('/usr/bin/node')).toBe('/usr/bin/node');
    expect(quoteExecArg('--max-semi-space-size=2')).toBe('--max-semi-space-size=2');
    expect(quoteExecArg('/a b/cli.js')).toBe('"/a b/cli.js"');
    expect(quoteExecArg('/a"b')).toBe('"/a\\\\"b"');
    expect(quoteExecArg('/a$b`c')).toBe('"/a\\\\$b\\\\`c"');
    expect(quoteExecArg("/it's")).toBe('"/it\'s"');
    expect(quoteExecArg('/100%')).toBe('/100%%');
    expect(quoteExecArg('/1 00%')).toBe('"/1 00%%"');
    expect(quoteExecArg('')).toBe('""');
    expect(() => quoteExecArg('/a\\b')).toThrow(/backslash/);
    expect(() => quoteExecArg('/a\nb')).toThrow(/control character/);
    // A program whose path has a "%" is never found by a session (it looks for the %%-escaped name).
    expect(() => execLine(['/opt/100%/node', 'tray'])).toThrow(/"%"/);
    expect(execLine(['/opt/node', '/x/100%/cli.js', 'tray'])).toBe('/opt/node /x/100%%/cli.js tray');
  });

  test('XDG_CONFIG_HOME decides the folder', async () => {
    const home = newHome();
    const config = join(home, 'elsewhere');
    const r = await enableAutostart({ platform: 'linux', env: { HOME: home, XDG_CONFIG_HOME: config } });
    expect(r.file).toBe(join(config, 'autostart', 'mcpshare-tray.desktop'));
    expect(desktopEntryPath({ HOME: home, XDG_CONFIG_HOME: config })).toBe(r.file);
    expect(existsSync(join(home, '.config'))).toBe(false);
  });

  test('on twice writes once; off twice removes once; status follows', async () => {
    const home = newHome();
    const opts = { platform: 'linux' as const, env: { HOME: home, PATH: process.env.PATH } };
    const off0 = await autostartStatus(opts);
    expect(off0).toMatchObject({ platform: 'linux', mechanism: 'xdg-autostart', enabled: false, upToDate: false, foreign: false });
    const first = await enableAutostart(opts);
    const mtime = statSync(first.file).mtimeMs;
    await sleep(20);
    const second = await enableAutostart(opts);
    expect(second.written).toBe(false);
    expect(statSync(first.file).mtimeMs).toBe(mtime);
    expect(await autostartStatus(opts)).toMatchObject({ enabled: true, upToDate: true, foreign: false });
    // Another installation's entry (or an edited one): on, but not up to date; "on" rewrites it.
    writeFileSync(first.file, readFileSync(first.file, 'utf8').replace(CLI_PATH, '/old/place/dist/cli.js'));
    expect(await autostartStatus(opts)).toMatchObject({ enabled: true, upToDate: false });
    expect((await enableAutostart(opts)).written).toBe(true);
    expect(await autostartStatus(opts)).toMatchObject({ upToDate: true });
    expect(await disableAutostart(opts)).toEqual({ platform: 'linux', file: first.file, removed: true, commands: [] });
    expect(existsSync(first.file)).toBe(false);
    expect(await disableAutostart(opts)).toMatchObject({ removed: false });
    expect(await autostartStatus(opts)).toMatchObject({ enabled: false });
    // The folder stays (other programs' entries live there); no temporary file is left behind.
    expect(readdirSync(dirname(first.file))).toEqual([]);
  });

  test('a path with a backslash is refused with a clear message and nothing is written', async () => {
    const home = newHome();
    await expect(enableAutostart({ platform: 'linux', env: { HOME: home }, cliPath: join(home, 'a\\b', 'dist', 'cli.js') })).rejects.toThrow(/backslash/);
    expect(existsSync(desktopEntryPath({ HOME: home }))).toBe(false);
  });
});

describe('macOS: the LaunchAgent (plistlib, a fake launchctl on PATH)', () => {
  let fake: ReturnType<typeof fakeLaunchctl>;
  let savedPath: string | undefined;
  beforeAll(() => {
    fake = fakeLaunchctl();
    // The module's default runner runs "launchctl" from PATH, as on a Mac.
    savedPath = process.env.PATH;
    process.env.PATH = `${fake.dir}${delimiter}${savedPath ?? ''}`;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
  });

  const PATH_ENV = ['/opt/homebrew/bin', '/usr/bin', '/bin'].join(delimiter);

  test('every key of the plist, exactly; bootstrap gui/UID PLIST loads it; log folder made', async () => {
    fake.reset();
    const home = newHome();
    const cliPath = join(home, 'Apps & <Tools> "x"', 'mcpshare', 'dist', 'cli.js');
    const r = await enableAutostart({ platform: 'darwin', env: { HOME: home, PATH: PATH_ENV }, cliPath });
    const file = join(home, 'Library', 'LaunchAgents', 'dev.mcpshare.tray.plist');
    expect(r.file).toBe(file);
    expect(launchAgentPath(home)).toBe(file);
    expect(mode(file)).toBe(0o644);
    const node = stableNodePath(PATH_ENV);
    const log = join(home, 'Library', 'Logs', 'mcpshare', 'tray.log');
    const { plist, types } = parsePlist(file);
    expect(plist).toEqual({
      Label: TRAY_LABEL,
      ProgramArguments: [node, ...NODE_MEMORY_FLAGS, cliPath, 'tray'],
      EnvironmentVariables: { PATH: PATH_ENV },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 10,
      ProcessType: 'Interactive',
      LimitLoadToSessionType: 'Aqua',
      StandardOutPath: log,
      StandardErrorPath: log,
    });
    expect(types).toMatchObject({ RunAtLoad: 'bool', ThrottleInterval: 'int', KeepAlive: 'dict', ProgramArguments: 'list' });
    expect(TRAY_LABEL).toBe('dev.mcpshare.tray');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('Apps &amp; &lt;Tools&gt; &quot;x&quot;');
    expect(existsSync(dirname(log))).toBe(true); // launchd does not create it
    expect(fake.calls()).toEqual([
      ['print', `gui/${UID}/dev.mcpshare.tray`],
      ['bootstrap', `gui/${UID}`, file],
      ['print', `gui/${UID}/dev.mcpshare.tray`],
    ]);
    expect(r.commands).toEqual([['bootstrap', `gui/${UID}`, file]]);
    expect(r.loaded).toBe(true);
  });

  test('on again: nothing when it runs; kickstart when loaded but quit; reload when the plist changed; --no-start only writes', async () => {
    fake.reset();
    const home = newHome();
    const opts = { platform: 'darwin' as const, env: { HOME: home, PATH: PATH_ENV } };
    const file = launchAgentPath(home);
    await enableAutostart({ ...opts, start: false });
    expect(existsSync(file)).toBe(true);
    expect(fake.calls().filter((c) => c[0] !== 'print')).toEqual([]);

    fake.reset();
    fake.setState({ loaded: true, pid: 4242 });
    expect((await enableAutostart(opts)).commands).toEqual([]);
    expect(await autostartStatus(opts)).toMatchObject({ enabled: true, upToDate: true, loaded: true, pid: 4242 });

    fake.setState({ loaded: true });
    expect((await enableAutostart(opts)).commands).toEqual([['kickstart', `gui/${UID}/dev.mcpshare.tray`]]);

    // Another installation's plist, loaded: unload, rewrite, load.
    writeFileSync(file, readFileSync(file, 'utf8').replace(CLI_PATH, '/old/dist/cli.js'));
    fake.setState({ loaded: true, pid: 4242 });
    expect((await enableAutostart(opts)).commands).toEqual([
      ['bootout', `gui/${UID}/dev.mcpshare.tray`],
      ['bootstrap', `gui/${UID}`, file],
    ]);
    expect(await autostartStatus(opts)).toMatchObject({ upToDate: true });

    // --no-start with a changed plist: the running tray is left alone, the new plist waits for the next login.
    writeFileSync(file, readFileSync(file, 'utf8').replace(CLI_PATH, '/old/dist/cli.js'));
    fake.setState({ loaded: true, pid: 4242 });
    const quiet = await enableAutostart({ ...opts, start: false });
    expect([quiet.written, quiet.commands]).toEqual([true, []]);
    expect(await autostartStatus(opts)).toMatchObject({ upToDate: true, loaded: true, pid: 4242 });
  });

  test('off: bootout gui/UID/dev.mcpshare.tray, file removed; again: nothing; a tray turning itself off is not killed', async () => {
    fake.reset();
    const home = newHome();
    const opts = { platform: 'darwin' as const, env: { HOME: home, PATH: PATH_ENV } };
    const file = (await enableAutostart(opts)).file;
    fake.reset();
    fake.setState({ loaded: true, pid: 4242 });
    expect(await disableAutostart(opts)).toEqual({ platform: 'darwin', file, removed: true, commands: [['bootout', `gui/${UID}/dev.mcpshare.tray`]] });
    expect(existsSync(file)).toBe(false);
    expect(fake.calls()).toEqual([
      ['print', `gui/${UID}/dev.mcpshare.tray`],
      ['bootout', `gui/${UID}/dev.mcpshare.tray`],
    ]);
    expect(await disableAutostart(opts)).toEqual({ platform: 'darwin', file, removed: false, commands: [] });
    expect(await autostartStatus(opts)).toMatchObject({ enabled: false, loaded: false });

    // The tray's own "Start at login: off" (its process is the job's): the plist goes, the job stays.
    await enableAutostart(opts);
    fake.reset();
    fake.setState({ loaded: true, pid: process.pid });
    expect(await disableAutostart(opts)).toMatchObject({ removed: true, commands: [] });
    expect(fake.calls()).toEqual([['print', `gui/${UID}/dev.mcpshare.tray`]]);
  });

  test('a plist at that path that autostart did not write (a server named "tray") is neither overwritten nor removed', async () => {
    fake.reset();
    const home = newHome();
    const file = launchAgentPath(home);
    mkdirSync(dirname(file), { recursive: true });
    const server = '<?xml version="1.0"?><plist version="1.0"><dict><key>Label</key><string>dev.mcpshare.tray</string></dict></plist>\n';
    writeFileSync(file, server);
    const opts = { platform: 'darwin' as const, env: { HOME: home } };
    await expect(enableAutostart(opts)).rejects.toThrow(/not written by "mcpshare autostart"/);
    await expect(disableAutostart(opts)).rejects.toThrow(/not written by "mcpshare autostart"/);
    expect(await autostartStatus(opts)).toMatchObject({ enabled: true, foreign: true });
    expect(readFileSync(file, 'utf8')).toBe(server);
    expect(fake.calls().filter((c) => c[0] !== 'print')).toEqual([]);
  });

  test('a failing bootstrap (no GUI session, e.g. over ssh) says the plist is in place for the next login', async () => {
    fake.reset();
    const home = newHome();
    const script = join(fake.dir, 'launchctl');
    const orig = readFileSync(script, 'utf8');
    writeFileSync(
      script,
      orig.replace(
        "case 'bootstrap':",
        "case 'bootstrap': process.stderr.write('Bootstrap failed: 125: Domain does not support specified action\\n'); process.exit(125);",
      ),
    );
    try {
      await expect(enableAutostart({ platform: 'darwin', env: { HOME: home } })).rejects.toThrow(
        /dev\.mcpshare\.tray\.plist is in place \(the tray starts at your next login\), but starting it now failed: launchctl bootstrap gui\/\d+ .* failed \(exit 125\): Bootstrap failed: 125/,
      );
    } finally {
      writeFileSync(script, orig);
    }
    expect(existsSync(launchAgentPath(home))).toBe(true);
  });
});

describe('mcpshare autostart (the CLI, in a temporary HOME)', () => {
  function envFor(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...extra };
    for (const k of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'XDG_DATA_HOME', 'NODE_OPTIONS', 'MCPSHARE_AUTOSTART_PLATFORM']) if (!(k in extra)) delete env[k];
    return env;
  }

  describeWith(XDG_AUTOSTART, 'Linux, read back by the XDG autostart generator', () => {
    test('Linux: status (off), on, status --json, off; each names the file', async () => {
      expect(existsSync(CLI)).toBe(true);
      const home = newHome();
      const env = envFor(home);
      const file = join(home, '.config', 'autostart', 'mcpshare-tray.desktop');
      const s0 = await mcpshare(['autostart'], env);
      expect(s0.code).toBe(0);
      expect(s0.stdout).toContain('autostart: off');
      expect(s0.stdout).toContain(file);

      const on = await mcpshare(['autostart', 'on'], env);
      expect(on.stderr).toBe('');
      expect(on.code).toBe(0);
      expect(on.stdout).toContain(`autostart on: wrote ${file}`);
      expect(on.stdout).toContain(`${CLI} tray`);
      expect(mode(file)).toBe(0o644);
      // The built CLI writes its own dist/cli.js into the entry.
      expect(sessionWouldRun(home).argv).toEqual([stableNodePath(env.PATH ?? ''), ...NODE_MEMORY_FLAGS, CLI, 'tray']);

      const again = await mcpshare(['autostart', 'on'], env);
      expect(again.stdout).toContain('autostart already on');

      const js = await mcpshare(['autostart', 'status', '--json'], env);
      expect(js.code).toBe(0);
      expect(JSON.parse(js.stdout)).toMatchObject({
        platform: 'linux',
        mechanism: 'xdg-autostart',
        file,
        enabled: true,
        upToDate: true,
        command: [stableNodePath(env.PATH ?? ''), ...NODE_MEMORY_FLAGS, CLI, 'tray'],
      });

      const off = await mcpshare(['autostart', 'off'], env);
      expect(off.code).toBe(0);
      expect(off.stdout).toContain(`autostart off: removed ${file}`);
      expect(existsSync(file)).toBe(false);
      const off2 = await mcpshare(['autostart', 'off'], env);
      expect(off2.stdout).toContain('already off');
    });
  });

  test('macOS (MCPSHARE_AUTOSTART_PLATFORM=darwin, a fake launchctl on PATH): on loads it, status shows it, off unloads it', async () => {
    const fake = fakeLaunchctl();
    const home = newHome();
    const env = envFor(home, { MCPSHARE_AUTOSTART_PLATFORM: 'darwin', PATH: `${fake.dir}${delimiter}${process.env.PATH ?? ''}` });
    const file = join(home, 'Library', 'LaunchAgents', 'dev.mcpshare.tray.plist');
    const on = await mcpshare(['autostart', 'on'], env);
    expect(on.stderr).toBe('');
    expect(on.code).toBe(0);
    expect(on.stdout).toContain(`autostart on: wrote ${file}`);
    expect(on.stdout).toContain(`ran: launchctl bootstrap gui/${UID} ${file}`);
    expect(parsePlist(file).plist).toMatchObject({
      Label: 'dev.mcpshare.tray',
      ProgramArguments: [stableNodePath(env.PATH ?? ''), ...NODE_MEMORY_FLAGS, CLI, 'tray'],
    });
    const st = await mcpshare(['autostart', 'status'], env);
    expect(st.stdout).toContain('autostart: on');
    expect(st.stdout).toContain('launchd: loaded, tray not running');
    const off = await mcpshare(['autostart', 'off'], env);
    expect(off.code).toBe(0);
    expect(off.stdout).toContain(`ran: launchctl bootout gui/${UID}/dev.mcpshare.tray`);
    expect(off.stdout).toContain(`removed ${file}`);
    expect(fake.calls().filter((c) => c[0] !== 'print')).toEqual([
      ['bootstrap', `gui/${UID}`, file],
      ['bootout', `gui/${UID}/dev.mcpshare.tray`],
    ]);
  });

  test('usage errors exit 2', async () => {
    const env = envFor(newHome());
    expect((await mcpshare(['autostart', 'maybe'], env)).code).toBe(2);
    expect((await mcpshare(['autostart', 'off', '--no-start'], env)).code).toBe(2);
    const bad = await mcpshare(['autostart'], { ...env, MCPSHARE_AUTOSTART_PLATFORM: 'win32' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('MCPSHARE_AUTOSTART_PLATFORM');
    const help = await mcpshare(['help', 'autostart'], env);
    expect(help.stdout).toContain('Usage: mcpshare autostart [on|off|status]');
  });
});
