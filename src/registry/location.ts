import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where conf keeps the registry when no directory is given (env-paths' config dir for "mcpshare",
 * with registry.ts's suffix). Its own module so a caller can look for the file without loading conf.
 */
export function defaultRegistryDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = homedir();
  if (process.platform === 'darwin') return join(home, 'Library', 'Preferences', 'mcpshare-nodejs');
  if (process.platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), 'mcpshare', 'Config');
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'mcpshare');
}
