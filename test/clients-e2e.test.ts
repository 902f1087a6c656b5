/**
 * The whole path a user takes, end to end, with nothing but real programs: a project whose
 * `.mcp.json` starts server-memory and server-everything per session (plus a stateful browser
 * server, an entry Claude Code cannot use, and keys mcpshare does not know), then, through the
 * shipped CLI in a temporary HOME with the built-in supervisor:
 *
 *   mcpshare import --project P → mcpshare start --all → mcpshare apply --project P
 *   → the real Claude Code (`claude mcp list` in P) connects to both shared daemons over HTTP
 *   → mcpshare revert --project P gives back the file byte for byte.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/bridge.js';
import { mcpshare, stopEverythingOf } from './helpers/systemd.js';

const MEMORY = join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js');
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const CLAUDE = join(ROOT, 'node_modules/.bin/claude');

let tmp: string;
let home: string;
let project: string;
let file: string;
let env: NodeJS.ProcessEnv;

// Hand-formatted, with keys mcpshare does not know at the top level and inside an entry, an entry
// Claude Code itself skips with a warning, and a stateful server. The browser entry runs offline:
// `claude mcp list` starts every stdio server, and this one must fail at once, not download a browser.
const original = () => `{
  "$schema": "https://example.com/mcp.schema.json",
  "mcpServers": {
    "memory": {
      "command": "node",
      "args": [${JSON.stringify(MEMORY)}],
      "x-owner": "team-a"
    },
    "everything": {"command": "node", "args": [${JSON.stringify(EVERYTHING)}]},
    "browser": {
      "command": "npx",
      "args": ["@playwright/mcp@latest", "--headless"],
      "env": {"npm_config_offline": "true"}
    },
    "pigeon": {"x-transport": "carrier-pigeon", "coop": 3}
  },
  "x-team": {"reviewers": ["a", "b"], "since": 2024}
}
`;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-clients-e2e-'));
  home = join(tmp, 'home');
  project = join(tmp, 'project');
  mkdirSync(join(home, '.claude'), { recursive: true });
  mkdirSync(project);
  file = join(project, '.mcp.json');
  writeFileSync(file, original());
  // Project-scope servers wait for the user's approval in Claude Code; this is the setting that gives it.
  writeFileSync(join(home, '.claude', 'settings.json'), '{"enableAllProjectMcpServers": true}\n');
  // Its own port range: other suites register servers from 8001 on in their own HOMEs at the same time.
  env = { ...process.env, HOME: home, MCPSHARE_BACKEND: 'supervisor', MCPSHARE_PORT_RANGE: '8601-8699' };
  for (const k of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'CLAUDE_CONFIG_DIR', 'NODE_OPTIONS']) delete env[k];
});

afterAll(async () => {
  if (!home) return;
  await stopEverythingOf(home);
  rmSync(tmp, { recursive: true, force: true });
});

/** The real Claude Code CLI, in the project, with the temporary HOME (no API key needed for `mcp list`). */
function claude(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(CLAUDE, args, { cwd: project, env: { ...env, CI: 'true' }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
}

const read = () => readFileSync(file, 'utf8');

test('import → start → apply → Claude Code connects to the shared daemons → revert gives the file back', async () => {
  const imported = await mcpshare(['import', '--project', project], env);
  expect(imported.stderr).toBe('');
  expect(imported.code).toBe(0);
  expect(imported.stdout).toMatch(/memory\s+registered\s+server-memory is stateless: registered bridged on http:\/\/localhost:\d+\/mcp/);
  expect(imported.stdout).toMatch(/everything\s+registered\s+server-everything is stateless: registered bridged/);
  expect(imported.stdout).toMatch(/browser\s+per-session\s+playwright/);
  expect(imported.stdout).toMatch(/pigeon\s+unsupported/);
  expect(imported.stdout).toContain(`next: mcpshare start memory everything && mcpshare apply --project ${project}`);
  expect(read()).toBe(original()); // import only reads the config

  const started = await mcpshare(['start', '--all'], env);
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);

  const applied = await mcpshare(['apply', '--project', project], env);
  expect(applied.stderr).toBe('');
  expect(applied.code).toBe(0);
  const url = (name: string) => new RegExp(`${name}\\s+switched\\s+→ (http://localhost:\\d+/mcp)`).exec(applied.stdout)?.[1];
  const memoryUrl = url('memory');
  const everythingUrl = url('everything');
  expect(memoryUrl).toBeDefined();
  expect(everythingUrl).toBeDefined();
  expect(everythingUrl).not.toBe(memoryUrl);

  const after = JSON.parse(read());
  const before = JSON.parse(original());
  expect(after.mcpServers).toEqual({
    memory: { type: 'http', url: memoryUrl },
    everything: { type: 'http', url: everythingUrl },
    browser: before.mcpServers.browser,
    pigeon: before.mcpServers.pigeon,
  });
  expect(after.$schema).toBe(before.$schema);
  expect(after['x-team']).toEqual(before['x-team']);
  // The stateful entry and everything after it keep their exact bytes.
  expect(read().slice(read().indexOf('    "browser"'))).toBe(original().slice(original().indexOf('    "browser"')));

  // The real client, started in the project: both shared entries answer the MCP handshake over HTTP.
  const list = await claude(['mcp', 'list']);
  expect(list.stdout).toContain(`memory: ${memoryUrl} (HTTP) - ✔ Connected`);
  expect(list.stdout).toContain(`everything: ${everythingUrl} (HTTP) - ✔ Connected`);
  expect(list.stdout).toMatch(/browser: npx @playwright\/mcp@latest --headless - /); // still a per-session stdio entry

  const reverted = await mcpshare(['revert', '--project', project], env);
  expect(reverted.stderr).toBe('');
  expect(reverted.code).toBe(0);
  expect(reverted.stdout).toContain('restored 2 entries to what they were before the apply');
  expect(read()).toBe(original());

  // The memory doctor runs in that HOME and finds the two shared daemons (still up) as shared.
  const doctor = await mcpshare(['doctor', '--json'], env);
  expect(doctor.stderr).toBe('');
  expect(doctor.code).toBe(0);
  const report = JSON.parse(doctor.stdout) as { schema: number; shared: { name: string | null; port: number | null; kind: string }[] };
  expect(report.schema).toBe(1);
  const portOf = (u: string) => Number(new URL(u).port);
  expect(report.shared).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ name: 'memory', port: portOf(memoryUrl!) }),
      expect.objectContaining({ name: 'everything', port: portOf(everythingUrl!) }),
    ]),
  );
});
