import { enableLinger, LINGER_EXPLANATION, lingerCommand } from '../units/linger.js';
import { runSupervisor } from '../units/supervisor-daemon.js';
import { parseCommandLine } from '../util/args.js';

export const superviseUsage = `Usage: mcpshare supervise [--idle]

Runs the built-in supervisor in the foreground: starts every registered server and restarts the
ones that crash, up to their restart burst (then "crash-loop"). Used where there is no systemd user
manager or launchd (containers, WSL); "mcpshare start" launches one in the background when needed.

  --idle   start no server now; wait for "mcpshare start NAME"
`;

export async function superviseCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { idle: { type: 'boolean' } }, false);
  return runSupervisor({ idle: values.idle });
}

export const lingerUsage = `Usage: mcpshare enable-linger [--dry-run]

${LINGER_EXPLANATION}
Runs "loginctl enable-linger $USER" (may ask for your password). --dry-run only prints it.
`;

export async function lingerCommandCli(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { 'dry-run': { type: 'boolean' } }, false);
  const [cmd, args] = lingerCommand();
  process.stdout.write(LINGER_EXPLANATION);
  if (values['dry-run']) {
    process.stdout.write(`would run: ${cmd} ${args.join(' ')}\n`);
    return 0;
  }
  process.stdout.write(`running: ${cmd} ${args.join(' ')}\n`);
  await enableLinger();
  process.stdout.write('lingering enabled: your shared servers now start at boot\n');
  return 0;
}
