import { join } from 'node:path';
import { defineClient } from './generic.js';
import { appData, isObject } from './paths.js';
import { stdioEntry } from './switch.js';
import type { CommonEntry } from './types.js';

/**
 * VS Code: mcp.json in the user profile (Linux ~/.config/Code/User/, macOS ~/Library/Application
 * Support/Code/User/) and a workspace's .vscode/mcp.json, JSON with comments, `{"servers": {NAME:
 * {"type": "stdio", "command", "args", "env", "envFile"} | {"type": "http"|"sse", "url", "headers"}},
 * "inputs": [...]}` (code.visualstudio.com/docs/copilot/reference/mcp-configuration). `${input:…}`
 * values are prompted for by VS Code: such entries cannot be imported.
 */
export const vscode = defineClient({
  name: 'vscode',
  label: 'VS Code',
  binaries: ['code', 'code-insiders'],
  homeDirs: (ctx) => [join(appData(ctx), 'Code', 'User')],
  userFiles: (ctx) => [join(appData(ctx), 'Code', 'User', 'mcp.json')],
  projectFiles: (dir) => [join(dir, '.vscode', 'mcp.json')],
  format: () => 'jsonc',
  section: ['servers'],
  sse: true,
  toCommon(v, where): CommonEntry {
    if (!isObject(v)) return { kind: 'other', reason: 'not an object' };
    if ((v.type === 'http' || v.type === 'sse') && typeof v.url === 'string') return { kind: 'remote', url: v.url, transport: v.type };
    if (v.type !== undefined && v.type !== 'stdio') return { kind: 'other', reason: `a server of type ${JSON.stringify(v.type)}` };
    if (typeof v.envFile === 'string') return { kind: 'other', reason: `its variables come from "envFile" (${v.envFile}), which mcpshare does not read` };
    return stdioEntry(v.command, v.args, v.env, 'vscode', where);
  },
  shared: (_reg, ep) => ({ type: ep.transport, url: ep.url }),
});
