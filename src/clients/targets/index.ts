import { homedir } from 'node:os';
import { claudeCode } from './claude-code.js';
import { claudeDesktop } from './claude-desktop.js';
import { codex } from './codex.js';
import { copilot } from './copilot.js';
import { cursor } from './cursor.js';
import { gemini } from './gemini.js';
import { opencode } from './opencode.js';
import { qwen } from './qwen.js';
import { vscode } from './vscode.js';
import { windsurf } from './windsurf.js';
import { zed } from './zed.js';
import { CLIENT_NAMES, type ClientContext, type ClientName, type McpClient } from './types.js';

/** Every client mcpshare knows, in the order they are listed. */
export const CLIENTS: readonly McpClient[] = [claudeCode, claudeDesktop, cursor, vscode, windsurf, zed, codex, gemini, qwen, opencode, copilot];

export function isClientName(name: string): name is ClientName {
  return (CLIENT_NAMES as readonly string[]).includes(name);
}

export function clientByName(name: string): McpClient {
  const c = CLIENTS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown client "${name}"; the clients are: ${CLIENT_NAMES.join(', ')}`);
  return c;
}

export function clientContext(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): ClientContext {
  return { home: env.HOME || homedir(), env, platform };
}

export * from './types.js';
