import { readFileSync } from 'node:fs';

/**
 * Parses a dotenv-style file: KEY=VALUE lines, `export KEY=VALUE`, # comments, optional single or
 * double quotes. The same syntax is valid for systemd's EnvironmentFile= and for `sh -c '. file'`,
 * so one file serves the bridge, systemd and launchd.
 */
export function parseEnv(text: string, source = 'env file'): Record<string, string> {
  const env: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${source}:${i + 1}: expected KEY=VALUE, got "${line.slice(0, 40)}"`);
    let value = m[2];
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\$`n])/g, (_x, c: string) => (c === 'n' ? '\n' : c));
    }
    env[m[1]] = value;
  });
  return env;
}

export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read env file ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err)}`, {
      cause: err,
    });
  }
  return parseEnv(text, path);
}

/** Quotes a value so that parseEnv, systemd's EnvironmentFile= and POSIX sh all read it back unchanged. */
export function formatEnvValue(value: string): string {
  if (/^[A-Za-z0-9_./:@+-]*$/.test(value)) return value;
  return `"${value.replace(/(["\\$`])/g, '\\$1').replace(/\n/g, '\\n')}"`;
}
