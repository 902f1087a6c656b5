/**
 * Every MCP client's config (src/clients/targets): real files in a temporary HOME in the shapes each
 * client's documentation gives, with comments and odd formatting (CRLF, tabs, trailing commas,
 * inline and dotted TOML tables), switched to a REAL bridge daemon (server-everything) probed with
 * the REAL handshake, then reverted byte for byte; broken files get an error with line and column
 * and are never written; import registers a server configured alike in several clients once. The
 * CLI is the shipped one (`node dist/cli.js`) with a temporary HOME.
 */
import { CONNECT_NODE_FLAGS } from '../src/runtime.js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseToml } from '@decimalturn/toml-patch';
import { parse as parseJsonc, type ParseError } from 'jsonc-parser';
import {
  CLIENTS,
  clientByName,
  clientContext,
  type ClientApplyReport,
  type ClientConfig,
  type ClientContext,
  type ClientName,
  type SwitchOptions,
} from '../src/clients/targets/index.js';
import { ClientConfigError } from '../src/clients/targets/generic.js';
import { CLI_SCRIPT, connectTarget } from '../src/clients/targets/claude-desktop.js';
import { insertMember, parseJsonDoc, removeMember } from '../src/clients/targets/jsonc-edit.js';
import { setToml } from '../src/clients/targets/toml-edit.js';
import { listClients } from '../src/clients/targets/run.js';
import { toShellRefs } from '../src/clients/targets/switch.js';
import { Registry, type ServerEntry } from '../src/registry/registry.js';
import { userPaths } from '../src/registry/paths.js';
import { EVERYTHING, everythingEntry, ROOT, runCli, type RunningCli } from './helpers/bridge.js';
import { mcpshare, type RunResult } from './helpers/systemd.js';
import { freePort } from './helpers/ports.js';

const NODE_DIR = dirname(process.execPath);
const PATH_ENV = [NODE_DIR, '/usr/local/bin', '/usr/bin', '/bin'].join(':');
const read = (p: string) => readFileSync(p, 'utf8');

let tmp: string;
let home: string;
let ctx: ClientContext;
let bridge: RunningCli;
let port: number;
let closedPort: number;
let registry: ServerEntry[];
let stateDir: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-targets-'));
  home = join(tmp, 'home');
  mkdirSync(home);
  port = await freePort();
  closedPort = await freePort(new Set([port]));
  bridge = await runCli(['bridge', '--port', String(port), '--name', 'everything', '--', process.execPath, EVERYTHING]);
  registry = [
    everythingEntry('everything', port),
    // The same bridge, registered for SSE clients: a bridge serves /sse next to /mcp.
    everythingEntry('everything-sse', port, { transport: 'sse', path: '/sse' }),
    // A native server that speaks only SSE (the bridge's /sse stands in for it).
    everythingEntry('sse-only', port, { kind: 'native', transport: 'sse', path: '/sse', command: 'sse-only-server', args: [] }),
    everythingEntry('memory', closedPort, { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] }),
  ];
  stateDir = userPaths({ HOME: home }).stateDir;
  ctx = clientContext({ HOME: home, PATH: PATH_ENV }, 'linux');
});

