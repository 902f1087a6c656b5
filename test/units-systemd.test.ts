/**
 * End to end against a REAL systemd user manager (test/helpers/systemd.ts): the real CLI adds,
 * starts, stops, edits and removes real MCP servers as systemd user units in a temporary HOME, and a
 * real SDK client talks to them. One manager is shared by the whole file; the tests run in order and
 * build on each other (add → start → talk → stop → … → remove → stop --all).
 *
 * Unit names carry a per-run tag as well: the helper gives each manager its own cgroup, but where it
 * cannot, every user manager on the machine puts its units at /app.slice/NAME.service, and two runs
 * must then never use the same unit name.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { bridgeStatus, EVERYTHING, textOf } from './helpers/bridge.js';
import { describeWith } from './helpers/requirements.js';
import type { ServerStatus } from '../src/units/status.js';
import { mcpshare, run, settingValues, startUserManager, SYSTEMD, unitSections, type RunResult, type UserManager } from './helpers/systemd.js';
import { waitFor } from './helpers/wait.js';
import { allCommandLines, processesOf } from './helpers/procs.js';
import { freePort, occupyPort, portAccepts } from './helpers/ports.js';

const TAG = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const EV = `ev-${TAG}`; // bridged server-everything with a secret
const NAT = `nat-${TAG}`; // server-everything's own Streamable HTTP transport
const CRASH = `crash-${TAG}`; // exits 3 at start until a marker file exists
const SECRET = `sk-live-${randomBytes(12).toString('hex')}`;
// Generous: the machine is shared with benchmarks and other suites (a crash loop of 3 bridge
// launches took 30 s at load 8 on 2 cores). `start --wait` defaults to 30 s.
const WAIT = '120';
const SLOW = 240_000;

/** A row of `mcpshare status --json`: the product's own documented type. */
type StatusRow = ServerStatus;

let sd: UserManager;
let ports: { ev: number; evMoved: number; nat: number; crash: number };
const openServers: Server[] = [];
const openClients: Client[] = [];

const cli = (...args: string[]) => mcpshare(args, sd.env);
const unitPath = (name: string) => join(sd.home, '.config', 'systemd', 'user', `mcp-${name}.service`);
const wantsLink = (name: string) => join(sd.home, '.config', 'systemd', 'user', 'default.target.wants', `mcp-${name}.service`);
const envPath = (name: string) => join(sd.home, '.config', 'mcp', `${name}.env`);
const logPath = (name: string) => join(sd.home, '.local', 'state', 'mcpshare', 'logs', `${name}.log`);
const registryPath = () => join(sd.home, '.config', 'mcpshare', 'config.json');

