import { Daemons } from '../health/daemons.js';
import { ServerManager } from '../units/manager.js';
import { followFile, tailLines } from '../units/logs.js';
import { logFilePath } from '../registry/paths.js';
import type { ServerStatus } from '../units/status.js';
import { intOption, parseCommandLine, secondsOption } from '../util/args.js';
import { McpshareError } from '../errors.js';
import { statusLine, statusTable } from './format.js';

/** `start`, `stop`, `restart`, `status`, `logs`: the daemon side of the CLI. */

function targets(manager: ServerManager, positionals: string[], all: boolean | undefined, verb: string): string[] {
  if (all && positionals.length) throw new McpshareError('usage', 'give server names or --all, not both');
  if (all) return manager.list().map((e) => e.name);
  if (positionals.length === 0) throw new McpshareError('usage', `which server? mcpshare ${verb} NAME (or --all)`);
  for (const name of positionals) manager.registry.require(name);
  return positionals;
}

const ok = (s: ServerStatus, wanted: 'up' | 'stopped') => s.state === wanted;

function lifecycle(verb: 'start' | 'stop' | 'restart') {
  return async (argv: string[]): Promise<number> => {
    const { values, positionals } = parseCommandLine(argv, { all: { type: 'boolean' }, wait: { type: 'string' } });
    const daemons = new Daemons(new ServerManager());
    const names = targets(daemons.manager, positionals, values.all, verb);
    const waitMs = secondsOption(values.wait, 'wait') ?? 30_000;
    let failures = 0;
    // One at a time: systemctl and the supervisor serialise anyway, and the output stays in order.
    for (const name of names) {
      try {
        const s =
          verb === 'stop' ? await daemons.stop(name) : verb === 'start' ? await daemons.start(name, { waitMs }) : await daemons.restart(name, { waitMs });
        process.stdout.write(statusLine(s));
        if (!ok(s, verb === 'stop' ? 'stopped' : 'up')) failures++;
      } catch (err) {
        failures++;
        process.stderr.write(`${name}: ${(err as Error).message}\n`);
      }
    }
    return failures ? 1 : 0;
  };
}

const lifecycleUsage = (verb: string, what: string) => `Usage: mcpshare ${verb} NAME... | --all${verb === 'stop' ? '' : ' [--wait SEC]'}

${what}
`;

export const startUsage = lifecycleUsage(
  'start',
  'Starts the daemons (clearing a crash loop) and waits up to --wait seconds (default 30) until each is up.\nExit status 1 when one is not up by then; its log path is printed.',
);
export const stopUsage = lifecycleUsage('stop', 'Stops the daemons. They start again at the next login; "mcpshare remove" deletes one for good.');
export const restartUsage = lifecycleUsage('restart', 'Restarts the daemons (clients keep their configuration; they reconnect to the new process).');
export const startCommand = lifecycle('start');
export const stopCommand = lifecycle('stop');
export const restartCommand = lifecycle('restart');

export const statusUsage = `Usage: mcpshare status [NAME...] [--json]

One row per server: kind, URL, state (up, starting, down, stopped, crash-loop), restarts, pid,
memory and open sessions. --json prints {"servers": [...]} in the stable shape the README documents.
`;

export async function statusCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { json: { type: 'boolean' } });
  const rows = await new Daemons(new ServerManager()).status(positionals);
  if (values.json) process.stdout.write(JSON.stringify({ servers: rows }, null, 2) + '\n');
  else process.stdout.write(statusTable(rows));
  return 0;
}

export const logsUsage = `Usage: mcpshare logs NAME [-n LINES] [-f]

Prints the end of a daemon's log (default 50 lines); -f keeps printing what is appended.
`;

export async function logsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' } });
  if (positionals.length !== 1) throw new McpshareError('usage', 'give exactly one server NAME');
  const manager = new ServerManager();
  manager.registry.require(positionals[0]);
  const file = logFilePath(manager.paths, positionals[0]);
  const lines = intOption(values.lines, 'lines', 0, 1_000_000) ?? 50;
  if (!values.follow) {
    process.stdout.write(tailLines(file, lines));
    return 0;
  }
  try {
    process.stdout.write(tailLines(file, lines));
  } catch {
    process.stderr.write(`waiting for ${file}…\n`);
  }
  const stop = followFile(file, (text) => process.stdout.write(text));
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stop();
  return 0;
}
