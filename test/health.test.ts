/**
 * Health: every diagnosis of the handshake probe reached for real, against real daemons — the
 * bridge in front of server-everything, server-everything's own streamableHttp and sse modes, a
 * process that binds the port and never answers, a closed port, a plain web server, a daemon that
 * wants a token, and a single-client server (one SDK transport for the whole process). Then
 * `mcpshare check` on registered servers in a temporary HOME (advice that names the start command,
 * the log and a native server's missing transport flag) and the HealthMonitor the tray uses.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemons } from '../src/health/daemons.js';
import { HealthMonitor, type ServerHealth } from '../src/health/monitor.js';
import { probe } from '../src/health/probe.js';
import type { ServerEntry } from '../src/registry/registry.js';
import { ServerManager } from '../src/units/manager.js';
import { userPaths } from '../src/registry/paths.js';
import type { ServerStatus } from '../src/units/status.js';
import { sendControl } from '../src/units/supervisor-control.js';
import { BridgesAndClients, everythingEntry, EVERYTHING, ROOT, waitReady, type RunningCli } from './helpers/bridge.js';
import { mcpshare } from './helpers/systemd.js';
import { waitFor } from './helpers/wait.js';
import { freePort, portAccepts } from './helpers/ports.js';
import { processesOf } from './helpers/procs.js';

const SINGLE_CLIENT = join(ROOT, 'test/fixtures/health-single-client.mjs');
const SLOW = join(ROOT, 'test/fixtures/health-slow-server.mjs');
const MEMORY = join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js');

const children: ChildProcess[] = [];
const started = new BridgesAndClients();

/** Starts a process and waits until it accepts connections on `port`. */
async function daemon(argv: string[], port: number, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const proc = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  await waitFor(async () => proc.exitCode !== null || (await portAccepts(port)), `port ${port}`, 20_000);
  if (proc.exitCode !== null) throw new Error(`${argv.join(' ')} exited ${proc.exitCode}: ${err}`);
  return proc;
}

/** server-everything behind a bridge, ready unless told not to wait. */
async function bridge(extra: string[] = [], ready = true): Promise<RunningCli> {
  const b = await started.bridge(extra, {}, [process.execPath, EVERYTHING]);
  if (ready) await waitReady(b);
  return b;
}

