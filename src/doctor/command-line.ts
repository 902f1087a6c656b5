/**
 * What program a command line runs, seen through the launchers people put in front of MCP servers
 * (npx, npm exec, uvx, pipx, `sh -c`, env, node, python), and the normalised form that groups the
 * copies of one server together. Pure functions over argv: no I/O.
 */

export type TargetKind = 'package' | 'script' | 'module' | 'executable' | 'inline';

export interface Program {
  /** The canonical launcher chain: [] for an executable, ['node'], ['npx'], ['uvx'], ['python', '-m'], ['uv', 'run', …]. */
  launcher: string[];
  /** What is run: a package spec (npx/uvx), a script path, a python module, or an executable. */
  target: string;
  kind: TargetKind;
  /** The arguments given to the target. */
  args: string[];
}

const MAX_DEPTH = 6;

export const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'fish']);
const NODE_LIKE = new Set(['node', 'nodejs', 'tsx', 'ts-node', 'bun', 'deno']);
const PYTHON = /^python(\d+(\.\d+)?)?$/;
/** Scripts that are themselves package runners when node runs them (`node /usr/bin/npx -y pkg`). */
const SCRIPT_LAUNCHERS: Record<string, string> = {
  npx: 'npx',
  'npx-cli.js': 'npx',
  npm: 'npm',
  'npm-cli.js': 'npm',
  pnpm: 'pnpm',
  'pnpm.cjs': 'pnpm',
  'pnpm.js': 'pnpm',
  pnpx: 'npx',
  yarn: 'yarn',
  'yarn.js': 'yarn',
  'yarn.cjs': 'yarn',
  tsx: 'tsx',
  'ts-node': 'ts-node',
};

/** Options of the package runners that take a value (so the value is not taken for the package). */
const RUNNER_VALUE_FLAGS = new Set([
  '-p',
  '--package',
  '-c',
  '--call',
  '--from',
  '--with',
  '--python',
  '--index-url',
  '--cache',
  '--registry',
  '--spec',
  '--userconfig',
]);
/** Options of node-like interpreters that take a value. */
const NODE_VALUE_FLAGS = new Set([
  '-r',
  '--require',
  '--import',
  '--loader',
  '--experimental-loader',
  '-C',
  '--conditions',
  '--inspect-port',
  '--title',
  '--env-file',
  '--input-type',
]);
const PYTHON_VALUE_FLAGS = new Set(['-X', '-W', '--check-hash-based-pycs']);

/** `sh -c CMD` (also `bash -lc`): the option that makes a shell run one command string. */
const SHELL_COMMAND_FLAG = /^-[a-z]*c[a-z]*$/;

/**
 * A process that only launches another: `sh -c CMD` or `env [VAR=…] CMD`. An interactive shell
 * (no -c) is not one: it is where a person works, and runs many unrelated things.
 */
export function isLaunchWrapper(argv: readonly string[]): boolean {
  if (argv.length < 2) return false;
  const b = basename(argv[0]);
  return b === 'env' || (SHELLS.has(b) && argv.some((a, i) => i > 0 && SHELL_COMMAND_FLAG.test(a)));
}

function skipOptions(argv: string[], start: number, valueFlags: Set<string>): number {
  let i = start;
  while (i < argv.length && argv[i].startsWith('-') && argv[i] !== '-') {
    if (argv[i] === '--') return i + 1;
    if (valueFlags.has(argv[i])) i++;
    i++;
  }
  return i;
}

