/**
 * The main real client: Claude Code 2.1.332, which first tries protocol 2026-07-28's server/discover
 * (now answered: it runs stateless over /mcp) and speaks 2025-11-25 sessions over /sse.
 * `claude mcp list` needs no API key and reports "✔ Connected" / "✘ Failed to connect" per server;
 * `claude -p` against a scripted loopback model (test/helpers/scripted-model.ts) calls a real tool
 * through the daemon.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bridgeArgs, EVERYTHING, ROOT, runCli, waitReady, type RunningCli } from './helpers/bridge.js';
import { startScriptedModel } from './helpers/scripted-model.js';

const run = promisify(execFile);
const CLAUDE = join(ROOT, 'node_modules/.bin/claude');
let b: RunningCli;
let home: string;

const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  HOME: home,
  CI: 'true',
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  MCP_TIMEOUT: '10000',
  ...extra,
});
const claude = (args: string[], extra?: Record<string, string>) => run(CLAUDE, args, { cwd: home, env: env(extra), timeout: 90_000 });

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mcpshare-claude-'));
  b = await runCli(bridgeArgs([process.execPath, EVERYTHING, 'stdio'], ['--name', 'everything']));
  await waitReady(b);
});
afterAll(async () => {
  await b?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

test('claude mcp list connects over /mcp (stateless, 2026-07-28) and /sse (a 2025-11-25 session), and reports a wrong path as failed', async () => {
  const port = b.port;
  await claude(['mcp', 'add', '--transport', 'http', 'shared-http', `http://localhost:${port}/mcp`]);
  await claude(['mcp', 'add', '--transport', 'sse', 'shared-sse', `http://localhost:${port}/sse`]);
  await claude(['mcp', 'add', '--transport', 'http', 'wrong-path', `http://localhost:${port}/nope`]);
  const { stdout } = await claude(['mcp', 'list']);
  expect(stdout).toMatch(/shared-http: .*✔ Connected/);
  expect(stdout).toMatch(/shared-sse: .*✔ Connected/);
  expect(stdout).toMatch(/wrong-path: .*✘/);
  // /mcp went the stateless way: discovery answered, no session opened, no initialize.
  expect(b.stderr()).toMatch(/server\/discover answered for claude-code 2\.1\.332 \(protocol 2026-07-28\)/);
  expect(b.stderr()).not.toMatch(/streamable-http session \w+ \(claude-code/);
  // /sse is legacy: a 2025 session, answered by the same one child.
  expect(b.stderr()).toMatch(/sse session \w+ \(claude-code 2\.1\.332\) initialized/);
  const status = await b.status();
  expect(status.child.restarts).toBe(0);
  for (const name of ['shared-http', 'shared-sse', 'wrong-path']) await claude(['mcp', 'remove', name]);
});

test.each([
  ['http', '/mcp'],
  ['sse', '/sse'],
])('claude -p calls a tool through the daemon over %s', async (transport, path) => {
  // One echo call, then a text quoting its result (so the CLI prints it).
  const model = await startScriptedModel([{ tool: 'mcp__shared__echo', input: { message: `through ${path}` } }, { quote: 'RESULT: ' }]);
  try {
    await claude(['mcp', 'add', '--transport', transport, 'shared', `http://localhost:${b.port}${path}`]);
    const before = (await b.status()).requests.served;
    const { stdout } = await claude(['-p', 'Call the echo tool', '--allowedTools', 'mcp__shared__echo'], {
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'sk-ant-offline-test',
      ENABLE_TOOL_SEARCH: 'false',
    });
    // The scripted model repeats the tool result it was given: the real server's echo, through the bridge.
    expect(stdout).toContain(`RESULT: Echo: through ${path}`);
    const status = await b.status();
    expect(status.requests.served).toBeGreaterThan(before);
    expect(status.misroutedDropped).toBe(0);
  } finally {
    await model.close();
    await claude(['mcp', 'remove', 'shared']).catch(() => undefined);
  }
});
