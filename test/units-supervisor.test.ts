/**
 * The built-in supervisor (no systemd anywhere): the same behaviour tests as the systemd backend,
 * driven through the real CLI (`node dist/cli.js …`) in a temporary HOME with
 * MCPSHARE_BACKEND=supervisor, against real servers (server-everything, the fixture server) and a
 * real SDK client; then the Supervisor class itself with tiny `node -e` daemons.
 *
 * Every test registers its HOME (or its Supervisor) for teardown, which runs even when an assertion
 * failed: it asks the supervisor to shut down over its socket, waits for it, then SIGKILLs anything
 * still carrying the test HOME in its environment or command line. Tests that are about cleanup
 * assert "nothing survives" themselves, before the teardown could hide a leak.
 */
import { mcpshare as runMcpshare } from './helpers/systemd.js';
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UnitState } from '../src/units/backend.js';
import type { DaemonSpec } from '../src/units/daemon.js';
import { userPaths, type UserPaths } from '../src/registry/paths.js';
import { Supervisor } from '../src/units/supervisor.js';
import { sendControl, socketPath, stateFilePath, supervisorLogPath } from '../src/units/supervisor-control.js';
import { pidsInGroup } from '../src/util/procinfo.js';
import { bridgeStatus, CLI, connect, disconnect, EVERYTHING, FIXTURE, ROOT, textOf } from './helpers/bridge.js';
import { sleep, waitFor } from './helpers/wait.js';
import { freePort, portAccepts } from './helpers/ports.js';
import { allPids, alive, cmdline, environ, processesOf } from './helpers/procs.js';
import type { ServerStatus } from '../src/units/status.js';

/** In every command line and environment this file creates, so a leak is attributable to it. */
const MARKER = `mcpsup-test-${process.pid}-${randomBytes(4).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/** Live processes of a test HOME (its HOME or its path on their command line), with their command lines. */
const processesOfHome = (home: string) => processesOf(home).map((pid) => ({ pid, cmd: cmdline(pid) }));

/** Live processes whose command line carries this file's marker (the Supervisor unit tests' daemons). */
const markedProcesses = () =>
  allPids()
    .filter((pid) => cmdline(pid).includes(MARKER))
    .map((pid) => ({ pid, cmd: cmdline(pid) }));

function kill(pid: number, signal: NodeJS.Signals, group = false): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch {
    // gone
  }
}

async function waitGone(pids: number[], what: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => pids.every((p) => !alive(p)), `${what} (${pids.filter(alive).join(', ')}) to exit`, timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// The CLI in a temporary HOME
// ---------------------------------------------------------------------------------------------

const homes: string[] = [];

function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), `${MARKER}-home-`));
  homes.push(home);
  return home;
}

function envFor(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, MCPSHARE_BACKEND: 'supervisor', MCPSHARE_TEST_MARKER: MARKER };
  // The developer's XDG dirs must not redirect the registry, logs or the supervisor's socket.
  delete env.XDG_CONFIG_HOME;
  delete env.XDG_STATE_HOME;
  delete env.XDG_RUNTIME_DIR;
  delete env.MCPSHARE_LOG_LEVEL;
  return env;
}

const pathsOf = (home: string): UserPaths => userPaths({ HOME: home });

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mcpshare ARGS` to completion in `home` (a hung command is killed and fails the test). */
const mcpshare = (home: string, args: string[], timeoutMs = 60_000) => runMcpshare(args, envFor(home), timeoutMs);

