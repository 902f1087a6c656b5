import { join } from 'node:path';
import { defineClient } from './generic.js';
import { isObject, keep, xdgConfig } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * opencode: ~/.config/opencode/opencode.json or opencode.jsonc (JSON with comments either way) and
 * a project's opencode.json[c], `"mcp": {NAME: {"type": "local", "command": [CMD, ...ARGS],
 * "environment"} | {"type": "remote", "url", "headers"}}` with `enabled` and `timeout`; a remote
 * URL tries Streamable HTTP and falls back to SSE by itself; `{env:NAME}` is expanded
 * (opencode.ai/docs/mcp-servers, opencode.ai/docs/config).
 */
export const opencode = defineClient({
  name: 'opencode',
  label: 'opencode',
  binaries: ['opencode'],
  homeDirs: (ctx) => [join(xdgConfig(ctx), 'opencode')],
  userFiles: (ctx) => ['opencode.json', 'opencode.jsonc'].map((f) => join(xdgConfig(ctx), 'opencode', f)),
  projectFiles: (dir) => [join(dir, 'opencode.json'), join(dir, 'opencode.jsonc')],
  format: () => 'jsonc',
  section: ['mcp'],
  sse: true,
  toCommon(v, where): CommonEntry {
    if (!isObject(v)) return { kind: 'other', reason: 'not an object' };
    if (v.type === 'remote' && typeof v.url === 'string') return { kind: 'remote', url: v.url, transport: 'auto' };
    if (v.type !== 'local') return { kind: 'other', reason: `a server of type "${String(v.type)}"` };
    if (!Array.isArray(v.command) || !v.command.length) return { kind: 'other', reason: '"command" is not a list' };
    return stdioEntry(v.command[0], v.command.slice(1), v.environment, 'opencode', where);
  },
  shared: (_reg, ep, old) => ({ type: 'remote', url: ep.url, ...keep(old, ['enabled', 'timeout']) }),
});
