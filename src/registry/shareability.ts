import { spawn, type ChildProcess } from 'node:child_process';
import type { ShareMode } from '../util/share-mode.js';
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
  /** The sharing mode it gets when added or imported (known-servers.ts `share`; 'global' otherwise). */
  share: ShareMode;
  /** For people: why that mode (and, for unknown servers, that 'global' is only the default). */
  shareReason: string;
}

const UNKNOWN_SHARE_REASON =
  "shared by every session (global) because mcpshare does not know it: if it scopes itself by the client's roots or a directory, use --share project; if it keeps per-session state, --share session";

export function shareabilityOf(command: string, args: readonly string[]): Shareability {
  const known = lookupKnown(command, args);
  if (!known)
    return {
      verdict: 'unknown',
      reason: 'not a server mcpshare knows; it is shareable if it keeps no per-session state',
      share: 'global',
      shareReason: UNKNOWN_SHARE_REASON,
    };
  if (known.sharing === 'stateful') {
    return {
      verdict: 'per-session',
      reason: `${known.id} ${known.reason ?? 'keeps per-session state'}`,
      known,
      share: 'session',
      shareReason: known.reason ?? 'keeps per-session state',
    };
  }
  return {
    verdict: 'shareable',
    reason: known.native ? `${known.id} is stateless and can serve HTTP itself (${known.native.transportFlag})` : `${known.id} is stateless`,
    known,
    share: known.share ?? 'global',
    shareReason: known.shareReason ?? `${known.id} keeps no per-session state and scopes nothing by the client: one process for every session`,
  };
}

/** How long a shared server may go without requests before its daemon stops it (it starts again on the next one). */
export const DEFAULT_IDLE_STOP_SEC = 600;

/**
 * The idle stop a server gets unless its entry says otherwise: never for a server known to keep
 * state only in memory (stopping it would lose that), DEFAULT_IDLE_STOP_SEC for every other.
 */
export function idleStopDefault(command: string, args: readonly string[]): { seconds: number; reason: string } {
  const known = lookupKnown(command, args);
  if (known?.memoryOnlyState) return { seconds: 0, reason: `${known.id} ${known.memoryOnlyState}: never stopped when idle` };
  return { seconds: DEFAULT_IDLE_STOP_SEC, reason: `stopped after ${DEFAULT_IDLE_STOP_SEC / 60} min without requests, started again by the next one` };
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
  /** Not run on purpose (whyNotRun(), or a dry run): `message` says why. */
  refused?: boolean;
  /** One sentence for people. */
  message: string;
}

const TRANSPORT_FLAG = /^--(transport|http|sse|streamable-?http|server-?type)$/i;
const PORT_FLAG = /^--(http[-_]?port|sse[-_]?port|port|listen|address|bind)$/i;
// eslint-disable-next-line no-control-regex -- ESC is exactly what this strips (colours in --help output)
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
  /** Default 5000 ms: a server that ignores --help and starts serving is killed then. */
  timeoutMs?: number;
}

const HELP_OUTPUT_LIMIT = 256 * 1024;

