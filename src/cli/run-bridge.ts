import { startBridge, type BridgeOptions } from '../bridge/bridge.js';

/** The `.mcp.json` entry that points a client at a bridge. */
export function mcpJsonSnippet(name: string, port: number): string {
  return JSON.stringify({ mcpServers: { [name]: { type: 'http', url: `http://localhost:${port}/mcp` } } }, null, 2);
}

/**
 * Runs a bridge in the foreground until SIGINT/SIGTERM or a crash loop. Returns the process exit
 * code: 0 when stopped on request, 1 when the child kept dying (so systemd/launchd count it).
 */
export async function runBridgeForeground(options: BridgeOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  // Whoever reads our output may go away (a closed pipe): a failed log write must not become an
  // exception whose report fails the same way, in a loop.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const bridge = await startBridge(options);
  const log = bridge.log;
  process.on('exit', () => bridge.killChildNow());
  // A fault in one request must not take every session down with it.
  process.on('uncaughtException', (err) => log.error(`unexpected error (bridge keeps running): ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection (bridge keeps running): ${String(err)}`));
  let stopping = false;
  const stop = (sig: NodeJS.Signals) => {
    // systemd (KillMode=control-group) delivers SIGTERM to the main process twice: only a repeated
    // SIGINT (a person pressing Ctrl-C again) means "stop waiting".
    if (stopping && sig === 'SIGTERM') return;
    if (stopping) {
      // A second Ctrl-C: stop waiting, but never orphan the child's process group.
      log.warn(`${sig} received again: killing the MCP server now`);
      bridge.killChildNow();
      process.exit(130);
    }
    stopping = true;
    log.info(`${sig} received: stopping`);
    void bridge.close();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  out.write(
    `mcpshare bridge "${options.name}" listening on ${bridge.url}\n` +
      `  Streamable HTTP: ${bridge.url}/mcp\n` +
      `  SSE:             ${bridge.url}/sse\n` +
      `  Status:          ${bridge.url}/status\n` +
      `Put this in your project's .mcp.json (every session then shares this one server):\n` +
      `${mcpJsonSnippet(options.name, bridge.port)}\n`,
  );
  const exit = await bridge.done;
  if (exit.code !== 0) process.stderr.write(`mcpshare: ${exit.reason}\n`);
  return exit.code;
}
