/**
 * The main real client: Claude Code 2.1.330 (which first tries protocol 2026-07-28's server/discover
 * and falls back to initialize) connects through the bridge over both transports. `claude mcp list`
 * needs no API key and reports "✔ Connected" / "✘ Failed to connect" per configured server.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bridgeArgs, EVERYTHING, ROOT, runCli, waitReady, type RunningCli } from './helpers/bridge.js';

const run = promisify(execFile);
const CLAUDE = join(ROOT, 'node_modules/.bin/claude');
let b: RunningCli;
let home: string;

const claude = (args: string[]) =>
  run(CLAUDE, args, { cwd: home, env: { ...process.env, HOME: home, CI: 'true' }, timeout: 60_000 });

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mcpshare-claude-'));
  b = await runCli(bridgeArgs([process.execPath, EVERYTHING, 'stdio'], ['--name', 'everything']));
  await waitReady(b);
});
afterAll(async () => {
  await b?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

test('claude mcp list connects to the bridge over Streamable HTTP and SSE, and reports a wrong path as failed', async () => {
  const port = b.port;
  await claude(['mcp', 'add', '--transport', 'http', 'shared-http', `http://localhost:${port}/mcp`]);
  await claude(['mcp', 'add', '--transport', 'sse', 'shared-sse', `http://localhost:${port}/sse`]);
  await claude(['mcp', 'add', '--transport', 'http', 'wrong-path', `http://localhost:${port}/nope`]);
  const { stdout } = await claude(['mcp', 'list']);
  expect(stdout).toMatch(/shared-http: .*✔ Connected/);
  expect(stdout).toMatch(/shared-sse: .*✔ Connected/);
  expect(stdout).toMatch(/wrong-path: .*✘/);
  // Both sessions were Claude Code's own, answered by the one shared child.
  expect(b.stderr()).toMatch(/streamable-http session \w+ \(claude-code 2\.1\.330\) initialized \(protocol 2025-11-25\)/);
  expect(b.stderr()).toMatch(/sse session \w+ \(claude-code 2\.1\.330\) initialized/);
  const status = await b.status();
  expect(status.child.restarts).toBe(0);
});
