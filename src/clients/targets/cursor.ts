import { join } from 'node:path';
import { defineClient } from './generic.js';
import { isObject } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * Cursor: ~/.cursor/mcp.json and a project's .cursor/mcp.json, `{"mcpServers": {NAME: {"command",
 * "args", "env"} | {"url", "headers"}}}`; it works out Streamable HTTP or SSE from the URL itself,
 * and expands `${env:NAME}`, `${userHome}`, `${workspaceFolder}` (cursor.com/docs/mcp).
 */
export function urlOrStdio(v: unknown, urlKey: string, where: { home: string; dir?: string }): CommonEntry {
  if (!isObject(v)) return { kind: 'other', reason: 'not an object' };
  if (typeof v[urlKey] === 'string') return { kind: 'remote', url: v[urlKey] as string, transport: 'auto' };
  return stdioEntry(v.command, v.args, v.env, 'vscode', where);
}

export const cursor = defineClient({
  name: 'cursor',
  label: 'Cursor',
  binaries: ['cursor', 'cursor-agent'],
  homeDirs: (ctx) => [join(ctx.home, '.cursor')],
  userFiles: (ctx) => [join(ctx.home, '.cursor', 'mcp.json')],
  projectFiles: (dir) => [join(dir, '.cursor', 'mcp.json')],
  format: () => 'jsonc',
  section: ['mcpServers'],
  sse: true,
  toCommon: (v, where) => urlOrStdio(v, 'url', where),
  shared: (_reg, ep) => ({ url: ep.url }),
});
