/**
 * The real client CLIs against mcpshare's daemons, offline, in a temporary HOME, each through its
 * own connection check (test/helpers/real-clients.ts).
 *
 * 1. By hand: one `mcpshare bridge`, and a config written here in each client's own format, over
 *    /mcp and over /sse where the client has SSE, plus an entry on a closed port that each client
 *    must report as failed (so a check that always says "connected" cannot pass).
 *
 * 2. One server for all: in a temporary HOME where the same stdio server is configured in all five
 *    clients' user configs (and Claude Desktop's), `mcpshare import --all-clients`, `start --all`,
 *    `apply --all-clients` leave ONE running copy of the server (every start of it is counted),
 *    every client reports connected to the daemon, Claude Desktop's entry (`mcpshare connect`,
 *    run here by an SDK stdio client as Claude Desktop would) reaches it too, and
 *    `revert --all-clients` gives back every file byte for byte.
 *
 * A missing client binary skips the suite with one line saying how to install it, unless
 * MCPSHARE_REQUIRE_ALL=1, which makes it fail instead.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { EVERYTHING, ROOT, runCli, waitReady, type RunningCli } from './helpers/bridge.js';
import { checkClient, clientEnv, CLIENT_NAMES, missingClients, prepareClient, type CheckResult, type RealClient } from './helpers/real-clients.js';
import { mcpshare, stopEverythingOf } from './helpers/systemd.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
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
      return write(
        join(project, '.gemini', 'settings.json'),
        JSON.stringify({ mcpServers: map((url) => (sse(url) ? { url, type: 'sse' } : { httpUrl: url })) }, null, 2),
      );
    case 'qwen':
      return write(join(project, '.qwen', 'settings.json'), JSON.stringify({ mcpServers: map((url) => (sse(url) ? { url } : { httpUrl: url })) }, null, 2));
    case 'opencode':
      return write(
        join(project, 'opencode.json'),
        JSON.stringify({ $schema: 'https://opencode.ai/config.json', mcp: map((url) => ({ type: 'remote', url })) }, null, 2),
      );
    case 'codex':
      return write(
        join(home, '.codex', 'config.toml'),
        Object.entries(servers)
          .map(([name, url]) => `[mcp_servers.${name}]\nurl = "${url}"\n`)
          .join('\n'),
      );
    case 'copilot':
      return write(
        join(home, '.copilot', 'mcp-config.json'),
        JSON.stringify({ mcpServers: map((url) => ({ type: sse(url) ? 'sse' : 'http', url, tools: ['*'] })) }, null, 2),
      );
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

// ---------------------------------------------------------------------------------------------

const COUNTED = join(ROOT, 'test/fixtures/counted-server-everything.mjs');

/**
 * The same stdio server in each client's user config, each in that client's own format and with
 * its own quirks of layout (tabs, a comment, one-line JSON), as people's files are.
 */
function writeStdioConfigs(home: string, starts: string): Record<RealClient | 'claude-desktop', string> {
  const node = process.execPath;
  const args = JSON.stringify([COUNTED, starts]);
  const files: Record<RealClient, [string, string]> = {
    gemini: [
      join(home, '.gemini', 'settings.json'),
      `{\n  "theme": "Default",\n  "mcpServers": {\n    "everything": { "command": ${JSON.stringify(node)}, "args": ${args} }\n  }\n}\n`,
    ],
    qwen: [join(home, '.qwen', 'settings.json'), `{"mcpServers": {"everything": {"command": ${JSON.stringify(node)}, "args": ${args}}}}`],
    opencode: [
      join(home, '.config', 'opencode', 'opencode.json'),
      `{\n\t"$schema": "https://opencode.ai/config.json",\n\t"mcp": {\n\t\t"everything": {"type": "local", "command": ${JSON.stringify([node, COUNTED, starts])}}\n\t}\n}\n`,
    ],
    codex: [
      join(home, '.codex', 'config.toml'),
      `# my codex settings\r\nmodel = "o3"\r\n\r\n[mcp_servers.everything]\r\ncommand = ${JSON.stringify(node)}\r\nargs = ${args}\r\n`,
    ],
    copilot: [
      join(home, '.copilot', 'mcp-config.json'),
      `{\n    "mcpServers": {\n        "everything": {"type": "local", "command": ${JSON.stringify(node)}, "args": ${args}, "tools": ["*"]}\n    }\n}\n`,
    ],
  };
  // Claude Desktop has no CLI to ask; its entry is run below the way it runs one.
  const desktop = join(home, '.config', 'Claude', 'claude_desktop_config.json');
  mkdirSync(join(desktop, '..'), { recursive: true });
  writeFileSync(
    desktop,
    `{\n  "mcpServers": {\n    "everything": {\n      "command": ${JSON.stringify(node)},\n      "args": ${args}\n    }\n  },\n  "globalShortcut": ""\n}\n`,
  );
  for (const [file, text] of Object.values(files)) {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  }
  return { ...Object.fromEntries(Object.entries(files).map(([c, [file]]) => [c, file])), 'claude-desktop': desktop } as Record<
    RealClient | 'claude-desktop',
    string
  >;
}

