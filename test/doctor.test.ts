/**
 * `mcpshare doctor`: the parsers and the report's arithmetic on captured and hand-made process
 * tables, then real copies of real servers started under separate parent processes, checked
 * against RSS read independently (with `ps`) while they run.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { doctorCommand } from '../src/cli/doctor.js';
import { renderDoctor } from '../src/doctor/render.js';
import { normaliseCommand, pathName, programOf, shellWords } from '../src/doctor/command-line.js';
import { detect, looksLikeMcpServer, type Detection } from '../src/doctor/detect.js';
import { doctor } from '../src/doctor/doctor.js';
import { parseCmdline, parseProcStat, parsePsOutput, parseStatusRss, scanProc, type ProcessInfo, type ProcessSnapshot } from '../src/doctor/processes.js';
import { buildReport, DOCUMENTED_BRIDGE_RSS_BYTES, type DoctorReport } from '../src/doctor/report.js';
import { bridgeArgs, EVERYTHING, ROOT, runCli, waitReady, type RunningCli } from './helpers/bridge.js';
import { sleep } from './helpers/wait.js';

const MiB = 1024 * 1024;
const KiB = 1024;

function snapshotOf(processes: ProcessInfo[], over: Partial<ProcessSnapshot> = {}): ProcessSnapshot {
  return { source: 'proc', processes, unreadable: 0, durationMs: 1, takenAt: '2026-01-01T00:00:00.000Z', selfPid: -1, lossyArgv: false, ...over };
}
const proc = (pid: number, ppid: number, rssMiB: number, ...argv: string[]): ProcessInfo => ({
  pid,
  ppid,
  pgid: pid,
  argv,
  name: (argv[0] ?? '').slice((argv[0] ?? '').lastIndexOf('/') + 1),
  rssBytes: rssMiB * MiB,
});

describe('reading the process table', () => {
  test('/proc/PID/stat: comm may hold spaces and parentheses; ppid and pgid follow it', () => {
    // Captured from this machine, with the comm replaced by a hostile one.
    const stat = '17736 (my (odd) proc) R 17734 17730 12463 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 2353897 3133440 404 18446744073709551615';
    expect(parseProcStat(stat)).toEqual({ name: 'my (odd) proc', ppid: 17734, pgid: 17730 });
    expect(parseProcStat('2 (kthreadd) S 0 0 0 0 -1 2129984')).toEqual({ name: 'kthreadd', ppid: 0, pgid: 0 });
    expect(parseProcStat('garbage')).toBeUndefined();
  });

  test('/proc/PID/status: VmRSS in bytes, 0 for a kernel thread', () => {
    expect(parseStatusRss('Name:\tnode\nPPid:\t1\nVmHWM:\t  70000 kB\nVmRSS:\t   65536 kB\nRssAnon:\t 1 kB\n')).toBe(65536 * KiB);
    expect(parseStatusRss('Name:\tkthreadd\nState:\tS (sleeping)\n')).toBe(0);
  });

  test('/proc/PID/cmdline: NUL-separated argv; a process title (npm exec) is split on spaces', () => {
    expect(parseCmdline('node\0/x/mcp-server-memory\0')).toEqual(['node', '/x/mcp-server-memory']);
    expect(parseCmdline('sh\0-c\0mcp-server-memory --flag\0')).toEqual(['sh', '-c', 'mcp-server-memory --flag']);
    // Captured: what npm leaves in /proc/PID/cmdline after setting its title.
    expect(parseCmdline('npm exec @modelcontextprotocol/server-memory\0\0\0\0\0\0\0\0')).toEqual(['npm', 'exec', '@modelcontextprotocol/server-memory']);
    expect(parseCmdline('')).toEqual([]);
  });

  test('scanProc: one pass over a /proc tree; vanished and unreadable entries are counted, not fatal', () => {
    const root = mkdtempSync(join(tmpdir(), 'doctor-proc-'));
    try {
      const write = (pid: number, files: Record<string, string>) => {
        mkdirSync(join(root, String(pid)));
        for (const [f, text] of Object.entries(files)) writeFileSync(join(root, String(pid), f), text);
      };
      write(1, { stat: '1 (init) S 0 1 1 0 -1', cmdline: '/sbin/init\0', status: 'Name:\tinit\nVmRSS:\t 12000 kB\n' });
      write(2, { stat: '2 (kthreadd) S 0 0 0 0 -1', cmdline: '', status: 'Name:\tkthreadd\n' });
      write(400, { stat: '400 (claude) S 1 400 400 0 -1', cmdline: 'claude\0', status: 'VmRSS:\t 300000 kB\n' });
      write(401, { stat: '401 (npm exec @model) S 400 401 400', cmdline: 'npm exec @modelcontextprotocol/server-memory\0\0\0', status: 'VmRSS:\t 51200 kB\n' });
      write(402, { stat: '402 (node) S 401 401 400', cmdline: 'node\0/h/.npm/_npx/1a/node_modules/.bin/mcp-server-memory\0', status: 'VmRSS:\t 61440 kB\n' });
      write(403, { stat: '403 (secret) S 1 403 403', status: 'VmRSS:\t 100 kB\n' }); // cmdline unreadable (another user)
      write(404, {}); // exited between readdir and read
      mkdirSync(join(root, 'self'));
      const s = scanProc(root);
      expect(s.source).toBe('proc');
      expect(s.unreadable).toBe(2);
      expect(s.processes.map((p) => p.pid).sort((a, b) => a - b)).toEqual([1, 2, 400, 401, 402, 403]);
      const byPid = new Map(s.processes.map((p) => [p.pid, p]));
      expect(byPid.get(401)).toEqual({
        pid: 401,
        ppid: 400,
        pgid: 401,
        name: 'npm exec @model',
        argv: ['npm', 'exec', '@modelcontextprotocol/server-memory'],
        rssBytes: 51200 * KiB,
      });
      expect(byPid.get(2)!.argv).toEqual([]);
      expect(byPid.get(403)!.argv).toEqual([]);
      const d = detect(s, { daemons: [] });
      expect(d.instances).toHaveLength(1);
      expect(d.instances[0]).toMatchObject({
        pid: 401,
        pids: [401, 402],
        rssBytes: (51200 + 61440) * KiB,
        session: { pid: 400, name: 'claude', client: 'Claude Code' },
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('ps output (macOS sample): numeric columns, then the command with its spaces', () => {
    const { processes, unparsed } = parsePsOutput(readFileSync(join(ROOT, 'test/fixtures/doctor-ps-macos.txt'), 'utf8') + 'not a ps line\n');
    expect(unparsed).toBe(1);
    expect(processes).toHaveLength(37);
    const cursorHelper = processes.find((p) => p.pid === 640)!;
    expect(cursorHelper).toMatchObject({ ppid: 612, pgid: 612, rssBytes: 301776 * KiB, name: 'Cursor' });
    expect(cursorHelper.argv.slice(0, 3)).toEqual(['/Applications/Cursor.app/Contents/Frameworks/Cursor', 'Helper', '(Plugin).app/Contents/MacOS/Cursor']);
    expect(processes.find((p) => p.pid === 7001)).toEqual({ pid: 7001, ppid: 502, pgid: 7001, rssBytes: 352256 * KiB, argv: ['claude'], name: 'claude' });
  });
});

describe('command lines', () => {
  test('launchers are looked through to the program they run', () => {
    expect(programOf(['npx', '-y', '@modelcontextprotocol/server-memory'])).toEqual({
      launcher: ['npx'],
      target: '@modelcontextprotocol/server-memory',
      kind: 'package',
      args: [],
    });
    expect(programOf(['/usr/bin/node', '/usr/lib/node_modules/npm/bin/npx-cli.js', '--yes', 'mongodb-mcp-server', '--transport', 'http'])).toMatchObject({
      launcher: ['npx'],
      target: 'mongodb-mcp-server',
      args: ['--transport', 'http'],
    });
    expect(programOf(['npm', 'exec', '--yes', '--', '@playwright/mcp@latest'])).toMatchObject({
      launcher: ['npx'],
      target: '@playwright/mcp@latest',
      kind: 'package',
    });
    expect(programOf(['pnpm', 'dlx', 'chrome-devtools-mcp'])).toMatchObject({ launcher: ['npx'], target: 'chrome-devtools-mcp' });
    expect(programOf(['bunx', 'context7-mcp'])).toMatchObject({ launcher: ['npx'], target: 'context7-mcp' });
    expect(programOf(['uvx', '--from', 'git+https://x/y', 'mcp-server-git', '--repository', '.'])).toMatchObject({
      launcher: ['uvx'],
      target: 'mcp-server-git',
      args: ['--repository', '.'],
    });
    expect(programOf(['uv', 'tool', 'run', 'mcp-server-fetch'])).toMatchObject({ launcher: ['uvx'], target: 'mcp-server-fetch' });
    expect(programOf(['uv', 'run', '--directory', '/srv/w', 'server.py'])).toMatchObject({
      launcher: ['uv', 'run', '--directory', '/srv/w'],
      target: 'server.py',
    });
    expect(programOf(['python3.12', '-u', '-m', 'mcp_server_time', '--local-timezone', 'UTC'])).toEqual({
      launcher: ['python', '-m'],
      target: 'mcp_server_time',
      kind: 'module',
      args: ['--local-timezone', 'UTC'],
    });
    expect(programOf(['bash', '-lc', 'exec FOO=1 npx -y "@x/mcp server" --a'])).toMatchObject({ launcher: ['npx'], target: '@x/mcp server', args: ['--a'] });
    expect(programOf(['/usr/bin/env', 'NODE_ENV=production', 'node', '--max-old-space-size=512', '-r', 'dotenv/config', '/srv/dist/index.js'])).toMatchObject({
      launcher: ['node'],
      target: '/srv/dist/index.js',
      kind: 'script',
    });
    expect(programOf(['node', '-e', 'require("x")', '/x/mcp-server-memory'])).toMatchObject({ kind: 'inline' });
    expect(programOf(['/home/me/.local/bin/github-mcp-server', 'stdio'])).toEqual({
      launcher: [],
      target: '/home/me/.local/bin/github-mcp-server',
      kind: 'executable',
      args: ['stdio'],
    });
    expect(programOf(['node'])).toBeUndefined();
    expect(programOf([])).toBeUndefined();
  });

  test('shell words: quotes, escapes, and only the first command of a list', () => {
    expect(shellWords(`a 'b c' "d \\"e\\"" f\\ g; rm -rf /`)).toEqual(['a', 'b c', 'd "e"', 'f g']);
    expect(shellWords(`''`)).toEqual(['']);
  });

  test('names: the package inside node_modules, else the script or its project', () => {
    expect(pathName('/h/.npm/_npx/15b0/node_modules/.bin/mcp-server-memory')).toBe('mcp-server-memory');
    expect(pathName('/w/node_modules/@modelcontextprotocol/server-everything/dist/index.js')).toBe('@modelcontextprotocol/server-everything');
    expect(pathName('/home/me/src/weather-mcp/build/index.js')).toBe('weather-mcp/index');
    expect(pathName('/home/me/tools/jira_mcp.py')).toBe('jira_mcp');
  });

  test('copies of one server normalise to one key; different arguments stay different', () => {
    const memory = 'npx @modelcontextprotocol/server-memory';
    expect(normaliseCommand(['npx', '-y', '@modelcontextprotocol/server-memory'])).toBe(memory);
    expect(normaliseCommand(['npm', 'exec', '@modelcontextprotocol/server-memory'])).toBe(memory);
    expect(normaliseCommand(['/opt/homebrew/bin/node', '/opt/homebrew/bin/npx', '--yes', '@modelcontextprotocol/server-memory'])).toBe(memory);
    expect(normaliseCommand(['sh', '-c', "npx -y '@modelcontextprotocol/server-memory'"])).toBe(memory);
    expect(normaliseCommand(['/usr/bin/node', '--max-semi-space-size=2', '/a/b/node_modules/@x/server-y/dist/index.js', 'stdio'])).toBe(
      'node node_modules/@x/server-y/dist/index.js stdio',
    );
    expect(normaliseCommand(['node', '/h/.npm/_npx/aaaa/node_modules/.bin/mcp-server-filesystem', '/p/one'])).toBe(
      normaliseCommand(['node', '/h/.npm/_npx/bbbb/node_modules/.bin/mcp-server-filesystem', '/p/one']),
    );
    expect(normaliseCommand(['node', '/h/.npm/_npx/aaaa/node_modules/.bin/mcp-server-filesystem', '/p/one'])).not.toBe(
      normaliseCommand(['node', '/h/.npm/_npx/aaaa/node_modules/.bin/mcp-server-filesystem', '/p/two']),
    );
    expect(normaliseCommand(['/Users/me/.cache/uv/archive-v0/X1/bin/mcp-server-fetch'])).toBe('mcp-server-fetch');
  });

  test('what looks like an MCP server, and what does not', () => {
    const is = (...argv: string[]) => looksLikeMcpServer(programOf(argv));
    expect(is('npx', '-y', '@modelcontextprotocol/server-memory')).toBe(true);
    expect(is('npx', '-y', '@playwright/mcp@latest')).toBe(true);
    expect(is('npx', 'mongodb-mcp-server')).toBe(true);
    expect(is('uvx', 'mcp-server-fetch')).toBe(true);
    expect(is('python', '-m', 'mcp_server_time')).toBe(true);
    expect(is('/usr/local/bin/mcp-grafana')).toBe(true);
    expect(is('npx', '-y', 'firebase-tools@latest', 'experimental:mcp')).toBe(true);
    expect(is('node', '/home/me/src/weather-mcp/build/index.js')).toBe(true);
    expect(is('grep', '-i', 'mcp')).toBe(false);
    expect(is('vim', 'mcp-notes.md')).toBe(false);
    expect(is('tail', '-f', '/home/me/.cache/mcp.log')).toBe(false);
    expect(is('node', '/p/node_modules/.bin/playwright', 'test')).toBe(false); // known-servers would say "playwright"
    expect(is('jupyter', 'notebook')).toBe(false);
    expect(is('node', '-e', 'spawn("mcp-server-memory")')).toBe(false);
    expect(is('node', '/w/node_modules/jest/bin/jest.js', 'test/mcp.test.ts')).toBe(false);
  });
});

describe('detecting copies and sessions (macOS ps sample)', () => {
  let d: Detection;
  let report: DoctorReport;
  beforeAll(() => {
    const { processes } = parsePsOutput(readFileSync(join(ROOT, 'test/fixtures/doctor-ps-macos.txt'), 'utf8'));
    const snap = snapshotOf(processes, { source: 'ps', lossyArgv: true });
    d = detect(snap, { daemons: [] });
    report = buildReport(snap, d, [], 'darwin');
  });

  test('one instance per launch (npm exec → sh → node is one), with its whole subtree', () => {
    expect(d.instances.map((i) => i.pid)).toEqual([650, 810, 1200, 7010, 7019, 7030, 7040, 7110, 7119, 7130]);
    const pw = d.instances.find((i) => i.pid === 7030)!;
    expect(pw.pids.sort()).toEqual([7030, 7031, 7032]); // the browser it drives is part of its cost
    expect(pw.rssBytes).toBe((50176 + 92160 + 204800) * KiB);
    expect(d.instances.find((i) => i.pid === 7010)).toMatchObject({
      serverPid: 7010,
      key: 'npx @modelcontextprotocol/server-memory',
      rssBytes: (51200 + 1024 + 61440) * KiB,
    });
  });

  test('the session is the client that started the copy; none for a copy whose parent is launchd', () => {
    const session = (pid: number) => d.instances.find((i) => i.pid === pid)!.session;
    expect(session(7010)).toEqual({ pid: 7001, name: 'claude', client: 'Claude Code' });
    expect(session(650)).toEqual({ pid: 640, name: 'Cursor', client: 'Cursor' });
    expect(session(810)).toEqual({ pid: 800, name: 'Claude', client: 'Claude Desktop' });
    expect(session(1200)).toBeNull();
  });

  test('an mcpshare bridge and its server are already shared, not copies; grep, vim and a test runner are not servers', () => {
    expect(d.shared).toEqual([
      {
        pid: 900,
        kind: 'bridge',
        name: 'memory',
        port: 8001,
        command: ['/opt/homebrew/bin/npx', '-y', '@modelcontextprotocol/server-memory'],
        key: 'npx @modelcontextprotocol/server-memory',
        ownRssBytes: 50176 * KiB,
        serverRssBytes: (51200 + 1024 + 61440) * KiB,
        pids: expect.arrayContaining([900, 901, 902, 903]),
        children: 1,
      },
    ]);
    const counted = new Set(d.instances.flatMap((i) => i.pids));
    for (const pid of [900, 901, 902, 903, 1300, 1301, 1302, 7001, 7101, 640]) expect(counted.has(pid)).toBe(false);
  });

  test('groups: copies, sessions, sums, verdicts, and what sharing saves now', () => {
    const g = (server: string) => report.groups.find((x) => x.server === server)!;
    const memory = g('server-memory');
    expect(memory).toMatchObject({ verdict: 'shareable', copies: 3, sessions: 3, withoutSession: 0, alreadySharedBy: 'memory', sharedCostBytes: 0 });
    expect(memory.totalBytes).toBe((113664 + 113664 + 114688) * KiB);
    expect([memory.minBytes, memory.maxBytes]).toEqual([113664 * KiB, 114688 * KiB]);
    // The bridge already runs it: every copy is freed by switching the sessions to it.
    expect(memory.savedNowBytes).toBe(memory.totalBytes);

    const playwright = g('playwright');
    expect(playwright).toMatchObject({ verdict: 'per-session', copies: 2, sessions: 2, totalBytes: (347136 + 336896) * KiB, savedNowBytes: 0 });
    expect(playwright.reason).toMatch(/browser/);

    const fetch = g('server-fetch');
    const bridge = 50176 * KiB; // measured from the one running bridge
    expect(report.bridge).toMatchObject({ source: 'measured', bytes: bridge });
    expect(fetch).toMatchObject({ verdict: 'shareable', key: 'uvx mcp-server-fetch', copies: 2, totalBytes: (49152 + 51200) * KiB, meanBytes: 50176 * KiB });
    expect(fetch.savedNowBytes).toBe((49152 + 51200) * KiB - (50176 * KiB + bridge));

    expect(g('weather-mcp/index')).toMatchObject({ verdict: 'unknown', copies: 1, savedNowBytes: 0, savingIfSharedBytes: -bridge });
    expect(g('context7')).toMatchObject({ copies: 1, sessions: 0, withoutSession: 1 });
    expect(report.notes.join('\n')).toMatch(/1 copy has no client session/);
  });

  test('sessions: copies and RSS per client', () => {
    expect(report.sessions.map((s) => [s.pid, s.client, s.copies, s.rssBytes / KiB])).toEqual([
      [7001, 'Claude Code', 4, 113664 + 49152 + 347136 + 45056],
      [7101, 'Claude Code', 3, 114688 + 51200 + 336896],
      [640, 'Cursor', 1, 113664],
      [800, 'Claude Desktop', 1, 55296],
    ]);
    expect(report.totals).toMatchObject({ servers: 6, copies: 10, sessions: 4, alreadySharedBytes: (50176 + 113664) * KiB });
  });

  test('the human report names what is shareable, what stays per session, and what is already shared', () => {
    const text = renderDoctor(report);
    expect(text).toMatch(/^10 copies of 6 MCP servers running in 4 client sessions/);
    expect(text).toMatch(/server-memory\s+shareable\s+3\s+3\s+334 MB/);
    expect(text).toMatch(/running \(memory\)/);
    expect(text).toMatch(/Kept per session \(not counted in the saving\):\n  playwright: playwright drives one browser/);
    expect(text).toMatch(/Not known to mcpshare .*\n  weather-mcp\/index: 1 copy, 44 MB/);
    expect(text).toMatch(/Already shared by mcpshare \(160 MB\):\nNAME\s+KIND\s+PID.*\nmemory\s+bridge\s+900\s+8001\s+49 MB\s+111 MB/);
    expect(text).toMatch(/Bridge: 49 MB per shared stdio server \(measured/);
    expect(text).toMatch(/note: command lines come from `ps`/);
  });
});

describe('the arithmetic', () => {
  // 3 copies of a shareable server (100/110/120 MiB), 2 of a per-session one (300 each), 1 unknown
  // (50), and one running bridge whose own RSS (40) is the bridge cost.
  const snap = snapshotOf([
    proc(10, 1, 500, 'claude'),
    proc(20, 1, 500, 'claude'),
    proc(30, 1, 500, 'claude'),
    proc(11, 10, 100, 'node', '/a/node_modules/@modelcontextprotocol/server-memory/dist/index.js'),
    proc(21, 20, 110, 'node', '/b/node_modules/@modelcontextprotocol/server-memory/dist/index.js'),
    proc(31, 30, 120, 'node', '/a/node_modules/@modelcontextprotocol/server-memory/dist/index.js'),
    proc(12, 10, 300, 'npx', '@playwright/mcp'),
    proc(22, 20, 300, 'npx', '@playwright/mcp'),
    proc(13, 10, 50, 'foo-mcp'),
    proc(
      90,
      1,
      40,
      'node',
      '/home/me/mcpshare/dist/cli.js',
      'bridge',
      '--port',
      '8005',
      '--',
      'node',
      '/x/node_modules/@modelcontextprotocol/server-everything/dist/index.js',
    ),
    proc(91, 90, 70, 'node', '/x/node_modules/@modelcontextprotocol/server-everything/dist/index.js'),
  ]);
  const report = buildReport(snap, detect(snap, { daemons: [] }));

  test('today, shared and saved: shareable servers once plus a bridge, the rest as they are', () => {
    expect(report.bridge).toMatchObject({ source: 'measured', bytes: 40 * MiB });
    expect(report.totals).toMatchObject({
      copies: 6,
      sessions: 3,
      todayBytes: 980 * MiB,
      sharedBytes: 800 * MiB,
      savedBytes: 180 * MiB,
      unknownSavingBytes: -40 * MiB,
      alreadySharedBytes: 110 * MiB,
    });
    const memory = report.groups.find((g) => g.server === 'server-memory')!;
    expect(memory).toMatchObject({
      copies: 3,
      totalBytes: 330 * MiB,
      meanBytes: 110 * MiB,
      minBytes: 100 * MiB,
      maxBytes: 120 * MiB,
      sharedCostBytes: 150 * MiB,
      savedNowBytes: 180 * MiB,
      alreadySharedBy: null,
    });
  });

  test('the projection for 1, 2, 4, 8, 15 and 30 sessions, and the break-even', () => {
    const mib = (n: number) => n * MiB;
    expect(report.projection.map((p) => p.sessions)).toEqual([1, 2, 4, 8, 15, 30]);
    // per session: N × (110 + 300 + 50); shared: (110 + 40) + N × (300 + 50); all shared: (110 + 40) + (50 + 40) + N × 300.
    for (const p of report.projection) {
      const n = p.sessions;
      expect(p).toEqual({
        sessions: n,
        perSessionBytes: mib(460 * n),
        sharedBytes: mib(150 + 350 * n),
        savedBytes: mib(460 * n - 150 - 350 * n),
        sharedIfUnknownShareableBytes: mib(240 + 300 * n),
        savedIfUnknownShareableBytes: mib(460 * n - 240 - 300 * n),
      });
    }
    expect(report.projection[0].savedBytes).toBe(-40 * MiB);
    expect(report.breakEvenSessions).toBe(2);
  });

  test('with no bridge running, the documented bridge RSS is used and the report says so', () => {
    const s = snapshotOf(snap.processes.filter((p) => p.pid < 90));
    const r = buildReport(s, detect(s, { daemons: [] }));
    expect(r.bridge.source).toBe('documented');
    expect(r.bridge.bytes).toBe(DOCUMENTED_BRIDGE_RSS_BYTES);
    expect(r.groups.find((g) => g.server === 'server-memory')!.sharedCostBytes).toBe(110 * MiB + DOCUMENTED_BRIDGE_RSS_BYTES);
    expect(renderDoctor(r)).toMatch(/Bridge: 49 MB per shared stdio server \(documented: the idle RSS `npm run bench` measured/);
  });

  test('a native-capable server is shared without a bridge; a registered daemon pid is already shared', () => {
    const s = snapshotOf([
      proc(10, 1, 500, 'claude'),
      proc(20, 1, 500, 'claude'),
      proc(11, 10, 90, 'npx', '-y', 'mongodb-mcp-server'),
      proc(21, 20, 90, 'npx', '-y', 'mongodb-mcp-server'),
      proc(50, 1, 100, 'npx', '-y', 'mongodb-mcp-server', '--transport', 'http', '--httpPort', '8010'),
      proc(51, 50, 20, 'node', '/x/node_modules/mongodb-mcp-server/dist/index.js', '--transport', 'http'),
    ]);
    const r = buildReport(s, detect(s, { daemons: [{ name: 'mongo', kind: 'native', pid: 50 }] }));
    expect(r.shared).toEqual([expect.objectContaining({ pid: 50, kind: 'native', name: 'mongo', ownRssBytes: 100 * MiB, serverRssBytes: 20 * MiB })]);
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0]).toMatchObject({ native: true, copies: 2, sharedCostBytes: 90 * MiB, savedNowBytes: 90 * MiB });
    expect(r.breakEvenSessions).toBe(2);
  });

  test('project mode: server-filesystem costs one copy per project (working directory), against one per session today; a bridge counts every child', () => {
    const inDir = (p: ProcessInfo, cwd: string): ProcessInfo => ({ ...p, cwd });
    const FS = '/x/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js';
    const s = snapshotOf([
      proc(10, 1, 500, 'claude'),
      proc(20, 1, 500, 'claude'),
      proc(30, 1, 500, 'claude'),
      inDir(proc(11, 10, 60, 'node', FS), '/p/a'),
      inDir(proc(21, 20, 60, 'node', FS), '/p/a'),
      inDir(proc(31, 30, 60, 'node', FS), '/p/b'),
      proc(
        90,
        1,
        40,
        process.execPath,
        '/opt/mcpshare/dist/cli.js',
        'bridge',
        '--name',
        'fs',
        '--port',
        '8005',
        '--share',
        'project',
        '--',
        'node',
        '/y/server-filesystem/dist/index.js',
      ),
      proc(91, 90, 50, 'node', '/y/server-filesystem/dist/index.js'),
      proc(92, 90, 55, 'node', '/y/server-filesystem/dist/index.js'),
    ]);
    const r = buildReport(s, detect(s, { ownCli: '/opt/mcpshare/dist/cli.js' }));
    const fs = r.groups.find((g) => g.server === 'server-filesystem')!;
    expect(fs).toMatchObject({ verdict: 'shareable', share: 'project', copies: 3, projects: 2 });
    expect(fs.sharedCostBytes).toBe(2 * 60 * MiB + r.bridge.bytes);
    expect(fs.savedNowBytes).toBe(60 * MiB - r.bridge.bytes);
    expect(r.shared).toEqual([expect.objectContaining({ pid: 90, kind: 'bridge', children: 2, serverRssBytes: 105 * MiB })]);
    // At N sessions the same server costs min(N, 2 projects) copies and a bridge.
    expect(r.projection[0].sharedBytes).toBe(60 * MiB + r.bridge.bytes);
    expect(r.projection[3].sharedBytes).toBe(120 * MiB + r.bridge.bytes);
    expect(r.notes.join(' ')).toMatch(/server-filesystem runs one copy per project/);
    expect(renderDoctor(r)).toMatch(/server-filesystem\s+shareable \(per project\)\s+3/);
  });

  test('a `sh -c` wrapper belongs to the launch it wraps; an interactive shell is a session, not part of a launch', () => {
    const s = snapshotOf([
      proc(10, 1, 500, 'claude'),
      proc(11, 10, 1, 'sh', '-c', 'cd /p && node /p/weather-mcp/dist/index.js'),
      proc(12, 11, 40, 'node', '/p/weather-mcp/dist/index.js'),
      proc(20, 1, 5, 'bash'),
      proc(21, 20, 60, 'npx', 'foo-mcp'),
      proc(22, 21, 30, 'node', '/h/.npm/_npx/9/node_modules/.bin/foo-mcp'),
    ]);
    const d = detect(s, { daemons: [] });
    expect(d.instances.map((i) => [i.pid, i.serverPid, i.key, i.pids, i.rssBytes / MiB, i.session])).toEqual([
      [11, 12, 'node /p/weather-mcp/dist/index.js', [11, 12], 41, { pid: 10, name: 'claude', client: 'Claude Code' }],
      [21, 21, 'npx foo-mcp', [21, 22], 90, { pid: 20, name: 'bash', client: null }],
    ]);
  });

  test('a `sh -c` that starts several servers is their session, not part of each copy', () => {
    const s = snapshotOf([
      proc(30, 1, 3, 'sh', '-c', 'sleep 1000 | node /p/a-mcp/index.js & sleep 1000 | node /p/b-mcp/index.js & wait'),
      proc(31, 30, 40, 'node', '/p/a-mcp/index.js'),
      proc(32, 30, 50, 'node', '/p/b-mcp/index.js'),
      proc(33, 30, 1, 'sleep', '1000'),
      proc(34, 30, 1, 'sleep', '1000'),
    ]);
    const d = detect(s, { daemons: [] });
    expect(d.instances.map((i) => [i.pid, i.pids, i.rssBytes / MiB, i.session?.pid])).toEqual([
      [31, [31], 40, 30],
      [32, [32], 50, 30],
    ]);
  });

  test('a secret on a command line never reaches the report, its JSON or its text', () => {
    const s = snapshotOf([
      proc(10, 1, 500, 'claude'),
      proc(11, 10, 60, 'node', '/p/node_modules/.bin/mcp-server-postgres', 'postgresql://admin:PGSECRET@db/prod', '--api-key', 'sk-DOCSECRET'),
      proc(20, 1, 500, 'claude'),
      proc(21, 20, 60, 'node', '/p/node_modules/.bin/mcp-server-postgres', 'postgresql://admin:PGSECRET@db/prod', '--api-key', 'sk-DOCSECRET'),
    ]);
    const r = buildReport(s, detect(s, { daemons: [] }));
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0].copies).toBe(2); // grouped on the real command line
    const out = JSON.stringify(r) + renderDoctor(r);
    expect(out).not.toContain('PGSECRET');
    expect(out).not.toContain('sk-DOCSECRET');
    expect(out).toContain('mcp-server-postgres');
  });

  test('one copy of a shareable server: sharing it now costs the bridge, and the report says so', () => {
    const s = snapshotOf([proc(10, 1, 500, 'claude'), proc(11, 10, 60, 'npx', '-y', '@modelcontextprotocol/server-memory')]);
    const r = buildReport(s, detect(s, { daemons: [] }));
    expect(r.totals.savedBytes).toBe(-DOCUMENTED_BRIDGE_RSS_BYTES);
    expect(renderDoctor(r)).toMatch(/Sharing would cost 49 MB more now: a server with one copy still needs its bridge; it pays from 2 sessions on\./);
  });

  test('nothing found: a short answer, and empty but well-formed JSON', () => {
    const r = buildReport(snapshotOf([proc(10, 1, 500, 'claude')]), { instances: [], shared: [] });
    expect(r.groups).toEqual([]);
    expect(r.totals.todayBytes).toBe(0);
    expect(r.breakEvenSessions).toBeNull();
    expect(r.projection.every((p) => p.savedBytes === 0)).toBe(true);
    expect(renderDoctor(r)).toMatch(/^No per-session MCP server processes found \(scanned 1 processes/);
  });
});

// ---------------------------------------------------------------------------------------------
// Real processes: several copies of real servers, each started by its own parent process.

const MEMORY = join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js');

/**
 * A stand-in for a client session: starts one command as its child (stdin kept open as a pipe, so
 * a stdio server stays up), reports the child's pid once it writes its first stderr line (servers
 * log "running on stdio" when ready), and kills the child's group when told to or when its own
 * stdin closes (the test runner went away).
 */