/** Runs a command that must succeed. */
async function ok(home: string, args: string[]): Promise<CliResult> {
  const r = await mcpshare(home, args);
  if (r.code !== 0) throw new Error(`mcpshare ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** A row of `mcpshare status --json`: the product's own documented type. */
type StatusRow = ServerStatus;

async function statusJson(home: string): Promise<{ raw: string; rows: Record<string, StatusRow> }> {
  const r = await ok(home, ['status', '--json']);
  const body = JSON.parse(r.stdout) as { servers: StatusRow[] };
  return { raw: r.stdout, rows: Object.fromEntries(body.servers.map((s) => [s.name, s])) };
}

async function rowOf(home: string, name: string): Promise<StatusRow> {
  const row = (await statusJson(home)).rows[name];
  if (!row) throw new Error(`no status row for ${name}`);
  return row;
}

/**
 * Waits until `mcpshare status` reports `want` for a server. Polling goes to the supervisor's socket
 * and the bridge's /status in this process (a CLI run costs most of a CPU-second, and this machine
 * has two cores shared with other suites); the CLI is asked once that cheap probe agrees.
 */
async function waitState(
  home: string,
  name: string,
  want: 'up' | 'stopped' | 'crash-loop',
  opts: { port?: number; unit?: (u: UnitState) => boolean; timeoutMs?: number } = {},
): Promise<StatusRow> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    const reply = await sendControl(pathsOf(home), { op: 'inspect', name }, 5000);
    const u = reply?.ok ? reply.state : undefined;
    last = u;
    let cheap = false;
    if (u && (!opts.unit || opts.unit(u))) {
      if (want === 'crash-loop') cheap = u.crashLoop;
      else if (want === 'stopped') cheap = u.active === 'stopped';
      // Up: its server ready, or asleep on purpose (a lazy daemon with a discovery snapshot).
      else cheap = u.active === 'running' && (opts.port === undefined || ['ready', 'idle'].includes((await bridgeStatus(opts.port))?.child.state ?? ''));
    }
    if (cheap) {
      const row = await rowOf(home, name);
      last = row;
      if (row.state === want) return row;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${name} to be ${want}; last seen: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

function supervisorState(home: string): { pid: number; daemons: Record<string, number> } | undefined {
  try {
    return JSON.parse(readFileSync(stateFilePath(pathsOf(home)), 'utf8')) as { pid: number; daemons: Record<string, number> };
  } catch {
    return undefined;
  }
}

/** Shuts the home's supervisor down the way a user would, then kills whatever is left (teardown only). */
async function teardownHome(home: string): Promise<void> {
  const paths = pathsOf(home);
  const pid = supervisorState(home)?.pid;
  await sendControl(paths, { op: 'shutdown' }, 5000).catch(() => undefined);
  if (pid) await waitGone([pid], 'the supervisor', 15_000).catch(() => kill(pid, 'SIGKILL'));
  for (const p of processesOfHome(home)) {
    kill(p.pid, 'SIGKILL', true);
    kill(p.pid, 'SIGKILL');
  }
  rmSync(home, { recursive: true, force: true });
}

afterEach(async () => {
  for (const home of homes.splice(0)) await teardownHome(home);
});

afterAll(() => {
  // Last line of defence for the unit tests' daemons.
  for (const p of markedProcesses()) kill(p.pid, 'SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// Through the CLI
// ---------------------------------------------------------------------------------------------

describe('mcpshare with the built-in supervisor (MCPSHARE_BACKEND=supervisor)', () => {
  test('add with a secret, start (launches "supervise --idle"), status, real handshake over /mcp, stop; modes and no secret anywhere visible', async () => {
    const home = newHome();
    const paths = pathsOf(home);
    const port = await freePort();
    const secret = `sv-${randomBytes(9).toString('hex')}`;

    const added = await ok(home, ['add', 'ev', '--port', String(port), '--env', `SECRET=${secret}`, '--', 'node', EVERYTHING, 'stdio']);
    expect(added.stdout).toContain('run by the built-in supervisor');
    expect(existsSync(socketPath(paths))).toBe(false); // add alone starts nothing

    const started = await mcpshare(home, ['start', 'ev']);
    expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
    expect(started.stdout).toMatch(/ev: up at http:\/\/localhost:\d+\/mcp/);

    // `start` left a background supervisor behind: `mcpshare supervise --idle`, detached from the CLI.
    const state = supervisorState(home)!;
    expect(state).toBeDefined();
    expect(alive(state.pid)).toBe(true);
    expect(cmdline(state.pid)).toMatch(/cli\.js supervise --idle\s*$/);
    expect((await sendControl(paths, { op: 'ping' }, 5000))?.ok).toBe(true);

    const { raw, rows } = await statusJson(home);
    const row = rows.ev;
    expect(row).toMatchObject({ name: 'ev', kind: 'bridged', backend: 'supervisor', state: 'up', restarts: 0, port, sessions: 0, unitFile: null });
    expect(row.url).toBe(`http://localhost:${port}/mcp`);
    expect(row.pid).toBe(state.daemons.ev);
    expect(alive(row.pid)).toBe(true);
    expect(cmdline(row.pid!)).toContain(`bridge --name ev --port ${port}`);
    expect(row.rssBytes).toBeGreaterThan(20 * 1024 * 1024); // bridge + server-everything
    expect(row.server?.name).toMatch(/everything/);

    // A real client through the daemon.
    const client = await connect(`http://127.0.0.1:${port}`, 'http', 'supervisor-test');
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('echo');
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: MARKER } }))).toContain(MARKER);
      expect((await rowOf(home, 'ev')).sessions).toBe(1);
    } finally {
      await disconnect(client);
    }
    await waitFor(async () => (await bridgeStatus(port))?.sessions.total === 0, 'no sessions after DELETE', 10_000);

    // File modes: the socket and state of the supervisor are the user's alone; so is the secret.
    const mode = (p: string) => lstatSync(p).mode & 0o777;
    expect(lstatSync(socketPath(paths)).isSocket()).toBe(true);
    expect(mode(socketPath(paths)).toString(8)).toBe('600');
    expect(mode(paths.stateDir).toString(8)).toBe('700');
    expect(mode(stateFilePath(paths)).toString(8)).toBe('600');
    expect(mode(paths.logDir).toString(8)).toBe('700');
    expect(mode(supervisorLogPath(paths)).toString(8)).toBe('600');
    expect(mode(join(paths.secretsDir, 'ev.env')).toString(8)).toBe('600');
    expect(mode(paths.secretsDir).toString(8)).toBe('700');

    // The secret reaches the MCP server through its environment…
    const group = pidsInGroup(row.pid!);
    const daemonPids = [...new Set([...group, ...allPids().filter((p) => cmdline(p).includes(EVERYTHING) && environ(p).includes(`HOME=${home}`))])];
    expect(daemonPids.some((p) => environ(p).includes(`\0SECRET=${secret}\0`) && cmdline(p).includes(EVERYTHING))).toBe(true);
    // …and is nowhere else: not on any command line of the daemon, the supervisor or the server,
    // not in `status --json`, not in the registry, not in any log.
    for (const p of [...daemonPids, state.pid]) expect(cmdline(p)).not.toContain(secret);
    expect(raw).not.toContain(secret);
    expect(readFileSync(join(home, '.config', 'mcpshare', 'config.json'), 'utf8')).not.toContain(secret);
    expect(readFileSync(supervisorLogPath(paths), 'utf8')).not.toContain(secret);
    expect(readFileSync(row.logFile, 'utf8')).not.toContain(secret);
    expect(readFileSync(stateFilePath(paths), 'utf8')).not.toContain(secret);

    const stopped = await mcpshare(home, ['stop', 'ev']);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/ev: stopped/);
    const after = await rowOf(home, 'ev');
    expect(after).toMatchObject({ state: 'stopped', pid: null, sessions: null });
    expect(await portAccepts(port)).toBe(false);
    await waitGone(daemonPids, 'the bridge and its server');
    expect(supervisorState(home)!.daemons).toEqual({}); // the state file no longer lists it

    // The supervisor outlives a stop (it is idle, waiting for the next start); shutting it down leaves nothing.
    expect(alive(state.pid)).toBe(true);
    expect((await sendControl(paths, { op: 'shutdown' }, 5000))?.ok).toBe(true);
    await waitGone([state.pid], 'the supervisor');
    expect(processesOfHome(home)).toEqual([]);
  }, 120_000);

  test('a server that crashes at start ends in crash-loop with its restart count; stop clears it', async () => {
    const home = newHome();
    const port = await freePort();
    await ok(home, [
      'add',
      'crashy',
      '--port',
      String(port),
      '--restart-sec',
      '0.3',
      '--restart-burst',
      '2',
      '--restart-window',
      '60',
      '--',
      'node',
      '-e',
      'process.exit(3)',
      MARKER,
    ]);
    const t0 = Date.now();
    const started = await mcpshare(home, ['start', 'crashy']);
    // `start` waits until the daemon settles: it is not up, so exit status 1 with the state printed.
    expect(started.code).toBe(1);
    const row = await waitState(home, 'crashy', 'crash-loop');
    const elapsed = Date.now() - t0;
    // burst 2: two starts in the window, the third refused; counted like systemd's NRestarts
    // (every automatic restart attempt, the refused one included).
    expect(row).toMatchObject({ backend: 'supervisor', state: 'crash-loop', restarts: 2, pid: null });
    expect(row.detail).toMatch(/gave up after 2 restarts/);
    expect(row.detail).toMatch(/start limit/);
    expect(started.stdout).toMatch(/^crashy: crash-loop: gave up after 2 restarts/m);
    expect(started.stdout).toContain(`log: ${row.logFile}`);
    // The bridge's own crash loop (the child exited with 3) is what it logged each time.
    const log = readFileSync(row.logFile, 'utf8');
    expect(log).toMatch(/exited with code 3/);
    expect(readFileSync(supervisorLogPath(pathsOf(home)), 'utf8')).toMatch(/crashy: crash loop, not restarting/);

    // It stays there: no further start after the limit.
    const logLen = log.length;
    await sleep(1000); // > 3 × restart-sec
    expect(await rowOf(home, 'crashy')).toMatchObject({ state: 'crash-loop', restarts: 2 });
    expect(readFileSync(row.logFile, 'utf8').length).toBe(logLen);
    expect(processesOfHome(home).filter((p) => p.cmd.includes('bridge') || p.cmd.includes(MARKER))).toEqual([]);

    // `stop` clears the crash loop (like systemctl stop + reset-failed).
    await ok(home, ['stop', 'crashy']);
    expect(await rowOf(home, 'crashy')).toMatchObject({ state: 'stopped' });
    console.log(`supervisor crash loop reached in ${elapsed} ms`);
  }, 120_000);

  test('a daemon killed after running a while is restarted (restarts 1, up again); one that exits 0 is not; stop --all', async () => {
    const home = newHome();
    const port = await freePort();
    const cleanPort = await freePort();
    const startsFile = join(home, 'clean-starts');
    await ok(home, ['add', 'ev', '--port', String(port), '--restart-sec', '0.5', '--', 'node', FIXTURE, MARKER]);
    // A native daemon that runs half a second and exits 0 (Restart=on-failure: must stay down). It
    // appends a line per start, so a restart cannot hide.
    await ok(home, [
      'add',
      'clean',
      '--native',
      'http',
      '--port',
      String(cleanPort),
      '--restart-sec',
      '0.3',
      '--',
      'node',
      '-e',
      `require("fs").appendFileSync(${JSON.stringify(startsFile)}, "start\\n"); setTimeout(() => process.exit(0), 500)`,
      MARKER,
      String(cleanPort),
    ]);

    expect((await ok(home, ['start', 'ev'])).stdout).toMatch(/^ev: up at /);
    const bridgePid = supervisorState(home)!.daemons.ev;
    expect(alive(bridgePid)).toBe(true);
    const childPid = (await bridgeStatus(port))!.child.pid!;
    expect(alive(childPid)).toBe(true);

    kill(bridgePid, 'SIGKILL');
    const back = await waitState(home, 'ev', 'up', { port, unit: (u) => u.pid !== bridgePid });
    expect(back.pid).not.toBe(bridgePid);
    expect(back.restarts).toBe(1);
    expect(alive(back.pid)).toBe(true);
    expect(alive(bridgePid)).toBe(false);
    // The killed bridge's server lost its stdin and must not linger as an orphan.
    await waitGone([childPid], "the killed bridge's server");
    // The new bridge really serves: a handshake works.
    const client = await connect(`http://127.0.0.1:${port}`, 'http');
    try {
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await disconnect(client);
    }

    const cleanStart = await mcpshare(home, ['start', 'clean']);
    expect(cleanStart.code).toBe(1); // it never becomes "up": it ends stopped
    expect(cleanStart.stdout).toBe('clean: stopped\n');
    await sleep(1000); // well past restart-sec 0.3
    expect(await rowOf(home, 'clean')).toMatchObject({ state: 'stopped', restarts: 0, pid: null });
    expect(readFileSync(startsFile, 'utf8')).toBe('start\n');
    expect(processesOfHome(home).filter((p) => p.cmd.includes(startsFile))).toEqual([]);

    const all = await mcpshare(home, ['stop', '--all']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/clean: stopped/);
    expect(all.stdout).toMatch(/ev: stopped/);
    const { rows } = await statusJson(home);
    expect(rows.ev).toMatchObject({ state: 'stopped', pid: null });
    expect(rows.clean).toMatchObject({ state: 'stopped', pid: null });
    expect(await portAccepts(port)).toBe(false);
    await waitGone([back.pid!], 'the restarted bridge');
    // Only the idle supervisor is left of this HOME.
    const left = processesOfHome(home);
    expect(left.map((p) => p.pid)).toEqual([supervisorState(home)!.pid]);
  }, 120_000);

  test('kill -9 of the supervisor, then start: a new supervisor reaps the orphaned daemon, the port is bound once, nothing survives', async () => {
    const home = newHome();
    const paths = pathsOf(home);
    const port = await freePort();
    await ok(home, ['add', 'ev', '--port', String(port), '--', 'node', FIXTURE, MARKER]);
    await ok(home, ['start', 'ev']);
    const first = supervisorState(home)!;
    const orphan = first.daemons.ev;
    expect(alive(orphan)).toBe(true);
    const orphanGroup = pidsInGroup(orphan);
    const orphanChild = (await bridgeStatus(port))!.child.pid!;

    kill(first.pid, 'SIGKILL');
    await waitGone([first.pid], 'the killed supervisor');
    // The daemon is in its own process group: it survived its supervisor and still holds the port.
    expect(alive(orphan)).toBe(true);
    expect(await portAccepts(port)).toBe(true);
    // status tells the truth meanwhile: still serving, left behind by a dead supervisor (not "stopped").
    const orphanRow = await rowOf(home, 'ev');
    expect(orphanRow).toMatchObject({ state: 'up', pid: orphan });
    expect(orphanRow.detail).toMatch(/supervisor that died/);
    // …but `status` only reads: it must not have started a new supervisor.
    expect(supervisorState(home)!.pid).toBe(first.pid);

    const restarted = await mcpshare(home, ['start', 'ev']);
    expect({ code: restarted.code, stderr: restarted.stderr }).toEqual({ code: 0, stderr: '' });
    expect(restarted.stdout).toMatch(/ev: up/);
    const second = supervisorState(home)!;
    expect(second.pid).not.toBe(first.pid);
    expect(alive(second.pid)).toBe(true);
    expect(readFileSync(supervisorLogPath(paths), 'utf8')).toMatch(/stopped daemons left running by a previous supervisor: ev/);
    await waitGone([orphan, orphanChild, ...orphanGroup], 'the orphaned daemon');

    const row = await rowOf(home, 'ev');
    expect(row).toMatchObject({ state: 'up', restarts: 0 });
    expect(row.pid).toBe(second.daemons.ev);
    expect(row.pid).not.toBe(orphan);
    // The port is served by the new supervisor's bridge, and only one bridge of this HOME runs.
    const served = (await bridgeStatus(port))!;
    expect(served.pid).toBe(row.pid);
    expect(
      processesOfHome(home)
        .filter((p) => p.cmd.includes(' bridge '))
        .map((p) => p.pid),
    ).toEqual([row.pid]);

    expect((await sendControl(paths, { op: 'shutdown' }, 5000))?.ok).toBe(true);
    await waitGone([second.pid, row.pid!], 'the supervisor and its daemon');
    expect(processesOfHome(home)).toEqual([]);
    expect(await portAccepts(port)).toBe(false);
  }, 120_000);

  test('one supervisor per user: parallel starts share one, and a second supervisor never takes over a busy first one', async () => {
    const home = newHome();
    const names = ['p1', 'p2', 'p3', 'p4'];
    for (const n of names) await ok(home, ['add', n, '--', process.execPath, FIXTURE]);
    // One process starting every daemon at once, as the tray does at login (the built code, in its
    // own node process: the supervisor it launches is dist/cli.js).
    const script = `const { ServerManager } = await import(${JSON.stringify(join(ROOT, 'dist/units/manager.js'))});
      const { Daemons } = await import(${JSON.stringify(join(ROOT, 'dist/health/daemons.js'))});
      const m = new Daemons(new ServerManager());
      const rows = await Promise.all(${JSON.stringify(names)}.map((n) => m.start(n, { waitMs: 20000 })));
      console.log(JSON.stringify(rows.map((r) => r.state)));`;
    const par = await new Promise<CliResult>((resolve) => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', script], { env: envFor(home), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(par).toMatchObject({ code: 0, stderr: '' });
    const supervisors = () => processesOfHome(home).filter((p) => / supervise( |$)/.test(p.cmd));
    expect(supervisors()).toHaveLength(1);
    const first = supervisors()[0]!.pid;
    for (const n of names) expect((await rowOf(home, n)).state).toBe('up');
    // A second supervisor started by hand while the first is busy (stopped: it cannot answer a ping):
    // it must see the lock and leave, not reap the first one's daemons.
    process.kill(first, 'SIGSTOP');
    try {
      const second = await mcpshare(home, ['supervise', '--idle'], 20_000);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`a supervisor is already running (pid ${first}`);
    } finally {
      process.kill(first, 'SIGCONT');
    }
    expect(supervisors().map((p) => p.pid)).toEqual([first]);
    for (const n of names) expect((await rowOf(home, n)).state).toBe('up');
    expect(readFileSync(join(pathsOf(home).stateDir, 'supervisor.pid'), 'utf8').trim()).toBe(String(first));
  }, 120_000);

  test('"mcpshare supervise" in the foreground starts every registered server; SIGTERM stops them all', async () => {
    const home = newHome();
    const paths = pathsOf(home);
    const ports = [await freePort(), await freePort()];
    await ok(home, ['add', 'one', '--port', String(ports[0]), '--', 'node', FIXTURE, MARKER]);
    await ok(home, ['add', 'two', '--port', String(ports[1]), '--', 'node', FIXTURE, MARKER]);

    const sup: ChildProcess = spawn(process.execPath, [CLI, 'supervise'], { env: envFor(home), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    sup.stderr!.on('data', (d) => (err += d));
    sup.stdout!.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => sup.once('exit', (code, signal) => r({ code, signal })));
    try {
      await waitState(home, 'one', 'up', { port: ports[0] });
      await waitState(home, 'two', 'up', { port: ports[1] });
      const { rows } = await statusJson(home);
      const [one, two] = [rows.one, rows.two];
      expect([one.state, two.state]).toEqual(['up', 'up']);
      expect(supervisorState(home)!.pid).toBe(sup.pid);
      expect(one.backend).toBe('supervisor');
      const daemons = [one.pid!, two.pid!, ...pidsInGroup(one.pid!), ...pidsInGroup(two.pid!)];
      const servers = processesOfHome(home)
        .filter((p) => p.cmd.includes(FIXTURE) && !p.cmd.includes(' bridge '))
        .map((p) => p.pid);
      expect(servers).toHaveLength(2);
      // A second supervisor for the same HOME refuses to run.
      const dup = await mcpshare(home, ['supervise']);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toMatch(/already running/);

      sup.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(err).toMatch(/SIGTERM: stopping every daemon/);
      await waitGone([...daemons, ...servers], 'the daemons of the supervisor');
      for (const p of ports) expect(await portAccepts(p)).toBe(false);
      expect(processesOfHome(home)).toEqual([]);
      expect((await sendControl(paths, { op: 'ping' }, 2000))?.ok ?? false).toBe(false);
    } finally {
      // On failure: a graceful stop first (it stops the daemons), SIGKILL if that hangs; teardown kills what is left.
      if (sup.exitCode === null && sup.signalCode === null) {
        sup.kill('SIGTERM');
        const timer = setTimeout(() => sup.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    }
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// The Supervisor class
// ---------------------------------------------------------------------------------------------

describe('Supervisor (src/units/supervisor.ts)', () => {
  const supervisors: Supervisor[] = [];
  let dir = '';

  const tmp = () => (dir ||= mkdtempSync(join(tmpdir(), `${MARKER}-unit-`)));

  afterEach(async () => {
    for (const s of supervisors.splice(0)) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([s.stopAll(), new Promise((r) => (timer = setTimeout(r, 15_000)))]);
      clearTimeout(timer);
    }
    for (const p of markedProcesses()) kill(p.pid, 'SIGKILL');
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function make(): Supervisor {
    const s = new Supervisor();
    supervisors.push(s);
    return s;
  }

  /** A daemon running `node -e SCRIPT MARKER`; each start appends Date.now() to its starts file. */
  function spec(name: string, script: string, restart: DaemonSpec['restart'], extraEnv: Record<string, string> = {}): DaemonSpec & { startsFile: string } {
    const startsFile = join(tmp(), `${name}.starts`);
    const prologue = `require("fs").appendFileSync(process.env.STARTS_FILE, Date.now() + "\\n");`;
    return {
      name,
      description: `test daemon ${name}`,
      argv: [process.execPath, '-e', prologue + script, MARKER],
      env: { STARTS_FILE: startsFile, ...extraEnv },
      logFile: join(tmp(), 'logs', `${name}.log`),
      restart,
      url: '',
      startsFile,
    };
  }

  const starts = (file: string): number[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number) : []);

  test('burst within the window, then crash-loop: restartSec honoured, restarts counted, the event emitted exactly once', async () => {
    const sup = make();
    const s = spec('burst', 'process.exit(4)', { restartSec: 0.4, burst: 3, intervalSec: 60 });
    const loops: string[] = [];
    sup.on('crash-loop', (name) => loops.push(name));
    const t0 = Date.now();
    sup.start(s);
    await waitFor(() => loops.length > 0, 'the crash-loop event', 20_000);
    const took = Date.now() - t0;
    await sleep(1000); // > 2 × restartSec: a further start or a second event would show now

    const times = starts(s.startsFile);
    expect(times).toHaveLength(3);
    for (let i = 1; i < times.length; i++) {
      const gap = times[i] - times[i - 1];
      expect(gap).toBeGreaterThanOrEqual(400); // the process started, exited, then waited restartSec
      expect(gap).toBeLessThan(5000);
    }
    expect(took).toBeGreaterThanOrEqual(1200); // three waits of 0.4 s: two restarts and the refused one
    expect(loops).toEqual(['burst']);
    const st = sup.inspect('burst');
    expect(st).toMatchObject({ active: 'failed', crashLoop: true, restarts: 3, lastExitCode: 4 });
    expect(st.pid).toBeUndefined();
    expect(st.detail).toMatch(/start limit hit: 3 starts within 60 s, last exit 4/);
    expect(readFileSync(s.logFile, 'utf8')).toBe(''); // the daemon printed nothing; the log exists (0600)
    expect((statSync(s.logFile).mode & 0o777).toString(8)).toBe('600');

    // A manual start clears the crash loop and counts afresh.
    sup.start(s);
    await waitFor(() => loops.length === 2, 'the second crash-loop event', 20_000);
    expect(starts(s.startsFile)).toHaveLength(6);
    expect(sup.inspect('burst').restarts).toBe(3);
  }, 60_000);

  test('starts spread wider than the window never count as a crash loop', async () => {
    const sup = make();
    // burst 2 in a 1 s window, but 0.6 s between an exit and the next start: any two starts two
    // apart are ≥ 1.2 s apart, so the window never holds 2 earlier starts.
    const s = spec('spread', 'process.exit(1)', { restartSec: 0.6, burst: 2, intervalSec: 1 });
    let loops = 0;
    sup.on('crash-loop', () => loops++);
    sup.start(s);
    await waitFor(() => starts(s.startsFile).length >= 4, 'four starts', 20_000);
    expect(loops).toBe(0);
    expect(sup.inspect('spread').crashLoop).toBe(false);
    expect(sup.inspect('spread').restarts).toBeGreaterThanOrEqual(3);
    await sup.stop('spread');
    const n = starts(s.startsFile).length;
    expect(sup.inspect('spread')).toMatchObject({ active: 'stopped', crashLoop: false });
    await sleep(1000); // a stop cancels the pending restart
    expect(starts(s.startsFile).length).toBe(n);
  }, 60_000);

  test('a clean exit (status 0) is not restarted: Restart=on-failure', async () => {
    const sup = make();
    const s = spec('clean', 'setTimeout(() => process.exit(0), 200)', { restartSec: 0.2, burst: 5, intervalSec: 60 });
    const states: string[] = [];
    sup.on('change', (_n, st) => states.push(st.active));
    sup.start(s);
    await waitFor(() => sup.inspect('clean').active === 'stopped', 'the clean exit', 10_000);
    await sleep(1000);
    expect(sup.inspect('clean')).toMatchObject({ active: 'stopped', crashLoop: false, restarts: 0, lastExitCode: 0 });
    expect(starts(s.startsFile)).toHaveLength(1);
    expect(states).toEqual(['running', 'stopped']);
  }, 30_000);

  test('a command that cannot be spawned is retried, then crash-loop (exit 127)', async () => {
    const sup = make();
    const s = spec('missing', '', { restartSec: 0.1, burst: 2, intervalSec: 60 });
    s.argv = [join(tmp(), `no-such-program-${MARKER}`)];
    let loops = 0;
    sup.on('crash-loop', () => loops++);
    sup.start(s);
    await waitFor(() => loops > 0, 'the crash loop', 10_000);
    await sleep(300);
    expect(loops).toBe(1);
    expect(sup.inspect('missing')).toMatchObject({ active: 'failed', crashLoop: true, restarts: 2, lastExitCode: 127 });
  }, 30_000);

  test('stop kills the whole process group (a grandchild too) and reports stopped; pids() tracks running daemons', async () => {
    const sup = make();
    const grandFile = join(tmp(), 'grandchild.pid');
    const s = spec(
      'tree',
      `const g = require("child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", ${JSON.stringify(MARKER)}], { stdio: "ignore" });` +
        `require("fs").writeFileSync(${JSON.stringify(grandFile)}, String(g.pid)); setInterval(() => {}, 1000);`,
      { restartSec: 0.2, burst: 5, intervalSec: 60 },
    );
    sup.start(s);
    await waitFor(() => existsSync(grandFile) && readFileSync(grandFile, 'utf8').length > 0, 'the grandchild', 10_000);
    const st = sup.inspect('tree');
    expect(st.active).toBe('running');
    const child = st.pid!;
    const grandchild = Number(readFileSync(grandFile, 'utf8'));
    expect(alive(child)).toBe(true);
    expect(alive(grandchild)).toBe(true);
    expect(pidsInGroup(child).sort()).toEqual([child, grandchild].sort()); // the daemon leads its own group
    expect(sup.pids()).toEqual({ tree: child });

    const t0 = Date.now();
    await sup.stop('tree');
    expect(Date.now() - t0).toBeLessThan(5000); // SIGTERM did it, not the 10 s SIGKILL fallback
    await waitGone([child, grandchild], 'the daemon and its grandchild', 5000);
    expect(sup.inspect('tree')).toMatchObject({ active: 'stopped', crashLoop: false, restarts: 0 });
    expect(sup.inspect('tree').pid).toBeUndefined();
    expect(sup.pids()).toEqual({});
    await sleep(500); // a stop is not a crash: no restart
    expect(starts(s.startsFile)).toHaveLength(1);
  }, 30_000);
});
