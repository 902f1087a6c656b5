import { join } from 'node:path';
import { defineClient, type ClientSpec } from './generic.js';
import { isObject, keep } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * Gemini CLI: ~/.gemini/settings.json and a project's .gemini/settings.json (JSON with comments:
 * it strips them before parsing), `{"mcpServers": {NAME: {"command", "args", "env", "cwd"} |
 * {"httpUrl"} (Streamable HTTP) | {"url", "type": "sse"} (SSE)}}`, with `timeout`, `trust`,
 * `includeTools`, `excludeTools` for any transport; `$VAR` and `${VAR}` are expanded
 * (github.com/google-gemini/gemini-cli docs/tools/mcp-server.md).
 */
const KEEP = ['timeout', 'trust', 'includeTools', 'excludeTools', 'description'];

export function geminiLike(o: { name: 'gemini' | 'qwen'; label: string; dir: string; sseEntry: (url: string) => Record<string, unknown> }): ClientSpec {
  return {
    name: o.name,
    label: o.label,
    binaries: [o.name],
    homeDirs: (ctx) => [join(ctx.home, o.dir)],
    userFiles: (ctx) => [join(ctx.home, o.dir, 'settings.json')],
    projectFiles: (dir) => [join(dir, o.dir, 'settings.json')],
    format: () => 'jsonc',
    section: ['mcpServers'],
    sse: true,
    toCommon(v, where): CommonEntry {
      if (!isObject(v)) return { kind: 'other', reason: 'not an object' };
      if (typeof v.httpUrl === 'string') return { kind: 'remote', url: v.httpUrl, transport: 'http' };
      if (typeof v.url === 'string') return { kind: 'remote', url: v.url, transport: v.type === 'http' ? 'http' : 'sse' };
      return stdioEntry(v.command, v.args, v.env, 'dollar', where, v.cwd);
    },
    shared: (_reg, ep, old) => ({ ...(ep.transport === 'http' ? { httpUrl: ep.url } : o.sseEntry(ep.url)), ...keep(old, KEEP) }),
  };
}

export const gemini = defineClient(geminiLike({ name: 'gemini', label: 'Gemini CLI', dir: '.gemini', sseEntry: (url) => ({ url, type: 'sse' }) }));
