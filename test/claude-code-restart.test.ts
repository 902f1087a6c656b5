/**
 * The real Claude Code CLI across `mcpshare restart NAME` (issue 13), offline: a scripted model
 * (test/helpers/scripted-model.ts) makes `claude -p` call a shared daemon's tools; between two of
 * its calls the daemon is restarted by the CLI (built-in supervisor, temporary HOME). Its next call
 * must work without a 404 and without a second initialize, and its GET stream must be back: a
 * tools/list_changed sent after the restart makes it fetch the tools again.
 */
import { afterAll, afterEach, beforeEach, expect, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { userPaths } from '../src/registry/paths.js';
import { sendControl } from '../src/units/supervisor-control.js';
import { CLI, FIXTURE, ROOT, textOf } from './helpers/bridge.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/ports.js';
import { startScriptedModel, toolResults, type ScriptedModel } from './helpers/scripted-model.js';
import { measured, printMeasured } from './helpers/soak.js';
import { startUserManager, type UserManager } from './helpers/systemd.js';

const run = promisify(execFile);
const CLAUDE = join(ROOT, 'node_modules/.bin/claude');
let home: string;
let model: ScriptedModel | undefined;
let observer: Client | undefined;
/** Set for the systemd tests: a private user manager whose HOME is the test's. */
let manager: UserManager | undefined;

function envFor(): NodeJS.ProcessEnv {
  if (manager) return { ...manager.env, CI: 'true' };
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, MCPSHARE_BACKEND: 'supervisor', CI: 'true' };
  delete env.XDG_CONFIG_HOME;
  delete env.XDG_STATE_HOME;
  delete env.XDG_RUNTIME_DIR;
  return env;
}

const mcpshare = (args: string[]) => run(process.execPath, [CLI, ...args], { env: envFor(), timeout: 90_000 });

beforeEach(() => {
  manager = undefined;
  home = mkdtempSync(join(tmpdir(), 'mcpshare-cc-restart-'));
});

afterEach(async () => {
  await observer?.close().catch(() => undefined);
  await model?.close();
  if (manager) await manager.stop();
  else await sendControl(userPaths({ HOME: home }), { op: 'shutdown' }, 5000).catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
});

/** The same tests under a real systemd user manager (TESTING.md): `mcpshare restart` is `systemctl --user restart`. */
async function underSystemd(): Promise<void> {
  rmSync(home, { recursive: true, force: true });
  manager = await startUserManager();
  home = manager.home;
}

afterAll(() => printMeasured('claude code across mcpshare restart'));

async function fixtureStats(): Promise<Record<string, any>> {
  return JSON.parse(textOf(await observer!.callTool({ name: 'stats', arguments: {} })));
}

