import { McpshareError } from '../errors.js';
import { quitTray, runTrayProcess } from '../tray/lifecycle.js';
import { parseCommandLine } from '../util/args.js';

export const trayUsage = `Usage: mcpshare tray [--interval SEC] [--no-start] [--demo]
       mcpshare tray --quit [--stop-daemons]

Shows a tray icon (green: all servers up, amber: some down or starting, red: a crash loop, grey:
all stopped) with one menu row per registered server: its state, port, sessions and memory. Click a
server to start or stop it. The menu also has Start all / Stop all, Restart and Show log per server,
"Write .mcp.json…" (pick a project folder; its .mcp.json then points at the shared daemons),
"Use shared servers for all projects" (the user scope in ~/.claude.json), "Revert last config
change", "Memory report" (what "mcpshare doctor" shows) and "Start at login".

A desktop notification says when a daemon hits its restart limit, and when it is back up.
At start the tray starts the registered daemons that are stopped (unless --no-start). Quitting the
tray leaves the daemons running; "Quit and stop all servers" stops them too.

  --interval SEC    seconds between health checks (default 10)
  --no-start        do not start stopped daemons when the tray starts
  --demo            when no server is registered yet, register the bundled demo server as "demo"
                    (port 8000, or the first free port from 8001) so there is something to share;
                    without a desktop, exit 0 once the daemons are up (their URLs are printed)
  --quit            stop the running tray (daemons keep running)
  --stop-daemons    with --quit: stop every daemon as well

The tray's log: ~/.local/state/mcpshare/logs/tray.log (macOS: ~/Library/Logs/mcpshare/tray.log).
`;

export async function trayCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(
    argv,
    {
      interval: { type: 'string' },
      'no-start': { type: 'boolean' },
      demo: { type: 'boolean' },
      quit: { type: 'boolean' },
      'stop-daemons': { type: 'boolean' },
    },
    false,
  );
  if (values['stop-daemons'] && !values.quit) throw new McpshareError('usage', '--stop-daemons goes with --quit');
  if (values.quit) return quitTray(!!values['stop-daemons']);
  const interval = values.interval === undefined ? 10 : Number(values.interval);
  if (!Number.isFinite(interval) || interval < 0.5) throw new McpshareError('usage', `--interval wants seconds (0.5 or more), not "${values.interval}"`);
  return runTrayProcess({ interval, noStart: values['no-start'], demo: values.demo });
}
