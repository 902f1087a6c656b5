/**
 * Sharing modes from the user's side (issue 16): `mcpshare import` of a Claude Code config gives
 * server-filesystem one process per project and server-sequential-thinking one per session, `list`
 * and `status` show it, and the daemon the built-in supervisor runs keeps two projects apart.
 * Real CLI, real servers, real SDK clients, a temporary HOME.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { daemonSpec } from '../src/units/daemon.js';
import { userPaths } from '../src/registry/paths.js';
import { ROOT, textOf } from './helpers/bridge.js';
import { mcpshare, stopEverythingOf } from './helpers/systemd.js';

const FILESYSTEM = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const THINKING = join(ROOT, 'node_modules/@modelcontextprotocol/server-sequential-thinking/dist/index.js');
const FIXTURE = join(ROOT, 'test/fixtures/fixture-server.mjs');

let tmp: string;
let home: string;
let env: NodeJS.ProcessEnv;
const projects: Record<string, string> = {};
const clients: Client[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-share-e2e-'));
  home = join(tmp, 'home');
  mkdirSync(home);
  for (const p of ['north', 'south']) {
    projects[p] = join(tmp, p);
    mkdirSync(projects[p]);
    writeFileSync(join(projects[p], 'notes.txt'), `notes of ${p}`);
  }
  writeFileSync(
    join(projects.north, '.mcp.json'),
    JSON.stringify(
      {
        mcpServers: {
          files: { command: 'node', args: [FILESYSTEM] },
          thinking: { command: 'node', args: [THINKING] },
          mystery: { command: 'node', args: [FIXTURE] },
        },
      },
      null,
      2,
    ),
  );
  env = { ...process.env, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
  for (const k of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'CLAUDE_CONFIG_DIR', 'NODE_OPTIONS']) delete env[k];
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  if (home) await stopEverythingOf(home);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function session(url: string, dir: string): Promise<Client> {
  const c = new Client({ name: 'e2e', version: '1' }, { capabilities: { roots: {} } });
  c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: pathToFileURL(dir).href }] }));
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.push(c);
  return c;
}

test('import registers server-filesystem per project and sequential-thinking per session; list, the unit and status show it', async () => {
  const imported = await mcpshare(['import', '--project', projects.north], env);
  expect(imported.stderr).toBe('');
  expect(imported.code).toBe(0);
  expect(imported.stdout).toMatch(
    /files\s+registered\s+server-filesystem is stateless: registered bridged on http:\/\/localhost:\d+\/mcp; sharing: project, its reach is the client's roots/,
  );
  expect(imported.stdout).toMatch(/thinking\s+registered\s+.*sharing: session, keeps its thought history/);
  expect(imported.stdout).toMatch(/mystery\s+unknown\s+.*import with --all \(it is then shared by every session, global mode/);

  const list = await mcpshare(['list', '--json'], env);
  expect(list.code).toBe(0);
  const entries = JSON.parse(list.stdout) as Array<{ name: string; share: string; port: number }>;
  expect(Object.fromEntries(entries.map((e) => [e.name, e.share]))).toEqual({ files: 'project', thinking: 'session' });
  const table = await mcpshare(['list'], env);
  expect(table.stdout).toMatch(/files\s+bridged\s+project\s+\d+/);

  const stored = JSON.parse(readFileSync(join(home, '.config', 'mcpshare', 'config.json'), 'utf8')).servers;
  expect(daemonSpec(stored.files, userPaths({ HOME: home })).argv.join(' ')).toContain(' --share project ');
  expect(daemonSpec(stored.thinking, userPaths({ HOME: home })).argv.join(' ')).toContain(' --share session ');

  const edited = await mcpshare(['edit', 'thinking', '--share', 'bogus'], env);
  expect(edited.code).not.toBe(0);
  expect(edited.stderr).toMatch(/--share must be one of global, project, session, got "bogus"/);

  const started = await mcpshare(['start', 'files'], env);
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);
  const url = `http://127.0.0.1:${entries.find((e) => e.name === 'files')!.port}/mcp`;

  const north = await session(url, projects.north);
  const south = await session(url, projects.south);
  const north2 = await session(url, projects.north);
  const dirsOf = async (c: Client) =>
    textOf(await c.callTool({ name: 'list_allowed_directories', arguments: {} }))
      .split('\n')
      .slice(1);
  expect(await dirsOf(north)).toEqual([projects.north]);
  expect(await dirsOf(south)).toEqual([projects.south]);
  expect(await dirsOf(north2)).toEqual([projects.north]);
  const leak = (await south.callTool({ name: 'read_text_file', arguments: { path: join(projects.north, 'notes.txt') } })) as { isError?: boolean };
  expect(leak.isError).toBe(true);

  const status = await mcpshare(['status', 'files', '--json'], env);
  const row = (JSON.parse(status.stdout) as { servers: Array<Record<string, any>> }).servers[0];
  expect(row).toMatchObject({ name: 'files', state: 'up', share: 'project', sessions: 3 });
  expect(row.children).toHaveLength(2);
  expect(row.children.map((c: { sessions: number }) => c.sessions).sort()).toEqual([1, 2]);
  expect(row.children.every((c: { pid: number | null; rssBytes: number | null }) => c.pid !== null && (c.rssBytes ?? 0) > 0)).toBe(true);
  // The daemon's memory counts every child.
  expect(row.rssBytes).toBeGreaterThan(row.children.reduce((n: number, c: { rssBytes: number }) => n + c.rssBytes, 0));
  // apply points the project's entry at the daemon, with the project's directory as a header: a
  // client that declares no roots is still placed in its project.
  const applied = await mcpshare(['apply', 'files', '--project', projects.north], env);
  expect(applied.code).toBe(0);
  const entry = JSON.parse(readFileSync(join(projects.north, '.mcp.json'), 'utf8')).mcpServers.files;
  expect(entry).toEqual({
    type: 'http',
    url: expect.stringMatching(/^http:\/\/localhost:\d+\/mcp$/),
    headers: { 'X-Mcpshare-Project': pathToFileURL(projects.north).href },
  });
  const rootless = new Client({ name: 'rootless', version: '1' }, { capabilities: {} });
  await rootless.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: entry.headers } }));
  clients.push(rootless);
  expect(await dirsOf(rootless)).toEqual([projects.north]);

  const text = await mcpshare(['status', 'files'], env);
  expect(text.stdout).toMatch(/files\s+bridged \(per project\)/);
  expect(text.stdout).toMatch(/└ project\s+project .*north/);
});
