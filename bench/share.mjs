/**
 * Sharing modes (issue 16): memory of 10 sessions spread over 3 projects with server-filesystem.
 *
 *  (a) one copy per session: each session starts its own stdio child, given its project directory
 *      (what a client does today: Claude Code starts a project's servers in that project);
 *  (b) project mode: one `mcpshare bridge --share project`, every session connected over
 *      Streamable HTTP declaring its project directory as its root; the bridge runs one child per
 *      project.
 * Every session lists its allowed directories once, and the answer is checked: a session that sees
 * another project's directory is counted as a leak (it must stay 0). After the sessions settle,
 * RSS and PSS are summed over (a) the ten children, (b) the bridge with its children.
 * BENCH_SHARE_SESSIONS (default 10) and BENCH_SHARE_PROJECTS (default 3) change the mix.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectStdio, mapLimit, textOf, withTimeout } from './load.mjs';
import { ROOT, sleep, startBridge, stopTree, treeMem, treesMem } from './procs.mjs';

const FILESYSTEM = `${ROOT}node_modules/@modelcontextprotocol/server-filesystem/dist/index.js`;
const SETTLE_MS = 1500;
const mb = (b) => (b / 2 ** 20).toFixed(1);

export function shareConfig() {
  return { sessions: Number(process.env.BENCH_SHARE_SESSIONS ?? 10), projects: Number(process.env.BENCH_SHARE_PROJECTS ?? 3) };
}

/** The directories a session lists, and whether any is not its own project's. */
async function check(client, dir, counter) {
  const text = textOf(await withTimeout(client.callTool({ name: 'list_allowed_directories', arguments: {} }), 30000, 'list_allowed_directories'));
  const dirs = text.split('\n').slice(1).filter(Boolean);
  counter.checked++;
  if (dirs.length !== 1 || dirs[0] !== dir) counter.leaks++;
}

async function perSession(dirOf, n, counter, log) {
  const sessions = [];
  try {
    const results = await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      4,
      async (i) => {
        const s = await connectStdio({ id: 'filesystem', command: process.execPath, args: [FILESYSTEM, dirOf(i)], env: {} });
        sessions.push(s);
        await check(s.client, dirOf(i), counter);
      },
    );
    const failed = results.find((r) => !r.ok);
    if (failed) throw new Error(`one copy per session: ${failed.error?.message ?? failed.error}`);
    await sleep(SETTLE_MS);
    const m = treesMem(sessions.map((s) => s.pid));
    log(`  one copy per session: ${n} processes, ${mb(m.rss)} MB RSS, ${mb(m.pss)} MB PSS`);
    return m;
  } finally {
    await mapLimit(sessions, 8, (s) => s.close());
    for (const s of sessions) await stopTree(s.pid, 1000);
  }
}

async function projectMode(dirOf, n, nodeFlags, counter, log) {
  const bridge = await startBridge(nodeFlags, 'share-bench', { id: 'filesystem', command: process.execPath, args: [FILESYSTEM], env: {} }, [
    '--share',
    'project',
  ]);
  const clients = [];
  try {
    const results = await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      4,
      async (i) => {
        const client = new Client({ name: 'share-bench', version: '1' }, { capabilities: { roots: {} } });
        client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: pathToFileURL(dirOf(i)).href }] }));
        const transport = new StreamableHTTPClientTransport(new URL(`${bridge.url}/mcp`));
        await withTimeout(client.connect(transport), 60000, 'connect');
        clients.push({ client, transport });
        await check(client, dirOf(i), counter);
      },
    );
    const failed = results.find((r) => !r.ok);
    if (failed) throw new Error(`project mode: ${failed.error?.message ?? failed.error}`);
    await sleep(SETTLE_MS);
    const m = treeMem(bridge.pid);
    const status = await bridge.status();
    const children = status.children.length;
    log(`  project mode: bridge + ${children} children (${status.sessions.total} sessions), ${mb(m.rss)} MB RSS, ${mb(m.pss)} MB PSS`);
    return { rss: m.rss, pss: m.pss, processes: m.processes, children, sessionsOnBridge: status.sessions.total };
  } finally {
    await mapLimit(clients, 8, async ({ client, transport }) => {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    });
    await stopTree(bridge.pid);
  }
}

export async function runShareBench({ log, nodeFlags, config = shareConfig() }) {
  const base = mkdtempSync(path.join(os.tmpdir(), 'mcpshare-share-bench-'));
  try {
    const projects = Array.from({ length: config.projects }, (_, i) => {
      const dir = path.join(base, `project-${i + 1}`);
      mkdirSync(dir);
      return dir;
    });
    const dirOf = (i) => projects[i % projects.length];
    const counter = { checked: 0, leaks: 0 };
    log(`share: ${config.sessions} sessions over ${config.projects} projects, server-filesystem`);
    const project = await projectMode(dirOf, config.sessions, nodeFlags, counter, log);
    const copies = await perSession(dirOf, config.sessions, counter, log);
    return {
      config,
      perSession: copies,
      projectMode: project,
      saved: { rss: copies.rss - project.rss, pss: copies.pss - project.pss },
      savedPct: { rss: (copies.rss - project.rss) / copies.rss, pss: (copies.pss - project.pss) / copies.pss },
      correctness: counter,
    };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

/** The part's Markdown section. */
export function renderShare(r) {
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  const p = r.projectMode;
  const c = r.perSession;
  return [
    '## Sharing modes: server-filesystem per project',
    '',
    `${r.config.sessions} sessions over ${r.config.projects} projects, each session listing its allowed directories once.`,
    '',
    '| setup | processes | RSS MB | PSS MB |',
    '| --- | ---: | ---: | ---: |',
    `| one copy per session (stdio child each) | ${c.processes} | ${mib(c.rss)} | ${mib(c.pss)} |`,
    `| project mode (one bridge, ${p.children} children) | ${p.processes} | ${mib(p.rss)} | ${mib(p.pss)} |`,
    '',
    `Saved by project mode: ${mib(r.saved.rss)} MB RSS (${(r.savedPct.rss * 100).toFixed(0)}%), ${mib(r.saved.pss)} MB PSS (${(r.savedPct.pss * 100).toFixed(0)}%). ` +
      `Correctness: ${r.correctness.checked} sessions checked, ${r.correctness.leaks} saw a directory not their own.`,
    '',
  ].join('\n');
}
