import { checkEntry, deepCheck, type ServerCheck } from '../health/check.js';
import { Daemons } from '../health/daemons.js';
import { HealthMonitor } from '../health/monitor.js';
import { probe } from '../health/probe.js';
import type { ProbeResult, Transport } from '../health/types.js';
import type { ServerEntry } from '../registry/registry.js';
import { ServerManager } from '../units/manager.js';
import { parseCommandLine, secondsOption } from '../util/args.js';
import { McpshareError } from '../errors.js';

/** `mcpshare check`: handshake health of registered daemons (or any loopback URL). Logic lives in src/health. */

export const checkUsage = `Usage: mcpshare check [NAME... | URL] [options]

Proves each shared daemon really speaks MCP: a real initialize handshake (then DELETE, so no
session is left behind) over Streamable HTTP, or GET /sse up to its "endpoint" event over SSE.
Says what is wrong when it does not: refused (not running), silent (port open but the server is
in stdio mode), wrong path or transport (and which URL works), an HTTP error, not MCP, not loopback.

  mcpshare check                     every registered server
  mcpshare check memory              one registered server
  mcpshare check http://localhost:8001/mcp
  mcpshare check http://localhost:8002/sse --transport sse

Options:
  --concurrency        also open two sessions at once and prove both work (catches single-client servers)
  --deep               also start a sleeping server ("idle": the handshake alone is answered from its
                       discovery snapshot) and wait until it is ready
  --transport http|sse for a URL (default: sse when the path ends in /sse, else http); --type works too
  --timeout S          per-step timeout in seconds (default 3)
  --watch              keep checking every --interval seconds and print each change of state
  --interval S         with --watch (default 30)
  --json               machine-readable output
Exit status: 0 when every server checked is up, 1 otherwise.
`;

export async function checkCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    json: { type: 'boolean' },
    concurrency: { type: 'boolean' },
    deep: { type: 'boolean' },
    transport: { type: 'string' },
    type: { type: 'string' },
    timeout: { type: 'string' },
    watch: { type: 'boolean' },
    interval: { type: 'string' },
  });
  if (values.type !== undefined && values.transport !== undefined) throw new McpshareError('usage', 'give --transport or --type, not both');
  values.transport ??= values.type; // "type" is what .mcp.json calls it
  const timeoutMs = secondsOption(values.timeout, 'timeout') ?? 3000;
  const opts = { timeoutMs, concurrency: values.concurrency };
  const urls = positionals.filter((p) => /^[a-z]+:\/\//i.test(p));
  if (urls.length && urls.length !== positionals.length) throw new McpshareError('usage', 'give server names or one URL, not both');
  if (urls.length > 1) throw new McpshareError('usage', 'give one URL at a time');
  if (values.transport !== undefined && values.transport !== 'http' && values.transport !== 'sse')
    throw new McpshareError('usage', `--transport must be "http" or "sse", got "${values.transport}"`);
  if (values.transport && !urls.length) throw new McpshareError('usage', '--transport is for a URL; a registered server knows its transport');
  if (values.deep && urls.length) throw new McpshareError('usage', '--deep starts the server behind a registered daemon; give names or nothing');
  if (values.watch) {
    if (urls.length) throw new McpshareError('usage', '--watch follows registered servers; give names or nothing');
    return watch(positionals, secondsOption(values.interval, 'interval') ?? 30_000, timeoutMs, !!values.json);
  }
  if (values.interval !== undefined) throw new McpshareError('usage', '--interval goes with --watch');

  let results: (ServerCheck | ProbeResult)[];
  if (urls.length) {
    let path: string;
    try {
      path = new URL(urls[0]).pathname;
    } catch {
      throw new McpshareError('usage', `"${urls[0]}" is not a valid URL; give it as http://localhost:PORT/mcp (or /sse)`);
    }
    const transport = (values.transport as Transport | undefined) ?? (/\/sse\/?$/.test(path) ? 'sse' : 'http');
    results = [await probe({ url: urls[0], transport }, opts)];
  } else {
    const manager = new ServerManager();
    const entries = positionals.length ? positionals.map((n) => manager.registry.require(n)) : manager.list();
    if (entries.length === 0) {
      process.stdout.write('No servers registered yet. Add one with: mcpshare add NAME -- COMMAND [ARGS...]\n');
      return 0;
    }
    const daemons = new Daemons(manager);
    results = await Promise.all(
      entries.map(async (e) => {
        const check = await checkEntry(e, await daemons.statusOf(e), opts);
        return values.deep ? deepCheck(e, check) : check;
      }),
    );
  }
  if (values.json) process.stdout.write(JSON.stringify({ checks: results }, null, 2) + '\n');
  else process.stdout.write(results.map(describe).join(''));
  return results.every((r) => r.ok) ? 0 : 1;
}

function describe(r: ServerCheck | ProbeResult): string {
  const label = 'name' in r ? `${r.name} (${r.url})` : r.url;
  const daemon = 'daemon' in r ? r.daemon : undefined;
  const head = `${r.ok ? '✔' : '✘'} ${label}: ${r.diagnosis}: ${r.message}${daemon?.idle ? ' (idle: its server sleeps until a request needs it)' : ''}`;
  const lines = [head];
  const deep = 'deep' in r ? r.deep : undefined;
  if (deep?.ok)
    lines.push(`    deep: ${deep.was === 'idle' ? `its server was asleep and started in ${deep.ms} ms` : 'its server is running'} (pid ${deep.pid ?? '?'})`);
  if (r.concurrency && r.ok) lines.push(`    ${r.concurrency.message}`);
  if (!r.ok && r.fix) lines.push(`    fix: ${r.fix}`);
  return lines.join('\n') + '\n';
}

async function watch(names: string[], intervalMs: number, timeoutMs: number, json: boolean): Promise<number> {
  const daemons = new Daemons(new ServerManager());
  for (const n of names) daemons.manager.registry.require(n);
  const source = {
    list: () => daemons.list().filter((e) => !names.length || names.includes(e.name)),
    statusOf: (e: ServerEntry) => daemons.statusOf(e),
  };
  const monitor = new HealthMonitor(source, { intervalMs, timeoutMs });
  monitor.on('change', (h, prev) => {
    const at = new Date(h.checkedAt).toISOString();
    if (json) process.stdout.write(JSON.stringify({ at, name: h.name, state: h.state, previous: prev?.state ?? null, detail: h.detail }) + '\n');
    else process.stdout.write(`${at} ${h.name}: ${prev ? `${prev.state} → ` : ''}${h.state}${h.state === 'up' ? '' : ` (${h.detail})`}\n`);
  });
  monitor.on('removed', (h) =>
    process.stdout.write(json ? JSON.stringify({ name: h.name, state: 'removed' }) + '\n' : `${h.name}: removed from the registry\n`),
  );
  monitor.on('error', (err) => process.stderr.write(`check: ${err.message}\n`));
  monitor.start();
  // The monitor's timers do not hold the process: wait for a signal.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  monitor.stop();
  return 0;
}
