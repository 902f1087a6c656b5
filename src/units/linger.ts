import { userInfo } from 'node:os';
import { isMcpshareError, McpshareError } from '../errors.js';
import { runCommand, type CommandRunner } from './runner.js';

export const LINGER_EXPLANATION =
  'systemd starts user daemons when you log in and stops them when your last session ends. With\n' +
  '"lingering" enabled your user manager starts at boot and keeps running, so the shared MCP\n' +
  'servers are up before you open a terminal and survive logging out (ssh, remote sessions).\n';

/** The command that enables lingering for the current user. */
export function lingerCommand(user = userInfo().username): [string, string[]] {
  return ['loginctl', ['enable-linger', user]];
}

/** Runs `loginctl enable-linger USER`; errors say what to do instead of showing a stack. */
export async function enableLinger(run: CommandRunner = runCommand, user = userInfo().username): Promise<void> {
  const [cmd, args] = lingerCommand(user);
  let r;
  try {
    r = await run(cmd, args);
  } catch (err) {
    if (isMcpshareError(err, 'tool-missing')) {
      throw new McpshareError(
        'tool-missing',
        'loginctl is not installed: lingering needs systemd-logind (on a machine without systemd, start "mcpshare supervise" from your login scripts instead)',
        {
          cause: err,
          context: { tool: cmd },
        },
      );
    }
    throw err;
  }
  if (r.exitCode !== 0) {
    throw new Error(
      `"${cmd} ${args.join(' ')}" failed: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}` +
        '\nIf it asks for authentication, run it yourself with sudo.',
    );
  }
}