/** Splits a `sh -c` string into words: quotes and backslashes as a POSIX shell reads them, no expansion. */
export function shellWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (c === ';' || c === '&' || c === '|') {
      // Only the first command of a list or pipeline is followed: that is what `sh -c` runs first.
      break;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function packageRunner(launcher: string[], argv: string[], start: number): Program | undefined {
  const i = skipOptions(argv, start, RUNNER_VALUE_FLAGS);
  if (i >= argv.length) return undefined;
  return { launcher, target: argv[i], kind: 'package', args: argv.slice(i + 1) };
}

/**
 * The program a command line runs, looking through launchers; undefined for an empty command line
 * or a launcher with nothing to launch (`npx` alone, `node` REPL).
 */
export function programOf(argv: readonly string[], depth = 0): Program | undefined {
  if (argv.length === 0 || depth > MAX_DEPTH) return undefined;
  const a = [...argv];
  const b = basename(a[0]);
  const rest = (i: number) => a.slice(i);

  if (b === 'env') {
    let i = 1;
    while (i < a.length && (a[i].startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(a[i]))) i += a[i] === '-u' ? 2 : 1;
    return programOf(rest(i), depth + 1);
  }
  if (SHELLS.has(b)) {
    // `sh -c 'cmd args'` (also `bash -lc`): the command string is the program.
    const ci = a.findIndex((x, i) => i > 0 && SHELL_COMMAND_FLAG.test(x));
    if (ci > 0 && ci + 1 < a.length) {
      let words = shellWords(a[ci + 1]);
      while (words.length && (words[0] === 'exec' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]))) words = words.slice(1);
      return programOf(words, depth + 1);
    }
    const i = skipOptions(a, 1, new Set(['-o', '+o']));
    return i < a.length ? { launcher: [b], target: a[i], kind: 'script', args: rest(i + 1) } : undefined;
  }
  if (b === 'npx' || b === 'pnpx' || b === 'bunx') return packageRunner(['npx'], a, 1);
  if (b === 'uvx') return packageRunner(['uvx'], a, 1);
  if (b === 'npm' || b === 'pnpm' || b === 'yarn' || b === 'bun') {
    const i = skipOptions(a, 1, RUNNER_VALUE_FLAGS);
    const sub = a[i];
    if (sub === 'exec' || sub === 'x' || sub === 'dlx') return packageRunner(['npx'], a, i + 1);
    if (b === 'bun' && sub !== undefined && sub !== 'run' && !sub.startsWith('-')) return { launcher: ['bun'], target: sub, kind: 'script', args: rest(i + 1) };
    if (sub === 'run' || sub === 'run-script' || sub === 'start') {
      const j = skipOptions(a, i + 1, RUNNER_VALUE_FLAGS);
      return { launcher: [b, 'run'], target: a[j] ?? sub, kind: 'script', args: rest(j + 1) };
    }
    return sub === undefined ? undefined : { launcher: [b], target: sub, kind: 'executable', args: rest(i + 1) };
  }
  if (b === 'uv') {
    const i = skipOptions(a, 1, RUNNER_VALUE_FLAGS);
    if (a[i] === 'tool' && a[i + 1] === 'run') return packageRunner(['uvx'], a, i + 2);
    if (a[i] === 'run') {
      // `uv run --directory DIR server.py`: the flags name the project, so they stay in the launcher.
      const j = skipOptions(a, i + 1, new Set([...RUNNER_VALUE_FLAGS, '--directory', '--project']));
      return j < a.length ? { launcher: ['uv', 'run', ...a.slice(i + 1, j)], target: a[j], kind: 'script', args: rest(j + 1) } : undefined;
    }
    return undefined;
  }
  if (b === 'pipx' && a[1] === 'run') return packageRunner(['pipx', 'run'], a, 2);
  if (PYTHON.test(b)) {
    let i = 1;
    while (i < a.length && a[i].startsWith('-') && a[i] !== '-') {
      if (a[i] === '-m') return i + 1 < a.length ? { launcher: ['python', '-m'], target: a[i + 1], kind: 'module', args: rest(i + 2) } : undefined;
      if (a[i] === '-c') return { launcher: ['python'], target: '-c', kind: 'inline', args: rest(i + 2) };
      i += PYTHON_VALUE_FLAGS.has(a[i]) ? 2 : 1;
    }
    return i < a.length ? { launcher: ['python'], target: a[i], kind: 'script', args: rest(i + 1) } : undefined;
  }
  if (NODE_LIKE.has(b)) {
    let i = 1;
    if (b === 'deno' && (a[1] === 'run' || a[1] === 'serve')) i = 2;
    while (i < a.length && a[i].startsWith('-') && a[i] !== '-') {
      if (['-e', '--eval', '-p', '--print'].includes(a[i])) return { launcher: [b], target: a[i], kind: 'inline', args: rest(i + 2) };
      if (a[i] === '--') {
        i++;
        break;
      }
      if (NODE_VALUE_FLAGS.has(a[i])) i++;
      i++;
    }
    if (i >= a.length) return undefined;
    const runner = SCRIPT_LAUNCHERS[basename(a[i])];
    if (runner && runner !== b) return programOf([runner, ...rest(i + 1)], depth + 1);
    return { launcher: [b === 'nodejs' ? 'node' : b], target: a[i], kind: 'script', args: rest(i + 1) };
  }
  return { launcher: [], target: a[0], kind: 'executable', args: rest(1) };
}