afterAll(async () => {
  await started.cleanup();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('probe: each diagnosis against a real daemon', () => {
  let shared: RunningCli;
  let nativeHttp: number;
  let nativeSse: number;
  beforeAll(async () => {
    [nativeHttp, nativeSse] = [await freePort(), await freePort()];
    [shared] = await Promise.all([
      bridge(),
      daemon([EVERYTHING, 'streamableHttp'], nativeHttp, { PORT: String(nativeHttp) }),
      daemon([EVERYTHING, 'sse'], nativeSse, { PORT: String(nativeSse) }),
    ]);
  });

  test('up over Streamable HTTP: server name, version, capabilities, latency; the probe session is deleted', async () => {
    const r = await probe({ url: `${shared.url}/mcp`, transport: 'http' });
    expect(r).toMatchObject({ ok: true, diagnosis: 'up', server: { name: 'mcp-servers/everything' } });
    expect(r.server!.version).toMatch(/\d/);
    expect(r.capabilities).toHaveProperty('tools');
    expect(r.latencyMs).toBeGreaterThan(0);
    expect(r.message).toContain('mcp-servers/everything');
    // DELETE ended the probe's session: nothing is left behind in the daemon.
    expect((await shared.status()).sessions.total).toBe(0);
  });

  test('up over legacy SSE through the endpoint event; closing the stream ends the session', async () => {
    const r = await probe({ url: `${shared.url}/sse`, transport: 'sse' });
    expect(r).toMatchObject({ ok: true, diagnosis: 'up', server: { name: 'mcp-servers/everything' } });
    await waitFor(async () => (await shared.status()).sessions.total === 0, 'the SSE probe session to end', 5000);
  });

  test("server-everything's own streamableHttp and sse modes are up", async () => {
    const http = await probe({ url: `http://localhost:${nativeHttp}/mcp`, transport: 'http' });
    const sse = await probe({ url: `http://localhost:${nativeSse}/sse`, transport: 'sse' });
    expect(http).toMatchObject({ ok: true, diagnosis: 'up', server: { name: 'mcp-servers/everything' } });
    expect(sse).toMatchObject({ ok: true, diagnosis: 'up', server: { name: 'mcp-servers/everything' } });
  });

  test('wrong transport: http asked of an SSE-only server says that SSE works, and where', async () => {
    const r = await probe({ url: `http://localhost:${nativeSse}/sse`, transport: 'http' });
    expect(r).toMatchObject({ ok: false, diagnosis: 'wrong-transport', suggestion: { transport: 'sse', url: `http://localhost:${nativeSse}/sse` } });
    expect(r.fix).toContain(`"type": "sse"`);
  });

  test('wrong transport the other way: sse asked of a Streamable HTTP server', async () => {
    const r = await probe({ url: `http://localhost:${nativeHttp}/mcp`, transport: 'sse' });
    expect(r).toMatchObject({ ok: false, diagnosis: 'wrong-transport', suggestion: { transport: 'http', url: `http://localhost:${nativeHttp}/mcp` } });
  });

  test('wrong path: the same transport answers at its usual path', async () => {
    const r = await probe({ url: `${shared.url}/mcp/v1`, transport: 'http' });
    expect(r).toMatchObject({ ok: false, diagnosis: 'wrong-path', status: 404, suggestion: { transport: 'http', url: `${shared.url}/mcp` } });
  });

  test('refused: nothing listens', async () => {
    const port = await freePort();
    const r = await probe({ url: `http://localhost:${port}/mcp`, transport: 'http' });
    expect(r).toMatchObject({ ok: false, diagnosis: 'refused' });
    expect(r.fix).toContain(String(port));
  });

  test('silent: a process binds the port but never answers (a server left in stdio mode)', async () => {
    const port = await freePort();
    // Accepts connections and reads them, answering nothing: what a stdio server that also opened a port looks like.
    const holder = await daemon(
      ['-e', `require('net').createServer((s) => s.resume()).listen(${port}, '127.0.0.1')`, '--', '--api-key', 'sk-HOLDSECRET'],
      port,
    );
    const r = await probe({ url: `http://localhost:${port}/mcp`, transport: 'http' }, { timeoutMs: 500 });
    expect(r).toMatchObject({ ok: false, diagnosis: 'silent', portHolder: { pid: holder.pid } });
    expect(r.message).toContain(`held by pid ${holder.pid}`);
    // The holder's command line is shown, its secrets are not.
    expect(JSON.stringify(r)).not.toContain('sk-HOLDSECRET');
    expect(r.portHolder!.command).toContain('--api-key <redacted>');
    expect(r.fix).toMatch(/stdio mode/);
    const sse = await probe({ url: `http://localhost:${port}/sse`, transport: 'sse' }, { timeoutMs: 500 });
    expect(sse.diagnosis).toBe('silent');
  });

  test('timeout: HTTP answered but initialize came too late; the session it opened is still deleted', async () => {
    const port = await freePort();
    await daemon([SLOW, String(port), '1500'], port);
    const r = await probe({ url: `http://localhost:${port}/mcp`, transport: 'http' }, { timeoutMs: 400 });
    expect(r).toMatchObject({ ok: false, diagnosis: 'timeout', status: 200 });
    expect(r.fix).toMatch(/slow to initialize/);
    const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { sessions: number; deletes: number };
    expect(stats).toEqual({ sessions: 1, deletes: 1 });
    // Given the time, the same server is up.
    expect((await probe({ url: `http://localhost:${port}/mcp`, transport: 'http' }, { timeoutMs: 4000 })).diagnosis).toBe('up');
  });

  test('not MCP: a plain web server on the port', async () => {
    const web: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    try {
      const port = (web.address() as { port: number }).port;
      const r = await probe({ url: `http://localhost:${port}/mcp`, transport: 'http' });
      expect(r).toMatchObject({ ok: false, diagnosis: 'not-mcp', status: 200 });
      expect(r.message).toContain('text/html');
    } finally {
      web.close();
    }
  });

  test('HTTP error with its status: a daemon that wants a bearer token', async () => {
    const guarded = await bridge(['--token', 'tok-health-test'], false); // its /status wants the token too
    const r = await probe({ url: `${guarded.url}/mcp`, transport: 'http' });
    expect(r).toMatchObject({ ok: false, diagnosis: 'http-error', status: 401 });
    expect(r.message).toMatch(/token/);
  });

  test('not loopback: TLS and a non-loopback address are refused before anything is sent', async () => {
    const tls = await probe({ url: 'https://localhost:8443/mcp', transport: 'http' });
    expect(tls).toMatchObject({ ok: false, diagnosis: 'not-loopback' });
    expect(tls.message).toMatch(/TLS/);
    expect(tls.fix).toBe('use http://localhost:8443/mcp');
    const remote = await probe({ url: 'http://192.0.2.7:8001/mcp', transport: 'http' });
    expect(remote).toMatchObject({ ok: false, diagnosis: 'not-loopback' });
    expect(remote.message).toContain('192.0.2.7');
  });

  test('concurrency: the bridge serves two sessions at once, over both transports', async () => {
    for (const [path, transport] of [
      ['/mcp', 'http'],
      ['/sse', 'sse'],
    ] as const) {
      const r = await probe({ url: `${shared.url}${path}`, transport }, { concurrency: true });
      expect(r).toMatchObject({ ok: true, diagnosis: 'up', concurrency: { ok: true } });
    }
    await waitFor(async () => (await shared.status()).sessions.total === 0, 'every probe session to end', 5000);
  });

  test('single-client: a server with one transport for the whole process fails the second concurrent session', async () => {
    const port = await freePort();
    await daemon([SINGLE_CLIENT, String(port)], port);
    const url = `http://localhost:${port}/mcp`;
    const r = await probe({ url, transport: 'http' }, { concurrency: true });
    expect(r).toMatchObject({ ok: false, diagnosis: 'single-client', server: { name: 'single-client-fixture' }, concurrency: { ok: false } });
    expect(r.fix).toMatch(/bridge/);
  });

  test('monitor: a server whose state cannot be read does not blank out the others', async () => {
    const entry = (name: string): ServerEntry => everythingEntry(name, shared.port);
    const up = (e: ServerEntry): ServerStatus => ({
      name: e.name,
      kind: e.kind,
      transport: e.transport,
      url: `${shared.url}/mcp`,
      port: e.port,
      backend: e.backend,
      state: 'up',
      restarts: 0,
      pid: null,
      rssBytes: null,
      sessions: 0,
      server: null,
      detail: 'serving',
      share: 'global',
      children: [],
      logFile: '/dev/null',
      unitFile: null,
      idle: false,
      memory: null,
    });
    const monitor = new HealthMonitor({
      list: () => [entry('good'), entry('unreadable')],
      statusOf: async (e) => {
        if (e.name === 'unreadable') throw new Error('the supervisor did not answer within 5 s');
        return up(e);
      },
    });
    const all = await monitor.refresh();
    expect(all.map((h) => [h.name, h.state])).toEqual([
      ['good', 'up'],
      ['unreadable', 'down'],
    ]);
    expect(all[1].detail).toContain('the supervisor did not answer');
    expect(all[0].check).toMatchObject({ ok: true, server: { name: 'mcp-servers/everything' } });
  });

  test('mcpshare check URL: exit status and JSON', async () => {
    const env = { ...process.env };
    const up = await mcpshare(['check', `${shared.url}/mcp`, '--json'], env);
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout).checks[0]).toMatchObject({ ok: true, diagnosis: 'up' });
    const sse = await mcpshare(['check', `${shared.url}/sse`], env);
    expect(sse.code).toBe(0);
    expect(sse.stdout).toMatch(/✔ .*\/sse: up/);
    const down = await mcpshare(['check', `http://localhost:${await freePort()}/mcp`], env);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/✘ .*refused[\s\S]*fix:/);
    const usage = await mcpshare(['check', '--transport', 'ftp', `${shared.url}/mcp`], env);
    expect(usage.code).toBe(2);
    const badUrl = await mcpshare(['check', 'http://localhost:99999/mcp'], env);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('is not a valid URL');
  });
});

