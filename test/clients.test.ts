/**
 * Client configs: `apply`, `revert`, `import` on real files in a temporary HOME and projects,
 * against a REAL bridge daemon (server-everything) probed with the REAL handshake probe, plus a
 * closed port for "daemon not running". Nothing is mocked: configs are written and read from disk,
 * registrations go through ServerManager into a real (temporary) registry, the CLI is the shipped
 * one (`node dist/cli.js`, its own dispatcher) run with a temporary HOME, and local-scope entries are
 * written by the real Claude Code (`claude mcp add -s local`), which also checks the result
 * (`claude mcp list`).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { applyConfig, type ApplyOutcome } from '../src/clients/apply.js';
import { BackupStore } from '../src/clients/backups.js';
import { localTarget, projectTarget, readConfig, userTarget, type ConfigTarget } from '../src/clients/claude-config.js';
import { attachLocalDir } from '../src/cli/clients.js';
import { unifiedDiff } from '../src/clients/diff.js';
import { expandDeep } from '../src/clients/expand.js';
import { importConfig, type ImportOutcome } from '../src/clients/import.js';
import { locate, parseJson, renderValueAt } from '../src/clients/json-text.js';
import { sameServer } from '../src/clients/match.js';
import { findArgSecrets, redactArgs, showUrl } from '../src/util/redact.js';
import { revertAll, revertConfig, targetOfRecord, type RevertReport } from '../src/clients/revert.js';
import { Registry, type ServerEntry } from '../src/registry/registry.js';
import { readEnvIfExists } from '../src/registry/secrets.js';
import { helpFindings, readHelp, whyNotRun } from '../src/registry/shareability.js';
import { ServerManager } from '../src/units/manager.js';
import { userPaths } from '../src/registry/paths.js';
import { connect, disconnect, EVERYTHING, everythingEntry, ROOT, runCli, type RunningCli } from './helpers/bridge.js';
import { mcpshare, type RunResult } from './helpers/systemd.js';
import { freePort } from './helpers/ports.js';
import { sleep } from './helpers/wait.js';
import { alive } from './helpers/procs.js';

const FIXTURES = join(ROOT, 'test', 'fixtures');
const CLAUDE = join(ROOT, 'node_modules', '.bin', 'claude');
const NODE_DIR = dirname(process.execPath);
const PATH_ENV = [NODE_DIR, '/usr/local/bin', '/usr/bin', '/bin'].join(':');
const mode = (p: string) => statSync(p).mode & 0o777;
const read = (p: string) => readFileSync(p, 'utf8');
const byName = <T extends { name: string }>(list: T[], name: string): T => {
  const x = list.find((o) => o.name === name);
  if (!x) throw new Error(`no outcome for ${name}: ${JSON.stringify(list)}`);
  return x;
};

let tmp: string;
let home: string;
let bridge: RunningCli;
let port: number;
let closedPort: number;
let backups: BackupStore;
let registry: Registry;

const entry = (name: string, over: Partial<ServerEntry>): ServerEntry => everythingEntry(name, port, over);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-clients-'));
  home = join(tmp, 'home');
  mkdirSync(home);
  port = await freePort();
  closedPort = await freePort(new Set([port]));
  bridge = await runCli(['bridge', '--port', String(port), '--name', 'everything', '--', process.execPath, EVERYTHING]);
  // The registry the CLI children see too ($HOME/.config/mcpshare with XDG_CONFIG_HOME unset).
  registry = new Registry({ dir: join(home, '.config', 'mcpshare') });
  // "everything" is registered as `node …/server-everything/dist/index.js`; configs run it with npx: the same known server.
  registry.add(entry('everything', {}));
  registry.add(entry('everything-sse', { kind: 'native', transport: 'sse', path: '/sse' }));
  registry.add(entry('memory', { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'], port: closedPort }));
  registry.add(entry('clash', { command: process.execPath, args: [join(tmp, 'some-other-server.js')] }));
  backups = BackupStore.under(userPaths({ HOME: home }).stateDir);
});

afterAll(async () => {
  await bridge?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const apply = (target: ConfigTarget, extra: { names?: string[]; dryRun?: boolean; add?: boolean } = {}) =>
  applyConfig({ target, registry: registry.list(), backups, env: { PATH: PATH_ENV }, ...extra });

// A hand-formatted project config: 4-space indent, no trailing newline, unknown keys at every
// level, a secret in an env block, every kind of entry.
const PROJECT_JSON = `{
    "$schema": "https://example.com/mcp-schema.json",
    "mcpServers": {
        "everything": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-everything"],
            "env": {"EVERYTHING_TOKEN": "tok-123-secret", "LEVEL": "\${LOG_LEVEL:-info}"},
            "x-note": "an unknown key inside an entry"
        },
        "everything-sse": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]},
        "memory": {"type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]},
        "clash": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-sequential-thinking"]},
        "browser": {"command": "npx", "args": ["@playwright/mcp@latest"]},
        "homegrown": {"command": "node", "args": ["./tools/my-server.js"]},
        "remote": {"type": "http", "url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer abc"}}
    },
    "x-team-settings": {"owner": "platform", "reviewers": ["a", "b"], "nested": {"deep": [1, 2.5, null, true, "\\u00e9"]}}
}`;

function makeProject(name: string, text = PROJECT_JSON, fileMode = 0o660): { dir: string; file: string; target: ConfigTarget } {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, '.mcp.json');
  writeFileSync(file, text);
  chmodSync(file, fileMode);
  return { dir, file, target: projectTarget(dir) };
}

describe('apply and revert on a project .mcp.json (real daemon, real probe)', () => {
  let p: ReturnType<typeof makeProject>;
  beforeAll(() => {
    p = makeProject('project');
  });

  test('--dry-run shows a diff with secrets redacted, and writes nothing (no backup either)', async () => {
    const r = await apply(p.target, { dryRun: true });
    expect(read(p.file)).toBe(PROJECT_JSON);
    expect(existsSync(backups.dirFor(p.file))).toBe(false);
    expect(r.wrote).toBe(false);
    expect(byName(r.outcomes, 'everything').status).toBe('switched');
    expect(r.diff).toContain(`--- ${p.file}\n+++ ${p.file} (after mcpshare apply)\n@@ `);
    expect(r.diff).toContain('-            "command": "npx",\n');
    expect(r.diff).toContain(`+            "url": "http://localhost:${port}/mcp"\n`);
    expect(r.diff).toContain(`+        "everything-sse": {"type": "sse", "url": "http://localhost:${port}/sse"},\n`);
    expect(r.diff).toContain('"EVERYTHING_TOKEN": "<redacted>"');
    expect(r.diff).toContain('"LEVEL": "${LOG_LEVEL:-info}"'); // a reference is not a secret
    expect(r.diff).not.toContain('tok-123-secret');
  });

  test('apply switches only servers whose daemon passes the handshake; every other key and byte is kept', async () => {
    const r = await apply(p.target);
    const o = (n: string) => byName(r.outcomes, n);
    expect(o('everything')).toMatchObject({ status: 'switched', url: `http://localhost:${port}/mcp`, server: { name: 'mcp-servers/everything' } });
    expect(o('everything-sse')).toMatchObject({ status: 'switched', url: `http://localhost:${port}/sse`, transport: 'sse' });
    expect(o('memory')).toMatchObject({ status: 'left', failed: true });
    expect(o('memory').reason).toContain(`localhost:${closedPort}/mcp failed the handshake (refused)`);
    expect(o('memory').fix).toBeTruthy();
    expect(o('clash')).toMatchObject({ status: 'left', failed: false }); // reported; not a handshake failure
    expect(o('clash').reason).toContain('not the same server');
    expect(o('browser')).toMatchObject({ status: 'per-session', failed: false });
    expect(o('browser').reason).toContain('playwright');
    expect(o('homegrown')).toMatchObject({ status: 'not-shared', failed: false });
    expect(o('remote')).toMatchObject({ status: 'remote', failed: false });
    expect(r.ok).toBe(false); // memory was asked for (registered) and is not shared
    expect(r.outcomes.map((x) => x.name)).toEqual(['everything', 'everything-sse', 'memory', 'clash', 'browser', 'homegrown', 'remote']);

    const text = read(p.file);
    const before = parseJson(PROJECT_JSON) as any;
    const after = parseJson(text) as any;
    expect(after.mcpServers.everything).toEqual({ type: 'http', url: `http://localhost:${port}/mcp` });
    expect(after.mcpServers['everything-sse']).toEqual({ type: 'sse', url: `http://localhost:${port}/sse` });
    for (const k of ['memory', 'clash', 'browser', 'homegrown', 'remote']) expect(after.mcpServers[k]).toEqual(before.mcpServers[k]);
    expect(after.$schema).toBe(before.$schema);
    expect(after['x-team-settings']).toEqual(before['x-team-settings']);
    expect(Object.keys(after)).toEqual(Object.keys(before));
    // Byte for byte outside the two switched entries; their new text follows the file's style.
    const head = PROJECT_JSON.indexOf('"everything": {');
    const tail = PROJECT_JSON.indexOf('        "memory"');
    expect(text.slice(0, head)).toBe(PROJECT_JSON.slice(0, head));
    expect(text.slice(text.indexOf('        "memory"'))).toBe(PROJECT_JSON.slice(tail));
    expect(text).toContain(`"everything": {\n            "type": "http",\n            "url": "http://localhost:${port}/mcp"\n        },\n`);
    expect(text).toContain(`"everything-sse": {"type": "sse", "url": "http://localhost:${port}/sse"},\n`);
    expect(text).not.toContain('tok-123-secret'); // the stdio entry's env is not carried into the http entry
    expect(text.endsWith('}')).toBe(true); // no trailing newline added
    expect(mode(p.file)).toBe(0o660); // kept exactly, though the umask (022) would strip group write

    // The full backup: the exact old file, private.
    expect(read(r.backup!)).toBe(PROJECT_JSON);
    expect(mode(r.backup!)).toBe(0o600);
    expect(mode(r.record!)).toBe(0o600);
    expect(mode(dirname(r.backup!))).toBe(0o700);
    expect(mode(backups.root)).toBe(0o700);
  });

  test('a real MCP client reaches the server through the URL apply wrote', async () => {
    const url = (parseJson(read(p.file)) as any).mcpServers.everything.url as string;
    const client = await connect(url.replace(/\/mcp$/, ''), 'http');
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('echo');
    await disconnect(client);
  });

  test('a second apply finds them already shared: no rewrite, no new backup', async () => {
    const text = read(p.file);
    const mtime = statSync(p.file).mtimeMs;
    const nBackups = readdirSync(backups.dirFor(p.file)).length;
    const r = await apply(p.target);
    expect(byName(r.outcomes, 'everything')).toMatchObject({ status: 'already-shared', failed: false });
    expect(byName(r.outcomes, 'everything-sse').status).toBe('already-shared');
    expect(r.wrote).toBe(false);
    expect(read(p.file)).toBe(text);
    expect(statSync(p.file).mtimeMs).toBe(mtime);
    expect(readdirSync(backups.dirFor(p.file)).length).toBe(nBackups);
  });

  test('apply NAME limits to that entry; a named entry that is not in the config fails', async () => {
    const r = await apply(p.target, { names: ['everything', 'nope'] });
    expect(r.outcomes.map((x) => [x.name, x.status])).toEqual([
      ['everything', 'already-shared'],
      ['nope', 'not-in-config'],
    ]);
    expect(r.ok).toBe(false);
  });

  test('revert restores the file byte for byte and keeps its mode; a second revert has nothing to do', async () => {
    const r = await revertConfig({ target: p.target, backups });
    expect(r).toMatchObject({ result: 'reverted', ok: true, wrote: true });
    expect(r.outcomes).toEqual([
      { name: 'everything', status: 'restored' },
      { name: 'everything-sse', status: 'restored' },
    ]);
    expect(read(p.file)).toBe(PROJECT_JSON);
    expect(mode(p.file)).toBe(0o660); // kept exactly, though the umask (022) would strip group write
    expect(mode(r.savedBefore!)).toBe(0o600);
    const again = await revertConfig({ target: p.target, backups });
    expect(again).toMatchObject({ result: 'nothing', ok: true, wrote: false });
    expect(again.message).toContain('nothing to revert');
    expect(read(p.file)).toBe(PROJECT_JSON);
  });

  test('revert puts back only entries still as apply wrote them, and keeps every change made since', async () => {
    await apply(p.target);
    const data = parseJson(read(p.file)) as any;
    data.mcpServers['everything-sse'] = { type: 'sse', url: 'http://localhost:1/sse' }; // the user re-pointed it
    data.mcpServers['added-later'] = { command: 'node', args: ['new.js'] };
    data.addedLater = { by: 'someone else' };
    writeFileSync(p.file, JSON.stringify(data, null, 4));
    const r = await revertConfig({ target: p.target, backups });
    expect(r.outcomes).toEqual([
      { name: 'everything', status: 'restored' },
      { name: 'everything-sse', status: 'changed-since' },
    ]);
    const now = parseJson(read(p.file)) as any;
    const orig = parseJson(PROJECT_JSON) as any;
    expect(now.mcpServers.everything).toEqual(orig.mcpServers.everything);
    expect(now.mcpServers['everything-sse']).toEqual({ type: 'sse', url: 'http://localhost:1/sse' });
    expect(now.mcpServers['added-later']).toEqual({ command: 'node', args: ['new.js'] });
    expect(now.addedLater).toEqual({ by: 'someone else' });
  });
});

describe('broken and unusual configs', () => {
  test('a corrupt .mcp.json is reported with file and position, never overwritten, nothing backed up', async () => {
    const broken = '{\n  "mcpServers": {\n    "everything": {"command": "npx",}\n  }\n}\n';
    const p = makeProject('broken', broken);
    const err = await apply(p.target).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'config-corrupt', context: { file: p.file } });
    expect((err as Error).message).toContain(`${p.file} is not valid JSON`);
    expect((err as Error).message).toMatch(/line 3, column \d+/);
    expect((err as Error).message).toContain('left untouched');
    await expect(
      importConfig({ target: p.target, manager: new ServerManager({ registryDir: join(tmp, 'unused-reg'), paths: userPaths({ HOME: home }), env: {} }) }),
    ).rejects.toThrow(`${p.file} is not valid JSON`);
    expect(read(p.file)).toBe(broken);
    expect(existsSync(backups.dirFor(p.file))).toBe(false);
  });

  test('an unreadable config (a directory in its place) is reported, not touched', async () => {
    const dir = join(tmp, 'unreadable');
    mkdirSync(join(dir, '.mcp.json'), { recursive: true });
    await expect(apply(projectTarget(dir))).rejects.toThrow(`${join(dir, '.mcp.json')} cannot be read`);
  });

  test('"mcpServers" that is not an object is reported, not touched', async () => {
    const p = makeProject('badshape', '{"mcpServers": []}\n');
    await expect(apply(p.target)).rejects.toThrow('"mcpServers" is not an object');
    expect(read(p.file)).toBe('{"mcpServers": []}\n');
  });

  test('a missing .mcp.json: nothing to rewrite, says how to create one', async () => {
    const dir = join(tmp, 'empty-project');
    mkdirSync(dir);
    const r = await apply(projectTarget(dir));
    expect(r).toMatchObject({ exists: false, wrote: false, ok: true, outcomes: [] });
    expect(r.note).toContain('does not exist');
    expect(r.note).toContain('claude mcp add --scope project');
    expect(existsSync(join(dir, '.mcp.json'))).toBe(false);
  });

  test('revert of a config that became corrupt saves it aside and restores the whole backup', async () => {
    const p = makeProject('corrupt-later');
    const applied = await apply(p.target);
    expect(applied.wrote).toBe(true);
    const garbage = read(p.file).slice(0, 120); // truncated mid-write by some other tool
    writeFileSync(p.file, garbage);
    const r = await revertConfig({ target: p.target, backups });
    expect(r.result).toBe('restored-backup');
    expect(read(p.file)).toBe(PROJECT_JSON);
    expect(read(r.corruptSavedAs!)).toBe(garbage);
    expect(mode(r.corruptSavedAs!)).toBe(0o600);
    expect(r.message).toContain(r.corruptSavedAs!);
    expect((await revertConfig({ target: p.target, backups })).result).toBe('nothing');
  });

  test('an entry pointing at a daemon that moved to another port is re-pointed', async () => {
    const stale = `{"mcpServers": {"everything": {"type": "http", "url": "http://localhost:${closedPort}/mcp"}}}\r\n`;
    const p = makeProject('moved', stale);
    const r = await apply(p.target);
    expect(r.outcomes).toEqual([expect.objectContaining({ name: 'everything', status: 'switched' })]);
    expect(read(p.file)).toBe(`{"mcpServers": {"everything": {"type": "http", "url": "http://localhost:${port}/mcp"}}}\r\n`);
  });

  test('secrets in args are hidden from the dry-run diff too', async () => {
    const p = makeProject(
      'args-secrets',
      JSON.stringify(
        {
          mcpServers: {
            everything: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything', '--api-key', 'sk-live-1', '--db=postgres://u:pw123@h/db'] },
          },
        },
        null,
        2,
      ),
    );
    const r = await apply(p.target, { dryRun: true });
    expect(r.diff).toContain('-        "--api-key",\n-        "<redacted>",\n-        "--db=postgres://u:<redacted>@h/db"\n');
    expect(r.diff).not.toMatch(/sk-live-1|pw123/);
  });

  test('each revert undoes one apply, newest first', async () => {
    const p = makeProject('stacked');
    await apply(p.target, { names: ['everything'] });
    const afterFirst = read(p.file);
    await apply(p.target, { names: ['everything-sse'] });
    expect((await revertConfig({ target: p.target, backups })).outcomes).toEqual([{ name: 'everything-sse', status: 'restored' }]);
    expect(read(p.file)).toBe(afterFirst);
    expect((await revertConfig({ target: p.target, backups })).outcomes).toEqual([{ name: 'everything', status: 'restored' }]);
    expect(read(p.file)).toBe(PROJECT_JSON);
    expect((await revertConfig({ target: p.target, backups })).result).toBe('nothing');
  });

  test('backups are pruned to the newest 20 applies per file', () => {
    const store = new BackupStore(join(tmp, 'prune-backups'));
    const file = join(tmp, 'prune', '.mcp.json');
    for (let i = 0; i < 23; i++) {
      const backup = store.save(file, `{"n": ${i}}`, 'backup', new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
      store.writeRecord({ version: 1, file, at: '', backup, changes: [] });
    }
    store.prune(file);
    const names = readdirSync(store.dirFor(file)).sort();
    expect(names.length).toBe(40);
    expect(names[0]).toBe('2026-01-01T00-00-03-000Z.apply.json');
    expect(read(store.latestUnreverted(file)!.record.backup)).toBe('{"n": 22}');
  });

  test('a symlinked .mcp.json stays a symlink; the file it points to is rewritten', async () => {
    const dir = join(tmp, 'linked');
    mkdirSync(join(dir, 'dotfiles'), { recursive: true });
    const real = join(dir, 'dotfiles', 'mcp.json');
    writeFileSync(real, PROJECT_JSON);
    symlinkSync(real, join(dir, '.mcp.json'));
    const r = await apply(projectTarget(dir), { names: ['everything'] });
    expect(r.wrote).toBe(true);
    expect(lstatSync(join(dir, '.mcp.json')).isSymbolicLink()).toBe(true);
    expect((parseJson(read(real)) as any).mcpServers.everything.type).toBe('http');
  });
});

describe('user scope: ~/.claude.json', () => {
  // What Claude Code keeps there (abridged): it owns the file, writes it with 2-space JSON, mode 0600.
  const claudeJson = (project: string) => ({
    numStartups: 42,
    installMethod: 'native',
    autoUpdates: true,
    userID: 'f3a9c1e07b',
    oauthAccount: { accountUuid: 'acc-1', emailAddress: 'me@example.com', organizationUuid: 'org-1' },
    projects: {
      [project]: {
        allowedTools: [],
        // local-scope servers: not ours to touch
        mcpServers: { everything: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'] } },
        history: [{ display: 'hello', pastedContents: {} }],
      },
    },
    mcpServers: {
      everything: { type: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'], env: {} },
      browser: { type: 'stdio', command: 'npx', args: ['@playwright/mcp@latest'], env: {} },
    },
    hasCompletedOnboarding: true,
  });
  let file: string;
  let target: ConfigTarget;
  let original: string;

  beforeAll(() => {
    target = userTarget({ HOME: home });
    file = target.file;
    original = JSON.stringify(claudeJson('/work/some-project'), null, 2);
    writeFileSync(file, original);
    chmodSync(file, 0o600);
  });

  test("apply waits for Claude Code's lock, then switches the user-scope entry and nothing else", async () => {
    expect(file).toBe(join(home, '.claude.json'));
    mkdirSync(`${file}.lock`); // Claude Code is saving the file right now
    const pending = apply(target);
    await sleep(1200); // the probe is done by now; apply must be waiting for the lock
    expect(read(file)).toBe(original);
    // Claude Code's save lands (a counter), then it releases the lock: apply must build on that save.
    const saved = parseJson(original) as any;
    saved.numStartups = 43;
    writeFileSync(file, JSON.stringify(saved, null, 2));
    rmdirSync(`${file}.lock`);
    const r = await pending;
    expect(r.wrote).toBe(true);
    expect(byName(r.outcomes, 'everything').status).toBe('switched');
    expect(byName(r.outcomes, 'browser').status).toBe('per-session');
    expect(existsSync(`${file}.lock`)).toBe(false);
    const now = parseJson(read(file)) as any;
    const expected = claudeJson('/work/some-project') as any;
    expected.numStartups = 43;
    expected.mcpServers.everything = { type: 'http', url: `http://localhost:${port}/mcp` };
    expect(now).toEqual(expected);
    expect(mode(file)).toBe(0o600);
    expect(mode(r.backup!)).toBe(0o600); // it holds OAuth account data
    expect((parseJson(read(r.backup!)) as any).numStartups).toBe(43); // the backup is of the file apply changed
  });

  test('revert keeps what Claude Code wrote since, and restores the entry', async () => {
    // Claude Code saves the file again: counters change, a project is added, its own formatting.
    const data = parseJson(read(file)) as any;
    data.numStartups = 44;
    data.projects['/work/other'] = { allowedTools: ['Bash'] };
    writeFileSync(file, JSON.stringify(data, null, 2));
    const r = await revertConfig({ target, backups });
    expect(r.outcomes).toEqual([{ name: 'everything', status: 'restored' }]);
    const now = parseJson(read(file)) as any;
    expect(now.numStartups).toBe(44);
    expect(now.projects['/work/other']).toEqual({ allowedTools: ['Bash'] });
    expect(now.mcpServers).toEqual(claudeJson('/work/some-project').mcpServers);
    expect(mode(file)).toBe(0o600);
  });

  test('an entry changed while apply waited for the lock is left, and nothing is written', async () => {
    const before = read(file);
    const backupsBefore = readdirSync(backups.dirFor(file)).length;
    mkdirSync(`${file}.lock`);
    const pending = apply(target);
    await sleep(1000);
    const data = parseJson(before) as any;
    data.mcpServers.everything.args.push('--read-only'); // the user edits it meanwhile
    const edited = JSON.stringify(data, null, 2);
    writeFileSync(file, edited);
    rmdirSync(`${file}.lock`);
    const r = await pending;
    expect(byName(r.outcomes, 'everything')).toMatchObject({ status: 'left', failed: true, reason: 'the entry changed while apply ran; run apply again' });
    expect(r.wrote).toBe(false);
    expect(read(file)).toBe(edited);
    expect(readdirSync(backups.dirFor(file)).length).toBe(backupsBefore);
  });

  test('a ~/.claude.json without mcpServers gets none ($CLAUDE_CONFIG_DIR is honoured)', async () => {
    const dir = join(tmp, 'claude-config-dir');
    mkdirSync(dir);
    const t = userTarget({ HOME: home, CLAUDE_CONFIG_DIR: dir });
    expect(t.file).toBe(join(dir, '.claude.json'));
    const text = JSON.stringify({ numStartups: 1, projects: {} }, null, 2);
    writeFileSync(t.file, text);
    const r = await apply(t);
    expect(r).toMatchObject({ wrote: false, ok: true });
    expect(r.note).toContain('has no "mcpServers"');
    expect(read(t.file)).toBe(text);
  });
});

describe('import', () => {
  let homeI: string;
  let manager: ServerManager;
  let p: ReturnType<typeof makeProject>;
  const env = () => ({ PATH: PATH_ENV, CLIENTS_TEST_DIR: tmp, CLIENTS_TEST_SECRET: 'sk-test-123' });
  const run = (extra: Partial<Parameters<typeof importConfig>[0]> = {}) =>
    importConfig({ target: p.target, manager, env: env(), helpOptions: { timeoutMs: 10_000 }, ...extra });

  beforeAll(() => {
    homeI = join(tmp, 'home-import');
    mkdirSync(homeI);
    manager = new ServerManager({
      registryDir: join(homeI, '.config', 'mcpshare'),
      paths: userPaths({ HOME: homeI }),
      env: { HOME: homeI, PATH: PATH_ENV, MCPSHARE_BACKEND: 'supervisor' },
    });
    p = makeProject(
      'import-project',
      JSON.stringify(
        {
          mcpServers: {
            mem: {
              command: 'npx',
              args: ['-y', '@modelcontextprotocol/server-memory'],
              env: { MEMORY_FILE_PATH: '${CLIENTS_TEST_DIR}/memory.json', API_KEY: '${CLIENTS_TEST_SECRET}', MODE: '${CLIENTS_UNSET_VAR:-fast}' },
            },
            mongo: { command: 'npx', args: ['-y', 'mongodb-mcp-server', '--readOnly'], env: { MDB_MCP_CONNECTION_STRING: 'mongodb://localhost:27017/test' } },
            browser: { command: 'npx', args: ['@playwright/mcp@latest'] },
            helpful: { command: 'node', args: [join(FIXTURES, 'clients-help-server.mjs')] },
            'needs-var': { command: 'npx', args: ['-y', '@modelcontextprotocol/server-sequential-thinking'], env: { TOKEN: '${CLIENTS_NOT_SET_ANYWHERE}' } },
            remote: { type: 'sse', url: 'http://localhost:9/sse' },
          },
        },
        null,
        2,
      ) + '\n',
    );
  });

  test('--dry-run says what would happen and registers nothing', async () => {
    const r = await run({ dryRun: true });
    const o = (n: string) => byName<ImportOutcome>(r.outcomes, n);
    expect(o('mem')).toMatchObject({ status: 'would-register', kind: 'bridged', envKeys: ['MEMORY_FILE_PATH', 'API_KEY', 'MODE'] });
    expect(o('mongo')).toMatchObject({ status: 'would-register', kind: 'native' });
    expect(o('mongo').command).toEqual(['npx', '-y', 'mongodb-mcp-server', '--readOnly', '--transport', 'http', '--httpPort', 'PORT']);
    expect(o('browser')).toMatchObject({ status: 'per-session', failed: false });
    expect(o('helpful').status).toBe('unknown');
    expect(o('needs-var')).toMatchObject({ status: 'missing-variable', failed: true, missing: ['CLIENTS_NOT_SET_ANYWHERE'] });
    expect(o('remote').status).toBe('remote');
    expect(manager.list()).toEqual([]);
    expect(existsSync(join(homeI, '.config', 'mcp'))).toBe(false);
  });

  test('registers shareable servers under the config names: bridged, native with its flags, secrets in 0600 env files', async () => {
    const r = await run({ helpCheck: true }); // the --help check is opt-in
    const o = (n: string) => byName<ImportOutcome>(r.outcomes, n);
    expect(o('mem')).toMatchObject({ status: 'registered', kind: 'bridged' });
    expect(o('mongo')).toMatchObject({ status: 'registered', kind: 'native' });
    expect(r.ok).toBe(false); // needs-var could not be registered

    const mem = manager.registry.require('mem');
    expect(mem).toMatchObject({ kind: 'bridged', transport: 'http', command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] });
    expect(mode(mem.envFile!)).toBe(0o600);
    expect(mode(dirname(mem.envFile!))).toBe(0o700);
    // ${VAR} and ${VAR:-default} expanded as Claude Code would have, for the daemon.
    expect(readEnvIfExists(mem.envFile!)).toEqual({ MEMORY_FILE_PATH: `${tmp}/memory.json`, API_KEY: 'sk-test-123', MODE: 'fast' });
    expect(JSON.stringify(manager.list())).not.toContain('sk-test-123'); // the registry never holds a secret

    const mongo = manager.registry.require('mongo');
    expect(mongo).toMatchObject({ kind: 'native', transport: 'http', path: '/mcp' });
    expect(mongo.args).toEqual(['-y', 'mongodb-mcp-server', '--readOnly', '--transport', 'http', '--httpPort', String(mongo.port)]);
    expect(readEnvIfExists(mongo.envFile!)).toEqual({ MDB_MCP_CONNECTION_STRING: 'mongodb://localhost:27017/test' });

    // Unknown: not registered, with what its --help says and how to add it by hand.
    expect(o('helpful')).toMatchObject({ status: 'unknown', failed: false });
    expect(o('helpful').help).toMatchObject({ ran: true, native: true, flags: ['--transport', '--port'], transports: ['http', 'sse'] });
    expect(o('helpful').hint).toBe(`mcpshare add helpful -- node ${join(FIXTURES, 'clients-help-server.mjs')}`);
    expect(o('helpful').reason).toContain('--all');
    expect(o('needs-var').reason).toContain('${CLIENTS_NOT_SET_ANYWHERE}');
    expect(o('browser').reason).toContain('playwright');
    expect(manager.list().map((e) => e.name)).toEqual(['mem', 'mongo']);
  });

  test('a second import finds them registered; a name registered for another server is a clash', async () => {
    const r = await run({ names: ['mem', 'mongo'] });
    expect(r.outcomes.map((x) => x.status)).toEqual(['already-registered', 'already-registered']);
    expect(r.ok).toBe(true);
    const other = makeProject('import-clash', JSON.stringify({ mcpServers: { mem: { command: 'npx', args: ['-y', '@acme/other-mcp'] } } }));
    const c = await importConfig({ target: other.target, manager, env: env() });
    expect(c.outcomes[0]).toMatchObject({ name: 'mem', status: 'name-clash', failed: true });
    expect(c.outcomes[0].reason).toContain('already registered for another server');
    expect(c.ok).toBe(false);
  });

  test('--all registers an unknown server too (bridged)', async () => {
    const r = await run({ names: ['helpful'], all: true, helpCheck: false });
    expect(r.outcomes[0]).toMatchObject({ status: 'registered', kind: 'bridged' });
    expect(manager.registry.require('helpful').args).toEqual([join(FIXTURES, 'clients-help-server.mjs')]);
  });
});

describe('the --help refinement', () => {
  test('reads transport flags from help text', () => {
    const grafana =
      'Usage of mcp-grafana:\n  -t, --transport string   Transport type (stdio, sse or streamable-http) (default "stdio")\n      --address string  The host and port (default "localhost:8000")\n';
    expect(readHelp(grafana)).toEqual({ flags: ['--transport', '--address'], transports: ['http', 'sse'], native: true });
    // A database server's --port is its database's, not a transport.
    expect(readHelp('Options:\n  --host HOST   database host\n  --port PORT   database port\n').native).toBe(false);
    expect(readHelp('\x1b[1m--http-port\x1b[0m <n>  serve Streamable HTTP on this port')).toMatchObject({ native: true, flags: ['--http-port'] });
  });

  test('a server that ignores --help is killed with its whole process group after the timeout', async () => {
    const pidFile = join(tmp, 'grandchild.pid');
    const started = Date.now();
    const f = await helpFindings(process.execPath, [join(FIXTURES, 'clients-stubborn-server.mjs')], {
      timeoutMs: 1000,
      env: { ...process.env, CLIENTS_PID_FILE: pidFile },
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(f).toMatchObject({ ran: false, native: false });
    expect(f.message).toContain('printed nothing within 1 s');
    const grandchild = Number(read(pidFile));
    const deadline = Date.now() + 3000;
    while (alive(grandchild) && Date.now() < deadline) await sleep(50);
    expect(alive(grandchild)).toBe(false);
  });

  test('a command that does not exist is reported, not thrown', async () => {
    const f = await helpFindings('/nonexistent/mcp-server', []);
    expect(f).toMatchObject({ ran: false, native: false });
    expect(f.message).toContain('could not run');
  });
});

describe('pure parts', () => {
  test('JSON positions become line and column', () => {
    expect(() => parseJson('{\n  "a": 1,\n}')).toThrow(/line 3, column 1/);
    expect(() => parseJson('')).toThrow(/line 1, column 1/);
  });

  test("a replaced value follows the file's indentation, or stays on one line", () => {
    const text = '{\n\t"mcpServers": {\n\t\t"a": {\n\t\t\t"command": "x"\n\t\t},\n\t\t"b": {"command": "y"}\n\t}\n}\n';
    const a = locate(text, ['mcpServers', 'a'])!;
    const b = locate(text, ['mcpServers', 'b'])!;
    expect(renderValueAt(text, a, { type: 'http', url: 'u' })).toBe('{\n\t\t\t"type": "http",\n\t\t\t"url": "u"\n\t\t}');
    expect(renderValueAt(text, b, { type: 'http', url: 'u' })).toBe('{"type": "http", "url": "u"}');
  });

  test('${VAR} and ${VAR:-default} expand like a shell; unset variables are named', () => {
    const r = expandDeep({ a: ['${X}', '${Y:-dflt}', '${E:-dflt}', 'pre-${X}-post'], b: '${MISSING}' }, { X: 'x', E: '' });
    expect(r.value).toEqual({ a: ['x', 'dflt', 'dflt', 'pre-x-post'], b: '${MISSING}' });
    expect(r.missing).toEqual(['MISSING']);
  });

  test('the same server under different launchers matches; a different one does not', () => {
    const s = (line: string) => ({ command: line.split(' ')[0], args: line.split(' ').slice(1) });
    expect(sameServer(s('npx -y @modelcontextprotocol/server-memory'), s('node /x/node_modules/@modelcontextprotocol/server-memory/dist/index.js'))).toBe(true);
    expect(sameServer(s('npx -y @acme/tool-mcp@1.2.0'), s('npx @acme/tool-mcp@latest'))).toBe(true);
    expect(sameServer(s('uvx acme-mcp==1.0'), s('uvx acme-mcp'))).toBe(true);
    expect(sameServer(s('npx -y @acme/tool-mcp'), s('npx -y @acme/other-mcp'))).toBe(false);
    expect(sameServer(s('node /a/foo/dist/index.js'), s('node /b/foo/build/index.js'))).toBe(true);
    expect(sameServer(s('node /a/foo/dist/index.js'), s('node /a/bar/dist/index.js'))).toBe(false);
  });

  test('secret-looking arguments are redacted for display', () => {
    expect(redactArgs(['--api-key', 'sk-1', '--token=abc', '--port', '8080', 'mongodb://me:pw@h/db', '--verbose', '--github-token', 'ghp_x'])).toEqual([
      '--api-key',
      '<redacted>',
      '--token=<redacted>',
      '--port',
      '8080',
      'mongodb://me:<redacted>@h/db',
      '--verbose',
      '--github-token',
      '<redacted>',
    ]);
  });

  test('--local takes a DIR only when it looks like one, if NAMEs may follow', () => {
    expect(attachLocalDir(['--local', 'memory', '--dry-run'], true)).toEqual(['--local=', 'memory', '--dry-run']);
    expect(attachLocalDir(['--local', './memory', 'memory'], true)).toEqual(['--local=./memory', 'memory']);
    expect(attachLocalDir(['--local', '/abs/dir'], true)).toEqual(['--local=/abs/dir']);
    expect(attachLocalDir(['--local', '.'], true)).toEqual(['--local=.']);
    expect(attachLocalDir(['--local', '--json'], true)).toEqual(['--local=', '--json']);
    expect(attachLocalDir(['--local'], true)).toEqual(['--local=']);
    expect(attachLocalDir(['--local', 'proj'], false)).toEqual(['--local=proj']); // revert takes no NAMEs
    expect(attachLocalDir(['--local=proj', 'x'], true)).toEqual(['--local=proj', 'x']);
    expect(attachLocalDir(['x', '--', '--local', 'y'], true)).toEqual(['x', '--', '--local', 'y']);
  });

  test('unified diff', () => {
    expect(unifiedDiff('a\nb\nc\n', 'a\nB\nc\n', 'x', 'y')).toBe('--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n');
    expect(unifiedDiff('same\n', 'same\n', 'x', 'y')).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// The shipped CLI (`node dist/cli.js`: src/cli.ts's dispatcher and error handling), run as a user
// would, with its own temporary HOME.

/** The CLI's environment: a temporary HOME and nothing that points elsewhere. */
function cliEnv(h: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: h, PATH: PATH_ENV, MCPSHARE_BACKEND: 'supervisor' };
  for (const k of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'CLAUDE_CONFIG_DIR', 'NODE_OPTIONS']) delete env[k];
  return env;
}

