/**
 * The installers (installers/*.sh, *.command), run for real in temporary HOMEs (with a space in the
 * name) exactly as a user would: the Linux installer copies this checkout's build into
 * ~/.local/share/mcpshare/app, runs `npm ci --omit=dev` there (from the machine's warm npm cache),
 * links ~/.local/bin/mcpshare and turns autostart on; the INSTALLED CLI then registers and starts
 * server-everything under the built-in supervisor; a second run upgrades in place; the uninstaller
 * must leave no process of that HOME and no file the installer or mcpshare wrote.
 *
 * The macOS .command files run here too, with a fake `uname` that says Darwin and a fake
 * `launchctl` that records its argv (neither can run on Linux for real). Node itself still says
 * linux there, so `mcpshare autostart` is told to render the LaunchAgent with
 * MCPSHARE_AUTOSTART_PLATFORM=darwin, and the few files Linux node writes in Linux places are named.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { userPaths } from '../src/registry/paths.js';
import { sendControl } from '../src/units/supervisor-control.js';
import { NODE_MEMORY_FLAGS } from '../src/runtime.js';
import { ROOT } from './helpers/bridge.js';
import { run, type RunResult } from './helpers/systemd.js';
import { freePort } from './helpers/ports.js';
import { processesOf } from './helpers/procs.js';
import { sleep } from './helpers/wait.js';

const INSTALLERS = join(ROOT, 'installers');
const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const UID = process.getuid?.() ?? 501;
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
/** The npm cache of this machine (warm: the checkout was installed from it), outside the test HOMEs. */
let npmCache: string;

let tmp: string;
const homes: string[] = [];

/**
 * Set up on first use, not in beforeAll: the three install flows run as test.concurrent (each is
 * mostly waiting on npm and node startups), and jest starts concurrent tests before beforeAll hooks.
 */
function setup(): void {
  if (tmp) return;
  if (!existsSync(join(ROOT, 'dist', 'cli.js')) || !existsSync(join(ROOT, 'dist', 'cli', 'autostart.js'))) {
    throw new Error('dist/ is missing or stale: run "npm run build" (npm test does) before this test');
  }
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-installers-'));
  npmCache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8', env: cleanEnv() }).trim();
}
beforeAll(setup);

afterAll(async () => {
  for (const home of homes) {
    await sendControl(userPaths({ HOME: home }), { op: 'shutdown' }, 5000).catch(() => undefined);
    for (const pid of processesOf(home)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The environment of a user's terminal: none of jest's npm_* lifecycle variables, no XDG overrides, no desktop. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|XDG_|MCPSHARE_)/i.test(k) || ['DISPLAY', 'WAYLAND_DISPLAY', 'NODE_OPTIONS', 'INIT_CWD'].includes(k)) continue;
    env[k] = v;
  }
  return env;
}

function envFor(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...cleanEnv(), HOME: home, MCPSHARE_BACKEND: 'supervisor', npm_config_cache: npmCache, npm_config_update_notifier: 'false', ...extra };
}

/** A fresh HOME with a space in its path and a few files of the user's own that must survive. */
function newHome(): string {
  setup();
  const home = mkdtempSync(join(tmp, 'home with space-'));
  homes.push(home);
  mkdirSync(join(home, '.config', 'other'), { recursive: true });
  writeFileSync(join(home, '.config', 'other', 'keep.txt'), 'mine\n');
  mkdirSync(join(home, '.local', 'bin'), { recursive: true });
  writeFileSync(join(home, '.local', 'bin', 'other-tool'), '#!/bin/sh\n');
  writeFileSync(join(home, '.bashrc'), '# mine\n');
  return home;
}