describe('registered servers: mcpshare check and the HealthMonitor (built-in supervisor, temporary HOME)', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let manager: ServerManager;
  let daemons: Daemons;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'mcpshare-health-'));
    env = { ...process.env, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
    delete env.XDG_CONFIG_HOME;
    delete env.XDG_STATE_HOME;
    manager = new ServerManager({ env, paths: userPaths(env), registryDir: join(home, '.config', 'mcpshare') });
    daemons = new Daemons(manager);
  });
  afterAll(async () => {
    await sendControl(userPaths(env), { op: 'shutdown' }, 5000).catch(() => undefined);
    for (const pid of processesOf(home)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(home, { recursive: true, force: true });
  });

  test('a stopped daemon: refused, with the start command and its log', async () => {
    const port = await freePort();
    const add = await mcpshare(['add', 'mem', '--port', String(port), '--', process.execPath, MEMORY], env);
    expect(add.code).toBe(0);
    const r = await mcpshare(['check', 'mem', '--json'], env);
    expect(r.code).toBe(1);
    const [c] = JSON.parse(r.stdout).checks;
    expect(c).toMatchObject({ name: 'mem', ok: false, diagnosis: 'refused', daemon: { state: 'stopped' } });
    expect(c.fix).toContain('mcpshare start mem');
    expect(c.fix).toContain(join(home, '.local/state/mcpshare/logs/mem.log'));
  });

  test('a native server left in stdio mode: silent, and the advice names its transport and port flags', async () => {
    const port = await freePort();
    // Named like the real package so the registry's knowledge applies; binds the port and says nothing.
    const fake = join(home, 'mongodb-mcp-server');
    writeFileSync(fake, `#!${process.execPath}\nrequire('net').createServer((s) => s.resume()).listen(${port}, '127.0.0.1');\n`);
    chmodSync(fake, 0o755);
    const add = await mcpshare(['add', 'mongo', '--native', 'http', '--port', String(port), '--', fake], env);
    expect(add.code).toBe(0);
    const start = await mcpshare(['start', 'mongo'], env);
    expect(start.code).toBe(0); // the port is open, so the service manager's view is "up"
    // Checked by URL, without the registry: the probe finds the process on the port and knows its flags.
    const byUrl = await probe({ url: `http://localhost:${port}/mcp`, transport: 'http' }, { timeoutMs: 500 });
    expect(byUrl.portHolder?.command).toContain('mongodb-mcp-server');
    expect(byUrl.fix).toContain(`--transport http --httpPort ${port}`);
    const r = await mcpshare(['check', 'mongo', '--json', '--timeout', '0.5'], env);
    expect(r.code).toBe(1);
    const [c] = JSON.parse(r.stdout).checks;
    expect(c).toMatchObject({ name: 'mongo', diagnosis: 'silent' });
    expect(c.fix).toContain(`--transport http --httpPort ${port}`);
    await mcpshare(['stop', 'mongo'], env);
  });

  test('not-mcp advice holds for a native server: "edit --port" also moves the port on its command line', async () => {
    const [port, next] = [await freePort(), await freePort()];
    const add = await mcpshare(
      [
        'add',
        'grafana',
        '--native',
        'http',
        '--port',
        String(port),
        '--',
        process.execPath,
        MEMORY,
        '--transport',
        'streamable-http',
        '--address',
        `localhost:${port}`,
      ],
      env,
    );
    expect(add.code).toBe(0);
    const edit = await mcpshare(['edit', 'grafana', '--port', String(next)], env);
    expect(edit.code).toBe(0);
    const [entry] = JSON.parse((await mcpshare(['list', '--json'], env)).stdout).filter((e: ServerEntry) => e.name === 'grafana');
    expect(entry).toMatchObject({ port: next, args: [MEMORY, '--transport', 'streamable-http', '--address', `localhost:${next}`] });
    await mcpshare(['remove', 'grafana'], env);
  });

  test('the monitor reports up, then stopped, as change events within an interval', async () => {
    const monitor = new HealthMonitor(
      { list: () => manager.list().filter((e) => e.name === 'mem'), statusOf: (e) => daemons.statusOf(e) },
      { intervalMs: 200 },
    );
    const changes: ServerHealth[] = [];
    monitor.on('change', (h) => changes.push(h));
    monitor.start();
    try {
      await waitFor(() => changes.length > 0, 'the first round');
      expect(changes[0]).toMatchObject({ name: 'mem', state: 'stopped' });
      expect(changes[0].check).toBeUndefined(); // a stopped daemon is not probed

      await daemons.start('mem');
      await waitFor(() => changes.some((h) => h.state === 'up'), 'the up event', 10_000);
      const up = changes.find((h) => h.state === 'up')!;
      expect(up.check).toMatchObject({ ok: true, diagnosis: 'up' });
      expect(monitor.snapshot()).toEqual([expect.objectContaining({ name: 'mem', state: 'up' })]);

      await daemons.stop('mem');
      // A round that lands while the bridge is still exiting may report it "starting" on the way.
      await waitFor(() => changes.at(-1)?.state === 'stopped', 'the stopped event', 10_000);
      expect(changes.at(-1)).toMatchObject({ name: 'mem', state: 'stopped' });
      // No event while nothing changes.
      const settled = changes.length;
      await monitor.refresh();
      await monitor.refresh();
      expect(changes.length).toBe(settled);
    } finally {
      monitor.stop();
    }
  });

  test('the monitor says "down" when the service manager says up but the handshake fails', async () => {
    const port = await freePort();
    const fake = join(home, 'quiet-server');
    writeFileSync(fake, `#!${process.execPath}\nrequire('net').createServer((s) => s.resume()).listen(${port}, '127.0.0.1');\n`);
    chmodSync(fake, 0o755);
    await manager.add({ name: 'quiet', command: fake, args: [], native: 'http', port });
    await daemons.start('quiet');
    const monitor = new HealthMonitor(
      { list: () => manager.list().filter((e) => e.name === 'quiet'), statusOf: (e) => daemons.statusOf(e) },
      { timeoutMs: 300 },
    );
    const [h] = await monitor.refresh();
    expect(h).toMatchObject({ name: 'quiet', state: 'down', status: { state: 'up' }, check: { diagnosis: 'silent' } });
    expect(h.detail).toMatch(/stdio mode/);
    await daemons.stop('quiet');
  });
});
