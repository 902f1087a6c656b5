import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where mcpshare keeps per-user files (DESIGN.md, "Where things live"). Everything derives from
 * HOME at call time, so tests (and a user's `HOME=… mcpshare`) get a self-contained tree.
 */
export interface UserPaths {
  home: string;
  /** Secret env files: `~/.config/mcp/NAME.env` (0700 dir, 0600 files). */
  secretsDir: string;
  /** systemd user units. */
  systemdDir: string;
  /** macOS LaunchAgents. */
  launchAgentsDir: string;
  /** Daemon logs, one file per server. */
  logDir: string;
  /** Runtime state of the built-in supervisor (its socket and state file). */
  stateDir: string;
}

export function userPaths(env: NodeJS.ProcessEnv = process.env): UserPaths {
  const home = env.HOME || homedir();
  const config = env.XDG_CONFIG_HOME || join(home, '.config');
  const state =
    process.platform === 'darwin'
      ? join(home, 'Library', 'Application Support', 'mcpshare')
      : join(env.XDG_STATE_HOME || join(home, '.local', 'state'), 'mcpshare');
  return {
    home,
    secretsDir: join(config, 'mcp'),
    systemdDir: join(config, 'systemd', 'user'),
    launchAgentsDir: join(home, 'Library', 'LaunchAgents'),
    logDir: process.platform === 'darwin' ? join(home, 'Library', 'Logs', 'mcpshare') : join(state, 'logs'),
    stateDir: state,
  };
}

export const envFilePath = (p: UserPaths, name: string) => join(p.secretsDir, `${name}.env`);
export const logFilePath = (p: UserPaths, name: string) => join(p.logDir, `${name}.log`);
export const unitName = (name: string) => `mcp-${name}.service`;
export const launchdLabel = (name: string) => `dev.mcpshare.${name}`;
