/**
 * macOS LaunchAgents, tested off macOS: the generated plist is parsed by an independent plist
 * parser (python3's plistlib) and every key is checked; the env-file shim in ProgramArguments is
 * really run with /bin/sh; and LaunchdBackend / ServerManager are driven with an injected
 * CommandRunner that plays launchctl, so the exact launchctl command lines are asserted.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { DEFAULT_RESTART_POLICY, type ServerEntry } from '../src/registry/registry.js';
import { writeEnvFile } from '../src/registry/secrets.js';
import { NODE_MEMORY_FLAGS } from '../src/runtime.js';
import { CLI_PATH, daemonSpec, type DaemonSpec } from '../src/units/daemon.js';
import { LaunchdBackend, parsePrint, renderPlist } from '../src/units/launchd.js';
import { Daemons } from '../src/health/daemons.js';
import { ServerManager } from '../src/units/manager.js';
import { envFilePath, logFilePath, userPaths, type UserPaths } from '../src/registry/paths.js';
import type { CommandRunner, RunResult } from '../src/units/runner.js';
import { EVERYTHING } from './helpers/bridge.js';
import { freePort } from './helpers/ports.js';

const SHIM = 'set -a; . "$0" || exit 78; set +a; exec "$@"';
/** PATH the entries were "registered" with: node's own directory first, so `node` resolves there. */
const NODE_DIR = dirname(process.execPath);
const PATH_ENV = [NODE_DIR, '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);
const NODE = join(NODE_DIR, 'node');

/** Secrets that are hard to carry through a shell: spaces, both quotes, $, `, backslashes, #, =. */
const SECRETS: Record<string, string> = {
  MDB_URI: 'mongodb://user:p a$$w0rd@db.example:27017/?tls=true&x=<y>',
  API_KEY: `sk-"dq" 'sq' $HOME \`id\` $(id) \\back\\slash\\`,
  TRAILING_BACKSLASH: 'tb-secret\\',
  HASH_AND_EQ: '#not-a-comment=still-secret',
  SPACES: '  lead and trail  ',
  UNICODE: 'pässwörd-€-秘密',
  EMPTY: '',
};
/** Every non-trivial secret value (EMPTY cannot "appear"). */
const SECRET_VALUES = Object.values(SECRETS).filter((v) => v.length > 0);

const xmlEscaped = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface ParsedPlist {
  plist: Record<string, unknown>;
  /** Python type name of each top-level value (int vs float vs bool matter for launchd). */
  types: Record<string, string>;
}

const PY = [
  'import plistlib, json, sys',
  'd = plistlib.load(open(sys.argv[1], "rb"))',
  'print(json.dumps({"plist": d, "types": {k: type(v).__name__ for k, v in d.items()}}))',
].join('\n');

/** The system's python3 when there is one (a pyenv shim on PATH costs seconds per call). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Parses a plist file with python3's plistlib: an independent, strict parser. */
function parsePlistFile(file: string): ParsedPlist {
  try {
    return JSON.parse(execFileSync(PYTHON, ['-c', PY, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as ParsedPlist;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('python3 is needed to parse plists in this test: apt-get install -y python3', { cause: err });
    throw new Error(`plistlib rejected ${file}: ${e.stderr ?? e.message}\n---\n${readFileSync(file, 'utf8')}`, { cause: err });
  }
}

function runProgram(argv: string[], opts: { cwd?: string; env: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

let tmp: string;
let paths: UserPaths;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-launchd-'));
  paths = userPaths({ HOME: tmp });
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function entry(over: Partial<ServerEntry> & Pick<ServerEntry, 'name'>): ServerEntry {
  return {
    kind: 'bridged',
    transport: 'http',
    path: '/mcp',
    command: 'node',
    args: [],
    port: 8042,
    pathEnv: PATH_ENV,
    restart: { ...DEFAULT_RESTART_POLICY },
    backend: 'launchd',
    addedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

function writePlist(spec: DaemonSpec, file: string): string {
  const text = renderPlist(spec);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return text;
}

describe('the generated plist, read by plistlib', () => {
  test('a bridged entry: every key, exactly', () => {
    const spec = daemonSpec(entry({ name: 'memo', args: [EVERYTHING, 'stdio'], restart: { restartSec: 3, burst: 4, intervalSec: 90 } }), paths);
    const file = join(tmp, 'plists', 'memo.plist');
    writePlist(spec, file);
    const { plist, types } = parsePlistFile(file);
    const log = join(tmp, '.local', 'state', 'mcpshare', 'logs', 'memo.log');
    expect(logFilePath(paths, 'memo')).toBe(log); // the log path lives in the temporary HOME
    expect(CLI_PATH).toMatch(/\/cli\.js$/);
    expect(plist).toEqual({
      Label: 'dev.mcpshare.memo',
      ProgramArguments: [
        process.execPath,
        ...NODE_MEMORY_FLAGS,
        CLI_PATH,
        'bridge',
        '--name',
        'memo',
        '--port',
        '8042',
        '--fail-fast',
        '--restart-limit',
        '4',
        '--restart-window',
        '90',
        '--lazy',
        '--idle-stop',
        '600',
        '--',
        NODE,
        EVERYTHING,
        'stdio',
      ],
      EnvironmentVariables: { PATH: PATH_ENV },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 3,
      StandardOutPath: log,
      StandardErrorPath: log,
      ProcessType: 'Background',
    });
    expect(types).toEqual({
      Label: 'str',
      ProgramArguments: 'list',
      EnvironmentVariables: 'dict',
      RunAtLoad: 'bool',
      KeepAlive: 'dict',
      ThrottleInterval: 'int',
      StandardOutPath: 'str',
      StandardErrorPath: 'str',
      ProcessType: 'str',
    });
    expect(plist).not.toHaveProperty('WorkingDirectory');
  });

  test('ThrottleInterval is a whole number of seconds, at least 1', () => {
    const at = (restartSec: number) => {
      const file = join(tmp, 'plists', `throttle-${restartSec}.plist`);
      writePlist(daemonSpec(entry({ name: 'thr', restart: { ...DEFAULT_RESTART_POLICY, restartSec } }), paths), file);
      const { plist, types } = parsePlistFile(file);
      expect(types.ThrottleInterval).toBe('int');
      return plist.ThrottleInterval;
    };
    expect(at(2.6)).toBe(3);
    expect(at(0.2)).toBe(1);
    expect(at(10)).toBe(10);
  });

  describe('a native entry with an env file, a cwd and arguments full of XML metacharacters', () => {
    const odd = ['a&b', '<tag>', '"quoted"', "it's", 'x > y && z < w', ']]>', '&amp;'];
    let cwd: string;
    let envFile: string;
    let file: string;
    let text: string;
    let parsed: ParsedPlist;
    /** Prints the environment the server got, its argv and its cwd, as JSON. */
    const script = `process.stdout.write(JSON.stringify({ env: Object.fromEntries(${JSON.stringify(Object.keys(SECRETS))}.map((k) => [k, process.env[k] ?? null])), argv: process.argv.slice(1), cwd: process.cwd() }))`;

    beforeAll(() => {
      cwd = join(tmp, 'work dir & <odd> "name"');
      mkdirSync(cwd, { recursive: true });
      envFile = envFilePath(paths, 'mongo');
      writeEnvFile(envFile, SECRETS);
      const spec = daemonSpec(entry({ name: 'mongo', kind: 'native', port: 8043, args: ['-e', script, ...odd], cwd, envFile }), paths);
      file = join(tmp, 'plists', 'mongo.plist');
      text = writePlist(spec, file);
      parsed = parsePlistFile(file);
    });

    test('every key, exactly; ProgramArguments is the sh shim naming the env file, then the command', () => {
      const log = logFilePath(paths, 'mongo');
      expect(parsed.plist).toEqual({
        Label: 'dev.mcpshare.mongo',
        ProgramArguments: ['/bin/sh', '-c', SHIM, envFile, NODE, '-e', script, ...odd],
        WorkingDirectory: cwd,
        EnvironmentVariables: { PATH: PATH_ENV },
        RunAtLoad: true,
        KeepAlive: { SuccessfulExit: false },
        ThrottleInterval: 2,
        StandardOutPath: log,
        StandardErrorPath: log,
        ProcessType: 'Background',
      });
      expect(parsed.types.WorkingDirectory).toBe('str');
      expect(parsed.types.ThrottleInterval).toBe('int');
    });

    test('XML metacharacters are escaped in the text (and plistlib read them back unchanged above)', () => {
      expect(text).toContain('<string>a&amp;b</string>');
      expect(text).toContain('<string>&lt;tag&gt;</string>');
      expect(text).toContain('<string>&quot;quoted&quot;</string>');
      expect(text).toContain('<string>]]&gt;</string>');
      expect(text).toContain('<string>&amp;amp;</string>');
      expect(text).not.toContain('<tag>');
      expect(text).not.toMatch(/&(?!amp;|lt;|gt;|quot;)/);
    });

    test('no secret value (raw or XML-escaped) appears in the plist', () => {
      for (const v of SECRET_VALUES) {
        expect(text).not.toContain(v);
        expect(text).not.toContain(xmlEscaped(v));
      }
      expect(Object.keys(parsed.plist.EnvironmentVariables as object)).toEqual(['PATH']);
    });

    test('running ProgramArguments with /bin/sh, as launchd would, gives the server every secret unchanged, its argv and its cwd', async () => {
      const plist = parsed.plist as { ProgramArguments: string[]; EnvironmentVariables: Record<string, string>; WorkingDirectory: string };
      const r = await runProgram(plist.ProgramArguments, { cwd: plist.WorkingDirectory, env: plist.EnvironmentVariables });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { env: Record<string, string | null>; argv: string[]; cwd: string };
      expect(out.env).toEqual(SECRETS);
      expect(out.argv).toEqual(odd);
      expect(out.cwd).toBe(cwd);
    });

    test('the shim does not run the server when the env file is missing (and exits non-zero, so KeepAlive retries)', async () => {
      const plist = parsed.plist as { ProgramArguments: string[]; EnvironmentVariables: Record<string, string> };
      const argv = [...plist.ProgramArguments];
      argv[3] = join(tmp, 'no-such-dir', 'gone.env');
      const r = await runProgram(argv, { cwd: tmp, env: plist.EnvironmentVariables });
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stdout).toBe('');
    });
  });
});

/** launchctl's real words for a job it does not know (exit status 113). */
const NOT_FOUND = (label: string, uid: number) => `Could not find service "${label}" in domain for user gui: ${uid}\n`;

/** `launchctl print gui/UID/LABEL` of a healthy job (macOS 14 layout, trimmed). */
function printRunning(label: string, uid: number, pid = 4321): string {
  return `gui/${uid}/${label} = {
	active count = 1
	path = /Users/alice/Library/LaunchAgents/${label}.plist
	type = LaunchAgent
	state = running

	program = /bin/sh
	arguments = {
		/bin/sh
		-c
		set -a; . "$0" || exit 78; set +a; exec "$@"
		/Users/alice/.config/mcp/x.env
		/opt/homebrew/bin/node
	}

	working directory = /Users/alice
	stdout path = /Users/alice/Library/Logs/mcpshare/x.log
	stderr path = /Users/alice/Library/Logs/mcpshare/x.log
	inherited environment = {
		SSH_AUTH_SOCK => /private/tmp/com.apple.launchd.abc/Listeners
	}

	default environment = {
		PATH => /usr/bin:/bin:/usr/sbin:/sbin
	}

	environment = {
		PATH => /opt/homebrew/bin:/usr/bin:/bin
		XPC_SERVICE_NAME => ${label}
	}

	domain = gui/${uid} [100005]
	asid = 100005
	minimum runtime = 10
	exit timeout = 5
	runs = 1
	pid = ${pid}
	immediate reason = speculative
	forks = 0
	execs = 1
	initialized = 1
	trampolined = 1
	started suspended = 0
	proxy started suspended = 0
	last exit code = (never exited)

	spawn type = daemon (3)
	jetsam priority = 40
	jetsam memory limit (active) = (unlimited)
	jetsam memory limit (inactive) = (unlimited)
	jetsamproperties = {
	}

	resource coalition = {
		ID = 2345
		type = resource
		state = active
		active count = 1
		name = ${label}
	}

	properties = keepalive | runatload | inferred program
}
`;
}

/** A job that keeps failing: launchd respawns it every ThrottleInterval (it never gives up). */
function printFailing(label: string, uid: number, runs: number, lastExit: number, state = 'not running'): string {
  return `gui/${uid}/${label} = {
	active count = 0
	path = /Users/alice/Library/LaunchAgents/${label}.plist
	type = LaunchAgent
	state = ${state}

	program = /bin/sh
	arguments = {
		/bin/sh
	}

	domain = gui/${uid} [100005]
	asid = 100005
	minimum runtime = 10
	exit timeout = 5
	runs = ${runs}
	last exit code = ${lastExit}

	spawn type = daemon (3)
	jetsam priority = 40

	resource coalition = {
		ID = 2345
		type = resource
		state = active
		active count = 0
		name = ${label}
	}

	properties = keepalive | runatload | inferred program
}
`;
}

/**
 * Plays launchctl: records every command line and keeps the set of loaded jobs, answering like the
 * real tool (print → 113 when not loaded; bootstrap of a loaded job → 5; bootout of an unknown one → 113).
 */
class FakeLaunchctl {
  calls: string[] = [];
  /** target (gui/UID/LABEL) → `launchctl print` text. */
  loaded = new Map<string, string>();
  /** What `print` answers for a job once bootstrapped or kickstarted. */
  onLoad: (label: string, uid: number) => string = (label, uid) => printRunning(label, uid);
  /** Plists read at bootstrap, by label. */
  bootstrapped: string[] = [];

  run: CommandRunner = async (command, args): Promise<RunResult> => {
    this.calls.push([command, ...args].join(' '));
    if (command !== 'launchctl') return { exitCode: 127, stdout: '', stderr: `${command}: not found` };
    const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
    const [verb, ...rest] = args;
    const parseTarget = (t: string) => {
      const m = /^gui\/(\d+)\/(.+)$/.exec(t);
      if (!m) throw new Error(`bad service target ${t}`);
      return { uid: Number(m[1]), label: m[2] };
    };
    switch (verb) {
      case 'print': {
        const t = parseTarget(rest[0]);
        const text = this.loaded.get(rest[0]);
        return text === undefined ? { exitCode: 113, stdout: '', stderr: NOT_FOUND(t.label, t.uid) } : ok(text);
      }
      case 'bootstrap': {
        const [domain, plistPath] = rest;
        const uid = Number(/^gui\/(\d+)$/.exec(domain)?.[1]);
        if (!existsSync(plistPath)) return { exitCode: 5, stdout: '', stderr: 'Bootstrap failed: 5: Input/output error\n' };
        const label = /<key>Label<\/key><string>([^<]+)<\/string>/.exec(readFileSync(plistPath, 'utf8'))?.[1] ?? '?';
        const target = `${domain}/${label}`;
        if (this.loaded.has(target)) return { exitCode: 5, stdout: '', stderr: 'Bootstrap failed: 5: Input/output error\n' };
        this.bootstrapped.push(label);
        this.loaded.set(target, this.onLoad(label, uid));
        return ok();
      }
      case 'bootout': {
        const target = rest[0];
        if (!this.loaded.delete(target)) return { exitCode: 113, stdout: '', stderr: `Boot-out failed: 113: Could not find specified service\n` };
        return ok();
      }
      case 'kickstart': {
        const target = rest[rest.length - 1];
        if (!this.loaded.has(target)) return { exitCode: 113, stdout: '', stderr: `Could not find service "${target}"\n` };
        const t = parseTarget(target);
        this.loaded.set(target, this.onLoad(t.label, t.uid));
        return ok();
      }
      default:
        return { exitCode: 64, stdout: '', stderr: `Unrecognized subcommand: ${verb}\n` };
    }
  };

  take(): string[] {
    const c = this.calls;
    this.calls = [];
    return c;
  }
}

describe('LaunchdBackend: the exact launchctl command lines', () => {
  const UID = 501;
  const LABEL = 'dev.mcpshare.lc';
  const TARGET = `gui/${UID}/${LABEL}`;
  let fake: FakeLaunchctl;
  let backend: LaunchdBackend;
  let plist: string;
  let spec: DaemonSpec;
  let home: string;
  let p: UserPaths;

  beforeAll(() => {
    home = join(tmp, 'lc-home');
    p = userPaths({ HOME: home });
    fake = new FakeLaunchctl();
    backend = new LaunchdBackend(p, UID, fake.run);
    plist = join(home, 'Library', 'LaunchAgents', `${LABEL}.plist`);
    spec = daemonSpec(entry({ name: 'lc', args: [EVERYTHING, 'stdio'] }), p);
  });

  test('definitionPath is ~/Library/LaunchAgents/<label>.plist', () => {
    expect(backend.definitionPath('lc')).toBe(plist);
  });

  test('start before install refuses with the missing path and runs no launchctl', async () => {
    await expect(backend.start('lc')).rejects.toThrow(plist);
    expect(fake.take()).toEqual([]);
  });

  test('install when not loaded: print only; writes the plist 0644 and creates the log dir', async () => {
    await backend.install(spec);
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`]);
    expect(readFileSync(plist, 'utf8')).toBe(renderPlist(spec));
    expect(statSync(plist).mode & 0o777).toBe(0o644);
    expect(statSync(p.logDir).isDirectory()).toBe(true);
  });

  test('start when not loaded: print, then bootstrap gui/UID PLIST', async () => {
    await backend.start('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`, `launchctl bootstrap gui/${UID} ${plist}`]);
    expect(fake.bootstrapped).toEqual([LABEL]);
  });

  test('start when loaded and running: print only (a second bootstrap would fail with 5)', async () => {
    await backend.start('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`]);
  });

  test("start of a loaded job in a crash loop: print, bootout, bootstrap (only a reload resets launchd's run counter)", async () => {
    fake.loaded.set(TARGET, printFailing(LABEL, UID, 7, 1));
    await backend.start('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`, `launchctl bootout ${TARGET}`, `launchctl bootstrap gui/${UID} ${plist}`]);
    expect(fake.loaded.has(TARGET)).toBe(true);
    const s = await backend.inspect('lc', DEFAULT_RESTART_POLICY);
    fake.take();
    expect(s.crashLoop).toBe(false);
  });

  test('inspect of a running job: running, its pid, no restarts, installed', async () => {
    const s = await backend.inspect('lc', DEFAULT_RESTART_POLICY);
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`]);
    expect(s).toMatchObject({ installed: true, active: 'running', crashLoop: false, restarts: 0, pid: 4321 });
    expect(s.lastExitCode).toBeUndefined(); // "(never exited)"
  });

  test('restart when loaded: print, then kickstart -k gui/UID/LABEL', async () => {
    await backend.restart('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`, `launchctl kickstart -k ${TARGET}`]);
  });

  test('install while loaded (edit): print, then bootout gui/UID/LABEL so the next bootstrap reads the new plist', async () => {
    const changed = daemonSpec(entry({ name: 'lc', port: 8050, args: [EVERYTHING, 'stdio'] }), p);
    await backend.install(changed);
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`, `launchctl bootout ${TARGET}`]);
    expect(parsePlistFile(plist).plist.ProgramArguments).toContain('8050');
    expect(fake.loaded.has(TARGET)).toBe(false);
  });

  test('restart when not loaded falls back to start: print, print, bootstrap', async () => {
    await backend.restart('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`, `launchctl print ${TARGET}`, `launchctl bootstrap gui/${UID} ${plist}`]);
  });

  test('stop when loaded: print, then bootout gui/UID/LABEL (a killed KeepAlive job would come back)', async () => {
    await backend.stop('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`, `launchctl bootout ${TARGET}`]);
    expect(fake.loaded.has(TARGET)).toBe(false);
  });

  test('stop when not loaded: print only', async () => {
    await backend.stop('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`]);
  });

  test('inspect of an unloaded job: stopped, "not loaded", installed because the plist exists', async () => {
    const s = await backend.inspect('lc', DEFAULT_RESTART_POLICY);
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`]);
    expect(s).toEqual({ installed: true, active: 'stopped', crashLoop: false, restarts: 0, detail: 'not loaded' });
  });

  test('inspect of a crash-looping job: crash-loop with its restart count', async () => {
    fake.loaded.set(TARGET, printFailing(LABEL, UID, 7, 1));
    const s = await backend.inspect('lc', { restartSec: 2, burst: 5, intervalSec: 120 });
    expect(s).toMatchObject({ installed: true, active: 'failed', crashLoop: true, restarts: 6, lastExitCode: 1 });
    expect(s.pid).toBeUndefined();
    fake.take();
  });

  test('a failing launchctl becomes an error with the command line and its stderr', async () => {
    const failing: CommandRunner = async (command, args) =>
      args[0] === 'print'
        ? { exitCode: 0, stdout: printRunning(LABEL, UID), stderr: '' }
        : { exitCode: 1, stdout: '', stderr: 'Boot-out failed: 1: Operation not permitted' };
    const b = new LaunchdBackend(p, UID, failing);
    await expect(b.stop('lc')).rejects.toThrow(`launchctl bootout ${TARGET} failed (exit 1): Boot-out failed: 1: Operation not permitted`);
  });

  test('uninstall when loaded: print, bootout gui/UID/LABEL; the plist is gone', async () => {
    expect(fake.loaded.has(TARGET)).toBe(true);
    await backend.uninstall('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`, `launchctl bootout ${TARGET}`]);
    expect(existsSync(plist)).toBe(false);
    expect(fake.loaded.size).toBe(0);
  });

  test('uninstall when not loaded: print only; nothing left', async () => {
    await backend.uninstall('lc');
    expect(fake.take()).toEqual([`launchctl print ${TARGET}`]);
    expect(existsSync(plist)).toBe(false);
  });
});

describe('parsePrint: launchctl print → state', () => {
  const L = 'dev.mcpshare.p';
  test('running: pid and runs-1 restarts, even with an earlier failed exit', () => {
    expect(parsePrint(printRunning(L, 501, 777), 5)).toMatchObject({ installed: true, active: 'running', crashLoop: false, restarts: 0, pid: 777 });
    const again = printRunning(L, 501, 778).replace('runs = 1', 'runs = 3').replace('last exit code = (never exited)', 'last exit code = 1');
    expect(parsePrint(again, 5)).toMatchObject({ active: 'running', crashLoop: false, restarts: 2, pid: 778, lastExitCode: 1 });
  });

  test('crash loop: not running, runs > burst, last exit non-zero', () => {
    const s = parsePrint(printFailing(L, 501, 7, 1), 5);
    expect(s).toEqual({
      installed: true,
      active: 'failed',
      crashLoop: true,
      restarts: 6,
      pid: undefined,
      lastExitCode: 1,
      detail: 'state=not running runs=7 last exit code=1',
    });
    // "waiting"/"spawn scheduled" (inside ThrottleInterval) is the same crash loop
    expect(parsePrint(printFailing(L, 501, 7, 1, 'waiting'), 5)).toMatchObject({ crashLoop: true, active: 'failed', restarts: 6 });
    expect(parsePrint(printFailing(L, 501, 6, 78, 'spawn scheduled'), 5)).toMatchObject({ crashLoop: true, lastExitCode: 78 });
  });

  test('failing but still within the burst: starting (being restarted), not a crash loop', () => {
    expect(parsePrint(printFailing(L, 501, 5, 1, 'spawn scheduled'), 5)).toMatchObject({ active: 'starting', crashLoop: false, restarts: 4, lastExitCode: 1 });
    expect(parsePrint(printFailing(L, 501, 2, 1), 5)).toMatchObject({ active: 'starting', crashLoop: false, restarts: 1 });
  });

  test('stopped: loaded but exited cleanly (KeepAlive SuccessfulExit=false leaves it down), however many runs', () => {
    expect(parsePrint(printFailing(L, 501, 1, 0), 5)).toMatchObject({ active: 'stopped', crashLoop: false, restarts: 0, lastExitCode: 0, pid: undefined });
    expect(parsePrint(printFailing(L, 501, 9, 0), 5)).toMatchObject({ active: 'stopped', crashLoop: false });
  });

  test('the burst comes from the entry: the same output is a crash loop with burst 3, not with burst 10', () => {
    const text = printFailing(L, 501, 4, 2);
    expect(parsePrint(text, 3).crashLoop).toBe(true);
    expect(parsePrint(text, 10).crashLoop).toBe(false);
  });

  test('a nested "state = active" (coalition) does not count as the job state', () => {
    const text = printFailing(L, 501, 1, 0); // top-level "not running", coalition "active"
    expect(parsePrint(text, 5).active).toBe('stopped');
  });
});

describe('ServerManager with MCPSHARE_BACKEND=launchd and an injected launchctl', () => {
  const UID = process.getuid?.() ?? 501;
  const SECRET = `mdb-pa$$ "w0rd" \\ 'x'`;
  let home: string;
  let p: UserPaths;
  let fake: FakeLaunchctl;
  let manager: ServerManager;
  let registryDir: string;
  const label = 'dev.mcpshare.mem';
  const target = `gui/${UID}/${label}`;
  let plist: string;

  beforeAll(() => {
    home = join(tmp, 'mgr-home');
    mkdirSync(home, { recursive: true });
    p = userPaths({ HOME: home });
    registryDir = join(home, '.config', 'mcpshare');
    fake = new FakeLaunchctl();
    // Once loaded, the job fails over and over: launchd keeps respawning it (runs = 7, exit 1).
    fake.onLoad = (l, uid) => printFailing(l, uid, 7, 1, 'spawn scheduled');
    manager = new ServerManager({ env: { HOME: home, PATH: PATH_ENV, MCPSHARE_BACKEND: 'launchd' }, runner: fake.run, registryDir, paths: p });
    plist = join(home, 'Library', 'LaunchAgents', `${label}.plist`);
  });

  test('add writes the plist in HOME/Library/LaunchAgents (shim, no secret) and the env file, and only asks launchctl print', async () => {
    const port = await freePort();
    const { entry: e, warnings } = await manager.add({ name: 'mem', command: 'node', args: [EVERYTHING, 'stdio'], port, env: { MDB_PASSWORD: SECRET } });
    expect(warnings).toEqual([]);
    expect(e).toMatchObject({ backend: 'launchd', kind: 'bridged', envFile: join(home, '.config', 'mcp', 'mem.env') });
    expect(fake.take()).toEqual([`launchctl print ${target}`]);
    const { plist: d } = parsePlistFile(plist);
    expect(d.Label).toBe(label);
    expect((d.ProgramArguments as string[]).slice(0, 4)).toEqual(['/bin/sh', '-c', SHIM, e.envFile]);
    expect(d.EnvironmentVariables).toEqual({ PATH: PATH_ENV });
    const text = readFileSync(plist, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(xmlEscaped(SECRET));
    expect(text).not.toContain('w0rd');
    expect(readFileSync(join(registryDir, 'config.json'), 'utf8')).not.toContain('w0rd');
    expect(statSync(e.envFile!).mode & 0o777).toBe(0o600);
    expect(existsSync(p.logDir)).toBe(true);
  });

  test('start: print, bootstrap gui/UID PLIST; status reads launchctl print: crash-loop with 6 restarts', async () => {
    const s = await new Daemons(manager).start('mem', { waitMs: 5000 });
    const calls = fake.take();
    expect(calls.slice(0, 3)).toEqual([`launchctl print ${target}`, `launchctl print ${target}`, `launchctl bootstrap gui/${UID} ${plist}`]);
    expect(calls.slice(3)).toEqual([`launchctl print ${target}`]); // one status read, settled at once
    expect(s).toMatchObject({ name: 'mem', backend: 'launchd', state: 'crash-loop', restarts: 6, pid: null, unitFile: plist });
  });

  test('stop: print, bootout gui/UID/LABEL; then status says stopped', async () => {
    const s = await new Daemons(manager).stop('mem');
    expect(fake.take()).toEqual([`launchctl print ${target}`, `launchctl bootout ${target}`, `launchctl print ${target}`]);
    expect(s).toMatchObject({ state: 'stopped', restarts: 0, detail: 'not loaded' });
  });

  test('remove while loaded: print, bootout; plist, env file and registry entry are gone', async () => {
    await new Daemons(manager).start('mem', { waitMs: 0 });
    expect(fake.loaded.has(target)).toBe(true);
    fake.take();
    const envFile = manager.registry.get('mem')!.envFile!;
    const removed = await manager.remove('mem');
    expect(fake.take()).toEqual([`launchctl print ${target}`, `launchctl bootout ${target}`]);
    expect(removed).toEqual([plist, envFile]);
    expect(existsSync(plist)).toBe(false);
    expect(existsSync(envFile)).toBe(false);
    expect(manager.list()).toEqual([]);
    expect(fake.loaded.size).toBe(0);
  });
});