function expectOk(r: RunResult): void {
  if (r.code !== 0) throw new Error(`expected exit 0, got ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** A failed command: non-zero exit, exactly one line on stderr matching `message`, no stack trace. */
function expectCleanError(r: RunResult, message: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
}

async function status(name: string): Promise<StatusRow> {
  const r = await cli('status', name, '--json');
  expectOk(r);
  const rows = (JSON.parse(r.stdout) as { servers: StatusRow[] }).servers;
  expect(rows.map((s) => s.name)).toEqual([name]);
  return rows[0];
}

async function listed(): Promise<string[]> {
  const r = await cli('list', '--json');
  expectOk(r);
  return (JSON.parse(r.stdout) as Array<{ name: string }>).map((e) => e.name);
}

async function show(name: string, ...props: string[]): Promise<Record<string, string>> {
  const r = await sd.systemctl('show', ...props.flatMap((p) => ['-p', p]), `mcp-${name}.service`);
  expectOk(r);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** A real SDK client over Streamable HTTP at exactly the URL `status` printed. */
async function client(url: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const c = new Client({ name: 'units-systemd-test', version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await c.connect(transport);
  openClients.push(c);
  return { client: c, transport };
}

describeWith(SYSTEMD, 'mcpshare on a real systemd user manager', () => {
  beforeAll(async () => {
    sd = await startUserManager();
    const picked = new Set<number>();
    while (picked.size < 4) picked.add(await freePort(picked));
    const [ev, evMoved, nat, crash] = [...picked];
    ports = { ev, evMoved, nat, crash };
  }, 60_000);

  afterAll(async () => {
    for (const c of openClients) await c.close().catch(() => undefined);
    for (const s of openServers) s.close();
    await sd?.stop();
  }, 60_000);

  test(
    'add: a bridged server with a secret gets a valid, enabled unit and a private env file',
    async () => {
      const r = await cli('add', EV, '--port', String(ports.ev), '--env', `API_KEY=${SECRET}`, '--', 'node', EVERYTHING, 'stdio');
      expectOk(r);
      expect(r.stdout).toContain(`added "${EV}" (bridged) on http://localhost:${ports.ev}/mcp`);
      expect(r.stdout).toContain(unitPath(EV));

      const text = readFileSync(unitPath(EV), 'utf8');
      const u = unitSections(text);
      // The start limit belongs in [Unit] (systemd ignores it in [Service] with a warning).
      expect(settingValues(u.Unit, 'StartLimitBurst')).toEqual(['5']);
      expect(settingValues(u.Unit, 'StartLimitIntervalSec')).toEqual(['120']);
      expect(settingValues(u.Service, 'StartLimitBurst')).toEqual([]);
      expect(settingValues(u.Service, 'Restart')).toEqual(['on-failure']);
      expect(settingValues(u.Service, 'RestartSec')).toEqual(['2']);
      expect(settingValues(u.Service, 'EnvironmentFile')).toEqual([envPath(EV)]);
      const [execStart] = settingValues(u.Service, 'ExecStart');
      expect(execStart).toContain(' bridge ');
      expect(execStart).toContain(`--port ${ports.ev}`);
      expect(execStart).toContain(`--env-file ${envPath(EV)}`);
      expect(execStart).toContain(`${EVERYTHING} stdio`);
      expect(settingValues(u.Install, 'WantedBy')).toEqual(['default.target']);

      // Enabled for default.target: the symlink exists and systemd agrees.
      expect(readlinkSync(wantsLink(EV))).toBe(unitPath(EV));
      expect((await sd.systemctl('is-enabled', `mcp-${EV}.service`)).stdout.trim()).toBe('enabled');

      // systemd's own checker: exit 0 and not one warning (it exits 0 on "Unknown key" and parse
      // warnings, so silence is the real assertion). Nothing needs filtering in this container.
      const v = await run('systemd-analyze', ['--user', 'verify', unitPath(EV)], sd.env);
      expect({ code: v.code, out: (v.stdout + v.stderr).trim() }).toEqual({ code: 0, out: '' });

      // The secret lives only in a 0600 file inside a 0700 directory.
      expect(statSync(join(sd.home, '.config', 'mcp')).mode & 0o777).toBe(0o700);
      expect(statSync(envPath(EV)).mode & 0o777).toBe(0o600);
      expect(readFileSync(envPath(EV), 'utf8')).toMatch(new RegExp(`^API_KEY=.*${SECRET}`, 'm'));
      expect(text).not.toContain(SECRET);
      expect(existsSync(registryPath())).toBe(true);
      expect(readFileSync(registryPath(), 'utf8')).toContain(EV);
      expect(readFileSync(registryPath(), 'utf8')).not.toContain(SECRET);
    },
    SLOW,
  );

  test(
    'start: status --json says up, with pid, memory, 0 sessions, backend systemd; the secret reaches only the server',
    async () => {
      const r = await cli('start', EV, '--wait', WAIT);
      expectOk(r);
      expect(r.stdout).toContain(`${EV}: up at http://localhost:${ports.ev}/mcp`);

      const s = await status(EV);
      expect(s).toMatchObject({
        name: EV,
        kind: 'bridged',
        transport: 'http',
        url: `http://localhost:${ports.ev}/mcp`,
        port: ports.ev,
        backend: 'systemd',
        state: 'up',
        restarts: 0,
        sessions: 0,
      });
      expect(s.server?.name).toMatch(/everything/);
      expect(s.unitFile).toBe(unitPath(EV));
      expect(s.logFile).toBe(logPath(EV));
      // The pid is the unit's main process, the bridge; RSS counts the bridge and the server (> 20 MB).
      expect((await show(EV, 'MainPID')).MainPID).toBe(String(s.pid));
      expect(readFileSync(`/proc/${s.pid}/cmdline`, 'latin1')).toContain('bridge');
      expect(s.rssBytes).toBeGreaterThan(20 * 1024 * 1024);

      // The server child got API_KEY through EnvironmentFile= (and the unit's HOME is the test's).
      const childPid = (await bridgeStatus(ports.ev))!.child.pid!;
      const childEnv = readFileSync(`/proc/${childPid}/environ`, 'latin1').split('\0');
      expect(childEnv).toContain(`API_KEY=${SECRET}`);
      expect(childEnv).toContain(`HOME=${sd.home}`);

      // …and nowhere else: no command line, not the log, not status, not list.
      expect(allCommandLines().filter((l) => l.includes(SECRET))).toEqual([]);
      expect(readFileSync(logPath(EV), 'utf8')).not.toContain(SECRET);
      const [all, list] = await Promise.all([cli('status', '--json'), cli('list', '--json')]);
      expect(all.stdout).toContain(EV);
      expect(all.stdout).not.toContain(SECRET);
      expect(list.stdout).toContain(EV);
      expect(list.stdout).not.toContain(SECRET);
      expect(readFileSync(unitPath(EV), 'utf8')).not.toContain(SECRET);
    },
    SLOW,
  );

  test(
    'a real SDK client handshakes over the printed /mcp URL, calls echo, and shows up as a session',
    async () => {
      const { url } = await status(EV);
      const { client: c, transport } = await client(url);
      expect(c.getServerVersion()?.name).toMatch(/everything/);
      expect(textOf(await c.callTool({ name: 'echo', arguments: { message: `hello ${TAG}` } }))).toBe(`Echo: hello ${TAG}`);
      expect((await status(EV)).sessions).toBe(1);
      await transport.terminateSession();
      await c.close();
      await waitFor(async () => (await bridgeStatus(ports.ev))?.sessions.total === 0, 'the session to close', 30_000);
      expect((await status(EV)).sessions).toBe(0);
    },
    SLOW,
  );

  test(
    'stop: state stopped, port closed, no process of the server left; start refuses a port taken meanwhile',
    async () => {
      const before = await status(EV);
      const r = await cli('stop', EV);
      expectOk(r);
      expect(r.stdout.trim()).toBe(`${EV}: stopped`);
      const s = await status(EV);
      expect(s).toMatchObject({ state: 'stopped', pid: null, sessions: null });
      expect(await portAccepts(ports.ev)).toBe(false);
      expect((await show(EV, 'ActiveState')).ActiveState).toBe('inactive');
      expect(existsSync(`/proc/${before.pid}`)).toBe(false);
      // KillMode=control-group: neither the bridge nor server-everything survives.
      expect(processesOf(sd.home).filter((p) => p !== sd.pid)).toEqual([]);

      // Another program takes the port meanwhile: `start` refuses with one clear line, before
      // systemd burns through the restart burst on a daemon that cannot bind.
      const blocker = await occupyPort(ports.ev);
      openServers.push(blocker.server);
      try {
        expectCleanError(await cli('start', EV, '--wait', WAIT), new RegExp(`^${EV}: port ${ports.ev} is in use by another program`));
        expect(await show(EV, 'ActiveState', 'NRestarts')).toEqual({ ActiveState: 'inactive', NRestarts: '0' });
      } finally {
        await new Promise((r) => blocker.server.close(r));
      }
    },
    SLOW,
  );

  test(
    'restart: a new process comes up and answers',
    async () => {
      expectOk(await cli('start', EV, '--wait', WAIT));
      const first = await status(EV);
      expect(first.state).toBe('up');
      const r = await cli('restart', EV, '--wait', WAIT);
      expectOk(r);
      expect(r.stdout).toContain(`${EV}: up`);
      const second = await status(EV);
      expect(second.state).toBe('up');
      expect(second.pid).not.toBe(first.pid);
      expect(existsSync(`/proc/${first.pid}`)).toBe(false);
      const { client: c } = await client(second.url);
      expect(textOf(await c.callTool({ name: 'echo', arguments: { message: 'again' } }))).toBe('Echo: again');
      await c.close();
    },
    SLOW,
  );

  test(
    'edit --port moves a running server: unit rewritten, daemon restarted, new port answers, old one closed',
    async () => {
      const r = await cli('edit', EV, '--port', String(ports.evMoved));
      expectOk(r);
      expect(r.stdout).toContain(`http://localhost:${ports.evMoved}/mcp`);
      expect(r.stdout).toContain('restarted');
      const [execStart] = settingValues(unitSections(readFileSync(unitPath(EV), 'utf8')).Service, 'ExecStart');
      expect(execStart).toContain(`--port ${ports.evMoved}`);
      const s = (await waitFor(
        async () => {
          const row = await status(EV);
          return row.state === 'up' ? row : undefined;
        },
        'the moved server to be up',
        90_000,
      )) as StatusRow;
      expect(s).toMatchObject({ port: ports.evMoved, url: `http://localhost:${ports.evMoved}/mcp` });
      // Ready, or asleep on purpose: a lazy daemon whose server's snapshot exists starts it on demand.
      expect(['ready', 'idle']).toContain((await bridgeStatus(ports.evMoved))?.child.state);
      expect(await portAccepts(ports.ev)).toBe(false);
      const { client: c } = await client(s.url);
      expect(textOf(await c.callTool({ name: 'echo', arguments: { message: 'moved' } }))).toBe('Echo: moved');
      await c.close();
      // The secret is still in its file, and still not in the rewritten unit.
      expect(readFileSync(unitPath(EV), 'utf8')).not.toContain(SECRET);
    },
    SLOW,
  );

  test(
    'a server that crashes at start ends in crash-loop with its restart count; logs shows why; start again retries',
    async () => {
      const marker = join(sd.home, `healthy-${TAG}`);
      // Exits 3 at once until the marker exists, then runs server-everything (stdio).
      const code = `require("fs").existsSync(${JSON.stringify(marker)}) ? import(${JSON.stringify(EVERYTHING)}) : process.exit(3)`;
      expectOk(
        await cli(
          'add',
          CRASH,
          '--port',
          String(ports.crash),
          '--restart-sec',
          '0.5',
          '--restart-burst',
          '2',
          '--restart-window',
          '60',
          '--',
          'node',
          '-e',
          code,
        ),
      );
      const u = unitSections(readFileSync(unitPath(CRASH), 'utf8'));
      expect(settingValues(u.Unit, 'StartLimitBurst')).toEqual(['2']);
      expect(settingValues(u.Unit, 'StartLimitIntervalSec')).toEqual(['60']);
      expect(settingValues(u.Service, 'RestartSec')).toEqual(['0.5']);
      const v = await run('systemd-analyze', ['--user', 'verify', unitPath(CRASH)], sd.env);
      expect({ code: v.code, out: (v.stdout + v.stderr).trim() }).toEqual({ code: 0, out: '' });

      const r = await cli('start', CRASH, '--wait', WAIT);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`${CRASH}: crash-loop`);
      expect(r.stdout).toContain(logPath(CRASH));

      const s = await status(CRASH);
      expect(s.state).toBe('crash-loop');
      expect(s.restarts).toBeGreaterThanOrEqual(2);
      expect(s.pid).toBeNull();
      const p = await show(CRASH, 'ActiveState', 'NRestarts');
      expect(p.ActiveState).toBe('failed');
      expect(Number(p.NRestarts)).toBeGreaterThanOrEqual(2);
      expect(await portAccepts(ports.crash)).toBe(false);

      const log = readFileSync(logPath(CRASH), 'utf8');
      expect(log).toMatch(/exited with code 3/);
      const l = await cli('logs', CRASH, '-n', '5');
      expectOk(l);
      const lines = l.stdout.replace(/\n$/, '').split('\n');
      expect(lines).toHaveLength(5);
      expect(lines).toEqual(log.replace(/\n$/, '').split('\n').slice(-5));
      expect(l.stdout).toMatch(/crash loop|stopped before it became ready/);

      // Fixed (the marker now exists): a plain `start` clears the failed state and tries again.
      writeFileSync(marker, 'ok\n');
      const again = await cli('start', CRASH, '--wait', WAIT);
      expectOk(again);
      expect(again.stdout).toContain(`${CRASH}: up`);
      expect((await status(CRASH)).state).toBe('up');
      expect((await show(CRASH, 'ActiveState')).ActiveState).toBe('active');
    },
    SLOW,
  );

  test(
    'native: server-everything on its own Streamable HTTP transport runs as the unit itself and comes up',
    async () => {
      const r = await cli(
        'add',
        NAT,
        '--native',
        'http',
        '--port',
        String(ports.nat),
        '--env',
        `PORT=${ports.nat}`,
        '--',
        'node',
        EVERYTHING,
        'streamableHttp',
      );
      expectOk(r);
      expect(r.stdout).toContain(`added "${NAT}" (native) on http://localhost:${ports.nat}/mcp`);
      const u = unitSections(readFileSync(unitPath(NAT), 'utf8'));
      const [execStart] = settingValues(u.Service, 'ExecStart');
      expect(execStart).toBe(`${process.execPath} ${EVERYTHING} streamableHttp`);
      expect(settingValues(u.Service, 'EnvironmentFile')).toEqual([envPath(NAT)]);
      expect(statSync(envPath(NAT)).mode & 0o777).toBe(0o600);
      const v = await run('systemd-analyze', ['--user', 'verify', unitPath(NAT)], sd.env);
      expect({ code: v.code, out: (v.stdout + v.stderr).trim() }).toEqual({ code: 0, out: '' });

      const st = await cli('start', NAT, '--wait', WAIT);
      expectOk(st);
      const s = await status(NAT);
      expect(s).toMatchObject({ kind: 'native', transport: 'http', backend: 'systemd', state: 'up', url: `http://localhost:${ports.nat}/mcp`, sessions: null });
      expect(s.pid).toBe(Number((await show(NAT, 'MainPID')).MainPID));
      expect(readFileSync(`/proc/${s.pid}/cmdline`, 'latin1')).not.toContain('bridge');
      expect(s.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
      const { client: c, transport } = await client(s.url);
      const tools = await c.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('echo');
      await transport.terminateSession().catch(() => undefined);
      await c.close();
    },
    SLOW,
  );

  describe('errors: non-zero exit, one line, no stack trace', () => {
    test(
      'unknown name',
      async () => {
        const verbs = ['start', 'remove', 'edit'];
        const results = await Promise.all(verbs.map((verb) => cli(...(verb === 'edit' ? [verb, `nope-${TAG}`, '--port', '8099'] : [verb, `nope-${TAG}`]))));
        verbs.forEach((verb, i) => expectCleanError(results[i], new RegExp(`^mcpshare ${verb}: no server named "nope-${TAG}" is registered \\(registered: `)));
      },
      SLOW,
    );

    test(
      'duplicate name',
      async () => {
        const before = readFileSync(unitPath(EV), 'utf8');
        expectCleanError(await cli('add', EV, '--', 'node', EVERYTHING, 'stdio'), new RegExp(`a server named "${EV}" is already registered`));
        expect(readFileSync(unitPath(EV), 'utf8')).toBe(before);
      },
      SLOW,
    );

    test(
      'port taken by another program (at add)',
      async () => {
        const taken = await occupyPort();
        openServers.push(taken.server);
        const name = `pt-${TAG}`;
        expectCleanError(
          await cli('add', name, '--port', String(taken.port), '--', 'node', EVERYTHING, 'stdio'),
          new RegExp(`port ${taken.port} is in use by another program`),
        );
        expect(await listed()).not.toContain(name);
        expect(existsSync(unitPath(name))).toBe(false);

        // (A port taken by the time a registered server starts: see the "stop" test.)
      },
      SLOW,
    );

    test(
      'command not found',
      async () => {
        const name = `nf-${TAG}`;
        expectCleanError(await cli('add', name, '--', `no-such-mcp-server-${TAG}`), new RegExp(`command not found: "no-such-mcp-server-${TAG}"`));
        expectCleanError(await cli('add', name, '--', `/nonexistent/${TAG}/server`), /command not found or not executable/);
        expect(await listed()).not.toContain(name);
        expect(existsSync(unitPath(name))).toBe(false);
      },
      SLOW,
    );

    test(
      'invalid name',
      async () => {
        const bad = ['../evil', 'has space', 'x'.repeat(49)];
        const results = await Promise.all(bad.map((name) => cli('add', name, '--', 'node', EVERYTHING, 'stdio')));
        results.forEach((r) => expectCleanError(r, /invalid server name/));
        expect(existsSync(join(sd.home, '.config', 'systemd', 'user', 'mcp-..', 'evil.service'))).toBe(false);
        expect(existsSync(join(sd.home, '.config', 'systemd', 'evil.service'))).toBe(false);
        expect((await listed()).sort()).toEqual([CRASH, EV, NAT].sort());
      },
      SLOW,
    );

    test(
      'systemctl missing (MCPSHARE_BACKEND=systemd, PATH with node but without systemctl)',
      async () => {
        const bin = mkdtempSync(join(tmpdir(), 'mcpshare-nosystemctl-'));
        try {
          symlinkSync(process.execPath, join(bin, 'node'));
          const name = `nosc-${TAG}`;
          const r = await mcpshare(['add', name, '--', 'node', EVERYTHING, 'stdio'], { ...sd.env, PATH: bin, MCPSHARE_BACKEND: 'systemd' });
          expectCleanError(r, /systemctl is not installed/);
          expect(await listed()).not.toContain(name);
          expect(existsSync(unitPath(name))).toBe(false);
          // Commands on existing systemd entries say the same, instead of a stack.
          expectCleanError(await mcpshare(['start', EV], { ...sd.env, PATH: bin }), new RegExp(`^${EV}: systemctl is not installed`));
        } finally {
          rmSync(bin, { recursive: true, force: true });
        }
      },
      SLOW,
    );
  });

  test(
    'enable-linger --dry-run explains and prints the loginctl command without running it',
    async () => {
      const r = await cli('enable-linger', '--dry-run');
      expectOk(r);
      expect(r.stdout).toContain('lingering');
      expect(r.stdout).toContain(`would run: loginctl enable-linger ${userInfo().username}\n`);
      expect(r.stdout).not.toContain('running: loginctl');
    },
    SLOW,
  );

  test(
    'remove: stops the daemon, disables it and deletes its unit and env file',
    async () => {
      const before = await status(EV);
      expect(before.state).toBe('up');
      expect(existsSync(wantsLink(EV))).toBe(true);
      const r = await cli('remove', EV);
      expectOk(r);
      expect(r.stdout).toContain(`deleted ${unitPath(EV)}`);
      expect(r.stdout).toContain(`deleted ${envPath(EV)}`);
      expect(existsSync(unitPath(EV))).toBe(false);
      expect(existsSync(envPath(EV))).toBe(false);
      // lstat: a dangling symlink would still count as "left behind".
      expect(() => lstatSync(wantsLink(EV))).toThrow();
      expect((await show(EV, 'LoadState')).LoadState).toBe('not-found');
      expect(await portAccepts(ports.evMoved)).toBe(false);
      expect(existsSync(`/proc/${before.pid}`)).toBe(false);
      expect(await listed()).not.toContain(EV);
      expect(readFileSync(registryPath(), 'utf8')).not.toContain(`"${EV}"`);
      // The env dir stays private, holding only the other server's file.
      expect(statSync(join(sd.home, '.config', 'mcp')).mode & 0o777).toBe(0o700);
    },
    SLOW,
  );

  test(
    'stop --all stops every daemon and leaves no process behind',
    async () => {
      for (const name of [NAT, CRASH]) expect((await status(name)).state).toBe('up');
      const r = await cli('stop', '--all');
      expectOk(r);
      expect(r.stdout).toContain(`${NAT}: stopped`);
      expect(r.stdout).toContain(`${CRASH}: stopped`);
      const rows = (JSON.parse((await cli('status', '--json')).stdout) as { servers: StatusRow[] }).servers;
      expect(rows.map((s) => [s.name, s.state]).sort()).toEqual(
        [
          [CRASH, 'stopped'],
          [NAT, 'stopped'],
        ].sort(),
      );
      expect(await portAccepts(ports.nat)).toBe(false);
      expect(await portAccepts(ports.crash)).toBe(false);
      expect(processesOf(sd.home).filter((p) => p !== sd.pid)).toEqual([]);
      // Stopped, not removed: still enabled for the next login.
      expect(existsSync(wantsLink(NAT))).toBe(true);
    },
    SLOW,
  );
});
