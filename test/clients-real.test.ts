/**
 * The real client CLIs against mcpshare's daemons, offline, in a temporary HOME, each through its
 * own connection check (test/helpers/real-clients.ts).
 *
 * 1. By hand: one `mcpshare bridge`, and a config written here in each client's own format, over
 *    /mcp and over /sse where the client has SSE, plus an entry on a closed port that each client
 *    must report as failed (so a check that always says "connected" cannot pass).
 *
 * A missing client binary skips the suite with one line saying how to install it, unless
 * MCPSHARE_REQUIRE_ALL=1, which makes it fail instead.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { EVERYTHING, runCli, waitReady, type RunningCli } from './helpers/bridge.js';
import { checkClient, CLIENT_NAMES, missingClients, prepareClient, type RealClient } from './helpers/real-clients.js';
import { freePort } from './helpers/shim.js';

const missing = missingClients();
const required = process.env.MCPSHARE_REQUIRE_ALL === '1';
if (missing && !required) process.stderr.write(`clients-real: skipped: ${missing}\n`);
const describeReal = missing && !required ? describe.skip : describe;

if (missing && required) {
  test('every client CLI is installed (MCPSHARE_REQUIRE_ALL=1)', () => {
    throw new Error(missing);
  });
}

/** Which transports each client is configured with by hand: codex has no SSE. */
const TRANSPORTS: Record<RealClient, Array<'mcp' | 'sse'>> = {
  gemini: ['mcp', 'sse'],
  qwen: ['mcp', 'sse'],
  opencode: ['mcp', 'sse'],
  codex: ['mcp'],
  copilot: ['mcp', 'sse'],
};

/** Writes `servers` (name → URL) in the client's own format and place (project file, or user file). */
function writeRemoteConfig(client: RealClient, home: string, project: string, servers: Record<string, string>): void {
  const write = (file: string, text: string) => {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  };
  const map = (f: (url: string) => object) => Object.fromEntries(Object.entries(servers).map(([name, url]) => [name, f(url)]));
  const sse = (url: string) => url.endsWith('/sse');
  switch (client) {
    case 'gemini':
      return write(join(project, '.gemini', 'settings.json'), JSON.stringify({ mcpServers: map((url) => (sse(url) ? { url, type: 'sse' } : { httpUrl: url })) }, null, 2));
    case 'qwen':
      return write(join(project, '.qwen', 'settings.json'), JSON.stringify({ mcpServers: map((url) => (sse(url) ? { url } : { httpUrl: url })) }, null, 2));
    case 'opencode':
      return write(join(project, 'opencode.json'), JSON.stringify({ $schema: 'https://opencode.ai/config.json', mcp: map((url) => ({ type: 'remote', url })) }, null, 2));
    case 'codex':
      return write(join(home, '.codex', 'config.toml'), Object.entries(servers).map(([name, url]) => `[mcp_servers.${name}]\nurl = "${url}"\n`).join('\n'));
    case 'copilot':
      return write(join(home, '.copilot', 'mcp-config.json'), JSON.stringify({ mcpServers: map((url) => ({ type: sse(url) ? 'sse' : 'http', url, tools: ['*'] })) }, null, 2));
  }
}

describeReal('each client CLI, configured by hand, against one mcpshare bridge', () => {
  let bridge: RunningCli;
  let tmp: string;
  let deadPort: number;
  beforeAll(async () => {
    bridge = await runCli(['bridge', '--port', '0', '--name', 'everything', '--', process.execPath, EVERYTHING, 'stdio']);
    await waitReady(bridge);
    deadPort = await freePort();
    tmp = mkdtempSync(join(tmpdir(), 'mcpshare-clients-real-'));
  });
  afterAll(async () => {
    await bridge?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test.each(CLIENT_NAMES)('%s connects over each of its transports and reports a closed port as failed', async (client) => {
    // One HOME and project per client: no client sees another's files.
    const home = join(tmp, client, 'home');
    const project = join(tmp, client, 'project');
    mkdirSync(home, { recursive: true });
    mkdirSync(project, { recursive: true });
    const port = bridge.port;
    const servers: Record<string, string> = { dead: `http://localhost:${deadPort}/mcp` };
    for (const t of TRANSPORTS[client]) servers[`every${t}`] = `http://localhost:${port}/${t}`;
    writeRemoteConfig(client, home, project, servers);
    prepareClient(client, home, project);

    const result = await checkClient(client, { home, cwd: project, servers: Object.keys(servers) });
    const summary = Object.fromEntries(Object.entries(result).map(([name, s]) => [name, s.connected]));
    const expected = Object.fromEntries(Object.keys(servers).map((name) => [name, name !== 'dead']));
    // On a mismatch the message carries what the client said.
    expect({ summary, text: Object.values(result).map((s) => s.text) }).toEqual({ summary: expected, text: expect.any(Array) });
  });
});
