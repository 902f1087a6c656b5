/**
 * Unit tests of the registry side of `mcpshare add`: names, the conf-backed registry (and what a
 * user sees when its file is corrupt), port allocation, warnings for known servers, secret env
 * files, and the systemd unit text (checked by systemd-analyze verify and by a real systemd user
 * manager running a rendered unit, so the quoting is proven by systemd itself).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { lookupKnown } from '../src/registry/known-servers.js';
import { validateName } from '../src/registry/names.js';
import { allocatePort, checkChosenPort, isPortFree } from '../src/registry/ports.js';
import { DEFAULT_RESTART_POLICY, Registry, type ServerEntry } from '../src/registry/registry.js';
import { parseEnvAssignments, readEnvIfExists, writeEnvFile } from '../src/registry/secrets.js';
import type { DaemonSpec } from '../src/units/daemon.js';
import { ServerManager } from '../src/units/manager.js';
import { userPaths } from '../src/registry/paths.js';
import { parseShow, quoteExecArg, renderUnit } from '../src/units/systemd.js';
import { parseEnv } from '../src/util/envfile.js';
import { CLI } from './helpers/bridge.js';
import { run, startUserManager, SYSTEMD, type UserManager } from './helpers/systemd.js';
import { describeWith } from './helpers/requirements.js';
import { thrownBy, sleep } from './helpers/wait.js';
import { freePort } from './helpers/ports.js';
import { NODE_MEMORY_FLAGS } from '../src/runtime.js';

const NODE_DIR = dirname(process.execPath);
const PATH_ENV = [NODE_DIR, '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-registry-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const mode = (p: string) => statSync(p).mode & 0o777;

function entry(name: string, over: Partial<ServerEntry> = {}): ServerEntry {
  return {
    name,
    kind: 'bridged',
    transport: 'http',
    path: '/mcp',
    command: 'node',
    args: ['server.js'],
    port: 8001,
    restart: { ...DEFAULT_RESTART_POLICY },
    backend: 'supervisor',
    addedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

describe('server names', () => {
  test.each(['a', 'memory', 'Mongo_DB-2', '9lives', 'x'.repeat(48)])('valid: %s', (name) => {
    expect(validateName(name)).toBe(name);
  });

  test.each(['', '../x', 'a/b', 'a.b', '.', '..', 'a b', ' a', 'a\n', '-x', '_x', 'x'.repeat(49), 'a@b', 'a:b', 'a%b', 'a$b', 'é', 'a\\b'])(
    'invalid: %j',
    (name) => {
      expect(thrownBy(() => validateName(name))).toMatchObject({ code: 'invalid-name' });
      expect(() => validateName(name)).toThrow(`invalid server name "${name}": use 1–48 letters, digits, "-" or "_"`);
    },
  );

  test.each(['tray', 'Tray'])('reserved: %s (the tray LaunchAgent is dev.mcpshare.tray)', (name) => {
    expect(() => validateName(name)).toThrow(`the server name "${name}" is reserved for mcpshare's own tray icon`);
    expect(validateName('trays')).toBe('trays');
  });
});

describe('Registry', () => {
  let dir: string;
  let reg: Registry;
  let file: string;

  beforeAll(() => {
    dir = join(tmp, 'reg');
    reg = new Registry({ dir });
    file = join(dir, 'config.json');
  });

  test('the file is DIR/config.json', () => {
    expect(reg.path).toBe(file);
    expect(reg.list()).toEqual([]);
  });

  test('add, get, list in name order; a second Registry on the same dir sees the same entries', () => {
    reg.add(entry('zeta', { port: 8003 }));
    reg.add(entry('alpha', { port: 8002 }));
    expect(reg.get('alpha')).toEqual(entry('alpha', { port: 8002 }));
    expect(reg.get('nope')).toBeUndefined();
    expect(reg.list().map((e) => e.name)).toEqual(['alpha', 'zeta']);
    expect(new Registry({ dir }).list()).toEqual(reg.list());
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      version: 1,
      servers: { zeta: entry('zeta', { port: 8003 }), alpha: entry('alpha', { port: 8002 }) },
    });
  });

  test('config.json is 0600, and config.json.bak holds the file as it was before the last change', () => {
    expect(mode(file)).toBe(0o600);
    const before = readFileSync(file, 'utf8');
    reg.add(entry('beta', { port: 8004 }));
    expect(readFileSync(`${file}.bak`, 'utf8')).toBe(before);
    expect(readFileSync(file, 'utf8')).not.toBe(before);
    expect(mode(file)).toBe(0o600);
  });

  test('a duplicate name is a duplicate-server error and changes nothing', () => {
    const before = readFileSync(file, 'utf8');
    expect(thrownBy(() => reg.add(entry('alpha', { port: 8009 })))).toMatchObject({ code: 'duplicate-server', context: { name: 'alpha' } });
    expect(() => reg.add(entry('alpha', { port: 8009 }))).toThrow('a server named "alpha" is already registered');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  test('an invalid name is refused by the registry itself', () => {
    expect(thrownBy(() => reg.add(entry('../evil')))).toMatchObject({ code: 'invalid-name' });
    expect(reg.get('../evil')).toBeUndefined();
  });

  test('update merges, stamps updatedAt, and drops keys patched to undefined', () => {
    reg.update('alpha', { envFile: '/x/alpha.env', cwd: '/tmp' });
    const next = reg.update('alpha', { port: 8010, envFile: undefined });
    expect(next).toMatchObject({ name: 'alpha', port: 8010, cwd: '/tmp' });
    expect(next).not.toHaveProperty('envFile');
    expect(Date.parse(next.updatedAt!)).toBeGreaterThan(Date.parse('2026-01-01'));
    expect(new Registry({ dir }).get('alpha')).toEqual(next);
    // the name cannot be patched away
    expect(reg.update('alpha', { name: 'other' } as Partial<ServerEntry>).name).toBe('alpha');
  });

  test('require/update/remove of an unknown name: unknown-server listing the registered names', () => {
    const msg = 'no server named "ghost" is registered (registered: alpha, beta, zeta)';
    expect(() => reg.require('ghost')).toThrow(msg);
    expect(() => reg.update('ghost', { port: 1 })).toThrow(msg);
    expect(() => reg.remove('ghost')).toThrow(msg);
    expect(() => new Registry({ dir: join(tmp, 'empty-reg') }).require('ghost')).toThrow('(none yet: add one with "mcpshare add NAME -- COMMAND")');
  });

  test('remove returns the entry and forgets it', () => {
    expect(reg.remove('beta').port).toBe(8004);
    expect(reg.get('beta')).toBeUndefined();
    expect(new Registry({ dir }).list().map((e) => e.name)).toEqual(['alpha', 'zeta']);
  });

  describe('a corrupt config.json', () => {
    const broken = '{"version": 1, "servers": {"a": {"name": "a", \n';

    test('invalid JSON: a registry-unreadable error naming the file, which is left byte-for-byte untouched (also by a write attempt)', () => {
      const d = join(tmp, 'corrupt');
      mkdirSync(d, { recursive: true });
      const f = join(d, 'config.json');
      writeFileSync(f, broken, { mode: 0o600 });
      let err: unknown;
      try {
        new Registry({ dir: d }).add(entry('x'));
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'registry-unreadable', context: { file: f } });
      expect((err as Error).message).toContain(`${f} is not valid JSON`);
      expect((err as Error).message).toContain(`restore ${f}.bak`);
      expect(readFileSync(f, 'utf8')).toBe(broken);
      expect(existsSync(`${f}.bak`)).toBe(false);
    });

    test('valid JSON but "servers" is not an object: registry-invalid naming the file, untouched', () => {
      const d = join(tmp, 'corrupt2');
      mkdirSync(d, { recursive: true });
      const f = join(d, 'config.json');
      const text = '{"version":1,"servers":[1,2]}';
      writeFileSync(f, text, { mode: 0o600 });
      const r = new Registry({ dir: d });
      expect(() => r.list()).toThrow(`${f}: "servers" is not an object`);
      expect(thrownBy(() => r.add(entry('x')))).toMatchObject({ code: 'registry-invalid', context: { file: f } });
      expect(readFileSync(f, 'utf8')).toBe(text);
    });

    test('a file broken after the registry was opened is reported the same way', () => {
      const d = join(tmp, 'corrupt3');
      const r = new Registry({ dir: d });
      r.add(entry('ok'));
      writeFileSync(join(d, 'config.json'), broken);
      expect(() => r.list()).toThrow(`${join(d, 'config.json')} is not valid JSON`);
      expect(readFileSync(join(d, 'config.json'), 'utf8')).toBe(broken);
    });

    test('the real CLI (default location in $HOME/.config/mcpshare) says which file, exit 1, no stack trace', async () => {
      const home = join(tmp, 'cli-home');
      const f = join(home, '.config', 'mcpshare', 'config.json');
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, broken, { mode: 0o600 });
      const env: NodeJS.ProcessEnv = { PATH: PATH_ENV, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
      const r = await run(process.execPath, [...NODE_MEMORY_FLAGS, CLI, 'list'], env, 30_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`mcpshare list: ${f} is not valid JSON`);
      expect(r.stderr).toContain(`restore ${f}.bak`);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(readFileSync(f, 'utf8')).toBe(broken);
    });
  });

  describe('a hand-edited entry is checked against the schema when read', () => {
    let cases = 0;
    /** A registry directory whose config.json holds `servers` exactly as given (as a person would edit it). */
    function handEdited(name: string, servers: Record<string, unknown>): { dir: string; file: string; text: string } {
      const d = join(tmp, `hand-${name}`);
      mkdirSync(d, { recursive: true });
      const file = join(d, 'config.json');
      const text = `${JSON.stringify({ version: 1, servers }, null, 2)}\n`;
      writeFileSync(file, text, { mode: 0o600 });
      return { dir: d, file, text };
    }

    test.each([
      ['port', { port: '80O1' }, '"port" must be an integer from 1 to 65535 (found a string)'],
      ['port', { port: 70000 }, '"port" must be an integer from 1 to 65535 (found 70000)'],
      ['kind', { kind: 'bridgd' }, '"kind" must be "bridged" or "native" (found a string)'],
      ['transport', { transport: undefined }, '"transport" must be "http" or "sse" (it is missing)'],
      ['args', { args: '--token=s3cret-value' }, '"args" must be a list of strings (found a string)'],
      ['args[1]', { args: ['ok', 7] }, '"args[1]" must be a list of strings (found 7)'],
      ['restart.burst', { restart: { restartSec: 2, burst: 0, intervalSec: 120 } }, '"restart.burst" must be an integer of 1 or more (found 0)'],
      ['backend', { backend: 'upstart' }, '"backend" must be one of "systemd", "launchd", "supervisor" (found a string)'],
      ['path', { path: 'mcp' }, '"path" must be a URL path starting with "/" (e.g. "/mcp") (found a string)'],
      ['name', { name: 'other' }, '"name" must be the same as its key "svc" (found another name)'],
    ])('a bad %s: registry-invalid naming the file, the server and the field; the file is left byte for byte', (field, over, message) => {
      const {
        dir: d,
        file,
        text,
      } = handEdited(`case-${++cases}`, {
        svc: { ...entry('svc'), ...over },
      });
      const r = new Registry({ dir: d });
      const err = thrownBy(() => r.list());
      expect(err).toMatchObject({ code: 'registry-invalid', context: { file, server: 'svc', field } });
      expect((err as Error).message).toBe(`${file}: server "svc": ${message}; the file was left as is — fix it, or restore ${file}.bak`);
      expect((err as Error).message).not.toContain('s3cret'); // a value that may be a secret is never echoed
      // Nothing acts on it and nothing rewrites it: not a read, not an add, not an update.
      expect(thrownBy(() => r.add(entry('new', { port: 8050 })))).toMatchObject({ code: 'registry-invalid' });
      expect(thrownBy(() => r.update('svc', { port: 8051 }))).toMatchObject({ code: 'registry-invalid' });
      expect(readFileSync(file, 'utf8')).toBe(text);
      expect(existsSync(`${file}.bak`)).toBe(false);
    });

    test("fields mcpshare does not know (a newer version's, a note) survive a read-modify-write", () => {
      const { dir: d, file } = handEdited('extra', { svc: { ...entry('svc'), note: 'mine', restart: { ...DEFAULT_RESTART_POLICY, jitterSec: 1 } } });
      const r = new Registry({ dir: d });
      expect(r.get('svc')).toMatchObject({ note: 'mine' });
      r.update('svc', { port: 8077 });
      const saved = JSON.parse(readFileSync(file, 'utf8')).servers.svc;
      expect(saved).toMatchObject({ port: 8077, note: 'mine', restart: { jitterSec: 1 } });
    });

    test('the real CLI: exit 1, one line naming the file, the server and the field, no stack trace, file untouched', async () => {
      const home = join(tmp, 'cli-hand-home');
      const f = join(home, '.config', 'mcpshare', 'config.json');
      mkdirSync(dirname(f), { recursive: true });
      const text = `${JSON.stringify({ version: 1, servers: { mem: { ...entry('mem'), port: 'eight thousand' } } }, null, 2)}\n`;
      writeFileSync(f, text, { mode: 0o600 });
      const env: NodeJS.ProcessEnv = { PATH: PATH_ENV, HOME: home, MCPSHARE_BACKEND: 'supervisor' };
      for (const args of [['list'], ['status'], ['add', 'other', '--', 'node', 'x.js']]) {
        const r = await run(process.execPath, [...NODE_MEMORY_FLAGS, CLI, ...args], env, 30_000);
        expect({ args, code: r.code }).toEqual({ args, code: 1 });
        expect(r.stderr).toBe(
          `mcpshare ${args[0]}: ${f}: server "mem": "port" must be an integer from 1 to 65535 (found a string); the file was left as is — fix it, or restore ${f}.bak\n`,
        );
      }
      expect(readFileSync(f, 'utf8')).toBe(text);
    });
  });
});