/** `@scope/name@1.2.3` → `@scope/name`; `name@latest` → `name`; `git+https://…` stays. */
export function packageName(spec: string): string {
  const at = spec.indexOf('@', spec.startsWith('@') ? 1 : 0);
  return at > 0 ? spec.slice(0, at) : spec;
}

const GENERIC_SCRIPT = /^(index|main|server|cli|app|run|start|__main__|entry|bin)$/i;
const BUILD_DIRS = new Set(['dist', 'build', 'lib', 'src', 'bin', 'out', 'cjs', 'esm', 'mjs', 'js', 'ts', 'target', 'release']);

/**
 * The short name of a path: inside node_modules, the package (`node_modules/@x/y/dist/index.js` →
 * `@x/y`, `node_modules/.bin/mcp-server-memory` → `mcp-server-memory`); otherwise the file's name
 * without extension, prefixed by its project directory when the file name says nothing (`index`).
 */
export function pathName(path: string): string {
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + 'node_modules/'.length).split('/');
    if (parts[0] === '.bin' && parts[1]) return parts[1];
    if (parts[0].startsWith('@') && parts[1]) return `${parts[0]}/${parts[1]}`;
    if (parts[0]) return parts[0];
  }
  const segs = path.split('/').filter(Boolean);
  const file = (segs.pop() ?? path).replace(/\.(m?[jt]s|cjs|py|sh)$/, '');
  if (!GENERIC_SCRIPT.test(file)) return file;
  while (segs.length && BUILD_DIRS.has(segs[segs.length - 1].toLowerCase())) segs.pop();
  return segs.length ? `${segs[segs.length - 1]}/${file}` : file;
}

/** The name people know a program by: the package, the script's package or project, the module, the executable. */
export function targetName(p: Program): string {
  switch (p.kind) {
    case 'package':
      return packageName(p.target);
    case 'script':
      return pathName(p.target);
    case 'executable':
      return p.target.includes('/') ? pathName(p.target) : p.target;
    default:
      return p.target;
  }
}

/**
 * A path as it identifies a program: from the last `node_modules/` on, because package caches
 * (~/.npm/_npx/HASH/, a project's own node_modules) differ between installs of the same package.
 */
export function normalisePath(arg: string): string {
  const nm = arg.lastIndexOf('/node_modules/');
  return nm >= 0 ? arg.slice(nm + 1) : arg;
}

/**
 * The normalised command line that groups copies of one server: the launcher chain in canonical
 * form (npx/npm exec/pnpm dlx/bunx → `npx`, their -y/--yes/-q flags and interpreter options
 * dropped, `sh -c` and `env` looked through), an executable by its name, node_modules paths from
 * `node_modules/` on, and every argument kept (different arguments are different servers).
 */
export function normaliseCommand(argv: readonly string[]): string {
  const p = programOf(argv);
  if (!p) return argv.join(' ');
  const target = p.kind === 'executable' && p.target.includes('/') && !p.target.includes('/node_modules/') ? basename(p.target) : normalisePath(p.target);
  return [...p.launcher, target, ...p.args.map(normalisePath)].join(' ');
}
