#!/usr/bin/env node
/**
 * The demo MCP server that ships with mcpshare: a small stdio server so `mcpshare demo` works on a
 * fresh machine with nothing else installed. Its `whoami` tool returns the server's pid — every
 * session connected through the bridge sees the same one, which is the whole point.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { VERSION } from '../version.js';

const startedAt = Date.now();
let calls = 0;
const server = new McpServer({ name: 'mcpshare-demo', version: VERSION }, { capabilities: { logging: {} } });

server.registerTool('echo', { description: 'Echoes the text back', inputSchema: { text: z.string() } }, async ({ text }) => {
  calls++;
  return { content: [{ type: 'text', text }] };
});

server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => {
  calls++;
  return { content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } };
});

server.registerTool('whoami', { description: 'Reports which server process answered: shared sessions all see the same pid' }, async () => {
  calls++;
  const info = { pid: process.pid, uptimeSec: Math.round((Date.now() - startedAt) / 1000), callsServed: calls };
  return { content: [{ type: 'text', text: JSON.stringify(info) }], structuredContent: info };
});

server.registerTool(
  'countdown',
  {
    description: 'Counts down with a progress notification per step',
    inputSchema: { steps: z.number().int().min(1).max(100).default(5), delayMs: z.number().int().min(0).max(5000).default(100) },
  },
  async ({ steps, delayMs }, extra) => {
    calls++;
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      await new Promise((r) => setTimeout(r, delayMs));
      if (extra.signal.aborted) throw new Error('cancelled');
      if (token !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
      }
    }
    return { content: [{ type: 'text', text: `counted down ${steps} steps` }] };
  },
);

await server.connect(new StdioServerTransport());
