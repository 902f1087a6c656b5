/**
 * Test helpers: a REAL, private systemd user manager (TESTING.md, "A real systemd user manager
 * without booting systemd") in a temporary HOME and XDG_RUNTIME_DIR, and a way to run the real
 * `mcpshare` CLI against it as a user would.
 *
 * Suites declare the need with `describeWith(SYSTEMD, …)` (helpers/requirements.ts): on a machine
 * without systemd (a Mac, a container without it) they are skipped with one line saying what to
 * install; under MCPSHARE_REQUIRE_ALL=1 (CI, which installs systemd in .ci/run) that is a failure.
 */
import { execFile, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { CLI } from './bridge.js';
import { NODE_MEMORY_FLAGS } from '../../src/runtime.js';
import { userPaths } from '../../src/registry/paths.js';
import { sendControl } from '../../src/units/supervisor-control.js';
import { alive, processesOf } from './procs.js';
import { onPath, type Requirement } from './requirements.js';
import { sleep, within } from './wait.js';

export const SYSTEMD_BINARY = '/lib/systemd/systemd';
/** Reads XDG autostart entries the way GNOME and KDE sessions on systemd do (autostart.test.ts). */
export const XDG_AUTOSTART_GENERATOR = [
  '/usr/lib/systemd/user-generators/systemd-xdg-autostart-generator',
  '/lib/systemd/user-generators/systemd-xdg-autostart-generator',
].find((p) => existsSync(p));
const SYSTEMD_INSTALL = 'apt-get install -y --no-install-recommends systemd';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A place where /run/systemd/system exists or may be created: a user manager runs only then (TESTING.md). */
function systemLooksBooted(): boolean {
  if (existsSync('/run/systemd/system')) return true;
  try {
    accessSync('/run', constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** What the suites that drive a real systemd user manager need. */
export const SYSTEMD: Requirement = {
  what: 'a systemd user manager',
  check: () => {
    const missing = [
      ...(executable(SYSTEMD_BINARY) ? [] : [SYSTEMD_BINARY]),
      ...(['systemctl', 'systemd-analyze'] as const).filter((c) => !onPath(c, `${process.env.PATH ?? ''}:/usr/bin:/bin:/usr/sbin:/sbin`)),
      ...(systemLooksBooted() ? [] : ['/run/systemd/system (not creatable: run as root)']),
    ];
    return { missing, install: `${SYSTEMD_INSTALL} (as root; .ci/run does this)` };
  },
};

/** What the XDG autostart checks need: systemd's generator, which reads the entry like a desktop session. */
export const XDG_AUTOSTART: Requirement = {
  what: "systemd's XDG autostart generator",
  check: () => ({ missing: XDG_AUTOSTART_GENERATOR ? [] : ['systemd-xdg-autostart-generator'], install: `${SYSTEMD_INSTALL} (as root; .ci/run does this)` }),
};

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface UserManager {
  /** The manager's pid (it runs in its own session, like `setsid`). */
  pid: number;
  home: string;
  runtimeDir: string;
  /** Environment for anything that talks to this manager (systemctl, the CLI): HOME, XDG_RUNTIME_DIR set. */
  env: NodeJS.ProcessEnv;
  /** The manager's own stdout/stderr. */
  log(): string;
  /** `systemctl --user ARGS` against this manager. */
  systemctl(...args: string[]): Promise<RunResult>;
  /** Kills the manager by pid, then every leftover process of the test HOME, and deletes the temp dirs. */
  stop(): Promise<void>;
}

/** Variables that would point the CLI or the manager somewhere outside the temporary HOME. */
const SCRUBBED = ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'DBUS_SESSION_BUS_ADDRESS', 'MCPSHARE_BACKEND', 'NODE_OPTIONS'];

function scrubbedEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of SCRUBBED) delete env[k];
  return { ...env, ...extra };
}

/** Runs a program to completion (never through a shell) and collects its output. */
export function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000, cwd?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
      if (e && typeof e.code === 'string') {
        // The program could not even be started (ENOENT): report it like a shell would.
        resolve({ code: 127, signal: null, stdout: String(stdout ?? ''), stderr: `${file}: ${e.message}` });
        return;
      }
      resolve({ code: e ? ((e.code as number | undefined) ?? null) : 0, signal: e?.signal ?? null, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs `node dist/cli.js ARGS` to completion with the given environment (HOME etc.), in `cwd` when given. */
export function mcpshare(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000, cwd?: string): Promise<RunResult> {
  return run(process.execPath, [...NODE_MEMORY_FLAGS, CLI, ...args], env, timeoutMs, cwd);
}

/**
 * Teardown of a temporary HOME that ran mcpshare under the built-in supervisor: ask its supervisor
 * to stop every daemon, then SIGKILL whatever of that HOME is still alive (a tray, a stray bridge).
 */
export async function stopEverythingOf(home: string): Promise<void> {
  await sendControl(userPaths({ HOME: home }), { op: 'shutdown' }, 5000).catch(() => undefined);
  for (const pid of processesOf(home)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** The cgroup hierarchies a manager tracks its units in: v1 name=systemd and v2 (hybrid or unified). */
const CGROUP_HIERARCHIES = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup'];

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

/** Every pid in a cgroup and its descendants. */
function pidsInCgroupTree(dir: string): number[] {
  let pids: number[];
  try {
    pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return [...pids, ...subdirs(dir).flatMap(pidsInCgroupTree)];
}

/** rmdir a cgroup tree bottom-up (cgroupfs only allows rmdir of empty cgroups); best effort. */
function removeCgroupTree(dir: string): void {
  for (const d of subdirs(dir)) removeCgroupTree(d);
  try {
    rmdirSync(dir);
  } catch {
    // gone already, or still busy
  }
}

/**
 * Starts `/lib/systemd/systemd --user` in its own session with a fresh 0700 XDG_RUNTIME_DIR and a
 * fresh HOME (units are read from $HOME/.config/systemd/user), and waits until
 * `systemctl --user is-system-running` answers running (or degraded).
 */
export async function startUserManager(timeoutMs = 30_000): Promise<UserManager> {
  try {
    accessSync(SYSTEMD_BINARY, constants.X_OK);
  } catch {
    throw new Error(
      `${SYSTEMD_BINARY} is missing: these tests need a real systemd user manager. Install systemd ("${SYSTEMD_INSTALL}"; .ci/run does this) and run again.`,
    );
  }
  // A user manager only runs when the system looks booted with systemd (TESTING.md).
  mkdirSync('/run/systemd/system', { recursive: true });

  const home = mkdtempSync(join(tmpdir(), 'mcpshare-sd-home-'));
  const runtimeDir = mkdtempSync(join(tmpdir(), 'mcpshare-sd-run-'));
  chmodSync(runtimeDir, 0o700);
  const managerLog = join(runtimeDir, 'systemd.log');
  const user = userInfo().username;
  // A login-like environment: the manager hands it to its units, so PATH is the plain system one
  // (mcpshare's units must carry the PATH they need themselves).
  const managerEnv: NodeJS.ProcessEnv = {
    HOME: home,
    XDG_RUNTIME_DIR: runtimeDir,
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    USER: user,
    LOGNAME: user,
    LANG: 'C.UTF-8',
  };
  // Its own cgroup: a user manager started from here puts its units at <its cgroup>/app.slice/UNIT,
  // so without this every manager on the machine (other test files, a developer's) would share
  // /app.slice/mcp-NAME.service, and stopping one's unit (KillMode=control-group) would kill the
  // other's daemon of the same name. Best effort: where the cgroup tree is not writable the
  // manager stays in ours (tests then need unique unit names).
  const cgroupName = `mcpshare-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const cgroupDirs = CGROUP_HIERARCHIES.filter((h) => existsSync(join(h, 'cgroup.procs'))).map((h) => join(h, cgroupName));
  const enterCgroups = cgroupDirs.map((d) => `{ mkdir -p '${d}' && echo $$ > '${d}/cgroup.procs'; } 2>/dev/null;`).join(' ');
  const fd = openSync(managerLog, 'a');
  // detached: the shell calls setsid() and then execs the manager (same pid), exactly what
  // `setsid /lib/systemd/systemd --user` does, after moving itself into the cgroup above.
  const child = spawn('/bin/sh', ['-c', `${enterCgroups} exec ${SYSTEMD_BINARY} --user`], { env: managerEnv, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(home, { recursive: true, force: true });
    rmSync(runtimeDir, { recursive: true, force: true });
    throw new Error(`could not start ${SYSTEMD_BINARY} --user`);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedPromise = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  child.unref();

  const env = scrubbedEnv({ HOME: home, XDG_RUNTIME_DIR: runtimeDir });
  const log = () => {
    try {
      return readFileSync(managerLog, 'utf8');
    } catch {
      return '';
    }
  };
  const systemctl = (...args: string[]) => run('systemctl', ['--user', ...args], env, 60_000);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // SIGTERM makes a user manager stop its units and exit; SIGKILL if it does not within 15 s.
    if (!exited && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      await within(exitedPromise, 15_000);
      if (!exited && alive(pid)) {
        process.kill(pid, 'SIGKILL');
        await within(exitedPromise, 5_000);
      }
    }
    // Whatever still runs with this HOME or in the manager's cgroup (a daemon the manager lost, a
    // stray CLI) dies too.
    for (let round = 0; round < 3; round++) {
      const left = [...new Set([...processesOf(home), ...cgroupDirs.flatMap(pidsInCgroupTree)])].filter((p) => p !== process.pid);
      if (left.length === 0) break;
      for (const p of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await sleep(200);
    }
    for (const d of cgroupDirs) removeCgroupTree(d);
    rmSync(home, { recursive: true, force: true });
    rmSync(runtimeDir, { recursive: true, force: true });
  };

  try {
    const sc = await run('systemctl', ['--version'], env);
    if (sc.code !== 0) throw new Error(`systemctl is not usable here (${sc.stderr.trim() || `exit ${sc.code}`}): install systemd`);
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (exited) throw new Error(`${SYSTEMD_BINARY} --user exited (${exited.code ?? exited.signal}) before it was running:\n${log()}`);
      const r = await systemctl('is-system-running');
      last = (r.stdout.trim() || r.stderr.trim()).split('\n')[0];
      if (last === 'running' || last === 'degraded') break;
      if (Date.now() > deadline) throw new Error(`systemd --user did not reach "running" within ${timeoutMs} ms (last answer: ${last}); its log:\n${log()}`);
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  if (!existsSync(runtimeDir)) throw new Error('XDG_RUNTIME_DIR vanished');
  return { pid, home, runtimeDir, env, log, systemctl, stop };
}

/** A unit file's settings per section: { Unit: ['Description=…', …], Service: […], Install: […] }. */
export function unitSections(text: string): Record<string, string[]> {
  const sections: Record<string, string[]> = {};
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      current = m[1];
      sections[current] ??= [];
    } else {
      (sections[current] ??= []).push(line);
    }
  }
  return sections;
}

/** The value(s) of one key in a list of `Key=value` lines. */
export function settingValues(lines: string[] | undefined, key: string): string[] {
  return (lines ?? []).filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}
