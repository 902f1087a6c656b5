import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatEnvValue, parseEnv } from '../util/envfile.js';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * Secret env files: `~/.config/mcp/NAME.env`, directory 0700, file 0600. Units and plists only
 * point at the file (systemd EnvironmentFile=, launchd `sh -c '. FILE'`), so a connection string or
 * API key never appears in the registry, a unit, a plist, `.mcp.json` or a process listing.
 */
export function writeEnvFile(path: string, env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    // systemd's EnvironmentFile= and `sh -c '. FILE'` would each read a newline differently.
    if (/[\r\n\0]/.test(v))
      throw new Error(
        `the value of ${k} contains a line break or NUL byte, which env files cannot carry the same way to systemd, launchd and the bridge; put it on one line`,
      );
  }
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const body =
    '# Written by mcpshare. Secrets for this server; keep this file private (mode 0600).\n' +
    Object.entries(env)
      .map(([k, v]) => `${k}=${formatEnvValue(v)}`)
      .join('\n') +
    '\n';
  writeFileAtomic(path, body, 0o600);
}

/** Existing variables of an env file (empty when it does not exist yet). */
export function readEnvIfExists(path: string): Record<string, string> {
  return existsSync(path) ? parseEnv(readFileSync(path, 'utf8'), path) : {};
}

export function removeEnvFile(path: string): void {
  rmSync(path, { force: true });
}

/** Parses repeated `--env KEY=VALUE` options. */
export function parseEnvAssignments(list: readonly string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(kv.slice(0, eq)))
      throw new Error(`--env expects KEY=VALUE with a shell-style KEY, got "${kv.split('=')[0]}=…"`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}
