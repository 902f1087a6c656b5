/**
 * Idle as its own state, through the real CLI with the built-in supervisor in a temporary HOME
 * (issue 13): a registered server's daemon starts its server once (to take the discovery
 * snapshot), stops it after --idle-stop, and `status`, `check` and `status --json` say "idle"
 * (up, server asleep, its memory not counted) with PSS figures where Linux gives them; `check`
 * proves the daemon answers without waking the server, `check --deep` starts it. A server known to
 * keep state only in memory is never stopped. `mcpshare restart NAME` keeps the sessions.
 */
import { mcpshare as runMcpshare } from './helpers/systemd.js';
import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ServerStatus } from '../src/units/status.js';
import { userPaths } from '../src/registry/paths.js';
import { sendControl } from '../src/units/supervisor-control.js';
import { EVERYTHING, everythingEntry, textOf } from './helpers/bridge.js';
import { waitFor } from './helpers/wait.js';
import { daemonSpec } from '../src/units/daemon.js';
import type { ServerEntry } from '../src/registry/registry.js';
import { DEFAULT_IDLE_STOP_SEC, idleStopDefault } from '../src/registry/shareability.js';
import { freePort } from './helpers/ports.js';
import { measured, printMeasured } from './helpers/soak.js';

const homes: string[] = [];
const clients: Client[] = [];

function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'mcpshare-idle-units-'));
  homes.push(home);
  return home;
}

function envFor(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
  delete env.XDG_CONFIG_HOME;
  delete env.XDG_STATE_HOME;
  delete env.XDG_RUNTIME_DIR;
  delete env.MCPSHARE_LOG_LEVEL;
  return env;
}

/** Runs `mcpshare ARGS` to completion in `home` (a hung command is killed and fails the test). */
const mcpshare = (home: string, args: string[], timeoutMs = 90_000) => runMcpshare(args, envFor(home), timeoutMs);

async function ok(home: string, args: string[]) {
  const r = await mcpshare(home, args);
  if (r.code !== 0) throw new Error(`mcpshare ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function row(home: string, name: string): Promise<ServerStatus> {
  const body = JSON.parse((await ok(home, ['status', '--json'])).stdout) as { servers: ServerStatus[] };
  return body.servers.find((s) => s.name === name)!;
}

async function bridgeChild(port: number): Promise<{ state: string; pid: number | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/status`);
  return ((await res.json()) as { child: { state: string; pid: number | null } }).child;
}

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  for (const home of homes.splice(0)) {
    await sendControl(userPaths({ HOME: home }), { op: 'shutdown' }, 5000).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
  printMeasured('units idle');
});

describe('idle daemons through the CLI (built-in supervisor)', () => {
  test('start takes the snapshot, the server sleeps after --idle-stop: status/check say idle (memory of the bridge alone, PSS), check does not wake it, check --deep does; restart keeps the session', async () => {
    const home = newHome();
    const port = await freePort();
    await ok(home, ['add', 'ev', '--port', String(port), '--idle-stop', '2', '--', 'node', EVERYTHING, 'stdio']);
    expect(JSON.parse((await ok(home, ['list', '--json'])).stdout)[0]).toMatchObject({ name: 'ev', idleStopSec: 2 });
    // A new server has no snapshot: start runs it once, which proves it starts, and it is up.
    const started = await ok(home, ['start', 'ev']);
    expect(started.stdout).toMatch(/^ev: up at http:\/\/localhost:\d+\/mcp/);
    const up = await row(home, 'ev');
    expect(up).toMatchObject({ state: 'up', idle: false });
    expect(up.memory).toMatchObject({ kind: process.platform === 'linux' ? 'pss' : 'rss' });
    // PSS counts shared pages once per sharer: it is below the RSS of the same processes.
    if (process.platform === 'linux') expect(up.memory!.bytes).toBeLessThan(up.rssBytes!);
    measured('daemon with its server running: PSS / RSS (MB)', `${Math.round(up.memory!.bytes / 1048576)} / ${Math.round(up.rssBytes! / 1048576)}`);

    // A client connects and stays (it never DELETEs).
    const c = new Client({ name: 'stays', version: '1.0.0' });
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
    await c.connect(transport);
    clients.push(c);
    expect(textOf(await c.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('Echo: hi');

    await waitFor(async () => (await bridgeChild(port)).state === 'idle', 'the server to sleep', 20_000);
    const idle = await row(home, 'ev');
    expect(idle).toMatchObject({ state: 'up', idle: true, sessions: 1 });
    expect(idle.detail).toMatch(/^idle: ready, its server asleep/);
    expect(idle.memory!.bytes).toBeLessThan(up.memory!.bytes);
    measured('daemon with its server asleep: PSS (MB)', Math.round(idle.memory!.bytes / 1048576));
    const table = (await ok(home, ['status'])).stdout;
    expect(table).toMatch(/STATE.*MEMORY/);
    expect(table).toMatch(new RegExp(`ev\\s+bridged\\s+\\S+\\s+idle\\s+\\d+\\s+\\d+\\s+\\d+ MB ${process.platform === 'linux' ? 'PSS' : 'RSS'}\\s+1`));

    // check proves the daemon answers (from the snapshot) and leaves the server asleep.
    const check = await ok(home, ['check', 'ev']);
    expect(check.stdout).toMatch(/✔ ev .*\(idle: its server sleeps until a request needs it\)/);
    expect((await bridgeChild(port)).state).toBe('idle');
    // check --deep starts it.
    const deep = await ok(home, ['check', 'ev', '--deep']);
    expect(deep.stdout).toMatch(/deep: its server was asleep and started in \d+ ms \(pid \d+\)/);
    expect((await bridgeChild(port)).state).toBe('ready');

    // mcpshare restart: the session carries on (no 404, no initialize), its GET stream comes back.
    const sid = transport.sessionId;
    await ok(home, ['restart', 'ev']);
    expect(textOf(await c.callTool({ name: 'echo', arguments: { message: 'after restart' } }))).toBe('Echo: after restart');
    expect(transport.sessionId).toBe(sid);
    const log = readFileSync(join(userPaths({ HOME: home }).logDir, 'ev.log'), 'utf8');
    expect(log).toMatch(/\(stays 1\.0\.0\) resumed/);
    expect(log.match(/\(stays 1\.0\.0\) initialized/g)).toHaveLength(1);
  }, 180_000);

  test('a server known to keep state only in memory (sequential-thinking) is never stopped when idle; others after 600 s; an entry may say otherwise (0: never)', () => {
    const think = join(process.cwd(), 'node_modules/@modelcontextprotocol/server-sequential-thinking/dist/index.js');
    const argvOf = (over: Partial<ServerEntry>) => daemonSpec(everythingEntry('x', 8042, over), userPaths({ HOME: '/home/u' })).argv;
    const idleStop = (argv: string[]) => argv[argv.indexOf('--idle-stop') + 1];
    expect(argvOf({})).toContain('--lazy');
    expect(idleStop(argvOf({}))).toBe(String(DEFAULT_IDLE_STOP_SEC));
    expect(idleStop(argvOf({ args: [think] }))).toBe('0');
    expect(idleStopDefault(process.execPath, [think]).reason).toMatch(/sequential-thinking keeps its thought history .* in memory only: never stopped/);
    expect(idleStop(argvOf({ idleStopSec: 0 }))).toBe('0');
    expect(idleStop(argvOf({ args: [think], idleStopSec: 120 }))).toBe('120');
  });
});
