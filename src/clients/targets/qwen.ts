import { defineClient } from './generic.js';
import { geminiLike } from './gemini.js';

/**
 * Qwen Code (a Gemini CLI fork): ~/.qwen/settings.json and a project's .qwen/settings.json,
 * `{"mcpServers": {NAME: {"command", …} | {"httpUrl"} (Streamable HTTP) | {"url"} (SSE)}}`
 * (qwenlm.github.io/qwen-code-docs, MCP servers).
 */
export const qwen = defineClient(geminiLike({ name: 'qwen', label: 'Qwen Code', dir: '.qwen', sseEntry: (url) => ({ url }) }));
