import { join } from 'node:path';
import { defineClient } from './generic.js';
import { isObject, keep, xdgConfig } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * Zed: ~/.config/zed/settings.json (Linux: $XDG_CONFIG_HOME/zed/; the same path on macOS) and a
 * project's .zed/settings.json, JSON with `//` comments, `"context_servers": {NAME: {"command",
 * "args", "env"} | {"url", "headers"}}` (zed.dev/docs/ai/mcp; older versions nest
 * `"command": {"path", "args", "env"}`). Remote servers speak Streamable HTTP; Zed has no SSE.
 */
export const zed = defineClient({
  name: 'zed',
  label: 'Zed',
  binaries: ['zed', 'zeditor', 'zed-editor'],
  homeDirs: (ctx) => [join(xdgConfig(ctx), 'zed')],
  userFiles: (ctx) => [join(xdgConfig(ctx), 'zed', 'settings.json')],
  projectFiles: (dir) => [join(dir, '.zed', 'settings.json')],
  format: () => 'jsonc',
  section: ['context_servers'],
  sse: false,
  toCommon(v, where): CommonEntry {
    if (!isObject(v)) return { kind: 'other', reason: 'not an object' };
    if (typeof v.url === 'string') return { kind: 'remote', url: v.url, transport: 'http' };
    if (isObject(v.command)) return stdioEntry(v.command.path, v.command.args, v.command.env, 'none', where);
    if (typeof v.command === 'string') return stdioEntry(v.command, v.args, v.env, 'none', where);
    return { kind: 'other', reason: 'a server provided by a Zed extension' };
  },
  shared: (_reg, ep, old) => ({ url: ep.url, ...keep(old, ['enabled']) }),
});