/** Listens on host:port like another program would. */
async function occupy(port: number, host: string): Promise<Server> {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, resolve);
  });
  return server;
}
const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/** Three consecutive free ports in a high range nobody else in this suite uses. */
async function freeTriple(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await isPortFree(base)) && (await isPortFree(base + 1)) && (await isPortFree(base + 2))) return base;
  }
  throw new Error('no three consecutive free ports found');
}

describe('ports', () => {
  test('allocatePort skips registered ports and a port bound by another program', async () => {
    const b = await freeTriple();
    const range = { first: b, last: b + 2 };
    expect(await allocatePort(new Set(), range)).toBe(b);
    expect(await allocatePort(new Set([b]), range)).toBe(b + 1);
    const other = await occupy(b + 1, '127.0.0.1');
    try {
      expect(await allocatePort(new Set([b]), range)).toBe(b + 2);
    } finally {
      await close(other);
    }
    expect(await allocatePort(new Set([b]), range)).toBe(b + 1);
  });

  test('a port bound on all interfaces (::, as a default Node server does) counts as in use', async () => {
    const b = await freeTriple();
    const other = await occupy(b, '::');
    try {
      expect(await isPortFree(b)).toBe(false);
      expect(await allocatePort(new Set(), { first: b, last: b + 2 })).toBe(b + 1);
    } finally {
      await close(other);
    }
    expect(await isPortFree(b)).toBe(true);
  });

  test('a port bound only on ::1 (what "localhost" may resolve to) counts as in use', async () => {
    const b = await freeTriple();
    const other = await occupy(b, '::1');
    try {
      expect(await isPortFree(b)).toBe(false);
    } finally {
      await close(other);
    }
    expect(await isPortFree(b)).toBe(true);
  });

  test('an exhausted range is a no-free-port error that says what to do', async () => {
    const all = new Set(Array.from({ length: 99 }, (_, i) => 8001 + i));
    await expect(allocatePort(all)).rejects.toMatchObject({ code: 'no-free-port' });
    await expect(allocatePort(all)).rejects.toThrow('no free port left in 8001–8099; pass --port N with a free port');
  });

  test("checkChosenPort: another server's port, a port in use, its own port, a free port", async () => {
    const b = await freeTriple();
    const owners = new Map([[b, 'mongo']]);
    await expect(checkChosenPort(b, owners)).rejects.toThrow(`port ${b} is already used by the registered server "mongo"`);
    await expect(checkChosenPort(b, owners, 'other')).rejects.toMatchObject({ code: 'port-taken', context: { port: b, owner: 'mongo' } });
    await expect(checkChosenPort(b + 1, owners)).resolves.toBeUndefined();
    const other = await occupy(b + 1, '127.0.0.1');
    const self = await occupy(b, '127.0.0.1'); // mongo itself is running on its port
    try {
      await expect(checkChosenPort(b + 1, owners)).rejects.toThrow(`port ${b + 1} is in use by another program on this machine`);
      await expect(checkChosenPort(b, owners, 'mongo')).resolves.toBeUndefined();
    } finally {
      await close(other);
      await close(self);
    }
  });
});

