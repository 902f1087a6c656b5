/**
 * Hiding secrets that sit in command lines (`--api-key sk-…`, `--token=…`, a password inside a
 * connection string) from what mcpshare prints: reasons, hints, `--json` reports, dry-run diffs.
 * Display only: what is registered or written is never altered.
 */
const SECRET_FLAG = /^--?(?:[a-z0-9]+[-_])*(?:api[-_]?key|token|secret|password|passwd|pass|auth|credentials?|access[-_]?key|private[-_]?key|key)$/i;
const USERINFO_PASSWORD = /(\/\/[^:/@\s]+:)[^@\s]+@/g;

export const REDACTED = '<redacted>';

export function isSecretFlag(arg: string): boolean {
  return SECRET_FLAG.test(arg);
}

/** One argument on its own (a `--token=…` or a URL with a password). */
export function redactArg(arg: string): string {
  const eq = arg.indexOf('=');
  if (arg.startsWith('-') && eq > 0 && SECRET_FLAG.test(arg.slice(0, eq))) return `${arg.slice(0, eq + 1)}${REDACTED}`;
  return arg.replace(USERINFO_PASSWORD, `$1${REDACTED}@`);
}

/** A command line with the values of secret-looking flags hidden. */
export function redactArgs(args: readonly string[]): string[] {
  return args.map((a, i) => (i > 0 && SECRET_FLAG.test(args[i - 1]) && !a.startsWith('-') ? REDACTED : redactArg(a)));
}

/** `command args…` for people, secrets hidden. */
export function showCommand(command: string, args: readonly string[]): string {
  return [command, ...redactArgs(args)].join(' ');
}
