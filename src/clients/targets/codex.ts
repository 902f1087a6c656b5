import { join } from 'node:path';
import { defineClient } from './generic.js';
import { isObject, keep } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * Codex CLI: $CODEX_HOME/config.toml (default ~/.codex/config.toml) and, for a project Codex
 * trusts, .codex/config.toml; `[mcp_servers.NAME]` tables with `command`, `args`, `env`, `cwd`, or
 * `url` (Streamable HTTP; Codex has no SSE) and `bearer_token_env_var`, plus transport-independent
 * `enabled`, `startup_timeout_sec`, `tool_timeout_sec`, `enabled_tools`, `disabled_tools`
 * (developers.openai.com/codex/mcp). Edited in place with toml-patch (toml-edit.ts).
 */
const KEEP = ['enabled', 'required', 'startup_timeout_sec', 'startup_timeout_ms', 'tool_timeout_sec', 'enabled_tools', 'disabled_tools'];

export const codex = defineClient({
  name: 'codex',
  label: 'Codex CLI',
  binaries: ['codex'],
  homeDirs: (ctx) => [ctx.env.CODEX_HOME || join(ctx.home, '.codex')],
  userFiles: (ctx) => [join(ctx.env.CODEX_HOME || join(ctx.home, '.codex'), 'config.toml')],
  projectFiles: (dir) => [join(dir, '.codex', 'config.toml')],
  format: () => 'toml',
  section: ['mcp_servers'],
  sse: false,
  toCommon(v, where): CommonEntry {
    if (!isObject(v)) return { kind: 'other', reason: 'not a table' };
    if (typeof v.url === 'string') return { kind: 'remote', url: v.url, transport: 'http' };
    return stdioEntry(v.command, v.args, v.env, 'none', where, v.cwd);
  },
  shared: (_reg, ep, old) => ({ ...keep(old, KEEP), url: ep.url }),
});