/** Runs a Claude Desktop config entry as Claude Desktop does (its command and args over stdio) and calls echo through it. */
async function echoThroughDesktopEntry(file: string, home: string): Promise<string> {
  const entry = JSON.parse(readFileSync(file, 'utf8')).mcpServers.everything as { command: string; args: string[] };
  const transport = new StdioClientTransport({ command: entry.command, args: entry.args, env: clientEnv(home), stderr: 'pipe' });
  const client = new Client({ name: 'claude-desktop-stand-in', version: '1' }, { capabilities: {} });
  await client.connect(transport);
  try {
    const result = (await client.callTool({ name: 'echo', arguments: { message: 'from the desktop entry' } })) as { content: Array<{ text?: string }> };
    return result.content[0]?.text ?? '';
  } finally {
    await client.close();
  }
}

/** Pids recorded by every start of the counted server so far. */
const startsOf = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : []);

/** Live processes that are the counted server of this test (`node COUNTED STARTS`; a bridge only names it after its "--"). */
function runningCopies(starts: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
        return argv[1] === COUNTED && argv[2] === starts;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function checkAll(home: string, cwd: string): Promise<Record<RealClient, CheckResult>> {
  const out = {} as Record<RealClient, CheckResult>;
  // One client at a time: two cores are shared with other work, and the counts stay readable.
  for (const client of CLIENT_NAMES) out[client] = await checkClient(client, { home, cwd, servers: ['everything'] });
  return out;
}

const connectedOf = (results: Record<RealClient, CheckResult>) => Object.fromEntries(Object.entries(results).map(([c, r]) => [c, r.everything.connected]));
const allConnected = Object.fromEntries(CLIENT_NAMES.map((c) => [c, true]));

describeReal('one server for all: import, start and apply for five real clients', () => {
  let tmp: string;
  let home: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mcpshare-clients-all-'));
    home = join(tmp, 'home');
  });
  afterAll(async () => {
    if (!tmp) return;
    await stopEverythingOf(home);
    rmSync(tmp, { recursive: true, force: true });
  });

  test('one running copy serves every client; revert gives back every file byte for byte', async () => {
    const project = join(tmp, 'project');
    const starts = join(tmp, 'starts');
    mkdirSync(project, { recursive: true });
    const files = writeStdioConfigs(home, starts);
    for (const c of CLIENT_NAMES) prepareClient(c, home, project);
    const env = { ...clientEnv(home), MCPSHARE_BACKEND: 'supervisor' };
    const run = async (args: string[]) => {
      const r = await mcpshare(args, env);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
      return r.stdout;
    };

    // Before: every client starts a copy of its own.
    const before = await checkAll(home, project);
    expect({ connected: connectedOf(before), text: before }).toEqual({ connected: allConnected, text: expect.anything() });
    const ownCopies = startsOf(starts).length;
    expect(ownCopies).toBeGreaterThanOrEqual(CLIENT_NAMES.length);
    expect(runningCopies(starts)).toEqual([]);
    // Taken after the clients ran: some rewrite their own file on start (qwen adds "$version": 4).
    const original = Object.fromEntries(Object.entries(files).map(([c, f]) => [c, readFileSync(f, 'utf8')])) as Record<keyof typeof files, string>;
    const everyFile = Object.keys(files) as Array<keyof typeof files>;

    // import registers the server once, however many clients have it.
    const imported = await run(['import', '--all-clients']);
    expect(imported.match(/registered bridged on (http:\/\/localhost:\d+\/mcp)/g)).toHaveLength(1);
    const url = /registered bridged on (http:\/\/localhost:\d+\/mcp)/.exec(imported)![1];
    expect(imported.match(/already registered/g)).toHaveLength(everyFile.length - 1);
    for (const c of everyFile) expect(readFileSync(files[c], 'utf8')).toBe(original[c]); // import only reads
    await run(['start', '--all']);
    const applied = await run(['apply', '--all-clients']);
    expect(applied.match(new RegExp(`everything\\s+switched\\s+→ ${url.replace(/[/.]/g, '\\$&')}`, 'g'))).toHaveLength(everyFile.length);

    // After: every client reaches the daemon, and the daemon's child is the one copy that ever started since.
    const daemonCopy = startsOf(starts).slice(ownCopies);
    expect(daemonCopy).toHaveLength(1);
    const after = await checkAll(home, project);
    expect({ connected: connectedOf(after), text: after }).toEqual({ connected: allConnected, text: expect.anything() });
    for (const c of CLIENT_NAMES) expect(readFileSync(files[c], 'utf8')).toContain(url);
    expect(readFileSync(files['claude-desktop'], 'utf8')).toMatch(/"connect",\s*"everything"/);
    expect(await echoThroughDesktopEntry(files['claude-desktop'], home)).toBe('Echo: from the desktop entry');
    expect(startsOf(starts).slice(ownCopies)).toEqual(daemonCopy);
    expect(runningCopies(starts)).toEqual(daemonCopy);

    const reverted = await run(['revert', '--all-clients']);
    expect(reverted.match(/everything\s+restored/g)).toHaveLength(everyFile.length);
    for (const c of everyFile) expect({ client: c, text: readFileSync(files[c], 'utf8') }).toEqual({ client: c, text: original[c] });
  }, 600_000);
});
