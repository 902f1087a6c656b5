import { join } from 'node:path';
import { defineClient } from './generic.js';
import { isObject, keep } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * GitHub Copilot CLI: $COPILOT_HOME/mcp-config.json (default ~/.copilot/mcp-config.json) and a
 * repository's .github/mcp.json or .mcp.json (the file Claude Code uses too), `{"mcpServers":
 * {NAME: {"type": "local"|"stdio", "command", "args", "env", "cwd", "tools"} | {"type":
 * "http"|"sse", "url", "headers", "tools"}}}`; `tools` limits the tools it may call (["*"]: all)
 * (docs.github.com/copilot/how-tos/copilot-cli/customize-copilot/add-mcp-servers).
 */
export const copilot = defineClient({
  name: 'copilot',
  label: 'Copilot CLI',
  binaries: ['copilot'],
  homeDirs: (ctx) => [ctx.env.COPILOT_HOME || join(ctx.home, '.copilot')],
  userFiles: (ctx) => [join(ctx.env.COPILOT_HOME || join(ctx.home, '.copilot'), 'mcp-config.json')],
  projectFiles: (dir) => [join(dir, '.github', 'mcp.json'), join(dir, '.mcp.json')],
  format: () => 'jsonc',
  section: ['mcpServers'],
  sse: true,
  toCommon(v, where): CommonEntry {
    if (!isObject(v)) return { kind: 'other', reason: 'not an object' };
    if ((v.type === 'http' || v.type === 'sse') && typeof v.url === 'string') return { kind: 'remote', url: v.url, transport: v.type };
    if (v.type !== undefined && v.type !== 'local' && v.type !== 'stdio') return { kind: 'other', reason: `a server of type ${JSON.stringify(v.type)}` };
    return stdioEntry(v.command, v.args, v.env, 'none', where, v.cwd);
  },
  shared: (_reg, ep, old) => ({ type: ep.transport, url: ep.url, tools: ['*'], ...keep(old, ['tools', 'timeout']) }),
});