describe('known servers', () => {
  test('lookupKnown matches the package however it is launched, and not look-alikes', () => {
    expect(lookupKnown('npx', ['-y', 'mongodb-mcp-server@1.2.0'])?.id).toBe('mongodb-mcp-server');
    expect(lookupKnown('node', ['/opt/x/node_modules/mongodb-mcp-server/dist/index.js'])?.id).toBe('mongodb-mcp-server');
    expect(lookupKnown('mongodb-mcp-server', ['--transport', 'http'])?.id).toBe('mongodb-mcp-server');
    expect(lookupKnown('npx', ['mongodb-mcp-server-fork'])).toBeUndefined();
    expect(lookupKnown('npx', ['@playwright/mcp@latest'])?.sharing).toBe('stateful');
    expect(lookupKnown('node', ['/srv/my-own-server.js'])).toBeUndefined();
  });

  describe('warnings from ServerManager.add (MCPSHARE_BACKEND=supervisor)', () => {
    let manager: ServerManager;
    const MONGO = '/x/node_modules/mongodb-mcp-server/dist/index.js';

    beforeAll(() => {
      const home = join(tmp, 'warn-home');
      mkdirSync(home, { recursive: true });
      manager = new ServerManager({
        env: { HOME: home, PATH: PATH_ENV, MCPSHARE_BACKEND: 'supervisor' },
        registryDir: join(home, '.config', 'mcpshare'),
        paths: userPaths({ HOME: home }),
      });
    });

    test('mongodb-mcp-server --native http without --transport http: a warning naming the flag and the port flag', async () => {
      const port = await freePort();
      const { entry: e, warnings } = await manager.add({ name: 'mongo1', command: 'node', args: [MONGO], native: 'http', port });
      expect(e).toMatchObject({ kind: 'native', transport: 'http', path: '/mcp', port, backend: 'supervisor' });
      expect(warnings).toEqual([
        `mongodb-mcp-server speaks stdio unless told otherwise: add "--transport http --httpPort ${port}" to its command, or it will bind nothing useful (or run it bridged: leave out --native)`,
        `the command does not mention port ${port}: make sure the server listens on 127.0.0.1:${port}`,
      ]);
    });

    test('with --transport http and its port: no warning at all', async () => {
      const port = await freePort();
      const { warnings } = await manager.add({
        name: 'mongo2',
        command: 'node',
        args: [MONGO, '--transport', 'http', '--httpPort', String(port)],
        native: 'http',
        port,
      });
      expect(warnings).toEqual([]);
    });

    test('--transport=http counts too', async () => {
      const port = await freePort();
      const { warnings } = await manager.add({
        name: 'mongo3',
        command: 'node',
        args: [MONGO, '--transport=http', `--httpPort=${port}`],
        native: 'http',
        port,
      });
      expect(warnings).toEqual([]);
    });

    test('mongodb-mcp-server bridged: a hint that it could run natively', async () => {
      const { warnings } = await manager.add({ name: 'mongo4', command: 'node', args: [MONGO], port: await freePort() });
      expect(warnings).toEqual(['mongodb-mcp-server can serve HTTP itself; "--native http" with "--transport http" would save the bridge process']);
    });

    test('a stateful server (playwright): one process per session by default; a warning when told to share it', async () => {
      const { entry, warnings } = await manager.add({ name: 'pw', command: 'node', args: ['/x/node_modules/@playwright/mcp/cli.js'], port: await freePort() });
      expect(entry.share).toBe('session');
      expect(warnings).toEqual([]);
      const shared = await manager.add({
        name: 'pw-shared',
        command: 'node',
        args: ['/x/node_modules/@playwright/mcp/cli.js'],
        port: await freePort(),
        share: 'global',
      });
      expect(shared.entry.share).toBe('global');
      expect(shared.warnings).toEqual([
        'playwright is stateful (drives one browser whose tabs and page state belong to a single session); sharing one instance between sessions may mix their state (--share session gives each session its own)',
      ]);
    });

    test('sharing modes: from the data (filesystem per project), the option, never for a native server; edit changes it', async () => {
      const fs = await manager.add({
        name: 'fs',
        command: 'node',
        args: ['/x/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js'],
        port: await freePort(),
      });
      expect(fs.entry.share).toBe('project');
      const plain = await manager.add({ name: 'plain-share', command: 'node', args: ['/srv/other.js'], port: await freePort() });
      expect(plain.entry.share).toBe('global');
      const port = await freePort();
      await expect(manager.add({ name: 'nat', command: 'node', args: ['/srv/n.js', String(port)], port, native: 'http', share: 'project' })).rejects.toThrow(
        /--share project needs the bridge/,
      );
      expect(manager.registry.get('nat')).toBeUndefined();
      const { entry } = await manager.edit('plain-share', { share: 'session' });
      expect(entry.share).toBe('session');
    });

    test('an unknown, ordinary server: no warning', async () => {
      const { warnings } = await manager.add({ name: 'plain', command: 'node', args: ['/srv/server.js'], port: await freePort() });
      expect(warnings).toEqual([]);
    });

    test('errors: duplicate name, invalid name, command not found, registered port — and nothing half-added', async () => {
      const taken = manager.registry.get('plain')!.port;
      await expect(manager.add({ name: 'plain', command: 'node', args: [] })).rejects.toThrow('a server named "plain" is already registered');
      await expect(manager.add({ name: 'a.b', command: 'node', args: [] })).rejects.toMatchObject({ code: 'invalid-name' });
      await expect(manager.add({ name: 'nocmd', command: 'no-such-mcp-server-xyz', args: [] })).rejects.toMatchObject({ code: 'command-not-found' });
      await expect(manager.add({ name: 'clash', command: 'node', args: [], port: taken, env: { K: 'v' } })).rejects.toThrow(
        `already used by the registered server "plain"`,
      );
      expect(manager.registry.get('nocmd')).toBeUndefined();
      expect(manager.registry.get('clash')).toBeUndefined();
      expect(existsSync(join(manager.paths.secretsDir, 'clash.env'))).toBe(false);
    });
  });
});

