import { fileURLToPath } from 'node:url';
import { intOption, parseCommandLine } from '../util/args.js';
import { runBridgeForeground } from './run-bridge.js';

export const demoUsage = `Usage: mcpshare demo [--port N]

Runs the bridge in front of the small demo MCP server bundled with mcpshare, so you can
point several sessions at one shared server right away (default port 8000).
`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { port: { type: 'string' }, host: { type: 'string' } }, false);
  const server = fileURLToPath(new URL('../demo/server.js', import.meta.url));
  return runBridgeForeground({
    name: 'mcpshare-demo',
    command: process.execPath,
    args: [server],
    host: values.host,
    port: intOption(values.port, 'port', 0, 65535) ?? 8000,
  });
}
