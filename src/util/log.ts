/**
 * A tiny leveled logger writing single lines to stderr (stdout of a bridge is never used for
 * protocol, but keeping logs on stderr lets systemd/launchd capture them in one place).
 * Values that look like secrets are redacted before they are written.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  child(scope: string): Logger;
}

const SECRET_PATTERNS: RegExp[] = [
  /(authorization:\s*bearer\s+)[^\s"']+/gi,
  /((?:token|secret|password|passwd|api[_-]?key|access[_-]?key)["']?\s*[:=]\s*["']?)[^\s"'&,}]+/gi,
  /(\/\/[^/\s:@]+:)[^@\s/]+(@)/g, // credentials inside URLs: scheme://user:PASS@host
];

export function redact(text: string, extraSecrets: readonly string[] = []): string {
  let out = text;
  for (const secret of extraSecrets) {
    if (secret.length >= 4) out = out.split(secret).join('***');
  }
  for (const re of SECRET_PATTERNS) out = out.replace(re, (_m, a: string, b?: string) => `${a}***${typeof b === 'string' ? b : ''}`);
  return out;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Exact values (env-file secrets, bearer tokens) that must never reach the log. */
  secrets?: readonly string[];
  write?: (line: string) => void;
}

export function createLogger(scope: string, options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? (process.env.MCPSHARE_LOG_LEVEL as LogLevel) ?? 'info'] ?? ORDER.info;
  const secrets = options.secrets ?? [];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: LogLevel, msg: string) => {
    if (ORDER[level] < min) return;
    try {
      write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${redact(msg, secrets)}`);
    } catch {
      // A log line that cannot be written is lost; the request it describes must not be.
    }
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    child: (sub) => createLogger(`${scope}:${sub}`, options),
  };
}