afterAll(async () => {
  await bridge?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const switchOpts = (over: Partial<SwitchOptions> = {}): SwitchOptions => ({ registry, stateDir, env: ctx.env, ...over });
const byName = (r: ClientApplyReport, name: string) => {
  const x = r.outcomes.find((o) => o.name === name);
  if (!x) throw new Error(`no outcome for ${name}: ${JSON.stringify(r.outcomes)}`);
  return x;
};

function write(file: string, text: string, mode = 0o640): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/** What the client itself would read: JSONC as VS Code parses it (comments, trailing commas), TOML. */
function clientView(c: ClientConfig, text: string): Record<string, unknown> {
  if (c.format === 'toml') return JSON.parse(JSON.stringify(parseToml(text)));
  const errors: ParseError[] = [];
  const data = parseJsonc(text, errors, { allowTrailingComma: c.format === 'jsonc', disallowComments: c.format === 'json' });
  expect(errors).toEqual([]);
  return data;
}

function section(c: ClientConfig, text: string): Record<string, unknown> {
  return c.section.reduce<any>((n, k) => n?.[k], clientView(c, text));
}

const EVERYTHING_NPX = ['-y', '@modelcontextprotocol/server-everything'];

interface Case {
  client: ClientName;
  text: string;
  /** The switched `everything` entry, as that client's docs give a remote entry. */
  shared: (url: string) => unknown;
  /** Text that must still be there after apply (comments, untouched entries, line ends). */
  keeps: string[];
}

const url = () => `http://localhost:${port}/mcp`;

const CASES: Case[] = [
  {
    client: 'cursor',
    // Tabs, a line comment, a block comment, trailing commas.
    text: `{\n\t// Cursor's MCP servers\n\t"mcpServers": {\n\t\t"everything": {\n\t\t\t"command": "npx",\n\t\t\t"args": ["-y", "@modelcontextprotocol/server-everything"],\n\t\t\t"env": {"EVERYTHING_TOKEN": "tok-cursor-secret"},\n\t\t},\n\t\t/* a remote one */\n\t\t"context7": {"url": "https://mcp.context7.com/mcp", "headers": {"CONTEXT7_API_KEY": "\${env:CONTEXT7_API_KEY}"}},\n\t\t"memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]},\n\t\t"browser": {"command": "npx", "args": ["@playwright/mcp@latest"]},\n\t},\n}\n`,
    shared: (u) => ({ url: u }),
    keeps: [
      "\t// Cursor's MCP servers\n",
      '\t\t/* a remote one */\n',
      '"context7": {"url": "https://mcp.context7.com/mcp"',
      '\t\t"memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]},\n',
      '\t},\n}\n',
    ],
  },
  {
    client: 'vscode',
    // CRLF line ends, comments, "inputs", an entry VS Code prompts for, trailing commas.
    text: [
      '{',
      '    // VS Code user MCP configuration',
      '    "inputs": [',
      '        {"type": "promptString", "id": "api-key", "description": "API key", "password": true},',
      '    ],',
      '    "servers": {',
      '        "everything": {',
      '            "type": "stdio",',
      '            "command": "npx",',
      '            "args": ["-y", "@modelcontextprotocol/server-everything"]',
      '        },',
      '        "perplexity": {"type": "stdio", "command": "npx", "args": ["-y", "server-perplexity-ask"], "env": {"PERPLEXITY_API_KEY": "${input:api-key}"}},',
      '        "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},',
      '    },',
      '}',
      '',
    ].join('\r\n'),
    shared: (u) => ({ type: 'http', url: u }),
    keeps: [
      '    // VS Code user MCP configuration\r\n',
      '"perplexity": {"type": "stdio"',
      '"github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},\r\n    },\r\n}\r\n',
    ],
  },
  {
    client: 'windsurf',
    text: `{\n    "mcpServers": {\n        "everything": {\n            "command": "npx",\n            "args": [\n                "-y",\n                "@modelcontextprotocol/server-everything"\n            ],\n            "disabled": false,\n            "disabledTools": ["longRunningOperation"]\n        },\n        "zapier": {\n            "serverUrl": "https://actions.zapier.com/mcp/KEY/sse"\n        }\n    }\n}`,
    shared: (u) => ({ serverUrl: u, disabled: false, disabledTools: ['longRunningOperation'] }),
    keeps: ['        "zapier": {\n            "serverUrl": "https://actions.zapier.com/mcp/KEY/sse"\n        }\n    }\n}'],
  },
  {
    client: 'zed',
    // A whole settings.json: other settings, comments, a server from an extension, one that speaks only SSE.
    text: `// Zed settings\n//\n// For information on how to configure Zed, see the Zed documentation.\n{\n  "theme": "One Dark",\n  "buffer_font_size": 15, // bigger\n  "context_servers": {\n    "everything": {\n      "source": "custom",\n      "enabled": true,\n      "command": "npx",\n      "args": ["-y", "@modelcontextprotocol/server-everything"],\n      "env": {}\n    },\n    "sse-only": {"command": "sse-only-server", "args": []},\n    "postgres": {"settings": {"database_url": "postgres://localhost"}},\n  },\n  "vim_mode": false,\n}\n`,
    shared: (u) => ({ url: u, enabled: true }),
    keeps: [
      '// Zed settings\n//\n',
      '  "buffer_font_size": 15, // bigger\n',
      '    "sse-only": {"command": "sse-only-server", "args": []},\n',
      '  "vim_mode": false,\n}\n',
    ],
  },
  {
    client: 'codex',
    // CRLF, comments, a dotted table with an env sub-table, an inline-table entry, other tables.
    text: [
      '# Codex configuration',
      'model = "gpt-5"   # the default model',
      '',
      '[mcp_servers.everything]',
      'command = "npx"',
      'args = ["-y", "@modelcontextprotocol/server-everything"]  # pinned by npx',
      'startup_timeout_sec = 20',
      '',
      '[mcp_servers.everything.env]',
      'EVERYTHING_TOKEN = "tok-codex-secret"',
      '',
      '[mcp_servers.docs]',
      'url = "https://developers.openai.com/mcp"',
      '',
      '[profiles.fast]',
      'model = "gpt-5-mini" # cheaper',
      '',
    ].join('\r\n'),
    shared: (u) => ({ startup_timeout_sec: 20, url: u }),
    keeps: [
      '# Codex configuration\r\nmodel = "gpt-5"   # the default model\r\n',
      '[mcp_servers.docs]\r\nurl = "https://developers.openai.com/mcp"\r\n',
      '[profiles.fast]\r\nmodel = "gpt-5-mini" # cheaper\r\n',
    ],
  },
  {
    client: 'gemini',
    text: `{\n  "theme": "Dracula",\n  "mcpServers": {\n    "everything": {\n      "command": "npx",\n      "args": ["-y", "@modelcontextprotocol/server-everything"],\n      "env": {"API_KEY": "$MY_API_TOKEN"},\n      "timeout": 30000,\n      "trust": false,\n      "includeTools": ["echo"]\n    },\n    "github": {"httpUrl": "https://api.githubcopilot.com/mcp/", "timeout": 5000}\n  }\n}\n`,
    shared: (u) => ({ httpUrl: u, timeout: 30000, trust: false, includeTools: ['echo'] }),
    keeps: ['  "theme": "Dracula",\n', '    "github": {"httpUrl": "https://api.githubcopilot.com/mcp/", "timeout": 5000}\n  }\n}\n'],
  },
  {
    client: 'qwen',
    text: `{\n  // Qwen Code\n  "mcpServers": {\n    "everything-sse": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"], "timeout": 10000}\n  }\n}\n`,
    shared: () => ({ url: `http://localhost:${port}/sse`, timeout: 10000 }),
    keeps: ['  // Qwen Code\n'],
  },
  {
    client: 'opencode',
    text: `{\n  "$schema": "https://opencode.ai/config.json",\n  // Theme configuration\n  "theme": "opencode",\n  "mcp": {\n    "everything": {\n      "type": "local",\n      "command": ["npx", "-y", "@modelcontextprotocol/server-everything"],\n      "enabled": true,\n      "environment": {"EVERYTHING_TOKEN": "{env:EVERYTHING_TOKEN}"},\n    },\n    "jira": {"type": "remote", "url": "https://jira.example.com/mcp", "enabled": false},\n  },\n}\n`,
    shared: (u) => ({ type: 'remote', url: u, enabled: true }),
    keeps: ['  // Theme configuration\n', '    "jira": {"type": "remote", "url": "https://jira.example.com/mcp", "enabled": false},\n  },\n}\n'],
  },
  {
    client: 'copilot',
    text: `{\n  "mcpServers": {\n    "everything": {\n      "type": "local",\n      "command": "npx",\n      "args": ["-y", "@modelcontextprotocol/server-everything"],\n      "tools": ["*"]\n    },\n    "context7": {"type": "http", "url": "https://mcp.context7.com/mcp", "tools": ["*"]}\n  }\n}\n`,
    shared: (u) => ({ type: 'http', url: u, tools: ['*'] }),
    keeps: ['    "context7": {"type": "http", "url": "https://mcp.context7.com/mcp", "tools": ["*"]}\n  }\n}\n'],
  },
  {
    client: 'claude-desktop',
    text: `{\n  "mcpServers": {\n    "everything": {\n      "command": "npx",\n      "args": ["-y", "@modelcontextprotocol/server-everything"],\n      "env": {"EVERYTHING_TOKEN": "tok-desktop-secret"}\n    },\n    "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Documents"]}\n  },\n  "globalShortcut": "Ctrl+Space"\n}\n`,
    shared: () => ({ command: process.execPath, args: [...CONNECT_NODE_FLAGS, CLI_SCRIPT, 'connect', 'everything'] }),
    keeps: [
      '    "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Documents"]}\n  },\n  "globalShortcut": "Ctrl+Space"\n}\n',
    ],
  },
];

describe.each(CASES)('$client: apply and revert on its user config, in the shape its docs give', (k) => {
  let c: ClientConfig;
  beforeAll(() => {
    const client = clientByName(k.client);
    c = client.configs(ctx)[0];
    write(c.file, k.text);
  });

  test('the client is detected from its config, and its servers are read in one shape', () => {
    const client = clientByName(k.client);
    expect(client.detect(ctx)).toMatchObject({ installed: true, evidence: expect.arrayContaining([c.file]) });
    const entries = client.read(c);
    const shared = entries.find((e) => e.name === 'everything' || e.name === 'everything-sse')!;
    expect(shared.entry).toMatchObject({ kind: 'stdio', command: 'npx', args: EVERYTHING_NPX });
  });

  test('apply switches the registered server to its daemon (real handshake); everything else keeps its bytes; a second apply changes nothing; revert puts back the exact bytes', async () => {
    const client = clientByName(k.client);
    const r = await client.apply(c, switchOpts());
    const name = k.client === 'qwen' ? 'everything-sse' : 'everything';
    expect(byName(r, name)).toMatchObject({ status: 'switched', server: { name: expect.stringMatching(/everything/) } });
    expect(r.wrote).toBe(true);
    expect(existsSync(r.backup!)).toBe(true);
    expect(read(r.backup!)).toBe(k.text);
    const after = read(c.file);
    for (const s of k.keeps) expect(after).toContain(s);
    expect(section(c, after)[name]).toEqual(k.shared(url()));
    // No secret of the stdio entry moved along: the daemon has its own env file.
    expect(after).not.toMatch(/tok-\w+-secret/);
    // Line ends: a CRLF file stays CRLF throughout.
    if (k.text.includes('\r\n')) expect(after.replace(/\r\n/g, '').includes('\n')).toBe(false);
    expect(statSync(c.file).mode & 0o777).toBe(0o640);

    const again = await client.apply(c, switchOpts());
    expect(byName(again, name).status).toBe('already-shared');
    expect(again.wrote).toBe(false);
    expect(read(c.file)).toBe(after);

    const rev = await client.revert(c, { stateDir });
    expect(rev).toMatchObject({ result: 'exact', ok: true, wrote: true });
    expect(read(c.file)).toBe(k.text);
    expect(statSync(c.file).mode & 0o777).toBe(0o640);
    expect((await client.revert(c, { stateDir })).result).toBe('nothing');
  });

  test('a file edited since apply is reverted entry by entry: the entry gets its original text back, the edit stays', async () => {
    const client = clientByName(k.client);
    const r = await client.apply(c, switchOpts());
    expect(r.wrote).toBe(true);
    const edited =
      c.format === 'toml'
        ? read(c.file).replace('# Codex configuration', '# Codex configuration, edited by hand')
        : read(c.file).replace(/\{/, '{\n  "x-added-later": 1,');
    writeFileSync(c.file, edited);
    const rev = await client.revert(c, { stateDir });
    expect(rev).toMatchObject({ result: 'reverted', ok: true });
    expect(rev.outcomes).toEqual([{ name: k.client === 'qwen' ? 'everything-sse' : 'everything', status: 'restored' }]);
    const expected = c.format === 'toml' ? undefined : k.text.replace(/\{/, '{\n  "x-added-later": 1,');
    if (expected !== undefined)
      expect(read(c.file)).toBe(expected); // JSON: the entry's exact original bytes
    else {
      // TOML: the same data as before, and the hand edit.
      expect(clientView(c, read(c.file))).toEqual(clientView(c, k.text.replace('# Codex configuration', '# Codex configuration, edited by hand')));
      expect(read(c.file)).toContain('# Codex configuration, edited by hand\r\n');
    }
    writeFileSync(c.file, k.text);
  });
});

describe('what each client cannot take, and entries that are not servers to switch', () => {
  test('Zed and Codex have no SSE: a bridge registered for SSE is reached over /mcp; a native SSE-only daemon is left with the reason', async () => {
    const zed = clientByName('zed');
    const c = zed.configs(ctx)[0];
    write(c.file, CASES.find((x) => x.client === 'zed')!.text);
    const r = await zed.apply(c, switchOpts({ dryRun: true }));
    expect(byName(r, 'sse-only')).toMatchObject({ status: 'left', reason: expect.stringMatching(/speaks only SSE .* which this client does not support/) });
    expect(byName(r, 'postgres')).toMatchObject({ status: 'unsupported', reason: expect.stringMatching(/Zed extension/) });
    expect(r.wrote).toBe(false);
  });

  test("VS Code's ${input:…} entries and Cursor's remote and per-session entries are left, with reasons", async () => {
    const vs = clientByName('vscode');
    const r = await vs.apply(vs.configs(ctx)[0], switchOpts({ dryRun: true }));
    expect(byName(r, 'perplexity')).toMatchObject({ status: 'unsupported', reason: expect.stringMatching(/\$\{input:api-key\}/) });
    expect(byName(r, 'github')).toMatchObject({ status: 'remote' });
    const cur = clientByName('cursor');
    const r2 = await cur.apply(cur.configs(ctx)[0], switchOpts({ dryRun: true }));
    expect(byName(r2, 'browser').status).toBe('per-session');
    expect(byName(r2, 'memory')).toMatchObject({ status: 'left', failed: true, reason: expect.stringMatching(/failed the handshake/) });
    expect(byName(r2, 'context7').status).toBe('remote');
    expect(r2.ok).toBe(false); // a registered server's daemon is down
  });

  test('an entry under another name is matched by its command (registered once by import --all-clients)', async () => {
    const gem = clientByName('gemini');
    const c = gem.configs(ctx, join(tmp, 'proj-other-name'))[0];
    write(c.file, `{"mcpServers": {"evr": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}}}`);
    const r = await gem.apply(c, switchOpts());
    expect(byName(r, 'evr')).toMatchObject({ status: 'switched', daemon: 'everything' });
    expect(JSON.parse(read(c.file))).toEqual({ mcpServers: { evr: { httpUrl: url() } } });
    expect((await gem.revert(c, { stateDir })).result).toBe('exact');
  });

  test('Claude Desktop: the switched entry runs "mcpshare connect NAME" with absolute paths, and reads as shared', () => {
    expect(CLI_SCRIPT).toBe(join(ROOT, 'dist', 'cli.js'));
    expect(connectTarget(process.execPath, [CLI_SCRIPT, 'connect', 'everything'])).toBe('everything');
    expect(connectTarget(process.execPath, [...CONNECT_NODE_FLAGS, CLI_SCRIPT, 'connect', 'everything'])).toBe('everything');
    expect(connectTarget('mcpshare', ['connect', 'memory'])).toBe('memory');
    expect(connectTarget('node', ['server.js', 'connect', 'x'])).toBeUndefined();
  });
});

describe('broken files: a clear error with line and column, and never a write', () => {
  const broken: [ClientName, string, RegExp][] = [
    [
      'cursor',
      '{\n  "mcpServers": {\n    "a": {"command": "x"}\n    "b": {"command": "y"}\n  }\n}\n',
      /not valid JSON \(with comments\): comma expected at line 4, column 5/,
    ],
    ['claude-desktop', '{\n  // comments are not JSON\n  "mcpServers": {}\n}\n', /not valid JSON: invalid comment token at line 2, column 3/],
    ['codex', 'model = "o3"\n[mcp_servers.a]\ncommand = "x"\nargs = ["unterminated]\n', /not valid TOML: .* at line 4, column \d+/],
    ['opencode', '{"mcp": {"a": {"type": "local", "command": ["x"]}}', /not valid JSON \(with comments\): close brace expected at line 1, column \d+/],
  ];
  test.each(broken)('%s', async (name, text, message) => {
    const h = join(tmp, `broken-${name}`);
    const bctx = clientContext({ HOME: h, PATH: PATH_ENV }, 'linux');
    const client = clientByName(name);
    const c = client.configs(bctx)[0];
    write(c.file, text);
    let err: unknown;
    try {
      await client.apply(c, switchOpts({ add: true }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClientConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('it was left untouched');
    expect((err as ClientConfigError).position).toEqual({ line: expect.any(Number), column: expect.any(Number) });
    expect(read(c.file)).toBe(text);
    // The CLI says the same, exit 1, and `clients` lists the file with the error.
    const cli = await mcpshare(['apply', '--client', name], cliEnv(h));
    expect(cli.code).toBe(1);
    expect(cli.stdout + cli.stderr).toMatch(message);
    const list = await mcpshare(['clients', '--json'], cliEnv(h));
    const listed = (JSON.parse(list.stdout) as { client: string; configs: { error?: string; position?: unknown }[] }[]).find((x) => x.client === name)!;
    expect(listed.configs[0]).toMatchObject({ error: expect.stringMatching(message), position: expect.any(Object) });
    expect(read(c.file)).toBe(text);
  });
});

describe('apply --add, and its revert', () => {
  test('a project with no config: .cursor/mcp.json is created with the servers that are up, and revert deletes it', async () => {
    const dir = join(tmp, 'proj-add');
    mkdirSync(dir);
    const cur = clientByName('cursor');
    const c = cur.configs(ctx, dir)[0];
    const r = await cur.apply(c, switchOpts({ add: true }));
    expect(r).toMatchObject({ created: true, wrote: true });
    expect(byName(r, 'everything').status).toBe('added');
    expect(byName(r, 'memory')).toMatchObject({ status: 'not-added', failed: false });
    expect(JSON.parse(read(c.file)).mcpServers.everything).toEqual({ url: url() });
    expect(statSync(c.file).mode & 0o777).toBe(0o644);
    const rev = await cur.revert(c, { stateDir });
    expect(rev).toMatchObject({ result: 'exact', deletedFile: true });
    expect(existsSync(c.file)).toBe(false);
  });

  test('codex: a new [mcp_servers.NAME] table next to the others, comments kept; revert removes it exactly', async () => {
    const h = join(tmp, 'home-codex-add');
    const cctx = clientContext({ HOME: h, PATH: PATH_ENV }, 'linux');
    const codex = clientByName('codex');
    const c = codex.configs(cctx)[0];
    const text = '# mine\nmodel = "o3"\n\n[mcp_servers.docs] # docs\nurl = "https://example.com/mcp"\n';
    write(c.file, text);
    const r = await codex.apply(c, switchOpts({ add: true, names: ['everything'] }));
    expect(byName(r, 'everything').status).toBe('added');
    const after = read(c.file);
    expect(after).toBe(`${text}\n[mcp_servers.everything]\nurl = "${url()}"\n`);
    expect(parseToml(after)).toEqual({ model: 'o3', mcp_servers: { docs: { url: 'https://example.com/mcp' }, everything: { url: url() } } });
    expect((await codex.revert(c, { stateDir })).result).toBe('exact');
    expect(read(c.file)).toBe(text);
  });
});

describe('JSONC and TOML edits in place (pure)', () => {
  test('insert keeps the trailing-comma style, tabs and CRLF; remove takes the member and its own lines only', () => {
    const t = '{\r\n\t"mcpServers": {\r\n\t\t// keep me\r\n\t\t"a": {"command": "x"},\r\n\t},\r\n}\r\n';
    const added = insertMember(parseJsonDoc(t, false), ['mcpServers'], 'b', { url: 'u' });
    expect(added).toBe('{\r\n\t"mcpServers": {\r\n\t\t// keep me\r\n\t\t"a": {"command": "x"},\r\n\t\t"b": {"url": "u"},\r\n\t},\r\n}\r\n');
    expect(removeMember(parseJsonDoc(added, false), ['mcpServers'], 'b')).toBe(t);
    const plain = '{\n  "mcpServers": {\n    "a": 1,\n    "b": 2\n  }\n}\n';
    expect(removeMember(parseJsonDoc(plain, true), ['mcpServers'], 'b')).toBe('{\n  "mcpServers": {\n    "a": 1\n  }\n}\n');
    expect(removeMember(parseJsonDoc(plain, true), ['mcpServers'], 'a')).toBe('{\n  "mcpServers": {\n    "b": 2\n  }\n}\n');
    // A missing section is created where it belongs, in the file's style.
    expect(insertMember(parseJsonDoc('{\n    "theme": "x"\n}', true), ['mcp'], 'e', { type: 'remote' })).toBe(
      '{\n    "theme": "x",\n    "mcp": {\n        "e": {\n            "type": "remote"\n        }\n    }\n}',
    );
  });

  test('a byte-order mark is no error and stays', () => {
    const t = '\uFEFF{"mcpServers": {}}';
    expect(parseJsonDoc(t, true).data).toEqual({ mcpServers: {} });
    expect(insertMember(parseJsonDoc(t, true), ['mcpServers'], 'a', 1)).toBe('\uFEFF{"mcpServers": {"a": 1}}');
  });

  test('TOML: only the changed table is rewritten; inline tables stay inline', () => {
    const t = 'a = 1 # one\n\n[mcp_servers]\nx = { command = "npx", args = ["-y", "m"] } # inline\ny = { command = "keep" }\n';
    const out = setToml(t, ['mcp_servers', 'x'], { url: 'http://localhost:1/mcp' });
    expect(out).toMatch(/^a = 1 # one\n\n\[mcp_servers\]\nx = \{ url = "http:\/\/localhost:1\/mcp" \} +# inline\ny = \{ command = "keep" \}\n$/);
  });

  test('variable references: ${env:X}, {env:X} and $X become ${X}; ${input:…} cannot be known', () => {
    expect(toShellRefs('${env:TOKEN}/${userHome}/${workspaceFolder}', 'vscode', { home: '/h', dir: '/p' })).toEqual({ value: '${TOKEN}//h//p' });
    expect(toShellRefs('${input:key}', 'vscode', { home: '/h' }).unknown).toBe('${input:key}');
    expect(toShellRefs('{env:TOKEN}', 'opencode', { home: '/h' }).value).toBe('${TOKEN}');
    expect(toShellRefs('$TOKEN and ${OTHER}', 'dollar', { home: '/h' }).value).toBe('${TOKEN} and ${OTHER}');
  });
});

function cliEnv(h: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: h, PATH: PATH_ENV, MCPSHARE_BACKEND: 'supervisor' };
  for (const k of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'CLAUDE_CONFIG_DIR', 'CODEX_HOME', 'COPILOT_HOME', 'NODE_OPTIONS']) delete env[k];
  return env;
}

describe('CLI: clients, import --all-clients (one server once), apply/revert --client', () => {
  let h: string;
  let run: (args: string[]) => Promise<RunResult>;
  const MEMORY = (extra = '') =>
    `{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], "env": {"MEMORY_FILE_PATH": "/tmp/mem.json"}${extra}}`;
  beforeAll(() => {
    h = join(tmp, 'home-cli');
    run = (args) => mcpshare(args, cliEnv(h));
    const hctx = clientContext({ HOME: h, PATH: PATH_ENV }, 'linux');
    const file = (name: ClientName) => clientByName(name).configs(hctx)[0].file;
    // The same memory server in five clients (one under another name); everything in two.
    write(
      file('cursor'),
      `{"mcpServers": {"memory": ${MEMORY()}, "everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}}}`,
    );
    write(file('gemini'), `{"mcpServers": {"mem": ${MEMORY()}}}`);
    write(
      file('opencode'),
      `{"mcp": {"memory": {"type": "local", "command": ["npx", "-y", "@modelcontextprotocol/server-memory"], "environment": {"MEMORY_FILE_PATH": "/tmp/mem.json"}}}}`,
    );
    write(file('copilot'), `{"mcpServers": {"memory": ${MEMORY(', "tools": ["*"]')}}}`);
    write(
      file('codex'),
      '[mcp_servers.memory]\ncommand = "npx"\nargs = ["-y", "@modelcontextprotocol/server-memory"]\nenv = { MEMORY_FILE_PATH = "/tmp/mem.json" }\n',
    );
    // Another memory server (its env differs): not the same server.
    write(
      file('qwen'),
      `{"mcpServers": {"memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], "env": {"MEMORY_FILE_PATH": "/tmp/other.json"}}}}`,
    );
  });

  test('clients --json: found clients, their servers and what could be shared', async () => {
    const r = await run(['clients', '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { client: string; installed: boolean; configs: { servers: { name: string; status: string }[] }[] }[];
    expect(list.map((c) => c.client)).toEqual(CLIENTS.map((c) => c.name));
    expect(
      list
        .filter((c) => c.installed)
        .map((c) => c.client)
        .sort(),
    ).toEqual(['codex', 'copilot', 'cursor', 'gemini', 'opencode', 'qwen']);
    expect(list.find((c) => c.client === 'gemini')!.configs[0].servers).toEqual([expect.objectContaining({ name: 'mem', status: 'importable' })]);
    const text = await run(['clients']);
    expect(text.stdout).toMatch(
      /Gemini CLI \(gemini\)\n  .*settings.json\n +NAME +STATUS +SERVER\n +mem +importable +npx -y @modelcontextprotocol\/server-memory/,
    );
    expect(text.stdout).toMatch(/Not found: claude-code, claude-desktop, vscode, windsurf, zed/);
  });

  test('import --all-clients registers memory once for five clients, the different one under its name clashes; the env goes to the 0600 env file', async () => {
    const r = await run(['import', '--all-clients', '--json']);
    const report = JSON.parse(r.stdout) as { reports: { client: string; outcomes: { name: string; status: string; sameAs?: { name: string } }[] }[] };
    const outcome = (client: string, name: string) => report.reports.find((x) => x.client === client)!.outcomes.find((o) => o.name === name)!;
    expect(outcome('cursor', 'memory').status).toBe('registered');
    expect(outcome('cursor', 'everything').status).toBe('registered');
    for (const [client, name] of [
      ['gemini', 'mem'],
      ['opencode', 'memory'],
      ['copilot', 'memory'],
      ['codex', 'memory'],
    ]) {
      expect(outcome(client, name)).toMatchObject({ status: 'already-registered', sameAs: { name: 'memory' } });
    }
    expect(outcome('qwen', 'memory').status).toBe('name-clash');
    expect(r.code).toBe(1); // the clash
    const reg = new Registry({ dir: join(h, '.config', 'mcpshare') }).list();
    expect(reg.map((e) => e.name).sort()).toEqual(['everything', 'memory']);
    const envFile = reg.find((e) => e.name === 'memory')!.envFile!;
    expect(read(envFile)).toContain('MEMORY_FILE_PATH=/tmp/mem.json');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
  });

  test('apply --client: the daemon is not up, so nothing is written and the exit status says so; revert --client has nothing to undo', async () => {
    const r = await run(['apply', '--client', 'gemini', '--json']);
    const report = JSON.parse(r.stdout) as { reports: ClientApplyReport[] };
    expect(report.reports[0].outcomes[0]).toMatchObject({
      name: 'mem',
      status: 'left',
      daemon: 'memory',
      reason: expect.stringMatching(/failed the handshake/),
    });
    expect(r.code).toBe(1);
    const rev = await run(['revert', '--client', 'gemini']);
    expect(rev.stdout).toContain('nothing to revert');
    expect(rev.code).toBe(0);
  });

  test('apply --client for a running daemon, revert --all-clients: byte-exact', async () => {
    // Point the registered "everything" at the running bridge.
    const reg = new Registry({ dir: join(h, '.config', 'mcpshare') });
    const e = reg.get('everything')!;
    reg.remove('everything');
    reg.add({ ...e, port });
    const cursorFile = clientByName('cursor').configs(clientContext({ HOME: h }, 'linux'))[0].file;
    const before = read(cursorFile);
    const r = await run(['apply', '--client', 'cursor']);
    expect(r.stdout).toMatch(/everything\s+switched\s+→ http:\/\/localhost:\d+\/mcp/);
    expect(r.stdout).toContain('undo with: mcpshare revert --client cursor');
    expect(JSON.parse(read(cursorFile)).mcpServers.everything).toEqual({ url: `http://localhost:${port}/mcp` });
    const list = JSON.parse((await run(['clients', '--json'])).stdout) as { client: string; usesShared: boolean }[];
    expect(list.find((c) => c.client === 'cursor')!.usesShared).toBe(true);
    const rev = await run(['revert', '--all-clients']);
    expect(rev.code).toBe(0);
    expect(rev.stdout).toContain('put back the file exactly as it was before the apply');
    expect(read(cursorFile)).toBe(before);
  });

  test('--client claude-code is the plain command: the same report for the same project', async () => {
    const dir = join(tmp, 'proj-claude');
    write(join(dir, '.mcp.json'), '{"mcpServers": {"everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}}}\n', 0o644);
    const plain = await run(['apply', '--project', dir, '--dry-run', '--json']);
    const viaClient = await run(['apply', '--client', 'claude-code', '--project', dir, '--dry-run', '--json']);
    expect(viaClient.code).toBe(plain.code);
    expect(JSON.parse(viaClient.stdout)).toEqual(JSON.parse(plain.stdout));
    expect(JSON.parse(plain.stdout)).toMatchObject({ file: join(dir, '.mcp.json'), scope: 'project', dryRun: true });
  });

  test('usage errors: an unknown client, --client with --all-clients, --local with another client', async () => {
    expect((await run(['apply', '--client', 'emacs'])).stderr).toMatch(/unknown client "emacs"; the clients are: claude-code, claude-desktop, cursor/);
    expect((await run(['revert', '--client', 'zed', '--all-clients'])).code).toBe(2);
    expect((await run(['import', '--client', 'zed', '--local'])).stderr).toMatch(/--local is Claude Code's/);
  });
});

describe('listing without a desktop or CLI (pure)', () => {
  test('a client is found from its folder, its binary on PATH, or its config', () => {
    const h = join(tmp, 'home-detect');
    mkdirSync(join(h, '.codeium', 'windsurf'), { recursive: true });
    const bin = join(tmp, 'bin-detect');
    mkdirSync(bin);
    writeFileSync(join(bin, 'zed'), '#!/bin/sh\n');
    chmodSync(join(bin, 'zed'), 0o755);
    const dctx = clientContext({ HOME: h, PATH: bin }, 'linux');
    const list = listClients(CLIENTS, dctx, registry);
    expect(list.filter((c) => c.installed).map((c) => c.client)).toEqual(['windsurf', 'zed']);
    expect(list.find((c) => c.client === 'zed')!.binary).toBe(join(bin, 'zed'));
    // macOS paths for the app-data clients.
    const mac = clientContext({ HOME: '/Users/me' }, 'darwin');
    expect(clientByName('vscode').configs(mac)[0].file).toBe('/Users/me/Library/Application Support/Code/User/mcp.json');
    expect(clientByName('claude-desktop').configs(mac)[0].file).toBe('/Users/me/Library/Application Support/Claude/claude_desktop_config.json');
    expect(clientByName('claude-desktop').configs(dctx)[0].file).toBe(join(h, '.config', 'Claude', 'claude_desktop_config.json'));
    expect(clientByName('codex').configs(clientContext({ HOME: h, CODEX_HOME: '/c' }, 'linux'))[0].file).toBe('/c/config.toml');
  });
});
