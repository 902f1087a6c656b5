import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONNECT_NODE_FLAGS } from '../../runtime.js';
import { defineClient } from './generic.js';
import { appData, isObject } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * Claude Desktop: `claude_desktop_config.json` in its app-data folder (macOS ~/Library/Application
 * Support/Claude/, Linux ~/.config/Claude/, Windows %APPDATA%\Claude\), `{"mcpServers": {NAME:
 * {"command", "args", "env"}}}`, read with JSON.parse (strict JSON). Its config takes stdio servers
 * only, so a switched entry runs `mcpshare connect NAME`, a stdio relay to the daemon, with the
 * absolute node and CLI of this install (Claude Desktop starts servers with a minimal PATH).
 */
export const CLI_SCRIPT = fileURLToPath(new URL('../../../dist/cli.js', import.meta.url));

/** The shim's entry, with its memory flags (CONNECT_NODE_FLAGS: 44 MB RSS instead of 52 under plain node). */
export function connectEntry(name: string): { command: string; args: string[] } {
  return { command: process.execPath, args: [...CONNECT_NODE_FLAGS, CLI_SCRIPT, 'connect', name] };
}

/** `mcpshare connect NAME`, `node [FLAGS…] …/cli.js connect NAME`: the server it relays to. */
export function connectTarget(command: string, allArgs: readonly string[]): string | undefined {
  if (basename(command) === 'mcpshare' && allArgs.length === 2 && allArgs[0] === 'connect') return allArgs[1];
  let i = 0;
  while (i < allArgs.length && allArgs[i].startsWith('--')) i++;
  const args = allArgs.slice(i);
  if (args.length === 3 && args[1] === 'connect' && /(^|\/)(cli\.js|mcpshare)$/.test(args[0])) return args[2];
  return undefined;
}

export const claudeDesktop = defineClient({
  name: 'claude-desktop',
  label: 'Claude Desktop',
  binaries: ['claude-desktop'],
  homeDirs: (ctx) => [join(appData(ctx), 'Claude')],
  userFiles: (ctx) => [join(appData(ctx), 'Claude', 'claude_desktop_config.json')],
  projectFiles: () => [],
  format: () => 'json',
  section: ['mcpServers'],
  sse: true,
  toCommon(v, where): CommonEntry {
    if (!isObject(v)) return { kind: 'other', reason: 'not an object' };
    if (typeof v.command !== 'string') return { kind: 'other', reason: 'Claude Desktop runs stdio servers only, and this entry has no command' };
    const args = Array.isArray(v.args) ? (v.args as unknown[]) : [];
    const server = args.every((a) => typeof a === 'string') ? connectTarget(v.command, args as string[]) : undefined;
    if (server) return { kind: 'connect', server };
    return stdioEntry(v.command, v.args, v.env, 'none', where);
  },
  shared: (reg) => connectEntry(reg.name),
});
