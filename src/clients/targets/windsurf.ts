import { join } from 'node:path';
import { urlOrStdio } from './cursor.js';
import { defineClient } from './generic.js';
import { keep } from './paths.js';

/**
 * Windsurf: ~/.codeium/windsurf/mcp_config.json only (no project file), `{"mcpServers": {NAME:
 * {"command", "args", "env"} | {"serverUrl", "headers"}}}`: a remote server's key is `serverUrl`
 * (a Cursor-style `url` does not connect), for Streamable HTTP and SSE alike (docs.windsurf.com/windsurf/cascade/mcp).
 */
export const windsurf = defineClient({
  name: 'windsurf',
  label: 'Windsurf',
  binaries: ['windsurf'],
  homeDirs: (ctx) => [join(ctx.home, '.codeium', 'windsurf')],
  userFiles: (ctx) => [join(ctx.home, '.codeium', 'windsurf', 'mcp_config.json')],
  projectFiles: () => [],
  format: () => 'jsonc',
  section: ['mcpServers'],
  sse: true,
  toCommon: (v, where) => {
    const e = urlOrStdio(v, 'serverUrl', where);
    return e.kind === 'other' && e.reason !== 'not an object' ? urlOrStdio(v, 'url', where) : e;
  },
  shared: (_reg, ep, old) => ({ serverUrl: ep.url, ...keep(old, ['disabled', 'disabledTools']) }),
});