/** Values that break naive quoting: spaces, both quotes, $, `, backslashes (also trailing), #, =, unicode. */
const TRICKY: Record<string, string> = {
  SPACE: 'a b  c',
  DQ: 'say "hi"',
  SQ: "it's",
  DOLLAR: '$HOME ${PATH} $$ $(id)',
  BACKTICK: '`id`',
  BACKSLASH: 'C:\\dir\\n not a newline',
  TRAILING_BS: 'ends with \\',
  HASH: '#not a comment',
  EQ: 'a=b=c',
  PCT: '100% %h',
  PADDED: '  padded  ',
  UNICODE: 'pässwörd-€',
  URI: 'mongodb://u:p%40ss@h:27017/db?a=1&b=2',
  EMPTY: '',
};

describe('secret env files', () => {
  test('a value with a line break is refused with the key named and the value not echoed; nothing is written', () => {
    const file = join(tmp, 'nl', 'x.env');
    expect(() => writeEnvFile(file, { OK: 'fine', PEM: 'line1\nsecret-line2' })).toThrow(/PEM contains a line break/);
    expect(() => writeEnvFile(file, { PEM: 'line1\nsecret-line2' })).not.toThrow(/secret-line2/);
    expect(existsSync(file)).toBe(false);
  });

  test('writeEnvFile: directory 0700 (even if it existed as 0755), file 0600 (even if it existed as 0644)', () => {
    const dir = join(tmp, 'sec', '.config', 'mcp');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    const f = join(dir, 'srv.env');
    writeFileSync(f, 'OLD=1\n', { mode: 0o644 });
    chmodSync(f, 0o644);
    writeEnvFile(f, { TOKEN: 'abc' });
    expect(mode(dir)).toBe(0o700);
    expect(mode(f)).toBe(0o600);
    expect(readEnvIfExists(f)).toEqual({ TOKEN: 'abc' });
  });

  test('a fresh directory tree is created 0700 with a 0600 file', () => {
    const f = join(tmp, 'sec2', 'deep', 'mcp', 'x.env');
    writeEnvFile(f, TRICKY);
    expect(mode(dirname(f))).toBe(0o700);
    expect(mode(f)).toBe(0o600);
  });

  test('tricky values round-trip through parseEnv unchanged', () => {
    const f = join(tmp, 'sec2', 'deep', 'mcp', 'x.env');
    expect(readEnvIfExists(f)).toEqual(TRICKY);
    expect(parseEnv(readFileSync(f, 'utf8'))).toEqual(TRICKY);
    expect(readEnvIfExists(join(tmp, 'sec2', 'missing.env'))).toEqual({});
  });

  test('parseEnv: export, comments, single quotes, and a clear error with file:line', () => {
    expect(parseEnv('# c\nexport A=1\n\nB=\'x "y" $z\'\n  C = "q\\"" \n')).toEqual({ A: '1', B: 'x "y" $z', C: 'q"' });
    expect(() => parseEnv('A=1\nnot a line\n', '/p/x.env')).toThrow('/p/x.env:2: expected KEY=VALUE');
  });

  test('parseEnvAssignments: KEY=VALUE with = in the value; a bad key is refused without echoing the value', () => {
    expect(parseEnvAssignments(['A=b=c', 'EMPTY=', '_X1=y'])).toEqual({ A: 'b=c', EMPTY: '', _X1: 'y' });
    expect(parseEnvAssignments(undefined)).toEqual({});
    for (const bad of ['=v', 'NOEQ', '1A=v', 'A-B=v']) expect(() => parseEnvAssignments([bad])).toThrow('--env expects KEY=VALUE');
    expect(() => parseEnvAssignments(['BAD-KEY=s3cr3t-value'])).toThrow(/^(?!.*s3cr3t-value)/);
  });
});