const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'fish', 'csh', 'tcsh', 'busybox']);
/** Interpreters and the options that make them run code given on the command line. */
const INLINE_CODE: Record<string, RegExp> = {
  node: /^(?:-e|--eval|-p|--print|-pe|-ep)(?:=|$)/,
  nodejs: /^(?:-e|--eval|-p|--print|-pe|-ep)(?:=|$)/,
  bun: /^(?:-e|--eval|-p|--print)(?:=|$)/,
  python: /^-[A-Za-z]*c/,
  pypy: /^-[A-Za-z]*c/,
  ruby: /^-[A-Za-z]*e/,
  perl: /^-[A-Za-z]*[eE]/,
  php: /^-[A-Za-z]*r/,
  lua: /^-[A-Za-z]*e/,
  luajit: /^-[A-Za-z]*e/,
  osascript: /^-[A-Za-z]*e/,
  rscript: /^-[A-Za-z]*e/,
  pwsh: /^[-/](?:c|command|ec|e|encodedcommand)$/i,
  powershell: /^[-/](?:c|command|ec|e|encodedcommand)$/i,
  cmd: /^\/[ck]$/i,
};
/** Launchers that fetch a package (or image) and run it: the check would run code this machine does not have yet. */
const FETCHERS: Record<string, (args: readonly string[]) => boolean> = {
  npx: () => true,
  pnpx: () => true,
  bunx: () => true,
  uvx: () => true,
  pipx: (a) => firstWord(a) === 'run',
  uv: (a) => ['run', 'tool'].includes(firstWord(a) ?? ''),
  npm: (a) => ['exec', 'x'].includes(firstWord(a) ?? ''),
  pnpm: (a) => firstWord(a) === 'dlx',
  yarn: (a) => firstWord(a) === 'dlx',
  bun: (a) => firstWord(a) === 'x',
  dnx: () => true,
  go: (a) => firstWord(a) === 'run' && a.some((w) => w.includes('@') || /^[a-z0-9.-]+\.[a-z]{2,}\//i.test(w)),
  deno: (a) => ['run', 'x', 'serve'].includes(firstWord(a) ?? '') && a.some((w) => /^(?:https?:|npm:|jsr:)/.test(w)),
  docker: (a) => ['run', 'create', 'container'].includes(firstWord(a) ?? ''),
  podman: (a) => ['run', 'create', 'container'].includes(firstWord(a) ?? ''),
  nerdctl: (a) => ['run', 'create', 'container'].includes(firstWord(a) ?? ''),
};
/** Prefix commands that run the rest of their arguments: the check looks at what they run. */
const WRAPPERS = new Set(['env', 'nice', 'nohup', 'time', 'command', 'exec', 'timeout', 'stdbuf', 'ionice', 'setsid']);
/** A wrapper's options that take the next word as their value. */
const WRAPPER_VALUE_OPTIONS: Record<string, string[]> = {
  env: ['-u', '--unset', '-C', '--chdir'],
  nice: ['-n', '--adjustment'],
  timeout: ['-s', '--signal', '-k', '--kill-after'],
  stdbuf: ['-i', '-o', '-e', '--input', '--output', '--error'],
  ionice: ['-c', '-n', '-p', '--class', '--classdata'],
  exec: ['-a'],
};

const firstWord = (args: readonly string[]) => args.find((a) => !a.startsWith('-'));

/** `/usr/bin/python3.12` → `python`, `node.exe` → `node`. */
function programName(command: string): string {
  const base = command
    .split(/[\\/]/)
    .pop()!
    .toLowerCase()
    .replace(/\.(?:exe|cmd|bat|ps1)$/, '');
  return /^python[0-9.]*$/.test(base) ? 'python' : /^pypy[0-9.]*$/.test(base) ? 'pypy' : base;
}

/**
 * Why `COMMAND ARGS --help` must not be run to learn about an unknown server, or undefined when it
 * may: a shell given a command string (`sh -c …`), an interpreter given inline code (`node -e`,
 * `python -c`, `deno eval`, …), a launcher that would download and run a package or image (`npx`,
 * `uvx`, `pnpm dlx`, `docker run`, …), or sudo. A program already on this machine, given a script
 * or plain arguments, may be run (that is what the opt-in check is for).
 */
export function whyNotRun(command: string, args: readonly string[]): string | undefined {
  let name = programName(command);
  let rest = [...args];
  // `env FOO=1 sh -c …`, `nice -n 5 npx …`: judge the command they run.
  for (let guard = 0; WRAPPERS.has(name) && guard < 5; guard++) {
    if (name === 'env' && rest.some((a) => a === '-S' || a.startsWith('--split-string') || /^-[A-Za-z0-9]*S/.test(a))) return '"env -S" runs a command string';
    const takesValue = WRAPPER_VALUE_OPTIONS[name] ?? [];
    let i = 0;
    while (i < rest.length && rest[i].startsWith('-')) i += takesValue.includes(rest[i]) ? 2 : 1;
    if (name === 'env') while (i < rest.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[i])) i++;
    if (name === 'timeout') i++; // the duration
    if (i >= rest.length) return undefined;
    name = programName(rest[i]);
    rest = rest.slice(i + 1);
  }
  if (name === 'sudo' || name === 'doas' || name === 'su') return `it runs as another user through ${name}`;
  if (SHELLS.has(name) && rest.some((a) => /^-[A-Za-z]*c[A-Za-z]*$/.test(a) || a === '--command'))
    return `it is a shell given a command string (${name} -c), which would run that string`;
  if (name === 'deno' && firstWord(rest) === 'eval') return 'it runs inline code (deno eval)';
  const inline = INLINE_CODE[name];
  if (inline) {
    const flag = rest.find((a) => inline.test(a));
    if (flag) return `it runs inline code (${name} ${flag.split('=')[0]})`;
  }
  if ((name === 'npx' || name === 'npm') && rest.some((a) => a === '-c' || a.startsWith('--call'))) return `it runs a command string (${name} -c)`;
  const fetcher = FETCHERS[name];
  if (fetcher?.(rest)) {
    const what = name === 'docker' || name === 'podman' || name === 'nerdctl' ? 'pull and start a container image' : 'download a package and run it';
    return `"${[name, ...rest.slice(0, rest.findIndex((a) => !a.startsWith('-')) + 1)].join(' ')}" may ${what}, which the --help check never does`;
  }
  return undefined;
}

/**
 * Runs `COMMAND ARGS --help` (no shell, stdin closed, its own process group) and reads what it says,
 * unless whyNotRun() objects (then nothing is started and the findings say why).
 * Never throws and never hangs: a server that ignores --help and starts serving is killed with its
 * whole group (npx/uvx grandchildren included) after the timeout, and the group is killed after a
 * normal exit too, so nothing it spawned outlives the check.
 */
export function helpFindings(command: string, args: readonly string[], opts: HelpOptions = {}): Promise<HelpFindings> {
  const refusal = whyNotRun(command, args);
  if (refusal) return Promise.resolve({ ran: false, refused: true, flags: [], transports: [], native: false, message: `its --help was not run: ${refusal}` });
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
