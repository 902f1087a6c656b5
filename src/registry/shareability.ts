import { spawn, type ChildProcess } from 'node:child_process';
import { lookupKnown, type KnownServer } from './known-servers.js';

/**
 * Whether one instance of a server can serve many sessions, decided from known-servers.ts (the one
 * data file of what mcpshare knows). `import` refines "unknown" by reading the server's `--help`.
 */
export type Verdict = 'shareable' | 'per-session' | 'unknown';

export interface Shareability {
  verdict: Verdict;
  /** For people: why it is shared, kept per session, or undecided. */
  reason: string;
  known?: KnownServer;
}

export function shareabilityOf(command: string, args: readonly string[]): Shareability {
  const known = lookupKnown(command, args);
  if (!known) return { verdict: 'unknown', reason: 'not a server mcpshare knows; it is shareable if it keeps no per-session state' };
  if (known.sharing === 'stateful') return { verdict: 'per-session', reason: `${known.id} ${known.reason ?? 'keeps per-session state'}`, known };
  return {
    verdict: 'shareable',
    reason: known.native ? `${known.id} is stateless and can serve HTTP itself (${known.native.transportFlag})` : `${known.id} is stateless`,
    known,
  };
}

// ---------------------------------------------------------------------------------------------
// Refining "unknown" from the server's own --help

/** What a server's `--help` says about serving HTTP/SSE itself. */
export interface HelpFindings {
  /** The command started and printed something. */
  ran: boolean;
  /** Transport-related flags its help mentions (`--transport`, `--port`, …), in order of appearance. */
  flags: string[];
  /** Network transports the help mentions besides stdio. */
  transports: ('http' | 'sse')[];
  /** It can probably serve HTTP or SSE itself (a transport flag, or a port flag next to "sse"/"streamable-http"). */
  native: boolean;
  /** One sentence for people. */
  message: string;
}

const TRANSPORT_FLAG = /^--(transport|http|sse|streamable-?http|server-?type)$/i;
const PORT_FLAG = /^--(http[-_]?port|sse[-_]?port|port|listen|address|bind)$/i;
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Reads help text (pure; tested directly). */
export function readHelp(text: string): Omit<HelpFindings, 'ran' | 'message'> {
  const clean = text.replace(ANSI, '');
  const flags: string[] = [];
  for (const m of clean.matchAll(/(?<![\w-])--[A-Za-z][A-Za-z0-9_-]*/g)) {
    const f = m[0];
    if ((TRANSPORT_FLAG.test(f) || PORT_FLAG.test(f)) && !flags.includes(f)) flags.push(f);
  }
  const transports: ('http' | 'sse')[] = [];
  if (/streamable[-_ ]?http|--http\b|\bhttp transport/i.test(clean)) transports.push('http');
  if (/\bsse\b/i.test(clean)) transports.push('sse');
  const hasTransportFlag = flags.some((f) => TRANSPORT_FLAG.test(f));
  const hasPortFlag = flags.some((f) => PORT_FLAG.test(f));
  return { flags, transports, native: hasTransportFlag || (hasPortFlag && transports.length > 0) };
}

export interface HelpOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default 5000 ms: `npx -y` may first download the package; a server that ignores --help is killed. */
  timeoutMs?: number;
}

const HELP_OUTPUT_LIMIT = 256 * 1024;

/**
 * Runs `COMMAND ARGS --help` (no shell, stdin closed, its own process group) and reads what it says.
 * Never throws and never hangs: a server that ignores --help and starts serving is killed with its
 * whole group (npx/uvx grandchildren included) after the timeout, and the group is killed after a
 * normal exit too, so nothing it spawned outlives the check.
 */
export function helpFindings(command: string, args: readonly string[], opts: HelpOptions = {}): Promise<HelpFindings> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve) => {
    let out = '';
    let settled = false;
    let timedOut = false;
    let child: ChildProcess;
    const killGroup = () => {
      if (child?.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    const finish = (startError?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      killGroup();
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      if (startError) {
        resolve({ ran: false, flags: [], transports: [], native: false, message: `could not run "${command} --help": ${startError.message}` });
        return;
      }
      const found = readHelp(out);
      const ran = out.trim().length > 0;
      const message = !ran
        ? timedOut
          ? `"${command} … --help" printed nothing within ${timeoutMs / 1000} s`
          : `"${command} … --help" printed nothing`
        : found.native
          ? `its --help mentions ${found.flags.join(', ')}${found.transports.length ? ` (${found.transports.join(', ')})` : ''}: it can probably serve HTTP itself`
          : 'its --help mentions no HTTP/SSE transport flags';
      resolve({ ran, ...found, message });
    };
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
      // Give the pipes a moment to drain what was printed before the kill.
      grace = setTimeout(() => finish(), 300);
    }, timeoutMs);
    try {
      child = spawn(command, [...args, '--help'], {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        shell: false,
      });
    } catch (err) {
      finish(err as Error);
      return;
    }
    const take = (d: Buffer) => {
      if (out.length < HELP_OUTPUT_LIMIT) out += d.toString('utf8');
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.once('error', (err) => finish(err));
    child.once('close', () => finish());
    // A grandchild may hold the pipes open after the command exits: kill the group, read what is
    // left in the pipes, and stop waiting shortly after either way.
    child.once('exit', () => {
      killGroup();
      clearTimeout(grace);
      grace = setTimeout(() => finish(), 300);
    });
  });
}

/** The words that put a known server in its HTTP mode on `port`: e.g. `--transport http --httpPort 8010`. */
export function nativeFlagWords(native: NonNullable<KnownServer['native']>, port: number | string): string[] {
  const words = native.transportFlag.split(' ');
  if (native.portFlag) words.push(native.portFlag, (native.portValue ?? '{port}').replace('{port}', String(port)));
  return words;
}