describe('systemd units', () => {
  test('quoteExecArg: what systemd needs escaped', () => {
    expect(quoteExecArg('plain')).toBe('plain');
    expect(quoteExecArg('/usr/bin/node')).toBe('/usr/bin/node');
    expect(quoteExecArg('--max-old-space-size=64')).toBe('--max-old-space-size=64');
    expect(quoteExecArg('a b')).toBe('"a b"');
    expect(quoteExecArg('c"d')).toBe('"c\\"d"');
    expect(quoteExecArg('100%')).toBe('100%%');
    expect(quoteExecArg('%h')).toBe('%%h');
    expect(quoteExecArg('$HOME')).toBe('"$$HOME"');
    expect(quoteExecArg('back\\slash')).toBe('"back\\\\slash"');
    expect(quoteExecArg("it's")).toBe('"it\'s"');
    expect(quoteExecArg('')).toBe('""');
    expect(quoteExecArg(';')).toBe('";"');
    expect(() => quoteExecArg('a\nb')).toThrow('cannot contain a newline');
  });

  /** Arguments systemd could mangle: spaces, quotes, specifiers, variables, backslashes, ";", "". */
  const ARGS = ['a b', 'c"d', '100%', '%h', '%n', '$HOME', '${PATH}', '$$', 'back\\slash', 'trailing\\', '\\n', '', ';', "it's", 'tab\tx', 'ü€', '-x', '@at'];
  /** Prints, as one JSON line, the argv, cwd and secret variables the process got. */
  const SCRIPT = `process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), cwd: process.cwd(), env: Object.fromEntries(${JSON.stringify(Object.keys(TRICKY))}.map((k) => [k, process.env[k] ?? null])) }) + "\\n")`;

  function spec(dir: string): DaemonSpec {
    const cwd = join(dir, 'work 100% $dir');
    mkdirSync(cwd, { recursive: true });
    const envFile = join(dir, 'mcp', 'q.env');
    writeEnvFile(envFile, TRICKY);
    return {
      name: 'q',
      description: 'MCP server "q" (native http) for mcpshare',
      argv: [process.execPath, '-e', SCRIPT, ...ARGS],
      cwd,
      envFile,
      env: { PATH: PATH_ENV },
      logFile: join(dir, 'logs', 'q.log'),
      restart: { restartSec: 2, burst: 5, intervalSec: 120 },
      url: 'http://localhost:8077/mcp',
    };
  }

  test('renderUnit: the exact text', () => {
    const s: DaemonSpec = {
      name: 'r',
      description: 'MCP server "r" shared by mcpshare',
      argv: ['/usr/bin/node', '--flag=1', 'a b', '50%', '$X', 'q"q', 'b\\s'],
      cwd: '/srv/100%',
      envFile: '/home/u/.config/mcp/r.env',
      env: { PATH: '/usr/bin:/bin' },
      logFile: '/home/u/.local/state/mcpshare/logs/r.log',
      restart: { restartSec: 3, burst: 4, intervalSec: 60 },
      url: 'http://localhost:8011/mcp',
    };
    expect(renderUnit(s)).toBe(
      [
        '# Written by mcpshare; edit with "mcpshare edit", not by hand (changes here are overwritten).',
        '[Unit]',
        'Description=MCP server "r" shared by mcpshare at http://localhost:8011/mcp',
        'After=network.target',
        'StartLimitIntervalSec=60',
        'StartLimitBurst=4',
        '',
        '[Service]',
        'Type=simple',
        'ExecStart=/usr/bin/node --flag=1 "a b" 50%% "$$X" "q\\"q" "b\\\\s"',
        'WorkingDirectory=/srv/100%%',
        'Environment="PATH=/usr/bin:/bin"',
        'EnvironmentFile=/home/u/.config/mcp/r.env',
        'Restart=on-failure',
        'RestartSec=3',
        'TimeoutStopSec=15',
        'KillMode=control-group',
        'StandardOutput=append:/home/u/.local/state/mcpshare/logs/r.log',
        'StandardError=append:/home/u/.local/state/mcpshare/logs/r.log',
        '',
        '[Install]',
        'WantedBy=default.target',
        '',
      ].join('\n'),
    );
    // without cwd or env file: the home directory, no EnvironmentFile=
    const bare = renderUnit({ ...s, cwd: undefined, envFile: undefined });
    expect(bare).toContain('\nWorkingDirectory=%h\n');
    expect(bare).not.toContain('EnvironmentFile=');
  });

  describeWith(SYSTEMD, 'systemd-analyze verify', () => {
    test('systemd-analyze verify accepts a rendered unit with hostile arguments (and rejects a broken one, so it really checks)', async () => {
      const dir = join(tmp, 'verify');
      mkdirSync(join(dir, 'logs'), { recursive: true });
      const unit = join(dir, 'mcp-q.service');
      const text = renderUnit(spec(dir));
      writeFileSync(unit, text);
      const ok = await run('systemd-analyze', ['verify', unit], { PATH: PATH_ENV + ':/usr/sbin:/sbin' });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      for (const v of Object.values(TRICKY).filter((x) => x.length > 3 && !ARGS.includes(x))) expect(text).not.toContain(v);

      const bad = join(dir, 'mcp-bad.service');
      writeFileSync(bad, text.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} "unbalanced`));
      const ko = await run('systemd-analyze', ['verify', bad], { PATH: PATH_ENV + ':/usr/sbin:/sbin' });
      expect(ko.code).not.toBe(0);
      expect(ko.stderr).toContain('Unbalanced quoting');
    });
  });

  describeWith(SYSTEMD, 'a real systemd user manager runs the rendered unit', () => {
    let sd: UserManager;

    beforeAll(async () => {
      sd = await startUserManager();
    });
    afterAll(async () => {
      await sd?.stop();
    });

    test('the server gets exactly the argv, cwd and secrets (EnvironmentFile=) it was given; systemctl show maps to states', async () => {
      const dir = join(sd.home, 'q');
      const s = spec(dir);
      const unitDir = join(sd.home, '.config', 'systemd', 'user');
      mkdirSync(unitDir, { recursive: true });
      mkdirSync(dirname(s.logFile), { recursive: true });
      writeFileSync(join(unitDir, 'mcp-q.service'), renderUnit(s));
      expect((await sd.systemctl('daemon-reload')).code).toBe(0);

      const props = 'LoadState,ActiveState,SubState,Result,NRestarts,MainPID,ExecMainStatus';
      const before = await sd.systemctl('show', '-p', props, 'mcp-q.service');
      expect(parseShow(before.stdout)).toMatchObject({ installed: true, active: 'stopped', crashLoop: false, restarts: 0 });
      const none = await sd.systemctl('show', '-p', props, 'mcp-none.service');
      expect(parseShow(none.stdout)).toMatchObject({ installed: false, active: 'stopped' });

      const started = await sd.systemctl('start', 'mcp-q.service');
      expect(started.stderr).toBe('');
      expect(started.code).toBe(0);
      let out = '';
      const deadline = Date.now() + 30_000;
      while (!out.endsWith('\n') && Date.now() < deadline) {
        await sleep(100);
        out = existsSync(s.logFile) ? readFileSync(s.logFile, 'utf8') : '';
      }
      expect(out).not.toBe('');
      const got = JSON.parse(out) as { argv: string[]; cwd: string; env: Record<string, string | null> };
      expect(got.argv).toEqual(ARGS);
      expect(got.cwd).toBe(s.cwd);
      expect(got.env).toEqual(TRICKY);

      // It exited 0: Restart=on-failure leaves it stopped, and parseShow says so.
      let after = parseShow('');
      for (let i = 0; i < 50; i++) {
        after = parseShow((await sd.systemctl('show', '-p', props, 'mcp-q.service')).stdout);
        if (after.active === 'stopped') break;
        await sleep(100);
      }
      expect(after).toMatchObject({ installed: true, active: 'stopped', crashLoop: false, restarts: 0, lastExitCode: 0 });
    });
  });

  describe('parseShow: systemctl show → state', () => {
    const show = (p: Record<string, string | number>) =>
      Object.entries(p)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n';

    test('active/running: running, pid, restarts', () => {
      expect(
        parseShow(show({ LoadState: 'loaded', ActiveState: 'active', SubState: 'running', Result: 'success', NRestarts: 1, MainPID: 4242, ExecMainStatus: 0 })),
      ).toEqual({
        installed: true,
        active: 'running',
        crashLoop: false,
        restarts: 1,
        pid: 4242,
        lastExitCode: 0,
        detail: 'ActiveState=active SubState=running Result=success status=0',
      });
    });

    test('activating/auto-restart (waiting RestartSec after a crash): starting, not yet a crash loop', () => {
      expect(
        parseShow(
          show({ LoadState: 'loaded', ActiveState: 'activating', SubState: 'auto-restart', Result: 'exit-code', NRestarts: 2, MainPID: 0, ExecMainStatus: 3 }),
        ),
      ).toMatchObject({
        installed: true,
        active: 'starting',
        crashLoop: false,
        restarts: 2,
        pid: undefined,
        lastExitCode: 3,
      });
    });

    test('failed after restarts (systemd 252: Result=exit-code) or start-limit-hit: crash-loop', () => {
      expect(
        parseShow(show({ LoadState: 'loaded', ActiveState: 'failed', SubState: 'failed', Result: 'exit-code', NRestarts: 5, MainPID: 0, ExecMainStatus: 3 })),
      ).toMatchObject({
        active: 'failed',
        crashLoop: true,
        restarts: 5,
        pid: undefined,
        lastExitCode: 3,
      });
      expect(
        parseShow(
          show({ LoadState: 'loaded', ActiveState: 'failed', SubState: 'failed', Result: 'start-limit-hit', NRestarts: 0, MainPID: 0, ExecMainStatus: 1 }),
        ),
      ).toMatchObject({
        active: 'failed',
        crashLoop: true,
      });
    });

    test('failed without any restart: failed, but not a crash loop', () => {
      expect(
        parseShow(show({ LoadState: 'loaded', ActiveState: 'failed', SubState: 'failed', Result: 'timeout', NRestarts: 0, MainPID: 0, ExecMainStatus: 0 })),
      ).toMatchObject({
        active: 'failed',
        crashLoop: false,
      });
    });

    test('inactive/dead: stopped; not-found: not installed', () => {
      expect(
        parseShow(show({ LoadState: 'loaded', ActiveState: 'inactive', SubState: 'dead', Result: 'success', NRestarts: 0, MainPID: 0, ExecMainStatus: 0 })),
      ).toMatchObject({
        installed: true,
        active: 'stopped',
        crashLoop: false,
        pid: undefined,
      });
      expect(
        parseShow(show({ LoadState: 'not-found', ActiveState: 'inactive', SubState: 'dead', Result: 'success', NRestarts: 0, MainPID: 0, ExecMainStatus: 0 })),
      ).toMatchObject({
        installed: false,
        active: 'stopped',
        crashLoop: false,
      });
    });
  });
});