const PARENT = `
const { spawn } = require('node:child_process');
const [cmd, ...args] = JSON.parse(process.argv[1]);
const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true, cwd: process.env.DOCTOR_CWD });
let told = false;
const tell = () => { if (!told) { told = true; process.stdout.write(JSON.stringify({ parent: process.pid, child: child.pid }) + '\\n'); } };
child.stderr.on('data', tell);
if (process.env.DOCTOR_NO_STDERR) setTimeout(tell, 200);
const stop = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} process.exit(0); };
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
`;

interface Session {
  proc: ChildProcess;
  parent: number;
  child: number;
}

const sessions: Session[] = [];
let bridge: RunningCli | undefined;

function startSession(command: string[], env: NodeJS.ProcessEnv = {}): Promise<Session> {
  const p = spawn(process.execPath, ['-e', PARENT, JSON.stringify(command)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, DOCTOR_CWD: ROOT, ...env },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${command.join(' ')} did not start within 20 s`)), 20_000);
    p.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        clearTimeout(timer);
        const { parent, child } = JSON.parse(line);
        const s = { proc: p, parent, child };
        sessions.push(s);
        resolve(s);
      }
    });
    p.once('exit', (code) => reject(new Error(`parent of ${command.join(' ')} exited (${code}) before its child started`)));
  });
}

/** RSS of a process and all its descendants, from one `ps` call: a reading independent of doctor's /proc scan. */
function psTreeRss(root: number): { pids: number[]; rssBytes: number } {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,rss='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const pids = [root];
  for (let i = 0; i < pids.length; i++) for (const [pid, ppid] of rows) if (ppid === pids[i] && !pids.includes(pid)) pids.push(pid);
  const rss = new Map(rows.map(([pid, , kb]) => [pid, kb * KiB]));
  return { pids, rssBytes: pids.reduce((s, p) => s + (rss.get(p) ?? 0), 0) };
}

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL') {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

describe('real copies of real servers under separate parents', () => {
  let memory: Session[];
  let everything: Session[];
  let wrapped: Session;
  let unrelated: Session;
  let report: DoctorReport;
  let mine: Set<number>;

  beforeAll(async () => {
    const started = await Promise.all([
      startSession([process.execPath, MEMORY]),
      startSession([process.execPath, MEMORY]),
      startSession([process.execPath, MEMORY]),
      startSession([process.execPath, EVERYTHING, 'stdio']),
      startSession([process.execPath, EVERYTHING, 'stdio']),
      // The way `npx -y` runs a server: npm exec → sh -c → node (npm finds the local bin offline).
      startSession(['npm', 'exec', '--offline', '@modelcontextprotocol/server-memory']),
      // A node process that is not an MCP server.
      startSession([process.execPath, '-e', 'setInterval(() => {}, 1000)'], { DOCTOR_NO_STDERR: '1' }),
    ]);
    memory = started.slice(0, 3);
    everything = started.slice(3, 5);
    wrapped = started[5];
    unrelated = started[6];
    mine = new Set(started.map((s) => s.parent));
    bridge = await runCli(bridgeArgs([process.execPath, MEMORY]).map((a) => (a === 'test' ? 'doctor-test' : a)));
    await waitReady(bridge);
    // Let module loading settle, so the RSS read by doctor and by ps a moment later agree.
    await sleep(1500);
    report = await doctor({ daemons: [] });
  }, 60_000);

  afterAll(async () => {
    for (const s of sessions) {
      killQuietly(-s.child); // the server's own process group (npm exec's sh and node too)
      killQuietly(s.parent, 'SIGTERM');
    }
    await Promise.all(
      sessions.map((s) => (s.proc.exitCode === null && s.proc.signalCode === null ? new Promise((r) => s.proc.once('exit', r)) : Promise.resolve())),
    );
    await bridge?.stop();
  });

  const myCopies = (r: DoctorReport) =>
    r.groups.flatMap((g) => g.instances.filter((i) => i.session && mine.has(i.session.pid)).map((i) => ({ ...i, key: g.key, server: g.server, group: g })));

  test('finds exactly the copies it started, each in its own session (the parent pid)', () => {
    const copies = myCopies(report);
    expect(copies).toHaveLength(6);
    const byKey = (k: string) => copies.filter((c) => c.key === k);
    const direct = byKey(normaliseCommand([process.execPath, MEMORY]));
    expect(direct.map((c) => [c.pid, c.session!.pid]).sort()).toEqual(memory.map((s) => [s.child, s.parent]).sort());
    expect(direct.every((c) => c.server === 'server-memory' && c.session!.name === 'node' && c.pids.length === 1)).toBe(true);
    const every = byKey(normaliseCommand([process.execPath, EVERYTHING, 'stdio']));
    expect(every.map((c) => [c.pid, c.session!.pid]).sort()).toEqual(everything.map((s) => [s.child, s.parent]).sort());
    expect(every[0].server).toBe('server-everything');
    // npm exec → sh → node is one copy, started by its parent, costing the three processes.
    const npm = byKey('npx @modelcontextprotocol/server-memory');
    expect(npm).toHaveLength(1);
    expect(npm[0].pid).toBe(wrapped.child);
    expect(npm[0].session!.pid).toBe(wrapped.parent);
    expect(npm[0].pids.length).toBeGreaterThanOrEqual(3);
    expect(npm[0].pids).toEqual(expect.arrayContaining(psTreeRss(wrapped.child).pids));
  });

  test('an unrelated node process and the parents themselves are not counted', () => {
    const counted = new Set(report.groups.flatMap((g) => g.instances.flatMap((i) => i.pids)));
    expect(counted.has(unrelated.child)).toBe(false);
    for (const s of sessions) expect(counted.has(s.parent)).toBe(false);
    expect(report.sessions.some((s) => s.pid === unrelated.parent)).toBe(false);
  });

  test('its RSS sums equal what ps reads for the same processes (within the drift between two reads)', () => {
    for (const c of myCopies(report)) {
      const independent = psTreeRss(c.pid).rssBytes;
      expect(Math.abs(c.rssBytes - independent)).toBeLessThanOrEqual(Math.max(6 * MiB, independent * 0.08));
    }
    // Each group's total is the sum of its copies; its mean, min and max describe them.
    for (const g of report.groups) {
      const sizes = g.instances.map((i) => i.rssBytes);
      expect(g.totalBytes).toBe(sizes.reduce((a, b) => a + b, 0));
      expect(g.copies).toBe(sizes.length);
      expect([g.minBytes, g.maxBytes]).toEqual([Math.min(...sizes), Math.max(...sizes)]);
    }
    const mineTotal = myCopies(report).reduce((s, c) => s + c.rssBytes, 0);
    const psTotal = [...memory, ...everything, wrapped].reduce((s, x) => s + psTreeRss(x.child).rssBytes, 0);
    expect(Math.abs(mineTotal - psTotal)).toBeLessThanOrEqual(psTotal * 0.05);
  });

  test('a running bridge is already shared (own RSS and its server), and measured as the bridge cost', async () => {
    const status = await bridge!.status();
    const row = report.shared.find((s) => s.pid === bridge!.proc.pid)!;
    // Started with --port 0: the command line does not say which port the OS chose.
    expect(row).toMatchObject({ kind: 'bridge', name: 'doctor-test', port: null });
    expect(row.pids).toContain(status.child.pid);
    expect(row.serverRssBytes).toBeGreaterThan(10 * MiB);
    expect(row.ownRssBytes).toBeGreaterThan(10 * MiB);
    expect(report.groups.some((g) => g.instances.some((i) => i.pids.includes(status.child.pid!)))).toBe(false);
    expect(report.bridge.source).toBe('measured');
    // The direct server-memory copies are the very command a running bridge shares.
    const direct = report.groups.find((g) => g.key === normaliseCommand([process.execPath, MEMORY]))!;
    expect(direct.alreadySharedBy).not.toBeNull();
    expect(direct.savedNowBytes).toBe(direct.totalBytes);
  });

  test('the ps reader (the macOS path) finds the same copies and sessions', async () => {
    const viaPs = await doctor({ source: 'ps', daemons: [] });
    expect(viaPs.scan.source).toBe('ps');
    const key = (r: DoctorReport) =>
      myCopies(r)
        .map((c) => `${c.key}|${c.pid}|${c.session!.pid}|${[...c.pids].sort().join(',')}`)
        .sort();
    expect(key(viaPs)).toEqual(key(report));
  });

  test('`mcpshare doctor --json` prints the report; the text report lists the sessions', async () => {
    const chunks: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
      chunks.push(String(c));
      return true;
    });
    try {
      expect(await doctorCommand(['--json'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const json = JSON.parse(chunks.join('')) as DoctorReport;
    expect(json.schema).toBe(1);
    expect(myCopies(json)).toHaveLength(6);
    const text = renderDoctor(report);
    for (const s of [...memory, ...everything, wrapped]) expect(text).toMatch(new RegExp(`^${s.parent}\\s+node\\s+1\\s`, 'm'));
  });
});

describe('the sessions of every MCP client mcpshare configures (their process names on Linux and macOS)', () => {
  // [client label, the session's process (argv as ps/proc show it), its kernel name]: one per client
  // and OS, as each is installed (npm packages run by node, native binaries, app bundles, AppImages).
  const SESSIONS: [string, string[], string][] = [
    ['Claude Code', ['claude'], 'claude'],
    ['Claude Code', ['node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js'], 'node'],
    ['Claude Desktop', ['/Applications/Claude.app/Contents/MacOS/Claude'], 'Claude'],
    ['Claude Desktop', ['/Applications/Claude.app/Contents/Helpers/disclaimer', 'npx', '-y', 'x'], 'disclaimer'],
    ['Claude Desktop', ['/usr/lib/claude-desktop/node_modules/electron/dist/electron', '/usr/lib/claude-desktop/app.asar'], 'electron'],
    ['Claude Desktop', ['/usr/bin/claude-desktop'], 'claude-desktop'],
    ['Cursor', ['/tmp/.mount_CursorAbc/cursor', '--type=utility', '--utility-sub-type=node.mojom.NodeService'], 'cursor'],
    [
      'Cursor',
      ['/Applications/Cursor.app/Contents/Frameworks/Cursor Helper (Plugin).app/Contents/MacOS/Cursor Helper (Plugin)', '--type=utility'],
      'Cursor Helper (Plugin)',
    ],
    ['VS Code', ['/usr/share/code/code', '--type=utility', '--utility-sub-type=node.mojom.NodeService'], 'code'],
    [
      'VS Code',
      ['/Applications/Visual Studio Code.app/Contents/Frameworks/Code Helper (Plugin).app/Contents/MacOS/Code Helper (Plugin)', '--type=utility'],
      'Code Helper (Plugin)',
    ],
    ['Windsurf', ['/usr/share/windsurf/windsurf', '--type=utility'], 'windsurf'],
    [
      'Windsurf',
      ['/Applications/Windsurf.app/Contents/Frameworks/Windsurf Helper (Plugin).app/Contents/MacOS/Windsurf Helper (Plugin)'],
      'Windsurf Helper (Plugin)',
    ],
    ['Zed', ['/home/me/.local/zed.app/libexec/zed-editor'], 'zed-editor'],
    ['Zed', ['/usr/bin/zeditor'], 'zeditor'],
    ['Zed', ['/Applications/Zed.app/Contents/MacOS/zed'], 'zed'],
    ['Codex', ['/usr/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex'], 'codex'],
    ['Codex', ['/opt/homebrew/bin/codex'], 'codex'],
    ['Gemini CLI', ['node', '--no-warnings=DEP0040', '/usr/lib/node_modules/@google/gemini-cli/dist/index.js'], 'node'],
    ['Gemini CLI', ['/opt/homebrew/Cellar/node/22.11.0/bin/node', '/opt/homebrew/lib/node_modules/@google/gemini-cli/bundle/gemini.js'], 'node'],
    ['Qwen Code', ['node', '/usr/local/lib/node_modules/@qwen-code/qwen-code/cli.js'], 'node'],
    ['opencode', ['/home/me/.opencode/bin/opencode'], 'opencode'],
    ['opencode', ['/usr/lib/node_modules/opencode-ai/node_modules/opencode-linux-x64/bin/opencode'], 'opencode'],
    ['Copilot CLI', ['node', '/usr/lib/node_modules/@github/copilot/index.js'], 'node'],
    ['Copilot CLI', ['/opt/homebrew/bin/copilot'], 'copilot'],
  ];

  test.each(SESSIONS)('%s: %j', (label, argv, name) => {
    const snap = snapshotOf([
      { ...proc(100, 1, 300, ...argv), name },
      proc(101, 100, 60, 'node', '/home/me/.npm/_npx/15b07286cbcc3329/node_modules/.bin/mcp-server-memory'),
      // A second session of the same client, to count copies per client.
      { ...proc(200, 1, 300, ...argv), name },
      proc(201, 200, 62, 'node', '/home/me/.npm/_npx/15b07286cbcc3329/node_modules/.bin/mcp-server-memory'),
    ]);
    const d = detect(snap, { daemons: [] });
    expect(d.instances.map((i) => [i.pid, i.session])).toEqual([
      [101, { pid: 100, name, client: label }],
      [201, { pid: 200, name, client: label }],
    ]);
    const report = buildReport(snap, d, [], 'linux');
    expect(report.sessions.map((s) => [s.client, s.copies])).toEqual([
      [label, 1],
      [label, 1],
    ]);
    expect(report.groups[0]).toMatchObject({ server: 'server-memory', copies: 2, sessions: 2 });
  });

  test('a text tool or a shell is not a client', () => {
    const snap = snapshotOf([
      proc(100, 1, 5, 'bash'),
      proc(101, 100, 60, 'node', '/x/node_modules/.bin/mcp-server-memory'),
      proc(102, 1, 5, 'node', '/srv/app/server.js'),
    ]);
    expect(detect(snap, { daemons: [] }).instances[0].session).toEqual({ pid: 100, name: 'bash', client: null });
  });
});