/** Every path under root, with its kind (d/f/l/s), sorted; symlinks are not followed. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const kind = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : st.isSocket() ? 's' : 'f';
      out.push(`${kind} ${r}`);
      if (kind === 'd') walk(p, r);
    }
  };
  walk(root, '');
  return out.sort();
}

const runScript = (script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000) => run(script, args, env, timeoutMs, tmp);
const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

function manifestLines(file: string, kind: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${kind} `))
    .map((l) => l.slice(kind.length + 1));
}

async function waitNoProcesses(home: string, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesOf(home);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(200);
  }
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};

/** A directory of fake programs to put first on PATH. */
function fakeBin(files: Record<string, string>): string {
  setup();
  const dir = mkdtempSync(join(tmp, 'fakebin-'));
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

describe('the scripts', () => {
  test('bash -n accepts every script; the four entry points are executable; lib.sh is not', () => {
    for (const f of ['install-linux.sh', 'uninstall-linux.sh', 'install-macos.command', 'uninstall-macos.command', 'lib.sh']) {
      execFileSync('bash', ['-n', join(INSTALLERS, f)]);
      expect([f, statSync(join(INSTALLERS, f)).mode & 0o111 ? 'executable' : 'not executable']).toEqual([f, f === 'lib.sh' ? 'not executable' : 'executable']);
    }
  });

  test('the minimum Node.js the installer accepts is package.json\'s "engines"', () => {
    const lib = readFileSync(join(INSTALLERS, 'lib.sh'), 'utf8');
    const major = /^MCPSHARE_MIN_NODE_MAJOR=(\d+)$/m.exec(lib)?.[1];
    const minor = /^MCPSHARE_MIN_NODE_MINOR=(\d+)$/m.exec(lib)?.[1];
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe(`>=${major}.${minor}`);
    // And the flags the installer starts the tray with are the ones every mcpshare process runs with.
    expect(/^MCPSHARE_NODE_FLAGS=(.*)$/m.exec(lib)?.[1]).toBe(NODE_MEMORY_FLAGS.join(' '));
  });

  test('--help, and an unknown option is refused', async () => {
    const home = newHome();
    const help = await runScript(join(INSTALLERS, 'install-linux.sh'), ['--help'], envFor(home));
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--no-tray');
    expect(help.stdout).toContain(join(home, '.local', 'share', 'mcpshare', 'app'));
    const bad = await runScript(join(INSTALLERS, 'uninstall-linux.sh'), ['--frobnicate'], envFor(home));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown option "--frobnicate"');
    expect(bad.stderr).toContain('--keep-servers');
  });

  test('a .command run in a terminal (Finder opens one) waits for Return before its window closes; exit status kept', async () => {
    const bin = fakeBin({ uname: '#!/bin/sh\necho Darwin\n' });
    const env: NodeJS.ProcessEnv = { ...envFor(newHome()), PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
    delete env.CI;
    // script(1) gives the command a terminal, as Terminal.app does.
    const child = spawn('script', ['-qec', `'${join(INSTALLERS, 'install-macos.command')}' --bogus`, '/dev/null'], {
      env,
      cwd: tmp,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let answered = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!answered && out.includes('Press Return to close this window.')) {
        answered = true;
        child.stdin.write('\n');
      }
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(out).toContain('unknown option "--bogus"');
    expect(out).toContain('Press Return to close this window.');
    expect(code).toBe(1);
  });

  test('without Node.js >= 20.11 on PATH the installer stops with where to get it, and writes nothing', async () => {
    const home = newHome();
    const before = tree(home);
    const bin = fakeBin({ node: '#!/bin/sh\necho v18.19.0\n' });
    const r = await runScript(join(INSTALLERS, 'install-linux.sh'), ['--no-tray'], envFor(home, { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`mcpshare needs Node.js 20.11 or newer; ${join(bin, 'node')} is v18.19.0.`);
    expect(r.stderr).toContain('https://nodejs.org/');
    expect(tree(home)).toEqual(before);
  });
});

// The three flows run at once (test.concurrent runs together only within one describe block).
describe('install flows', () => {
  test.concurrent(
    "Linux: install, use, upgrade, uninstall leave nothing behind but the user's own files",
    async () => {
      const home = newHome();
      const before = tree(home);
      const env = envFor(home);
      const app = join(home, '.local', 'share', 'mcpshare', 'app');
      const link = join(home, '.local', 'bin', 'mcpshare');
      const manifest = join(home, '.local', 'share', 'mcpshare', 'install-manifest.txt');
      const entry = join(home, '.config', 'autostart', 'mcpshare-tray.desktop');

      let t = Date.now();
      const install = await runScript(join(INSTALLERS, 'install-linux.sh'), ['--no-tray'], env);
      const installMs = Date.now() - t;
      expect([install.code, show(install)]).toEqual([0, expect.anything()]);
      expect(install.stdout).toContain(`mcpshare ${VERSION} is installed`);
      expect(install.stdout).toContain(`${link} -> ${app}/dist/cli.js`);
      expect(install.stdout).toContain(`${join(home, '.local', 'bin')} is not on your PATH`);

      // The installed command.
      expect(readlinkSync(link)).toBe(join(app, 'dist', 'cli.js'));
      const version = await run(link, ['--version'], env);
      expect([version.code, version.stdout.trim()]).toEqual([0, VERSION]);
      for (const f of [
        'package.json',
        'package-lock.json',
        'README.md',
        'dist/cli.js',
        'assets/mcpshare.png',
        'installers/uninstall-linux.sh',
        'node_modules/@modelcontextprotocol/sdk/package.json',
      ]) {
        expect([f, existsSync(join(app, f))]).toEqual([f, true]);
      }
      // Production dependencies only.
      expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false);

      // The autostart entry runs the installed app (quoted: the HOME has a space).
      expect(statSync(entry).mode & 0o777).toBe(0o644);
      const status = await run(link, ['autostart', 'status', '--json'], env);
      expect(JSON.parse(status.stdout)).toMatchObject({
        enabled: true,
        upToDate: true,
        file: entry,
        command: [expect.any(String), ...NODE_MEMORY_FLAGS, join(app, 'dist', 'cli.js'), 'tray'],
      });
      expect(readFileSync(entry, 'utf8')).toContain(`"${join(app, 'dist', 'cli.js')}" tray`);

      // The manifest: what the installer made, and only the folders that did not exist before.
      expect(manifestLines(manifest, 'tree')).toEqual([app]);
      expect(manifestLines(manifest, 'link')).toEqual([link]);
      expect(manifestLines(manifest, 'file')).toEqual([entry, manifest]);
      const dirs = manifestLines(manifest, 'dir');
      expect(dirs).toEqual(
        expect.arrayContaining([
          join(home, '.local', 'share'),
          join(home, '.local', 'share', 'mcpshare'),
          join(home, '.config', 'autostart'),
          join(home, '.local', 'state'),
        ]),
      );
      expect(dirs).not.toContain(join(home, '.local'));
      expect(dirs).not.toContain(join(home, '.local', 'bin'));
      expect(dirs).not.toContain(join(home, '.config'));

      // A server registered, started and checked with the INSTALLED CLI.
      const port = await freePort();
      const add = await run(link, ['add', 'everything', '--port', String(port), '--', 'node', EVERYTHING, 'stdio'], env);
      expect([add.code, show(add)]).toEqual([0, expect.anything()]);
      const start = await run(link, ['start', 'everything'], env, 60_000);
      expect([start.code, show(start)]).toEqual([0, expect.anything()]);
      expect(start.stdout).toContain(`everything: up at http://localhost:${port}/mcp`);
      const check = await run(link, ['check', 'everything'], env, 60_000);
      expect([check.code, show(check)]).toEqual([0, expect.anything()]);
      const daemons = processesOf(home).map(cmdline);
      expect(daemons.some((c) => c.includes(`${app}/dist/cli.js bridge --name everything`))).toBe(true);

      // Again, with a (dead) display: an upgrade in place; the daemon keeps running; the tray is tried.
      t = Date.now();
      const upgrade = await runScript(join(INSTALLERS, 'install-linux.sh'), [], { ...env, DISPLAY: ':987' });
      const upgradeMs = Date.now() - t;
      expect([upgrade.code, show(upgrade)]).toEqual([0, expect.anything()]);
      expect(upgrade.stdout).toContain(`Upgrading mcpshare ${VERSION} to ${VERSION}`);
      expect(upgrade.stdout).toContain('dependencies unchanged');
      expect(upgrade.stdout).toMatch(/the tray (is running \(pid \d+\)|did not start \(exit \d+\)|exited at once)/);
      expect(manifestLines(manifest, 'dir')).toEqual(dirs);
      const afterUpgrade = await run(link, ['status', '--json'], env);
      expect((JSON.parse(afterUpgrade.stdout) as { servers: { state: string }[] }).servers.map((s) => s.state)).toEqual(['up']);

      // The uninstaller the installation carries (it deletes the folder it runs from).
      t = Date.now();
      const uninstall = await runScript(join(app, 'installers', 'uninstall-linux.sh'), [], env);
      const uninstallMs = Date.now() - t;
      expect([uninstall.code, show(uninstall)]).toEqual([0, expect.anything()]);
      expect(uninstall.stdout).toContain('removed "everything"');
      expect(uninstall.stdout).toContain(`autostart off: removed ${entry}`);
      expect(uninstall.stdout).toContain("Nothing of mcpshare's is left.");

      expect((await waitNoProcesses(home)).map((p) => `${p}: ${cmdline(p)}`)).toEqual([]);
      expect(tree(home)).toEqual(before);
      process.stdout.write(`installers.test timings: install ${installMs} ms, upgrade ${upgradeMs} ms, uninstall ${uninstallMs} ms\n`);
    },
    180_000,
  );

  test.concurrent(
    "Linux: uninstall --keep-servers stops every process, removes the app, and keeps exactly the servers' files, saying so",
    async () => {
      const home = newHome();
      const before = tree(home);
      const env = envFor(home);
      const link = join(home, '.local', 'bin', 'mcpshare');
      const install = await runScript(join(INSTALLERS, 'install-linux.sh'), ['--no-tray'], env);
      expect([install.code, show(install)]).toEqual([0, expect.anything()]);
      const port = await freePort();
      expect((await run(link, ['add', 'everything', '--port', String(port), '--env', 'TOKEN=s3cret', '--', 'node', EVERYTHING, 'stdio'], env)).code).toBe(0);
      const start = await run(link, ['start', 'everything'], env, 60_000);
      expect([start.code, show(start)]).toEqual([0, expect.anything()]);

      const uninstall = await runScript(join(INSTALLERS, 'uninstall-linux.sh'), ['--keep-servers'], env);
      expect([uninstall.code, show(uninstall)]).toEqual([0, expect.anything()]);
      expect(uninstall.stdout).toContain('Kept:');
      expect(uninstall.stdout).toContain('--keep-servers. Their units run');
      expect((await waitNoProcesses(home)).map(cmdline)).toEqual([]);
      const kept = tree(home).filter((p) => !before.includes(p));
      expect(kept).toEqual(
        [
          'd .config/mcp',
          'f .config/mcp/everything.env',
          'd .config/mcpshare',
          'f .config/mcpshare/config.json',
          'd .local/share',
          'd .local/share/mcpshare',
          'f .local/share/mcpshare/install-manifest.txt',
          'd .local/state',
          'd .local/state/mcpshare',
          'd .local/state/mcpshare/logs',
          'f .local/state/mcpshare/logs/everything.log',
          // The daemons' own state (session key, the server's discovery snapshot): a later install
          // resumes their sessions and starts them lazily.
          'd .local/state/mcpshare/bridge',
          'd .local/state/mcpshare/bridge/sessions',
          'd .local/state/mcpshare/bridge/snapshots',
          'f .local/state/mcpshare/bridge/session.key',
          'f .local/state/mcpshare/bridge/snapshots/everything.json',
          'f .local/state/mcpshare/logs/supervisor.log',
          'f .local/state/mcpshare/supervisor.json',
        ].sort(),
      );
      // The kept manifest names only folders, for the next install or uninstall.
      const manifest = readFileSync(join(home, '.local', 'share', 'mcpshare', 'install-manifest.txt'), 'utf8');
      expect(manifest.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('dir ') && !l.startsWith('platform '))).toEqual([]);
      expect(tree(home)).toEqual(expect.arrayContaining(before));
    },
    180_000,
  );

  // macOS .command files, run on Linux with a fake uname (Darwin) and a fake launchctl.
  test.concurrent(
    'macOS .command: install puts the app in ~/Library/Application Support, LaunchAgent bootstrapped; uninstall: bootout and everything gone',
    async () => {
      const home = newHome();
      const before = tree(home);
      const calls = join(home, '..', `launchctl-calls-${homes.length}.jsonl`);
      const bin = fakeBin({
        uname: '#!/bin/sh\necho Darwin\n',
        launchctl: `#!${process.execPath}\nconst fs = require('fs');\nconst a = process.argv.slice(2);\nfs.appendFileSync(${JSON.stringify(calls)}, JSON.stringify(a) + '\\n');\nconst st = ${JSON.stringify(calls)} + '.loaded';\nif (a[0] === 'print') process.exit(fs.existsSync(st) ? 0 : 113);\nif (a[0] === 'bootstrap') fs.writeFileSync(st, '');\nif (a[0] === 'bootout') fs.rmSync(st, { force: true });\n`,
      });
      const env = envFor(home, { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, MCPSHARE_AUTOSTART_PLATFORM: 'darwin' });
      const support = join(home, 'Library', 'Application Support', 'mcpshare');
      const app = join(support, 'app');
      const plist = join(home, 'Library', 'LaunchAgents', 'dev.mcpshare.tray.plist');
      const launchctlCalls = () =>
        readFileSync(calls, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as string[]);

      const install = await runScript(join(INSTALLERS, 'install-macos.command'), [], env);
      expect([install.code, show(install)]).toEqual([0, expect.anything()]);
      expect(install.stdout).toContain(`Installing mcpshare ${VERSION} into ${app}`);
      expect(install.stdout).toContain('the tray did not start within 15 s'); // nothing runs a fake launchctl's jobs
      expect(install.stdout).not.toContain('Press Return'); // not a terminal
      expect(existsSync(join(app, 'dist', 'cli.js'))).toBe(true);
      expect(existsSync(join(support, 'install-manifest.txt'))).toBe(true);
      expect(readlinkSync(join(home, '.local', 'bin', 'mcpshare'))).toBe(join(app, 'dist', 'cli.js'));
      const parsed = JSON.parse(
        execFileSync(PYTHON, ['-c', 'import plistlib, json, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', plist], { encoding: 'utf8' }),
      ) as Record<string, unknown>;
      expect(parsed).toMatchObject({
        Label: 'dev.mcpshare.tray',
        ProgramArguments: [expect.any(String), ...NODE_MEMORY_FLAGS, join(app, 'dist', 'cli.js'), 'tray'],
        RunAtLoad: true,
        KeepAlive: { SuccessfulExit: false },
        StandardOutPath: join(home, 'Library', 'Logs', 'mcpshare', 'tray.log'),
      });
      expect(launchctlCalls()).toContainEqual(['bootstrap', `gui/${UID}`, plist]);

      const uninstall = await runScript(join(INSTALLERS, 'uninstall-macos.command'), [], env);
      expect([uninstall.code, show(uninstall)]).toEqual([0, expect.anything()]);
      expect(launchctlCalls()).toContainEqual(['bootout', `gui/${UID}/dev.mcpshare.tray`]);
      expect(existsSync(plist)).toBe(false);
      expect(existsSync(join(home, 'Library'))).toBe(false); // it did not exist before the install
      expect((await waitNoProcesses(home)).map(cmdline)).toEqual([]);
      // Node here is Linux node: the CLI calls of the uninstaller opened the registry in Linux's place
      // (~/.config/mcpshare), which on a Mac is ~/Library/Preferences/mcpshare-nodejs (removed above).
      const after = tree(home).filter((p) => !/^[dfls] \.config\/mcpshare(\/|$)/.test(p));
      expect(after).toEqual(before);
    },
    180_000,
  );
});
