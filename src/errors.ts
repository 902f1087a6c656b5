/**
 * mcpshare's one error type. Every failure a person or a script may see carries a stable `code`
 * (scripts, tests and the tray act on it; the message may be reworded), a message that says what
 * to do, the `cause` it came from, and a typed `context` for the programs that act on the details.
 * The exit code of the CLI is decided here and nowhere else (exitCodeOf).
 */

/** The facts each code carries besides its message; `object` when there are none. */
interface Contexts {
  /** A bad command line or option value: the person must change what they typed. */
  usage: object;
  /** A server name that cannot become a file or unit name, or is reserved. */
  'invalid-name': object;
  'unknown-server': { name: string };
  'duplicate-server': { name: string };
  /** The registry file is not JSON or cannot be read; it was left untouched. */
  'registry-unreadable': { file: string };
  /** The registry is JSON but an entry is not what mcpshare wrote (a hand edit); left untouched. */
  'registry-invalid': { file: string; server?: string; field?: string };
  /** A port another program listens on. */
  'port-in-use': { port: number };
  /** A port another registered server owns. */
  'port-taken': { port: number; owner: string };
  'no-free-port': { first: number; last: number };
  /** Listening failed for another reason than a busy port (permission, no such address). */
  'listen-failed': { host: string; port: number };
  /** A file or directory the person named does not exist (or is not what it should be). */
  'not-found': { path: string };
  'command-not-found': { command: string };
  /** A program mcpshare drives (systemctl, launchctl, loginctl, ps) is not installed. */
  'tool-missing': { tool: string };
  /** The service manager asked for cannot be used here. */
  'backend-unavailable': object;
  'config-unreadable': { file: string };
  'config-corrupt': { file: string };
  /** Valid JSON whose shape mcpshare cannot edit (a section that is not an object). */
  'config-shape': { file: string };
  /** Another program holds a client config's lock. */
  'config-locked': { file: string };
  'json-syntax': { line?: number; column?: number };
  /** The tray binary could not be shown (`reason` tells the tray's headless policy what to do). */
  'tray-start': { reason: TrayStartReason; stderr: string };
  /** The process list could not be read. */
  'process-scan': object;
  /** The MCP server behind a bridge did not answer a request of the bridge's own in time. */
  'upstream-timeout': { method: string; timeoutMs: number };
  /** The MCP server behind a bridge is not running, or not ready: retry once it is back. */
  'upstream-unavailable': object;
}

export type TrayStartReason = 'no-display' | 'missing-library' | 'no-binary' | 'exited' | 'timeout';

export type ErrorCode = keyof Contexts;
export type ErrorContext<C extends ErrorCode> = Contexts[C];

type Options<C extends ErrorCode> = { cause?: unknown } & (object extends Contexts[C] ? { context?: Contexts[C] } : { context: Contexts[C] });
/** The options argument is required exactly when the code carries required context. */
type OptionsArg<C extends ErrorCode> = object extends Contexts[C] ? [options?: Options<C>] : [options: Options<C>];

export class McpshareError<C extends ErrorCode = ErrorCode> extends Error {
  override name = 'McpshareError';
  readonly code: C;
  readonly context: Contexts[C];

  constructor(code: C, message: string, ...[options]: OptionsArg<C>) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = (options?.context ?? {}) as Contexts[C];
  }
}

/** True when `err` is an McpshareError with one of `codes` (any code when none are given); narrows its context. */
export function isMcpshareError<C extends ErrorCode>(err: unknown, ...codes: C[]): err is McpshareError<C> {
  return err instanceof McpshareError && (codes.length === 0 || codes.includes(err.code as C));
}

/**
 * The process exit code for an error that ended a command: 2 when the person must change what they
 * typed, 1 for every other failure (a busy port, a missing tool, a corrupt file are not usage errors).
 */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = { usage: 2 };

export function exitCodeOf(err: unknown): number {
  return err instanceof McpshareError ? (EXIT_CODES[err.code as ErrorCode] ?? 1) : 1;
}
