import { basename, dirname } from 'node:path';
import { lookupKnown } from '../registry/known-servers.js';

/**
 * Is a config entry's command the same server as a registered one? Apply matches by NAME, but
 * a name alone can collide ("db" in two projects meaning two servers), so the commands must agree:
 * exactly, or as the same known server (`npx -y @x/server-memory` and `node …/server-memory/dist/index.js`;
 * a native server registered with its transport flags added), or as the same package run by the same
 * kind of launcher. When unsure they do not match: a mismatch only means "left, with a reason".
 */
export function sameServer(a: { command: string; args: readonly string[] }, b: { command: string; args: readonly string[] }): boolean {
  if (a.command === b.command && a.args.length === b.args.length && a.args.every((x, i) => x === b.args[i])) return true;
  return serverIdentity(a.command, a.args) === serverIdentity(b.command, b.args);
}

/** Package launchers: the server is the first positional argument (its version stripped). */
const LAUNCHERS = new Set(['npx', 'bunx', 'pnpx', 'uvx']);
/** Launchers with a subcommand first: `npm exec PKG`, `pnpm dlx PKG`, `yarn dlx PKG`, `pipx run PKG`, `uv tool run PKG`. */
const SUBCOMMAND_LAUNCHERS: Record<string, string[]> = { npm: ['exec'], pnpm: ['dlx', 'exec'], yarn: ['dlx'], pipx: ['run'], uv: ['tool', 'run'] };
/** Options of those launchers that take a value (so the value is not mistaken for the package). */
const VALUE_OPTIONS = new Set(['-p', '--package', '--from', '--with', '--python', '--spec', '--index-url', '--registry', '-c', '--call']);
/** Interpreters: the server is the script they run. */
const INTERPRETERS = /^(node|nodejs|bun|deno|tsx|ts-node|python\d?(\.\d+)?|uv)$/;
const GENERIC_FILES = new Set(['index', 'main', 'cli', 'server', 'app', 'run', 'start', '__main__']);
const GENERIC_DIRS = new Set(['dist', 'build', 'lib', 'src', 'bin', 'out', 'esm', 'cjs', '.']);

/** A short name for "which server this command runs", e.g. `known:server-memory`, `pkg:@acme/mcp`, `script:tool`. */
export function serverIdentity(command: string, args: readonly string[]): string {
  const known = lookupKnown(command, args);
  if (known) return `known:${known.id}`;
  const cmd = basename(command).replace(/\.(exe|cmd|bat)$/i, '');
  let rest = [...args];
  if (SUBCOMMAND_LAUNCHERS[cmd]) {
    const subs = SUBCOMMAND_LAUNCHERS[cmd];
    if (subs.every((s, i) => rest[i] === s) || (cmd === 'pnpm' && subs.includes(rest[0]))) {
      rest = rest.slice(cmd === 'uv' ? 2 : 1);
      const pkg = firstPositional(rest);
      if (pkg) return `pkg:${stripVersion(pkg)}`;
    }
  }
  if (LAUNCHERS.has(cmd)) {
    const pkg = firstPositional(rest);
    if (pkg) return `pkg:${stripVersion(pkg)}`;
  }
  if (INTERPRETERS.test(cmd)) {
    const script = firstPositional(rest.filter((a) => a !== 'run'));
    if (script) return `script:${scriptName(script)}`;
  }
  return `cmd:${cmd} ${args.filter((a) => !a.startsWith('-')).join(' ')}`.trim();
}

function firstPositional(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return args[i + 1];
    if (a.startsWith('-')) {
      if (VALUE_OPTIONS.has(a)) i++;
      continue;
    }
    return a;
  }
  return undefined;
}

/** `@scope/name@1.2.3` → `@scope/name`, `name==1.0` / `name@latest` → `name`. */
function stripVersion(pkg: string): string {
  const at = pkg.indexOf('@', 1);
  const base = at > 0 ? pkg.slice(0, at) : pkg;
  return base.split(/[=<>~!]=?/)[0];
}

/** The name that identifies a script: its file name, or its package directory for index.js-style names. */
function scriptName(path: string): string {
  const file = basename(path).replace(/\.(m?[jt]s|cjs|py)$/, '');
  if (!GENERIC_FILES.has(file)) return file;
  let dir = dirname(path);
  while (GENERIC_DIRS.has(basename(dir)) && dirname(dir) !== dir) dir = dirname(dir);
  return `${basename(dir)}/${file}`;
}
