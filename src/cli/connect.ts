import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { LineDecoder } from '../bridge/framing.js';
import { Relay } from '../connect/relay.js';
import { targetFor } from '../connect/target.js';
import { McpshareError } from '../errors.js';
import { parseCommandLine } from '../util/args.js';

export const connectUsage = `Usage: mcpshare connect NAME|URL [options]

A stdio MCP server that relays to a shared daemon, for clients that only start stdio servers
(Claude Desktop). The client talks JSON-RPC on stdin/stdout; every message goes to the daemon's
Streamable HTTP endpoint and every reply, notification and server request comes back, including
progress, sampling, elicitation and roots. When the daemon restarts, the session is restored on
its own: the client does not notice. Logs go to stderr; stdout carries only the protocol.

  mcpshare connect memory                       a registered server (see "mcpshare list")
  mcpshare connect http://localhost:8003/mcp    any Streamable HTTP endpoint

In a client's config (Claude Desktop's claude_desktop_config.json), with absolute paths because a
desktop app's PATH rarely has node or mcpshare, and with the shim's memory flags:
  "memory": { "command": "/usr/bin/node",
              "args": ["--max-semi-space-size=1", "--no-opt", "--no-maglev", "--no-sparkplug",
                       "/usr/lib/node_modules/mcpshare/dist/cli.js", "connect", "memory"] }
"mcpshare connect memory" works too (the CLI's own flags: a few MB more per shim).

Options:
  --retry S   how long to wait for a daemon that does not answer (restarting) before a request
              gets an error (default 10)
Environment:
  MCPSHARE_TOKEN   sent as "Authorization: Bearer" (a daemon started with --token)
`;

export async function connectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { retry: { type: 'string' } });
  if (positionals.length !== 1) throw new McpshareError('usage', 'give one server name or URL (see "mcpshare list")');
  let retryMs = 10_000;
  if (values.retry !== undefined) {
    const n = Number(values.retry);
    if (!Number.isFinite(n) || n < 0) throw new McpshareError('usage', `--retry must be a number of seconds (0 or more), got "${values.retry}"`);
    retryMs = Math.round(n * 1000);
  }
  const target = targetFor(positionals[0]);
  const log = (line: string) => process.stderr.write(`mcpshare connect: ${line}\n`);
  // Said once at start so it is in the client's server log; each request then gets it as its error.
  try {
    target.resolve();
  } catch (err) {
    log(`${(err as Error).message}; every request will be answered with this error`);
  }

  const relay = new Relay({
    target,
    write: (m: JSONRPCMessage) => process.stdout.write(JSON.stringify(m) + '\n'),
    log,
    retryMs,
    token: process.env.MCPSHARE_TOKEN || undefined,
  });

  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      if (why) log(why);
      void relay.close().then(() => resolve(0));
    };
    const decoder = new LineDecoder();
    process.stdin.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if ('message' in frame) relay.receive(frame.message);
        else log(`skipped a line from the client that is not a JSON-RPC message: ${frame.junk.slice(0, 200)}`);
      }
    });
    // The stdio transport's end of session: the client closes our stdin (then may signal us).
    process.stdin.once('end', () => finish(''));
    process.stdin.once('error', (err) => finish(`stdin: ${err.message}`));
    process.stdout.once('error', (err) => finish(`stdout: ${err.message}`)); // the client is gone (EPIPE)
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => finish(''));
  });
}