const cli = (args: string[], h = home): Promise<RunResult> => mcpshare(args, cliEnv(h));

/** The same command run in another working directory, for the "current directory" defaults. */
function cliIn(cwd: string, args: string[], h = home): Promise<RunResult> {
  return mcpshare(args, cliEnv(h), 60_000, cwd);
}

describe('CLI: mcpshare apply / revert / import', () => {
  let p: ReturnType<typeof makeProject>;
  beforeAll(() => {
    p = makeProject('cli-project');
  });

  test('apply --dry-run lists every server with its result, prints the diff, writes nothing', async () => {
    const r = await cli(['apply', '--project', p.dir, '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1); // memory's daemon is not running
    expect(r.stdout).toMatch(/everything\s+would switch\s+→ http:\/\/localhost:\d+\/mcp \(mcp-servers\/everything/);
    expect(r.stdout).toMatch(/memory\s+left\s+its daemon at http:\/\/localhost:\d+\/mcp failed the handshake \(refused\).* — fix: /);
    expect(r.stdout).toMatch(/browser\s+per-session\s+playwright/);
    expect(r.stdout).toContain('+            "type": "http",');
    expect(r.stdout).toContain('dry run: nothing was written');
    expect(r.stdout).not.toContain('tok-123-secret');
    expect(read(p.file)).toBe(PROJECT_JSON);
  });

  test('apply NAME --json switches just that server (exit 0); revert twice (the second has nothing to do)', async () => {
    const r = await cliIn(p.dir, ['apply', 'everything', '--json']); // --project defaults to the current directory
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { outcomes: ApplyOutcome[]; backup: string; wrote: boolean };
    expect(report.outcomes).toEqual([expect.objectContaining({ name: 'everything', status: 'switched' })]);
    expect(report.wrote).toBe(true);
    expect(existsSync(report.backup)).toBe(true);
    const rev = await cli(['revert', '--project', p.dir]);
    expect(rev.code).toBe(0);
    expect(rev.stdout).toContain('restored 1 entry to what it was before the apply');
    expect(rev.stdout).toContain(`full backup from before the apply: ${report.backup}`);
    expect(read(p.file)).toBe(PROJECT_JSON);
    const again = await cli(['revert', '--project', p.dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to revert');
  });

  test('a broken config: exit 1, the file and position named on stderr', async () => {
    const b = makeProject('cli-broken', '{"mcpServers": {,}}');
    const r = await cli(['apply', '--project', b.dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${b.file} is not valid JSON`);
    expect(r.stderr).toContain('line 1, column 17');
    expect(read(b.file)).toBe('{"mcpServers": {,}}');
  });

  test('import --dry-run --json, and usage errors', async () => {
    const r = await cli(['import', '--project', p.dir, '--dry-run', '--json', '--no-help-check']);
    const report = JSON.parse(r.stdout) as { outcomes: ImportOutcome[] };
    expect(byName(report.outcomes, 'everything').status).toBe('already-registered');
    expect(byName(report.outcomes, 'browser').status).toBe('per-session');
    expect(byName(report.outcomes, 'homegrown').status).toBe('unknown');
    expect(r.code).toBe(1); // "clash" is registered for another server
    const u = await cli(['apply', '--user', '--project', p.dir]);
    expect(u.code).toBe(2);
    expect(u.stderr).toBe('mcpshare apply: give only one of --project DIR, --local [DIR] and --user (got --project and --user)\n');
    const l = await cli(['revert', '--local', p.dir, '--project', p.dir]);
    expect(l.code).toBe(2);
    expect(l.stderr).toContain('(got --project and --local)');
    const help = await cli(['apply', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: mcpshare apply [--project DIR | --local [DIR] | --user]');
    expect(help.stdout).toContain('Local-scope servers are seen only with --local');
  });
});

// ---------------------------------------------------------------------------------------------
// Local scope: what a plain `claude mcp add` writes, projects[KEY].mcpServers in ~/.claude.json.

describe('local scope: entries the real `claude mcp add -s local` wrote', () => {
  let homeL: string;
  let file: string;
  let backupsL: BackupStore;
  let repo: string;
  let deep: string;
  let linkDeep: string;
  let worktree: string;
  let plain: string;
  let plainLink: string;
  let keyRepo: string;
  let keyPlain: string;

  const claudeEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: homeL, CI: 'true' };
    delete env.CLAUDE_CONFIG_DIR;
    return env;
  };
  /** The real Claude Code CLI in `cwd` (no API key needed for `mcp add` and `mcp list`). */
  const claude = (cwd: string, args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(CLAUDE, args, { cwd, env: claudeEnv(), encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
    });
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd, stdio: 'ignore' });
  const local = (dir: string) => localTarget(dir, { HOME: homeL });
  const applyL = (target: ConfigTarget, extra: { names?: string[]; dryRun?: boolean } = {}) =>
    applyConfig({ target, registry: registry.list(), backups: backupsL, env: { PATH: PATH_ENV }, ...extra });
  const data = () => parseJson(read(file)) as any;

  beforeAll(async () => {
    homeL = join(tmp, 'home-local');
    mkdirSync(homeL);
    // The CLI children read the registry from $HOME/.config/mcpshare: the same servers as above.
    const reg = new Registry({ dir: join(homeL, '.config', 'mcpshare') });
    for (const e of registry.list()) reg.add(e);
    backupsL = BackupStore.under(userPaths({ HOME: homeL }).stateDir);
    file = join(homeL, '.claude.json');

    // A git repository with a subdirectory reached through a symlink, a linked worktree, and a plain directory.
    repo = join(tmp, 'local-repo');
    deep = join(repo, 'src', 'deep');
    mkdirSync(deep, { recursive: true });
    git(repo, 'init', '-q');
    git(repo, 'commit', '-q', '--allow-empty', '-m', 'init');
    worktree = join(tmp, 'local-worktree');
    git(repo, 'worktree', 'add', '-q', worktree);
    symlinkSync(join(repo, 'src'), join(tmp, 'local-link'));
    linkDeep = join(tmp, 'local-link', 'deep');
    plain = join(tmp, 'local-plain');
    mkdirSync(plain);
    plainLink = join(tmp, 'local-plain-link');
    symlinkSync(plain, plainLink);
    keyRepo = realpathSync(repo);
    keyPlain = realpathSync(plain);

    const adds = [
      await claude(linkDeep, ['mcp', 'add', '-s', 'local', 'everything', '--', 'npx', '-y', '@modelcontextprotocol/server-everything']),
      // offline: "claude mcp list" starts it, and it must fail at once instead of downloading a browser
      await claude(worktree, ['mcp', 'add', '-s', 'local', 'browser', '-e', 'npm_config_offline=true', '--', 'npx', '@playwright/mcp@latest']),
      await claude(plainLink, [
        'mcp',
        'add',
        '-s',
        'local',
        'everything',
        '-e',
        'EVERYTHING_TOKEN=tok-local-secret',
        '--',
        'npx',
        '-y',
        '@modelcontextprotocol/server-everything',
      ]),
    ];
    for (const a of adds) expect(a).toMatchObject({ code: 0, stderr: '' }); // "-e" takes several values: it goes after the name
  });

  test('the project key is the one Claude Code wrote: symlinks resolved, the git root, the main repository for a worktree', () => {
    const d = data();
    expect(Object.keys(d.projects).sort()).toEqual([keyPlain, keyRepo].sort());
    expect(d.projects[keyRepo].mcpServers).toEqual({
      everything: { type: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'], env: {} },
      browser: { type: 'stdio', command: 'npx', args: ['@playwright/mcp@latest'], env: { npm_config_offline: 'true' } },
    });
    for (const dir of [linkDeep, deep, repo, worktree, join(tmp, 'local-link')]) expect(local(dir).projectKey).toBe(keyRepo);
    expect(local(plainLink)).toEqual({ scope: 'local', file, section: ['projects', keyPlain, 'mcpServers'], dir: plainLink, projectKey: keyPlain, lock: true });
    expect(Object.keys(readConfig(local(worktree)).servers!)).toEqual(['everything', 'browser']);
    expect(mode(file)).toBe(0o600);
  });

  test('apply --local NAME in the current directory: a dry run names the scope and hides the secret', async () => {
    const before = read(file);
    const r = await cliIn(linkDeep, ['apply', '--local', 'everything', '--dry-run', '--json'], homeL);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ file, scope: 'local', projectKey: keyRepo, wrote: false, dryRun: true });
    expect(report.outcomes).toEqual([expect.objectContaining({ name: 'everything', status: 'switched' })]);
    const p = await cli(['apply', '--local', plainLink, '--dry-run'], homeL);
    expect(p.code).toBe(0);
    expect(p.stdout.split('\n')[0]).toBe(`${file} (local scope of ${keyPlain})`);
    expect(p.stdout).toContain('"EVERYTHING_TOKEN": "<redacted>"');
    expect(p.stdout).not.toContain('tok-local-secret');
    expect(read(file)).toBe(before);
  });

  test('apply --local switches the entry and nothing else; Claude Code connects to the daemon; revert restores it', async () => {
    const original = read(file);
    const r = await cli(['apply', '--local', linkDeep], homeL);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0); // browser stays per-session, which is not a failure
    expect(r.stdout).toContain(`${file} (local scope of ${keyRepo})`);
    expect(r.stdout).toMatch(new RegExp(`everything\\s+switched\\s+→ http://localhost:${port}/mcp`));
    expect(r.stdout).toMatch(/browser\s+per-session\s+playwright/);
    expect(r.stdout).toContain(`undo with: mcpshare revert --local ${linkDeep}`);
    const expected = parseJson(original) as any;
    expected.projects[keyRepo].mcpServers.everything = { type: 'http', url: `http://localhost:${port}/mcp` };
    expect(data()).toEqual(expected); // the other project's entry of the same name too is untouched
    const applied = read(file);
    const at = original.indexOf('"everything": {'); // the first one is the repository's
    expect(applied.slice(0, at)).toBe(original.slice(0, at));
    expect(applied.slice(applied.indexOf('"browser"'))).toBe(original.slice(original.indexOf('"browser"')));
    expect(mode(file)).toBe(0o600);

    // Claude Code itself, in a subdirectory of the repository, finds the switched entry and connects.
    const list = await claude(deep, ['mcp', 'list']);
    expect(list.stdout).toMatch(new RegExp(`everything: http://localhost:${port}/mcp \\(HTTP\\) - ✔ Connected`));
    expect(list.stdout).toMatch(/browser: npx @playwright\/mcp@latest - /);

    const rev = await cli(['revert', '--local', repo], homeL);
    expect(rev.stderr).toBe('');
    expect(rev.code).toBe(0);
    expect(rev.stdout).toMatch(/everything\s+restored/);
    expect(read(file)).toBe(original);
    expect((await cli(['revert', '--local', worktree], homeL)).stdout).toContain(`nothing to revert: no apply of ${file} (local scope of ${keyRepo})`);
  });

  test("the user scope and each project's local scope share the file but are applied and reverted separately", async () => {
    expect((await claude(plain, ['mcp', 'add', '-s', 'user', 'everything', '--', 'npx', '-y', '@modelcontextprotocol/server-everything'])).code).toBe(0);
    const original = read(file);
    const user = userTarget({ HOME: homeL });
    // Claude Code holds its lock: the local apply waits for it.
    mkdirSync(`${file}.lock`);
    const pending = applyL(local(plain));
    await sleep(1000);
    expect(read(file)).toBe(original);
    rmdirSync(`${file}.lock`);
    expect((await pending).outcomes).toEqual([expect.objectContaining({ name: 'everything', status: 'switched' })]);
    expect((await applyL(user)).outcomes).toEqual([expect.objectContaining({ name: 'everything', status: 'switched' })]);
    const shared = { type: 'http', url: `http://localhost:${port}/mcp` };
    expect(data().mcpServers.everything).toEqual(shared);
    expect(data().projects[keyPlain].mcpServers.everything).toEqual(shared);
    expect(data().projects[keyRepo].mcpServers.everything.type).toBe('stdio');

    // The newest apply was the user scope's, but this reverts the local one.
    const r = await revertConfig({ target: local(plainLink), backups: backupsL });
    expect(r.outcomes).toEqual([{ name: 'everything', status: 'restored' }]);
    expect(data().projects[keyPlain].mcpServers.everything).toEqual({
      type: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-everything'],
      env: { EVERYTHING_TOKEN: 'tok-local-secret' },
    });
    expect(data().mcpServers.everything).toEqual(shared);
    expect((await revertConfig({ target: local(plain), backups: backupsL })).result).toBe('nothing');
    expect((await revertConfig({ target: user, backups: backupsL })).outcomes).toEqual([{ name: 'everything', status: 'restored' }]);
    expect(read(file)).toBe(original);
  });

  test('nothing to write: no local servers for DIR, no "projects", no file; nothing is created', async () => {
    const none = join(tmp, 'local-none');
    mkdirSync(none);
    const text = read(file);
    const mtime = statSync(file).mtimeMs;
    const r = await cli(['apply', '--local', none, 'everything'], homeL);
    expect(r.code).toBe(1); // the NAME given is not in that config
    expect(r.stdout).toContain(`${file} has no local-scope servers for ${realpathSync(none)}: nothing to rewrite`);
    expect(r.stdout).toMatch(/everything\s+not in config/);
    expect((await cli(['revert', '--local', none], homeL)).code).toBe(0);
    expect(read(file)).toBe(text);
    expect(statSync(file).mtimeMs).toBe(mtime);

    const cfgDir = join(tmp, 'local-config-dir');
    mkdirSync(cfgDir);
    const bare = localTarget(none, { HOME: homeL, CLAUDE_CONFIG_DIR: cfgDir });
    expect(bare.file).toBe(join(cfgDir, '.claude.json'));
    const missing = await applyL(bare);
    expect(missing).toMatchObject({ exists: false, wrote: false, ok: true });
    expect(existsSync(bare.file)).toBe(false);
    writeFileSync(bare.file, '{"numStartups": 3}\n');
    const noProjects = await applyL(bare);
    expect(noProjects).toMatchObject({ exists: true, wrote: false, ok: true });
    expect(read(bare.file)).toBe('{"numStartups": 3}\n');
    writeFileSync(bare.file, `{"projects": {${JSON.stringify(bare.projectKey)}: {"mcpServers": []}}}`);
    await expect(applyL(bare)).rejects.toThrow(`projects[${JSON.stringify(bare.projectKey)}].mcpServers is not an object`);
  });

  test('a corrupt ~/.claude.json: apply and import --local name the position and leave it alone', async () => {
    const homeC = join(tmp, 'home-corrupt');
    mkdirSync(homeC);
    const broken = `{\n  "projects": {\n    ${JSON.stringify(keyPlain)}: {"mcpServers": {}},,\n  }\n}\n`;
    writeFileSync(join(homeC, '.claude.json'), broken);
    for (const cmd of ['apply', 'import']) {
      const r = await cli([cmd, '--local', plain], homeC);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`mcpshare ${cmd}: ${join(homeC, '.claude.json')} is not valid JSON`);
      expect(r.stderr).toMatch(/line 3, column \d+/);
    }
    expect(read(join(homeC, '.claude.json'))).toBe(broken);
    expect(existsSync(join(homeC, '.local', 'state', 'mcpshare', 'backups'))).toBe(false);
  });

  test('import --project DIR without a .mcp.json points at the local scope; import --local reads it', async () => {
    const r = await cli(['import', '--project', plain, '--dry-run'], homeL);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `${join(plain, '.mcp.json')} does not exist: nothing to import. ${file} has 1 local-scope stdio server for ${keyPlain} (everything), which "claude mcp add" puts there by default: use "mcpshare import --local ${plain}"`,
    );
    const j = JSON.parse((await cli(['import', '--project', repo, '--json'], homeL)).stdout);
    expect(j).toMatchObject({ scope: 'project', exists: false, outcomes: [], localServers: ['everything', 'browser'] });
    const l = await cli(['import', '--local', worktree, '--json', '--no-help-check'], homeL);
    expect(l.code).toBe(0);
    const report = JSON.parse(l.stdout) as { outcomes: ImportOutcome[]; scope: string; projectKey: string };
    expect(report).toMatchObject({ scope: 'local', projectKey: keyRepo });
    expect(report.outcomes.map((x) => [x.name, x.status])).toEqual([
      ['everything', 'already-registered'],
      ['browser', 'per-session'],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets and untrusted configs: what mcpshare prints, runs and writes.

/** Every file under `dir` (recursively) whose content contains `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && readFileSync(path, 'utf8').includes(needle)) hits.push(path);
    }
  };
  if (existsSync(dir)) walk(dir);
  return hits;
}

/** The lines of a unified diff below its two header lines. */
const diffBody = (diff: string) => diff.split('\n').slice(2);

describe('dry-run diffs never print secrets, nor anything of ~/.claude.json outside the servers', () => {
  // Neighbours of the switched entry, one line each, so that every one of them is diff context.
  const NEIGHBOURS = `{
  "mcpServers": {
    "neighbour": {"command": "node", "args": ["./srv.js", "--api-key", "nb-args-1", "--header", "Authorization: Bearer nb-header-2", "-e", "DB_PASSWORD=nb-docker-3", "https://h.example.com/api?token=nb-query-4"], "env": {"NEIGHBOUR_TOKEN": "nb-env-5", "REF": "\${NB_REF}"}},
    "everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"], "env": {"OWN": "nb-own-6"}},
    "zapier": {"type": "http", "url": "https://mcp.zapier.com/api/mcp/s/ZAPSECRET123/mcp", "headers": {"X-API-Key": "nb-header-7"}},
    "oauthy": {"type": "http", "url": "https://me:nb-pass-8@mcp.example.com/mcp?key=nb-q-9", "oauth": {"clientId": "cid-1", "clientSecret": "nb-cs-10"}}
  }
}
`;
  const SECRETS = /nb-args-1|nb-header-2|nb-docker-3|nb-query-4|nb-env-5|nb-own-6|ZAPSECRET123|nb-header-7|nb-pass-8|nb-q-9|nb-cs-10/;

  test('apply --dry-run: the switched entry and every other entry of the section are redacted', async () => {
    const p = makeProject('dry-neighbours', NEIGHBOURS);
    const r = await apply(p.target, { dryRun: true });
    expect(byName(r.outcomes, 'everything').status).toBe('switched');
    expect(r.diff).toContain(`+    "everything": {"type": "http", "url": "http://localhost:${port}/mcp"},\n`);
    // every neighbour is there as context, with its secrets hidden and the rest intact
    expect(r.diff).toContain(
      ' "neighbour": {"command": "node", "args": ["./srv.js", "--api-key", "<redacted>", "--header", "Authorization: <redacted>", "-e", "DB_PASSWORD=<redacted>", "https://h.example.com/api?token=<redacted>"], "env": {"NEIGHBOUR_TOKEN": "<redacted>", "REF": "${NB_REF}"}},\n',
    );
    expect(r.diff).toContain(
      ' "zapier": {"type": "http", "url": "https://mcp.zapier.com/api/mcp/s/<redacted>/mcp", "headers": {"X-API-Key": "<redacted>"}},\n',
    );
    expect(r.diff).toContain(
      ' "oauthy": {"type": "http", "url": "https://mcp.example.com/mcp?key=<redacted>", "oauth": {"clientId": "cid-1", "clientSecret": "<redacted>"}}\n',
    );
    expect(r.diff).not.toMatch(SECRETS);
    expect(read(p.file)).toBe(NEIGHBOURS);
  });

  test('apply --dry-run on ~/.claude.json: no line from outside the servers object (user and local scope, pretty and one-line files)', async () => {
    const h = join(tmp, 'home-dry-claude');
    const proj = join(tmp, 'dry-claude-project');
    mkdirSync(h);
    mkdirSync(proj);
    const key = realpathSync(proj);
    const stdio = { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'] };
    const outside = /sk-ant-api03-OUTSIDE|acc-outside|me@outside|my outside prompt|other-project-secret|numStartups|userID|projects|oauthAccount|primaryApiKey/;
    const pretty = JSON.stringify(
      {
        numStartups: 3,
        primaryApiKey: 'sk-ant-api03-OUTSIDE',
        oauthAccount: { accountUuid: 'acc-outside', emailAddress: 'me@outside.example' },
        projects: {
          '/some/other': { mcpServers: { other: { command: 'x', env: { T: 'other-project-secret' } } } },
          [key]: { history: [{ display: 'my outside prompt' }], mcpServers: { everything: stdio } },
        },
        mcpServers: { everything: stdio },
        userID: 'user-outside',
      },
      null,
      2,
    );
    const file = join(h, '.claude.json');
    for (const [target, text] of [
      [userTarget({ HOME: h }), pretty],
      [localTarget(proj, { HOME: h }), pretty],
      [
        userTarget({ HOME: h }),
        JSON.stringify({
          primaryApiKey: 'sk-ant-api03-OUTSIDE',
          mcpServers: { everything: { ...stdio, env: { OWN: 'one-line-env' } } },
          oauthAccount: { emailAddress: 'me@outside.example' },
        }),
      ],
    ] as const) {
      writeFileSync(file, text);
      const r = await apply(target, { dryRun: true });
      expect(byName(r.outcomes, 'everything').status).toBe('switched');
      expect(r.diff).toContain(`"url": "http://localhost:${port}/mcp"`);
      expect(r.diff).not.toMatch(outside);
      expect(r.diff).not.toContain('one-line-env');
      // the first line shown is the servers object's own, at its line in the file
      const first = diffBody(r.diff!)[1];
      expect(first.slice(1)).toMatch(/^\s*"mcpServers":\s*\{/);
      const line = Number(/^@@ -(\d+)/.exec(diffBody(r.diff!)[0])![1]);
      expect(text.split('\n')[line - 1]).toContain('"mcpServers"');
      expect(read(file)).toBe(text);
    }
  });

  test('revert --dry-run hides the secrets of the entries it would restore (library, CLI text and --json)', async () => {
    const p = makeProject('revert-dry-secrets');
    expect((await apply(p.target, { names: ['everything'] })).wrote).toBe(true);
    const applied = read(p.file);
    const r = await revertConfig({ target: p.target, backups, dryRun: true });
    expect(r.outcomes).toEqual([{ name: 'everything', status: 'restored' }]);
    expect(r.diff).toContain('+            "env": {"EVERYTHING_TOKEN": "<redacted>", "LEVEL": "${LOG_LEVEL:-info}"},\n');
    expect(r.diff).not.toContain('tok-123-secret');
    const text = await cli(['revert', '--project', p.dir, '--dry-run']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('"EVERYTHING_TOKEN": "<redacted>"');
    expect(text.stdout).not.toContain('tok-123-secret');
    const json = await cli(['revert', '--project', p.dir, '--dry-run', '--json']);
    expect(JSON.parse(json.stdout).diff).toContain('<redacted>');
    expect(json.stdout).not.toContain('tok-123-secret');
    expect(read(p.file)).toBe(applied);
    expect((await revertConfig({ target: p.target, backups })).wrote).toBe(true);
    expect(read(p.file)).toBe(PROJECT_JSON);
  });
});

describe('remote URLs are shown without their tokens', () => {
  test('apply and import reasons show origin and path only', async () => {
    const p = makeProject(
      'remote-urls',
      JSON.stringify({
        mcpServers: {
          zapier: { type: 'http', url: 'https://mcp.zapier.com/api/mcp/s/ZAPSECRET123/mcp' },
          keyed: { type: 'sse', url: 'https://bob:hunter2pw@mcp.example.com/sse?api_key=remote-q-secret' },
        },
      }),
    );
    const a = await apply(p.target);
    const i = await importConfig({
      target: p.target,
      manager: new ServerManager({ registryDir: join(tmp, 'remote-urls-reg'), paths: userPaths({ HOME: home }), env: {} }),
      env: { PATH: PATH_ENV },
    });
    for (const outcomes of [a.outcomes, i.outcomes] as { name: string; reason?: string }[][]) {
      expect(byName(outcomes, 'zapier').reason).toContain('https://mcp.zapier.com/api/mcp/s/<redacted>/mcp');
      expect(byName(outcomes, 'keyed').reason).toContain('https://mcp.example.com/sse?api_key=<redacted>');
      expect(JSON.stringify(outcomes)).not.toMatch(/ZAPSECRET123|hunter2pw|remote-q-secret|bob/);
    }
  });
});

describe('import runs nothing from the config unless asked, and never a shell, inline code or a download', () => {
  let h: string;
  let manager: ServerManager;
  const marker = (n: string) => join(tmp, 'untrusted-markers', n);
  const entries = () => ({
    helpful: { command: 'node', args: [join(FIXTURES, 'clients-help-server.mjs')], env: { CLIENTS_HELP_MARKER: marker('helpful') } },
    shell: { command: 'sh', args: ['-c', `touch ${marker('shell')}`] },
    inline: { command: 'node', args: ['-e', `require('fs').writeFileSync(${JSON.stringify(marker('inline'))}, 'ran')`] },
    'env-shell': { command: 'env', args: ['A=1', 'bash', '-lc', `touch ${marker('env-shell')}`] },
    download: { command: 'npx', args: ['-y', '@mcpshare-test/not-a-package-that-exists'] },
  });
  const ran = () => ['helpful', 'shell', 'inline', 'env-shell'].filter((n) => existsSync(marker(n)));
  let p: ReturnType<typeof makeProject>;
  let user: ConfigTarget;

  beforeAll(() => {
    h = join(tmp, 'home-untrusted');
    mkdirSync(h);
    mkdirSync(join(tmp, 'untrusted-markers'));
    manager = new ServerManager({
      registryDir: join(h, '.config', 'mcpshare'),
      paths: userPaths({ HOME: h }),
      env: { HOME: h, PATH: PATH_ENV, MCPSHARE_BACKEND: 'supervisor' },
    });
    p = makeProject('untrusted', JSON.stringify({ mcpServers: entries() }, null, 2));
    user = userTarget({ HOME: h });
    writeFileSync(user.file, JSON.stringify({ mcpServers: entries() }, null, 2));
  });
  const run = (target: ConfigTarget, extra: Partial<Parameters<typeof importConfig>[0]> = {}) =>
    importConfig({ target, manager, env: { PATH: PATH_ENV }, helpOptions: { timeoutMs: 10_000 }, ...extra });

  test('by default (project and user scope, dry run or not) nothing is run', async () => {
    for (const target of [p.target, user]) {
      for (const dryRun of [false, true]) {
        const r = await run(target, { dryRun });
        for (const o of r.outcomes) expect(o).toMatchObject({ status: 'unknown', help: undefined });
      }
    }
    expect(ran()).toEqual([]);
    expect(manager.list()).toEqual([]);
  });

  test('--help-check in a dry run still runs nothing, and says so', async () => {
    const r = await run(p.target, { dryRun: true, helpCheck: true });
    expect(byName(r.outcomes, 'helpful').help).toMatchObject({ ran: false, refused: true });
    expect(byName(r.outcomes, 'helpful').reason).toContain('its --help was not run: nothing is run in a dry run');
    expect(ran()).toEqual([]);
  });

  test('--help-check runs a program that is on the machine, but refuses sh -c, inline code and npx, saying why', async () => {
    for (const target of [p.target, user]) {
      const r = await run(target, { helpCheck: true });
      expect(byName(r.outcomes, 'helpful').help).toMatchObject({ ran: true, native: true });
      const why = (n: string) => byName(r.outcomes, n).help!;
      expect(why('shell')).toMatchObject({ ran: false, refused: true });
      expect(why('shell').message).toContain('a shell given a command string (sh -c)');
      expect(why('inline').message).toContain('inline code (node -e)');
      expect(why('env-shell').message).toContain('(bash -c)');
      expect(why('download').message).toContain('"npx -y @mcpshare-test/not-a-package-that-exists" may download a package and run it');
      expect(byName(r.outcomes, 'shell').reason).toContain('its --help was not run: it is a shell given a command string');
    }
    expect(ran()).toEqual(['helpful']); // only the fixture, which was asked for
  });

  test('CLI: --help-check is opt-in; --no-help-check is still accepted; usage says so', async () => {
    rmSync(marker('helpful'), { force: true });
    const dflt = await cli(['import', '--project', p.dir]);
    expect(dflt.stderr).toBe('');
    expect(dflt.code).toBe(0);
    expect(dflt.stdout).toMatch(/shell\s+unknown/);
    const dry = await cli(['import', '--project', p.dir, '--dry-run', '--help-check']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('nothing is run in a dry run');
    expect((await cli(['import', '--project', p.dir, '--no-help-check', '--json'])).code).toBe(0);
    expect(ran()).toEqual([]);
    const asked = await cli(['import', '--project', p.dir, '--help-check']);
    expect(asked.stdout).toMatch(/shell\s+unknown\s+.*its --help was not run: it is a shell given a command string \(sh -c\)/);
    expect(ran()).toEqual(['helpful']);
    const usage = await cli(['import', '--help']);
    expect(usage.stdout).toContain('[--help-check]');
    expect(usage.stdout).not.toContain('[--no-help-check]');
  });
});

describe('import leaves entries whose command line carries a secret (unit files are world-readable)', () => {
  let h: string;
  let manager: ServerManager;
  let p: ReturnType<typeof makeProject>;
  const MEMORY = ['-y', '@modelcontextprotocol/server-memory'];
  const config = {
    mcpServers: {
      'flag-key': { command: 'npx', args: [...MEMORY, '--api-key', 'sk-flag-secret-1'] },
      'ref-key': { command: 'npx', args: [...MEMORY, '--token=${CLIENTS_ARG_SECRET}'] },
      'url-pass': { command: 'npx', args: [...MEMORY, '--db', 'postgres://app:url-pass-secret@db.example.com/app'] },
      'docker-env': {
        command: 'docker',
        args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN=docker-env-secret', 'ghcr.io/github/github-mcp-server'],
      },
      'docker-pass': {
        command: 'docker',
        args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'],
        env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'in-env-is-fine' },
      },
      'remote-proxy': { command: 'npx', args: ['-y', 'mcp-remote', 'https://mcp.example.com/mcp', '--header', 'Authorization: Bearer header-secret'] },
      'in-env': { command: 'npx', args: MEMORY, env: { API_KEY: 'sk-in-env-file' } },
    },
  };
  const env = { PATH: PATH_ENV, CLIENTS_ARG_SECRET: 'ref-expanded-secret' };
  const SECRETS = ['sk-flag-secret-1', 'ref-expanded-secret', 'url-pass-secret', 'docker-env-secret', 'header-secret'];

  beforeAll(() => {
    h = join(tmp, 'home-arg-secrets');
    mkdirSync(h);
    manager = new ServerManager({
      registryDir: join(h, '.config', 'mcpshare'),
      paths: userPaths({ HOME: h }),
      env: { HOME: h, PATH: PATH_ENV, MCPSHARE_BACKEND: 'supervisor' },
    });
    p = makeProject('arg-secrets', JSON.stringify(config, null, 2));
  });

  test('dry run: each is "left" with what the secret is (never its value) and the fix', async () => {
    const r = await importConfig({ target: p.target, manager, env, dryRun: true });
    const o = (n: string) => byName<ImportOutcome>(r.outcomes, n);
    expect(o('flag-key')).toMatchObject({ status: 'secret-in-args', failed: true, secrets: ['the value of --api-key'] });
    expect(o('ref-key')).toMatchObject({ status: 'secret-in-args', failed: true, secrets: ['the value of --token'] }); // ${VAR} is expanded into the command line
    expect(o('url-pass')).toMatchObject({ status: 'secret-in-args', failed: true, secrets: ['a password in a URL'] });
    expect(o('docker-env')).toMatchObject({ status: 'secret-in-args', failed: true });
    expect(o('docker-env').fix).toContain('keep just "-e NAME"');
    expect(o('remote-proxy')).toMatchObject({ status: 'secret-in-args', failed: false, secrets: ['the Authorization header'] }); // unknown: not registered without --all anyway
    expect(o('docker-pass').status).toBe('would-register');
    expect(o('in-env').status).toBe('would-register');
    expect(o('flag-key').reason).toMatch(/^its command line carries a secret \(the value of --api-key\)/);
    expect(o('flag-key').fix).toContain('"env"');
    expect(r.ok).toBe(false);
    const all = await importConfig({ target: p.target, manager, env, dryRun: true, all: true, names: ['remote-proxy'] });
    expect(all.outcomes[0]).toMatchObject({ status: 'secret-in-args', failed: true });
    for (const s of SECRETS) expect(JSON.stringify([r, all])).not.toContain(s);
  });

  test('for real: nothing of theirs is registered or written anywhere; the env route works', async () => {
    const r = await importConfig({ target: p.target, manager, env, names: ['flag-key', 'ref-key', 'url-pass', 'in-env'] });
    expect(r.outcomes.map((x) => [x.name, x.status])).toEqual([
      ['flag-key', 'secret-in-args'],
      ['ref-key', 'secret-in-args'],
      ['url-pass', 'secret-in-args'],
      ['in-env', 'registered'],
    ]);
    expect(manager.list().map((e) => e.name)).toEqual(['in-env']);
    for (const s of SECRETS) expect(filesContaining(h, s)).toEqual([]);
    const envFile = manager.registry.require('in-env').envFile!;
    expect(filesContaining(h, 'sk-in-env-file')).toEqual([envFile]);
    expect(mode(envFile)).toBe(0o600);
  });

  test('CLI: "left" with the reason and exit status 1, no secret printed', async () => {
    const r = await mcpshare(['import', '--project', p.dir, 'flag-key', 'docker-env', 'remote-proxy'], {
      ...cliEnv(h),
      CLIENTS_ARG_SECRET: 'ref-expanded-secret',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/flag-key\s+left\s+its command line carries a secret \(the value of --api-key\).* — fix: /);
    expect(r.stdout).toMatch(/docker-env\s+left\s+.*the value of GITHUB_PERSONAL_ACCESS_TOKEN/);
    for (const s of SECRETS) expect(r.stdout).not.toContain(s);
    expect(new ServerManager({ registryDir: join(h, '.config', 'mcpshare'), paths: userPaths({ HOME: h }), env: {} }).list().map((e) => e.name)).toEqual([
      'in-env',
    ]);
  });
});

describe('revert of a corrupt ~/.claude.json changes nothing and says how to restore by hand', () => {
  test('user and local scope: refused with line and column, the backup and the exact cp command; exit 1', async () => {
    const h = join(tmp, 'home-revert-corrupt');
    const proj = join(tmp, 'revert-corrupt-project');
    mkdirSync(h);
    mkdirSync(proj);
    const hb = BackupStore.under(userPaths({ HOME: h }).stateDir);
    const file = join(h, '.claude.json');
    const stdio = { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'] };
    const key = realpathSync(proj);
    for (const target of [userTarget({ HOME: h }), localTarget(proj, { HOME: h })]) {
      writeFileSync(
        file,
        JSON.stringify({ numStartups: 1, projects: { [key]: { mcpServers: { everything: stdio } } }, mcpServers: { everything: stdio } }, null, 2),
      );
      chmodSync(file, 0o600);
      const applied = await applyConfig({ target, registry: registry.list(), backups: hb, env: { PATH: PATH_ENV } });
      expect(applied.wrote).toBe(true);
      // Claude Code saved more since (another project), then something broke the file.
      const later = JSON.parse(read(file));
      later.projects['/another/project'] = { allowedTools: ['Bash'] };
      const broken = JSON.stringify(later, null, 2).replace('"numStartups": 1,', '"numStartups": 1,,');
      writeFileSync(file, broken);
      const mtime = statSync(file).mtimeMs;
      const files = readdirSync(hb.dirFor(file)).sort();
      for (const dryRun of [true, false]) {
        const r = await revertConfig({ target, backups: hb, dryRun });
        expect(r).toMatchObject({ result: 'corrupt', ok: false, wrote: false, backup: applied.backup, position: { line: 2, column: 20 } });
        expect(r.restoreCommand).toBe(`cp ${applied.backup} ${file}`);
        expect(r.message).toContain(`${file} is not valid JSON at line 2, column 20`);
        expect(r.message).toContain('revert changed nothing');
        expect(r.message).toContain(r.restoreCommand!);
      }
      expect(read(file)).toBe(broken);
      expect(statSync(file).mtimeMs).toBe(mtime);
      expect(readdirSync(hb.dirFor(file)).sort()).toEqual(files); // nothing saved aside, record not marked reverted
      expect(hb.latestUnreverted(file, target.section)!.record.backup).toBe(applied.backup);

      const c = await cli(['revert', target.scope === 'user' ? '--user' : `--local=${proj}`], h);
      expect(c.code).toBe(1);
      expect(c.stdout).toContain(`cp ${applied.backup} ${file}`);
      expect(read(file)).toBe(broken);

      // The printed command does what it says.
      execFileSync('sh', ['-c', `cp ${applied.backup} ${file}`]);
      expect(read(file)).toBe(read(applied.backup!));
      expect((await revertConfig({ target, backups: hb })).result).toBe('reverted');
    }
  });
});

describe('redaction patterns (display) and the secrets import refuses', () => {
  test('auth headers after --header/-H, docker -e values, secret query parameters, URL userinfo and tokens', () => {
    expect(redactArgs(['-y', 'mcp-remote', 'https://mcp.example.com/sse', '--header', 'Authorization: Bearer sk-abc123'])).toEqual([
      '-y',
      'mcp-remote',
      'https://mcp.example.com/sse',
      '--header',
      'Authorization: <redacted>',
    ]);
    expect(
      redactArgs([
        '-H',
        'X-API-Key:k1',
        '-H',
        'Accept: application/json',
        '--header=Cookie: s=1',
        '--header',
        'X-Auth-Token: t',
        '-H',
        'Authorization',
        'Bearer two-words',
      ]),
    ).toEqual([
      '-H',
      'X-API-Key:<redacted>',
      '-H',
      'Accept: application/json',
      '--header=Cookie: <redacted>',
      '--header',
      'X-Auth-Token: <redacted>',
      '-H',
      'Authorization',
      '<redacted>',
    ]);
    expect(
      redactArgs(['run', '-i', '--rm', '-e', 'GITHUB_TOKEN', '-e', 'API_KEY=sk-1', '--env', 'LOG=debug', '--env=DB_PASS=pw', 'ghcr.io/org/image:1.2']),
    ).toEqual([
      'run',
      '-i',
      '--rm',
      '-e',
      'GITHUB_TOKEN',
      '-e',
      'API_KEY=<redacted>',
      '--env',
      'LOG=<redacted>',
      '--env=DB_PASS=<redacted>',
      'ghcr.io/org/image:1.2',
    ]);
    expect(
      redactArgs([
        'https://api.example.com/v1?api_key=abc&format=json&access_token=zz',
        'postgres://u:pw@h:5432/db?sslmode=require&password=p',
        'mongodb://h/db?authSource=admin',
      ]),
    ).toEqual([
      'https://api.example.com/v1?api_key=<redacted>&format=json&access_token=<redacted>',
      'postgres://u:<redacted>@h:5432/db?sslmode=require&password=<redacted>',
      'mongodb://h/db?authSource=admin',
    ]);
    expect(
      redactArgs([
        'https://mcp.zapier.com/api/mcp/s/ZAPSECRET123/mcp',
        'https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r',
        'xoxb-1234567890-abcdefghijkl',
        '--apiKey',
        'x',
        '--accessToken=y',
        'API_KEY=z',
      ]),
    ).toEqual([
      'https://mcp.zapier.com/api/mcp/s/<redacted>/mcp',
      'https://<redacted>@github.com/o/r',
      '<redacted>',
      '--apiKey',
      '<redacted>',
      '--accessToken=<redacted>',
      'API_KEY=<redacted>',
    ]);
  });

  test('ordinary arguments and ${VAR} references stay as they are', () => {
    const ordinary = [
      '-y',
      '@modelcontextprotocol/server-filesystem',
      '/home/me/projects/app',
      './data',
      '--port',
      '8080',
      '--transport',
      'http',
      'github-mcp-server-2025',
      '--no-auth',
      '/tmp/x',
      '--api-key-file',
      '/run/secrets/key',
      '-e',
      'GITHUB_TOKEN',
      'LOG_LEVEL=debug',
      'https://mcp.example.com/mcp',
      'http://localhost:8001/mcp?mode=ro',
      '--api-key',
      '${API_KEY}',
      '--header',
      'Authorization: Bearer ${TOKEN}',
      '-e',
      'TOKEN=${TOKEN}',
    ];
    expect(redactArgs(ordinary)).toEqual(ordinary);
    expect(findArgSecrets(ordinary)).toEqual([]);
  });

  test('findArgSecrets names what is secret, never the value', () => {
    expect(findArgSecrets(['--api-key', 'v1', '--header', 'Authorization: Bearer v2', '-e', 'K=v3', 'postgres://u:v4@h/d', 'https://h/x?token=v5'])).toEqual([
      'the value of --api-key',
      'the Authorization header',
      'the value of K (-e K=…)',
      'a password in a URL',
      'the token parameter of a URL',
    ]);
  });

  test('remote URLs: origin and path, long random-looking segments hidden, no userinfo, no query values', () => {
    expect(showUrl('https://mcp.zapier.com/api/mcp/s/ZAPSECRET123/mcp')).toBe('https://mcp.zapier.com/api/mcp/s/<redacted>/mcp');
    expect(showUrl('https://mcp.example.com/u/a8F3kLm29xQ7pZr4TbVw/sse')).toBe('https://mcp.example.com/u/<redacted>/sse');
    expect(showUrl('https://user:pw@mcp.example.com/mcp?token=abc&x=1#frag')).toBe('https://mcp.example.com/mcp?token=<redacted>&x=<redacted>');
    for (const plain of [
      'https://mcp.example.com/mcp',
      'http://localhost:8001/mcp',
      'https://api.githubcopilot.com/mcp/',
      'https://mcp.example.com/server-everything-2025/sse',
    ])
      expect(showUrl(plain)).toBe(plain);
  });

  test('whyNotRun: shells with -c, inline code, downloaders and sudo are refused; plain programs are not', () => {
    const why = (line: string) => whyNotRun(line.split(' ')[0], line.split(' ').slice(1));
    for (const bad of [
      'sh -c x',
      'bash -lc x',
      '/bin/zsh -c x',
      'node -e x',
      'node --eval=x',
      'node -p x',
      'python3 -c x',
      'python3.12 -c x',
      'deno eval x',
      'ruby -e x',
      'perl -E x',
      'npx -y pkg',
      'npx pkg',
      'bunx pkg',
      'uvx pkg',
      'pnpm dlx pkg',
      'yarn dlx pkg',
      'npm exec pkg',
      'pipx run pkg',
      'uv run server.py',
      'docker run -i img',
      'deno run npm:pkg',
      'go run github.com/a/b@latest',
      'env A=1 sh -c x',
      'nice -n 5 npx pkg',
      'timeout 5 node -e x',
      'sudo node s.js',
      'env -S sh',
    ]) {
      expect([bad, why(bad)]).toEqual([bad, expect.any(String)]);
    }
    for (const ok of [
      'node /opt/srv/index.js',
      'python3 server.py --stdio',
      '/usr/local/bin/mcp-grafana',
      './bin/server --read-only',
      'deno run ./main.ts',
      'env A=1 node s.js',
      'uv --version',
    ])
      expect([ok, why(ok)]).toEqual([ok, undefined]);
  });
});

// ---------------------------------------------------------------------------------------------
// apply --add: registered servers that a config lacks are added (the tray's "Write .mcp.json…" and
// "Use shared servers for all projects"), and revert deletes exactly what it added.

describe('apply --add and the revert of what it added', () => {
  // Registered (sorted by name): clash, everything (both at the bridge's /mcp), everything-sse
  // (native SSE at /sse), memory (its daemon is down: nothing listens on its port).
  const shared = () => ({
    clash: { type: 'http', url: `http://localhost:${port}/mcp` },
    everything: { type: 'http', url: `http://localhost:${port}/mcp` },
    'everything-sse': { type: 'sse', url: `http://localhost:${port}/sse` },
  });
  const ADD_JSON = `{
    "mcpServers": {
        "homegrown": {"command": "node", "args": ["./tools/my-server.js"]},
        "everything": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-everything"]
        }
    },
    "x-team": {"owner": "platform"}
}`;
  const emptyDir = (name: string) => {
    const dir = join(tmp, name);
    mkdirSync(dir);
    return { dir, file: join(dir, '.mcp.json'), target: projectTarget(dir) };
  };
  /** The record revert will use: the newest apply of the file's section. */
  const recordOf = (t: ConfigTarget) => backups.latestUnreverted(t.file, t.section)!.record;
  const claudeIn = (h: string, cwd: string, args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: h, CI: 'true' };
      delete env.CLAUDE_CONFIG_DIR;
      execFile(CLAUDE, args, { cwd, env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
    });

  test('an existing .mcp.json: missing servers are added in its style, a down one is reported, existing entries switch as before', async () => {
    const p = makeProject('add-existing', ADD_JSON, 0o640);
    const r = await apply(p.target, { add: true });
    expect(r.outcomes.map((x) => [x.name, x.status, x.failed])).toEqual([
      ['homegrown', 'not-shared', false],
      ['everything', 'switched', false],
      ['clash', 'added', false],
      ['everything-sse', 'added', false],
      ['memory', 'not-added', false], // down, but not asked for by name: reported, not a failure
    ]);
    expect(byName(r.outcomes, 'clash')).toMatchObject({ url: `http://localhost:${port}/mcp`, server: { name: 'mcp-servers/everything' } });
    expect(byName(r.outcomes, 'memory').reason).toContain(`localhost:${closedPort}/mcp failed the handshake (refused)`);
    expect(byName(r.outcomes, 'memory').fix).toBe('mcpshare start memory');
    expect(r).toMatchObject({ ok: true, wrote: true, exists: true });
    expect(r.created).toBeUndefined();
    expect(read(p.file)).toBe(`{
    "mcpServers": {
        "homegrown": {"command": "node", "args": ["./tools/my-server.js"]},
        "everything": {
            "type": "http",
            "url": "http://localhost:${port}/mcp"
        },
        "clash": {
            "type": "http",
            "url": "http://localhost:${port}/mcp"
        },
        "everything-sse": {
            "type": "sse",
            "url": "http://localhost:${port}/sse"
        }
    },
    "x-team": {"owner": "platform"}
}`);
    expect(mode(p.file)).toBe(0o640);
    expect(read(r.backup!)).toBe(ADD_JSON);
    // The record says which entries were added (revert deletes those) and which were switched (revert restores those).
    const rec = recordOf(p.target);
    expect(rec.changes.map((c) => [c.name, !!c.added])).toEqual([
      ['everything', false],
      ['clash', true],
      ['everything-sse', true],
    ]);
    expect(rec.created).toBeUndefined();
    expect(rec.createdFrom).toBeUndefined();

    // A second run finds nothing to add or switch: no rewrite.
    const again = await apply(p.target, { add: true });
    expect(again.wrote).toBe(false);
    expect(again.outcomes.filter((x) => x.status === 'added')).toEqual([]);

    // revert: the switched entry comes back, the added ones go, byte for byte.
    const rev = await revertConfig({ target: p.target, backups });
    expect(rev.outcomes).toEqual([
      { name: 'everything', status: 'restored' },
      { name: 'clash', status: 'deleted' },
      { name: 'everything-sse', status: 'deleted' },
    ]);
    expect(rev.message).toBe('restored 1 entry to what it was before the apply; deleted 2 entries the apply added');
    expect(read(p.file)).toBe(ADD_JSON);
    expect(mode(p.file)).toBe(0o640);
  });

  let created: ReturnType<typeof emptyDir>;
  test('a project without .mcp.json: the file is created (2-space JSON, final newline, 0644), the record says so', async () => {
    created = emptyDir('add-create');
    const r = await apply(created.target, { add: true });
    expect(r.outcomes.map((x) => [x.name, x.status])).toEqual([
      ['clash', 'added'],
      ['everything', 'added'],
      ['everything-sse', 'added'],
      ['memory', 'not-added'],
    ]);
    expect(r).toMatchObject({ ok: true, wrote: true, created: true, exists: false });
    expect(r.backup).toBeUndefined();
    expect(read(created.file)).toBe(`${JSON.stringify({ mcpServers: shared() }, null, 2)}\n`);
    expect(mode(created.file)).toBe(0o644);
    expect(recordOf(created.target)).toMatchObject({ created: true, createdFrom: 0, scope: 'project', dir: created.dir });
  });

  test('revert deletes the added entries and the file apply created (dry run first: shows it, writes nothing)', async () => {
    const text = read(created.file);
    const dry = await revertConfig({ target: created.target, backups, dryRun: true });
    expect(dry).toMatchObject({ result: 'reverted', wrote: false, deletedFile: true, created: true });
    expect(dry.diff).toContain(`--- ${created.file}\n+++ /dev/null\n`);
    expect(dry.diff).toContain(`-    "clash": {\n`);
    expect(read(created.file)).toBe(text);
    const r = await revertConfig({ target: created.target, backups });
    expect(r.outcomes).toEqual([
      { name: 'clash', status: 'deleted' },
      { name: 'everything', status: 'deleted' },
      { name: 'everything-sse', status: 'deleted' },
    ]);
    expect(r).toMatchObject({ result: 'reverted', ok: true, wrote: true, deletedFile: true });
    expect(r.message).toContain(`deleted ${created.file}, which the apply created`);
    expect(existsSync(created.file)).toBe(false);
    expect(read(r.savedBefore!)).toBe(text); // what was deleted is kept, privately
    expect((await revertConfig({ target: created.target, backups })).result).toBe('nothing');
  });

  test('revert leaves an added entry edited since (and so keeps the file it created)', async () => {
    const p = emptyDir('add-edited');
    expect((await apply(p.target, { add: true })).created).toBe(true);
    // The user re-points one added entry, by hand, in their own formatting.
    const edited = read(p.file).replace(`"url": "http://localhost:${port}/sse"`, '"url": "http://localhost:9/sse"');
    writeFileSync(p.file, edited);
    const r = await revertConfig({ target: p.target, backups });
    expect(r.outcomes).toEqual([
      { name: 'clash', status: 'deleted' },
      { name: 'everything', status: 'deleted' },
      { name: 'everything-sse', status: 'changed-since' },
    ]);
    expect(r.deletedFile).toBeUndefined();
    // The members and their commas are spliced out; the edited entry keeps its bytes.
    expect(read(p.file)).toBe('{\n  "mcpServers": {\n    "everything-sse": {\n      "type": "sse",\n      "url": "http://localhost:9/sse"\n    }\n  }\n}\n');
  });

  test('a down server is not added, and named it fails the run; nothing is created', async () => {
    const p = emptyDir('add-down');
    const r = await apply(p.target, { add: true, names: ['memory'] });
    expect(r.outcomes).toEqual([expect.objectContaining({ name: 'memory', status: 'not-added', failed: true, fix: 'mcpshare start memory' })]);
    expect(r).toMatchObject({ ok: false, wrote: false });
    expect(r.note).toBe(`${p.file} does not exist, and no registered server could be added: nothing was created`);
    expect(existsSync(p.file)).toBe(false);
    expect(existsSync(backups.dirFor(p.file))).toBe(false);
    // NAMEs limit what is added; one that is neither in the config nor registered is not in config.
    const named = await apply(p.target, { add: true, names: ['everything-sse', 'nope'] });
    expect(named.outcomes.map((x) => [x.name, x.status, x.failed])).toEqual([
      ['everything-sse', 'added', false],
      ['nope', 'not-in-config', true],
    ]);
    expect(JSON.parse(read(p.file))).toEqual({ mcpServers: { 'everything-sse': shared()['everything-sse'] } });
  });

  test('--dry-run shows the additions in the diff and writes nothing; a daemon another entry already reaches is not added twice', async () => {
    const missing = emptyDir('add-dry-missing');
    const r = await apply(missing.target, { add: true, dryRun: true });
    expect(r).toMatchObject({ created: true, wrote: false, dryRun: true });
    expect(r.diff).toBe(
      `--- /dev/null\n+++ ${missing.file} (after mcpshare apply)\n@@ -0,0 +2,14 @@\n${JSON.stringify({ mcpServers: shared() }, null, 2)
        .split('\n')
        .slice(1, -1)
        .map((l) => `+${l}\n`)
        .join('')}`,
    );
    expect(existsSync(missing.file)).toBe(false);
    expect(existsSync(backups.dirFor(missing.file))).toBe(false);

    const mine = `{"mcpServers": {"mine": {"type": "http", "url": "http://localhost:${port}/mcp"}}}\n`;
    const p = makeProject('add-dry-existing', mine);
    const d = await apply(p.target, { add: true, dryRun: true });
    expect(d.outcomes.map((x) => [x.name, x.status])).toEqual([
      ['mine', 'remote'],
      ['clash', 'already-shared'],
      ['everything', 'already-shared'],
      ['everything-sse', 'added'], // a native SSE server: /mcp is not its endpoint
      ['memory', 'not-added'],
    ]);
    expect(byName(d.outcomes, 'everything').reason).toBe('the entry "mine" already points at its daemon');
    expect(d.diff).toBe(
      `--- ${p.file}\n+++ ${p.file} (after mcpshare apply)\n@@ -1 +1 @@\n` +
        `-"mcpServers": {"mine": {"type": "http", "url": "http://localhost:${port}/mcp"}}\n` +
        `+"mcpServers": {"mine": {"type": "http", "url": "http://localhost:${port}/mcp"}, "everything-sse": {"type": "sse", "url": "http://localhost:${port}/sse"}}\n`,
    );
    expect(read(p.file)).toBe(mine);
    expect(existsSync(backups.dirFor(p.file))).toBe(false);
  });

  test('user scope: ~/.claude.json without "mcpServers" gets it (the rest byte for byte, under Claude Code\'s lock); Claude Code connects; revert takes it out again', async () => {
    const h = join(tmp, 'home-add-user');
    mkdirSync(h);
    const target = userTarget({ HOME: h });
    // As Claude Code writes it: 2-space JSON, no final newline, 0600, no "mcpServers" yet.
    const original = JSON.stringify(
      {
        numStartups: 2,
        installMethod: 'native',
        oauthAccount: { accountUuid: 'acc-1', emailAddress: 'me@example.com' },
        projects: { '/work/x': { allowedTools: [], history: [] } },
        hasCompletedOnboarding: true,
      },
      null,
      2,
    );
    writeFileSync(target.file, original);
    chmodSync(target.file, 0o600);
    mkdirSync(`${target.file}.lock`); // Claude Code is saving the file right now
    const pending = apply(target, { add: true });
    await sleep(1200);
    expect(read(target.file)).toBe(original);
    rmdirSync(`${target.file}.lock`);
    const r = await pending;
    expect(r).toMatchObject({ wrote: true, ok: true });
    expect(r.outcomes.map((x) => [x.name, x.status])).toEqual([
      ['clash', 'added'],
      ['everything', 'added'],
      ['everything-sse', 'added'],
      ['memory', 'not-added'],
    ]);
    expect(read(target.file)).toBe(`${original.slice(0, -2)},\n  "mcpServers": ${JSON.stringify(shared(), null, 2).replace(/\n/g, '\n  ')}\n}`);
    expect(mode(target.file)).toBe(0o600);
    expect(existsSync(`${target.file}.lock`)).toBe(false);
    expect(recordOf(target)).toMatchObject({ scope: 'user', createdFrom: 0 });

    // The real Claude Code reads the user scope apply wrote, and reaches the daemons.
    const list = await claudeIn(h, tmp, ['mcp', 'list']);
    expect(list.stdout).toContain(`everything: http://localhost:${port}/mcp (HTTP) - ✔ Connected`);
    expect(list.stdout).toContain(`everything-sse: http://localhost:${port}/sse (SSE) - ✔ Connected`);

    // Claude Code may have saved the file since: revert keeps that, and removes what apply added.
    const before = parseJson(read(target.file)) as any;
    const rev = await revertConfig({ target, backups });
    expect(rev.outcomes.map((x) => x.status)).toEqual(['deleted', 'deleted', 'deleted']);
    expect(rev.message).toContain('removed the empty servers object the apply created');
    const after = parseJson(read(target.file)) as any;
    delete before.mcpServers;
    expect(after).toEqual(before);
    expect(mode(target.file)).toBe(0o600);
  });

  test('local scope: projects[KEY].mcpServers is created for a project Claude Code has no entry for; revert gives the file back byte for byte', async () => {
    const h = join(tmp, 'home-add-local');
    const proj = join(tmp, 'add-local-project');
    mkdirSync(h);
    mkdirSync(proj);
    const target = localTarget(proj, { HOME: h });
    const original = JSON.stringify(
      { numStartups: 5, projects: { '/work/other': { allowedTools: ['Bash'], mcpServers: { other: { command: 'x' } } } }, userID: 'u-1' },
      null,
      2,
    );
    writeFileSync(target.file, original);
    chmodSync(target.file, 0o600);
    const r = await apply(target, { add: true, names: ['everything'] });
    expect(r.outcomes).toEqual([expect.objectContaining({ name: 'everything', status: 'added' })]);
    const at = original.indexOf('\n  },\n  "userID"'); // the end of the "/work/other" project
    expect(read(target.file)).toBe(
      `${original.slice(0, at)},\n    ${JSON.stringify(realpathSync(proj))}: {\n      "mcpServers": {\n        "everything": {\n          "type": "http",\n          "url": "http://localhost:${port}/mcp"\n        }\n      }\n    }${original.slice(at)}`,
    );
    expect((parseJson(read(target.file)) as any).mcpServers).toBeUndefined(); // not the user scope
    expect(recordOf(target)).toMatchObject({ scope: 'local', projectKey: realpathSync(proj), createdFrom: 1 });
    const rev = await revertConfig({ target, backups });
    expect(rev.outcomes).toEqual([{ name: 'everything', status: 'deleted' }]);
    expect(rev.message).toContain('removed the empty servers object the apply created');
    expect(read(target.file)).toBe(original);
  });

  test('revert --all undoes every apply of every config, newest first, one block each; JSON is a list; --all with a scope is a usage error', async () => {
    const h = join(tmp, 'home-revert-all');
    mkdirSync(h);
    const reg = new Registry({ dir: join(h, '.config', 'mcpshare') });
    for (const e of registry.list()) reg.add(e);
    const hb = BackupStore.under(userPaths({ HOME: h }).stateDir);
    const one = makeProject('revert-all-one', ADD_JSON);
    const two = emptyDir('revert-all-two');
    const user = join(h, '.claude.json');
    const userText = JSON.stringify(
      { numStartups: 1, mcpServers: { everything: { type: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'], env: {} } } },
      null,
      2,
    );
    writeFileSync(user, userText);
    chmodSync(user, 0o600);

    // Two applies of the first config (a switch, then an --add), one that creates the second, one of the user scope.
    for (const args of [
      ['apply', '--project', one.dir, 'everything'],
      ['apply', '--project', one.dir, '--add'],
      ['apply', '--project', two.dir, '--add', '--json'],
      ['apply', '--user'],
    ]) {
      const r = await cli(args, h);
      expect([args, r.code, r.stderr]).toEqual([args, 0, '']);
    }
    expect(existsSync(two.file)).toBe(true);
    expect(hb.allUnreverted().map((x) => x.record.file)).toEqual([user, two.file, one.file, one.file]);

    const bad = await cli(['revert', '--all', '--project', one.dir], h);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('mcpshare revert: --all reverts every config: give no --project with it\n');
    expect((await cli(['revert', '--local', one.dir, '--all'], h)).code).toBe(2);

    const dry = await cli(['revert', '--all', '--dry-run', '--json'], h);
    expect(dry.code).toBe(0);
    const planned = JSON.parse(dry.stdout) as RevertReport[];
    expect(planned.map((x) => [x.file, x.scope, x.applies, x.wrote])).toEqual([
      [user, 'user', 1, false],
      [two.file, 'project', 1, false],
      [one.file, 'project', 2, false],
    ]);
    expect(hb.allUnreverted().length).toBe(4);
    expect(existsSync(two.file)).toBe(true);

    const r = await cli(['revert', '--all'], h);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const blocks = r.stdout.split('\n\n');
    expect(blocks.length).toBe(3);
    expect(blocks[0].split('\n')[0]).toBe(`${user} (user scope)`);
    expect(blocks[0]).toMatch(/everything\s+restored/);
    expect(blocks[1].split('\n')[0]).toBe(two.file);
    expect(blocks[1]).toContain(`deleted ${two.file}, which the apply created`);
    expect(blocks[2].split('\n')[0]).toBe(one.file);
    // (the --add found "clash" already reached through "everything", switched by the apply before it)
    expect(blocks[2]).toMatch(/everything-sse\s+deleted \(apply added it\)\neverything\s+restored\n/);
    expect(blocks[2]).not.toContain('clash');
    expect(read(user)).toBe(userText);
    expect(existsSync(two.file)).toBe(false);
    expect(read(one.file)).toBe(ADD_JSON);
    expect(hb.allUnreverted()).toEqual([]);

    const none = await cli(['revert', '--all', '--json'], h);
    expect([none.code, JSON.parse(none.stdout)]).toEqual([0, []]);
    expect((await cli(['revert', '--all'], h)).stdout).toBe('nothing to revert: no apply is on record that is not reverted already\n');
  });

  test('revert --all reports a config it cannot revert and still reverts the others (exit status 1)', async () => {
    const store = new BackupStore(join(tmp, 'revert-all-failing'));
    const good = makeProject('revert-all-good', ADD_JSON);
    const gone = makeProject('revert-all-gone', ADD_JSON);
    for (const p of [gone, good]) {
      const r = await applyConfig({ target: p.target, registry: registry.list(), backups: store, env: { PATH: PATH_ENV }, names: ['everything'] });
      expect(r.wrote).toBe(true);
    }
    rmSync(gone.file);
    const reports = await revertAll({ backups: store });
    expect(reports.map((x) => [x.file, x.result, x.ok])).toEqual([
      [good.file, 'reverted', true],
      [gone.file, 'missing-file', false],
    ]);
    expect(read(good.file)).toBe(ADD_JSON);
  });

  test('revert --all finds the config of records written before they named their scope', () => {
    const legacy = (file: string, section?: string[]) => targetOfRecord({ version: 1, file, section, at: '', backup: '', changes: [] });
    expect(legacy('/p/.mcp.json')).toEqual({ scope: 'project', file: '/p/.mcp.json', section: ['mcpServers'], dir: '/p', lock: false });
    expect(legacy('/h/.claude.json', ['mcpServers'])).toEqual({ scope: 'user', file: '/h/.claude.json', section: ['mcpServers'], lock: true });
    expect(legacy('/h/.claude.json', ['projects', '/k', 'mcpServers'])).toEqual({
      scope: 'local',
      file: '/h/.claude.json',
      section: ['projects', '/k', 'mcpServers'],
      dir: '/k',
      projectKey: '/k',
      lock: true,
    });
  });

  test('CLI: apply --add prints what it added and created; usage names --add and --all', async () => {
    const p = emptyDir('add-cli');
    const dry = await cli(['apply', '--project', p.dir, '--add', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/clash\s+would add\s+→ http:\/\/localhost:\d+\/mcp/);
    expect(dry.stdout).toMatch(/memory\s+not added\s+not added: its daemon at http:\/\/localhost:\d+\/mcp failed the handshake \(refused\)/);
    expect(dry.stdout).toContain(`${p.file} would be created\ndry run: nothing was written\n`);
    expect(existsSync(p.file)).toBe(false);
    const r = await cli(['apply', '--project', p.dir, '--add']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/everything-sse\s+added\s+→ http:\/\/localhost:\d+\/sse/);
    expect(r.stdout).toContain(`created ${p.file}\nundo with: mcpshare revert --project ${p.dir}\n`);
    const rev = await cli(['revert', '--project', p.dir]);
    expect(rev.code).toBe(0);
    expect(rev.stdout).toContain(`deleted ${p.file}`);
    expect(existsSync(p.file)).toBe(false);
    expect((await cli(['apply', '--help'])).stdout).toContain('--add             also add each registered server');
    expect((await cli(['revert', '--help'])).stdout).toContain('Usage: mcpshare revert [--project DIR | --local [DIR] | --user | --all]');
  });
});
