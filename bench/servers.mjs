/**
 * The real MCP servers the memory bench runs, as a client would configure them: `node <bin file>`
 * (never npx, which adds a process and hides the real child) plus the arguments and environment
 * each one needs. Stateful servers get their files in one temporary directory per bench run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EVERYTHING_SERVER, ROOT } from './procs.mjs';

const bin = (pkg) => `${ROOT}node_modules/@modelcontextprotocol/${pkg}/dist/index.js`;

/**
 * Creates the temporary files the servers need and returns their specs plus a cleanup function.
 * server-memory: every copy points at the same MEMORY_FILE_PATH, as every session of one project
 * does; server-filesystem: a small directory with a few files to serve.
 */
export function realServers() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mcpshare-bench-'));
  const served = path.join(dir, 'served');
  mkdirSync(served);
  for (let i = 0; i < 5; i++) writeFileSync(path.join(served, `note-${i}.txt`), `bench file ${i}\n`.repeat(20));
  const servers = [
    { ...EVERYTHING_SERVER, pkg: '@modelcontextprotocol/server-everything' },
    {
      id: 'memory',
      pkg: '@modelcontextprotocol/server-memory',
      command: process.execPath,
      args: [bin('server-memory')],
      env: { MEMORY_FILE_PATH: path.join(dir, 'memory.jsonl') },
    },
    { id: 'filesystem', pkg: '@modelcontextprotocol/server-filesystem', command: process.execPath, args: [bin('server-filesystem'), served], env: {} },
    {
      id: 'sequential-thinking',
      pkg: '@modelcontextprotocol/server-sequential-thinking',
      command: process.execPath,
      args: [bin('server-sequential-thinking')],
      env: {},
    },
  ];
  return { servers, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
