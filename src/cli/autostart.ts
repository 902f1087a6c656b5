import { autostartStatus, disableAutostart, enableAutostart, type AutostartOptions, type AutostartStatus } from '../tray/autostart.js';
import { parseCommandLine } from '../util/args.js';
import { McpshareError } from '../errors.js';

export const autostartUsage = `Usage: mcpshare autostart [on|off|status] [--json] [--no-start]

Starts the mcpshare tray at every login (status is the default).

  on          Linux: writes ~/.config/autostart/mcpshare-tray.desktop, which your desktop session
              runs at login. macOS: writes ~/Library/LaunchAgents/dev.mcpshare.tray.plist and loads
              it with launchctl, which starts the tray now; launchd restarts it if it crashes, and a
              tray you quit from its menu stays quit until the next login.
  off         removes that file (macOS: unloads the agent first, which quits a tray launchd started)
  status      whether it is on, the file, and the command it runs
  --no-start  macOS: write the LaunchAgent but do not load it now (it loads at the next login)
  --json      the result as JSON

The entry runs this installation's node and CLI by absolute path ("node … cli.js tray"): a login
session does not read your shell profile. After moving or reinstalling mcpshare, run "on" again.
`;

/** Test hook: render the other platform's entry (e.g. a macOS LaunchAgent on Linux, with a fake launchctl). */
const PLATFORM_OVERRIDE = 'MCPSHARE_AUTOSTART_PLATFORM';

const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const showCommand = (argv: readonly string[]) => argv.map(shellWord).join(' ');
const out = (s: string) => process.stdout.write(s);

function launchdLine(s: AutostartStatus): string {
  if (s.platform !== 'darwin') return '';
  return `launchd: ${s.loaded ? `loaded${s.pid ? `, tray running (pid ${s.pid})` : ', tray not running'}` : 'not loaded'}\n`;
}

function describe(s: AutostartStatus): string {
  const lines = [
    `autostart: ${s.enabled ? 'on' : 'off'}${s.enabled ? ' (the tray starts at login)' : ''}`,
    `file: ${s.file}${s.enabled ? '' : ' (not there)'}`,
  ];
  if (s.foreign) lines.push('warning: that file was not written by "mcpshare autostart" (a server registered as "tray"?); mcpshare leaves it alone');
  else if (s.enabled && !s.upToDate)
    lines.push('note: the file differs from what this installation writes (another installation, or edited); "mcpshare autostart on" rewrites it');
  lines.push(`runs: ${showCommand(s.command)}`);
  return lines.join('\n') + '\n' + launchdLine(s);
}

export async function autostartCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { json: { type: 'boolean' }, 'no-start': { type: 'boolean' } });
  if (positionals.length > 1) throw new McpshareError('usage', `one action: on, off or status (got "${positionals.join(' ')}")`);
  const action = positionals[0] ?? 'status';
  if (!['on', 'off', 'status'].includes(action)) throw new McpshareError('usage', `unknown action "${action}": use on, off or status`);
  if (values['no-start'] && action !== 'on') throw new McpshareError('usage', '--no-start goes with "on"');
  const platform = process.env[PLATFORM_OVERRIDE];
  if (platform !== undefined && platform !== 'linux' && platform !== 'darwin')
    throw new McpshareError('usage', `${PLATFORM_OVERRIDE} must be "linux" or "darwin", got "${platform}"`);
  const opts: AutostartOptions = { platform: (platform as NodeJS.Platform | undefined) ?? process.platform, env: process.env, start: !values['no-start'] };

  if (action === 'status') {
    const s = await autostartStatus(opts);
    out(values.json ? JSON.stringify(s, null, 2) + '\n' : describe(s));
    return 0;
  }
  if (action === 'off') {
    const r = await disableAutostart(opts);
    if (values.json) {
      out(JSON.stringify(r, null, 2) + '\n');
      return 0;
    }
    for (const c of r.commands) out(`ran: launchctl ${c.join(' ')} (a tray launchd started has quit)\n`);
    out(r.removed ? `autostart off: removed ${r.file}\n` : `autostart was already off (no ${r.file})\n`);
    return 0;
  }
  const r = await enableAutostart(opts);
  if (values.json) {
    out(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  out(r.written ? `autostart on: wrote ${r.file}\n` : `autostart already on: ${r.file} (unchanged)\n`);
  out(`runs: ${showCommand(r.command)}\n`);
  for (const c of r.commands) out(`ran: launchctl ${c.join(' ')}\n`);
  if (r.platform === 'darwin') {
    out(r.loaded ? 'the tray is loaded in launchd: it runs now and at every login\n' : 'the tray starts at your next login\n');
  } else {
    out('the tray starts at your next desktop login ("mcpshare tray" starts it now)\n');
  }
  return 0;
}