async function acrossRestart(transport: 'http' | 'sse'): Promise<{ log: string; beforeRestart: string; afterRestart: string; debug: string }> {
  const port = await freePort();
  await mcpshare(['add', 'fx', '--port', String(port), '--', 'node', FIXTURE]);
  await mcpshare(['start', 'fx']);
  const url = `http://localhost:${port}/mcp`;
  // An observer of the fixture's counters (it never asks for tools/list itself).
  observer = new Client({ name: 'observer', version: '1.0.0' });
  await observer.connect(new StreamableHTTPClientTransport(new URL(url)));

  let listCallsBefore = 0;
  let restartMs = 0;
  model = await startScriptedModel(
    [
      { tool: 'mcp__fx__echo', input: { text: 'before' } },
      { tool: 'mcp__fx__echo', input: { text: 'after' } },
      { tool: 'mcp__fx__list_changed', input: {} },
      { tool: 'mcp__fx__echo', input: { text: 'last' } },
      { text: 'done' },
    ],
    {
      before: async (i) => {
        if (i === 1) {
          // Between the first and the second call: the daemon is restarted by the CLI.
          const t = Date.now();
          await mcpshare(['restart', 'fx']);
          restartMs = Date.now() - t;
          // The GET stream reconnects on the client's own schedule (about 1 s after it dropped).
          await new Promise((r) => setTimeout(r, 2500));
          // The observer's own session resumes too; what it reads is the new child's counter.
          listCallsBefore = (await fixtureStats()).toolsListCalls;
        }
        if (i === 3) {
          // list_changed went out on the sessions' GET streams: Claude Code fetches the tools again.
          await waitFor(async () => (await fixtureStats()).toolsListCalls > listCallsBefore, 'Claude Code to fetch tools/list after list_changed', 15_000);
        }
      },
    },
  );
  await run(CLAUDE, ['mcp', 'add', '--transport', transport, 'fx', transport === 'http' ? url : url.replace(/\/mcp$/, '/sse')], {
    cwd: home,
    env: envFor(),
    timeout: 60_000,
  });
  const debugFile = join(home, 'claude-debug.log');
  const claude = spawn(CLAUDE, ['-p', 'Use the fx tools as asked.', '--allowedTools', 'mcp__fx__echo,mcp__fx__list_changed', '--debug-file', debugFile], {
    cwd: home,
    env: {
      ...envFor(),
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'sk-ant-offline-test',
      ENABLE_TOOL_SEARCH: 'false',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      MCP_TIMEOUT: '10000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  claude.stdout!.on('data', (d) => (out += d));
  claude.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => claude.once('exit', resolve));
  measured(`mcpshare restart fx (${manager ? 'systemd' : 'supervisor'}, ${transport})`, restartMs, 'ms');

  const results = model.requests.map((r) => toolResults(r.body).join(' '));
  const debug = existsSync(debugFile) ? readFileSync(debugFile, 'utf8') : '';
  const log = readFileSync(join(userPaths({ HOME: home }).logDir, 'fx.log'), 'utf8');
  const diagnostics = `claude exit ${code}\n${out}\n--- results: ${JSON.stringify(results)}\n--- daemon log:\n${log.slice(-4000)}\n--- claude debug (mcp):\n${debug
    .split('\n')
    .filter((l) => /mcp|MCP|fx/.test(l))
    .slice(-60)
    .join('\n')}`;
  if (code !== 0 || model.requests.length < 5) console.log(diagnostics);
  expect(code).toBe(0);
  // Every call answered: before the restart, after it, and the list_changed and the last one.
  expect(results.slice(1, 5)).toEqual([
    expect.stringContaining('before'),
    expect.stringContaining('after'),
    expect.stringContaining('sent'),
    expect.stringContaining('last'),
  ]);
  return { log, beforeRestart: log.split(/SIGTERM received: stopping/)[0], afterRestart: log.split(/SIGTERM received: stopping/)[1] ?? '', debug };
}

test('Streamable HTTP: a claude -p session calls through `mcpshare restart`: no 404, no second initialize, its notification stream comes back', async () => {
  const { log, debug } = await acrossRestart('http');
  checkHttp(log, debug);
});

test('systemd: Streamable HTTP across `mcpshare restart` (systemctl --user restart)', async () => {
  await underSystemd();
  const { log, debug } = await acrossRestart('http');
  checkHttp(log, debug);
});

test('systemd: legacy SSE across `mcpshare restart`', async () => {
  await underSystemd();
  checkSse(await acrossRestart('sse'));
});

function checkHttp(log: string, debug: string): void {
  // No 404 anywhere, and at most the one initialize Claude Code sent before the restart.
  expect(debug).not.toMatch(/\b404\b|Session not found|reconnection exhausted/i);
  expect(log.match(/\(claude-code [\d.]+\) initialized/g)?.length ?? 0).toBeLessThanOrEqual(1);
  const [beforeRestart, afterRestart] = log.split(/SIGTERM received: stopping/);
  if (/\(claude-code [\d.]+\) initialized/.test(beforeRestart)) {
    // A 2025 session (Claude Code before 2.1.330): resumed by the new bridge, not started again.
    expect(afterRestart).toMatch(/\(claude-code [\d.]+\) resumed/);
  } else {
    // 2.1.330 and later find server/discover here and run stateless (MCP 2026-07-28): nothing to
    // resume; their subscriptions/listen stream (the GET stream's successor) opens again by itself.
    expect(beforeRestart).toMatch(/stateless request \w+ \(claude-code [\d.]+\) listens/);
    expect(afterRestart).toMatch(/stateless request \w+ \(claude-code [\d.]+\) listens/);
  }
  measured('Claude Code era against the bridge', /\(claude-code [\d.]+\) initialized/.test(beforeRestart) ? '2025 session' : '2026-07-28 stateless');
}

test('legacy SSE (a 2025 session) across `mcpshare restart`: its stream comes back, no 404, calls work and its stream gets list_changed', async () => {
  checkSse(await acrossRestart('sse'));
});

/**
 * Legacy SSE carries no session id the client could send back except as Last-Event-ID. What the
 * bridge does for each way a client comes back after the restart:
 * - its EventSource sends Last-Event-ID: the session is resumed (bridge-resume test);
 * - it reconnects the stream without it and carries on (SDK v1, Claude Code 2.1.330): the new
 *   stream's session is adopted at its first request, no initialize needed;
 * - it reconnects and initializes a new session itself (Claude Code 2.1.332 does: one /sse that it
 *   drops at once, then a second on which it initializes): served as any new session.
 * In every case no request may see a 404, and the calls after the restart, the list_changed and the
 * tools/list it triggers must all work (acrossRestart checks those).
 */
function checkSse({ beforeRestart, afterRestart, debug }: { beforeRestart: string; afterRestart: string; debug: string }): void {
  const how = /sse session \w+ \(claude-code [\d.]+\) resumed/.test(afterRestart)
    ? 'resumed (Last-Event-ID)'
    : /sse session \w+ .* sent requests without initialize/.test(afterRestart)
      ? 'adopted (new stream, no initialize)'
      : /sse session \w+ \(claude-code [\d.]+\) initialized/.test(afterRestart)
        ? 'a new session the client initialized itself'
        : 'neither';
  measured('Claude Code over SSE after the restart', how);
  expect(beforeRestart).toMatch(/sse session \w+ \(claude-code [\d.]+\) initialized/);
  expect(how).not.toBe('neither');
  expect(debug).not.toMatch(/\b404\b|Session not found/i);
}
