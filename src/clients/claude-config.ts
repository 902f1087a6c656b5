import { chmodSync, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { McpshareError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { parseJson } from './json-text.js';
import { withFileLock } from './lock.js';

/**
 * Claude Code's MCP server configs: where they are, reading them (with errors that name the file and
 * the position), and writing them back atomically with their mode, through a symlink, under the
 * same lock Claude Code uses for `~/.claude.json`.
 *
 * - project scope: `DIR/.mcp.json`, `{"mcpServers": {NAME: entry}}`, usually committed to git.
 * - user scope: `~/.claude.json` (or `$CLAUDE_CONFIG_DIR/.claude.json`), a big file Claude Code owns
 *   (OAuth account, counters, per-project history); only its top-level `mcpServers` is ours to touch.
 * - local scope (what a plain `claude mcp add` writes): the same file, under
 *   `projects[KEY].mcpServers`, private to this user and project. KEY is Claude Code's project key:
 *   see claudeProjectKey().
 */
export type ConfigScope = 'project' | 'user' | 'local';

export interface ConfigTarget {
  scope: ConfigScope;
  /** The config file as people know it (not resolved through symlinks). */
  file: string;
  /** Keys from the root to the object of servers. */
  section: readonly string[];
  /** The project directory (project and local scope), as given, made absolute. */
  dir?: string;
  /** Local scope: the key of the project in `projects` (section[1]). */
  projectKey?: string;
  /** Take Claude Code's `FILE.lock` while writing (the user-scope file, which it rewrites constantly). */
  lock: boolean;
}

export function projectTarget(dir: string = process.cwd()): ConfigTarget {
  const abs = resolve(dir);
  return { scope: 'project', file: join(abs, '.mcp.json'), section: ['mcpServers'], dir: abs, lock: false };
}

/** `~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json` when that is set (as Claude Code itself resolves it). */
export function userTarget(env: NodeJS.ProcessEnv = process.env): ConfigTarget {
  const dir = env.CLAUDE_CONFIG_DIR || env.HOME || homedir();
  return { scope: 'user', file: join(resolve(dir), '.claude.json'), section: ['mcpServers'], lock: true };
}

/**
 * The local-scope servers of the project in `dir`: `projects[KEY].mcpServers` of the user-scope
 * file, KEY as Claude Code computes it for a session started in `dir`.
 */
export function localTarget(dir: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): ConfigTarget {
  const abs = resolve(dir);
  const key = claudeProjectKey(abs);
  return { scope: 'local', file: userTarget(env).file, section: ['projects', key, 'mcpServers'], dir: abs, projectKey: key, lock: true };
}

/**
 * The key under which Claude Code keeps a project in `~/.claude.json` `projects` (2.1.330,
 * `getProjectPathForConfig`, checked against what `claude mcp add -s local` writes): the session's
 * directory with symlinks resolved (the process's physical cwd, not $PWD), or, inside a git
 * repository, the repository's root, and for a linked worktree the MAIN repository's root; so every
 * subdirectory and worktree of a repository shares one entry. No trailing slash.
 */
export function claudeProjectKey(dir: string): string {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    real = resolve(dir); // a directory that is gone: its key can still be in the file
  }
  const root = gitRoot(real);
  return root === undefined ? real : canonicalGitRoot(root);
}

/** The nearest directory at or above `dir` with a `.git` (directory, or file of a worktree or submodule). */
function gitRoot(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    try {
      const st = statSync(join(d, '.git'));
      if (st.isDirectory() || st.isFile()) return d;
    } catch {
      // none here
    }
    if (dirname(d) === d) return undefined;
  }
}

/**
 * A linked worktree's `.git` file points into the main repository's `.git/worktrees/NAME`: Claude
 * Code keys the worktree by the main repository's root. Anything else (a submodule, a plain repo,
 * something unexpected) is its own root.
 */
function canonicalGitRoot(root: string): string {
  try {
    const text = readFileSync(join(root, '.git'), 'utf8').trim();
    if (!text.startsWith('gitdir:')) return root;
    const gitDir = resolve(root, text.slice('gitdir:'.length).trim());
    const common = resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim());
    if (resolve(dirname(gitDir)) !== join(common, 'worktrees')) return root;
    const back = resolve(gitDir, readFileSync(join(gitDir, 'gitdir'), 'utf8').trim());
    if (realpathSync(back) !== join(realpathSync(root), '.git')) return root;
    if (basename(common) !== '.git') return existsSync(join(common, '.git')) ? root : common; // a bare main repository
    return dirname(common);
  } catch {
    return root; // `.git` is a directory (EISDIR), or the worktree's files are not where they should be
  }
}

/** How to name a target in commands printed for people. */
export function targetFlag(t: ConfigTarget): string {
  if (t.scope === 'user') return '--user';
  return `--${t.scope} ${shellWord(t.dir ?? '.')}`;
}

/** The target for people: the file, and for ~/.claude.json which part of it. */
export function describeTarget(t: ConfigTarget): string {
  if (t.scope === 'user') return `${t.file} (user scope)`;
  if (t.scope === 'local') return `${t.file} (local scope of ${t.projectKey})`;
  return t.file;
}

/** What a config lacks when it has no servers section, for people. */
export function missingSection(t: ConfigTarget): string {
  return t.scope === 'local' ? `${t.file} has no local-scope servers for ${t.projectKey}` : `${t.file} has no ${sectionPath(t)}`;
}

/** `"mcpServers"`, `projects["/abs/dir"].mcpServers`: the servers' place in the file, for people. */
export function sectionPath(t: ConfigTarget): string {
  const [first, ...rest] = t.section;
  return rest.length ? `${first}${rest.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`)).join('')}` : JSON.stringify(first);
}

export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export type ConfigErrorKind = 'unreadable' | 'corrupt' | 'shape';

/** A client config mcpshare cannot use: McpshareError 'config-unreadable' | 'config-corrupt' | 'config-shape'. */
export function configError(message: string, file: string, kind: ConfigErrorKind, cause?: unknown): McpshareError<`config-${ConfigErrorKind}`> {
  return new McpshareError(`config-${kind}`, message, { cause, context: { file } });
}

export interface ConfigFile {
  target: ConfigTarget;
  exists: boolean;
  /** The file's text ('' when it does not exist). */
  text: string;
  /** The servers object, or undefined when the file or the section is absent. */
  servers: Record<string, unknown> | undefined;
  /** Permission bits to keep on rewrite. */
  mode: number;
  /** Where writes go: the file itself, or the target of its symlink (a dotfile manager's link stays a link). */
  realPath: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The raw text, or undefined when the file does not exist; an unreadable file is an error naming it. */
export function readConfigText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw configError(
      `${file} cannot be read (${code === 'EACCES' ? 'permission denied' : (err as Error).message}); it was left untouched`,
      file,
      'unreadable',
      err,
    );
  }
}

/** The servers object of a parsed config, checked for shape. */
export function serversOf(target: ConfigTarget, text: string): Record<string, unknown> | undefined {
  let data: unknown;
  try {
    data = parseJson(text);
  } catch (err) {
    throw configError(
      `${target.file} is not valid JSON: ${(err as Error).message}; it was left untouched — fix it (or restore a backup) and try again`,
      target.file,
      'corrupt',
      err,
    );
  }
  if (!isObject(data)) throw configError(`${target.file} is not a JSON object; it was left untouched`, target.file, 'shape');
  let node: unknown = data;
  for (const key of target.section) {
    if (!isObject(node) || !(key in node)) return undefined;
    node = node[key];
  }
  if (!isObject(node)) throw configError(`${target.file}: ${sectionPath(target)} is not an object; it was left untouched`, target.file, 'shape');
  return node;
}

/**
 * Before apply --add creates the servers object: every key on its path that is there must be an
 * object (serversOf() only says the section is absent when, say, "projects" is a list).
 */
export function checkSectionPath(target: ConfigTarget, text: string): void {
  let node: unknown = parseJson(text);
  for (const [i, key] of target.section.entries()) {
    if (!isObject(node)) {
      const where = i === 0 ? 'the file' : sectionPath({ ...target, section: target.section.slice(0, i) });
      throw configError(`${target.file}: ${where} is not an object, so ${sectionPath(target)} cannot be added; it was left untouched`, target.file, 'shape');
    }
    if (!(key in node)) return;
    node = node[key];
  }
}

export function readConfig(target: ConfigTarget): ConfigFile {
  const text = readConfigText(target.file);
  if (text === undefined) return { target, exists: false, text: '', servers: undefined, mode: 0o644, realPath: target.file };
  return { target, exists: true, text, servers: serversOf(target, text), ...fileMeta(target.file) };
}

/** Where a write goes (through a symlink) and the permission bits to keep; without parsing the file. */
export function fileMeta(file: string): { realPath: string; mode: number } {
  try {
    const realPath = realpathSync(file);
    return { realPath, mode: statSync(realPath).mode & 0o7777 };
  } catch {
    // vanished meanwhile: the write recreates it, private (it may be ~/.claude.json)
    return { realPath: file, mode: 0o600 };
  }
}

/**
 * Replaces the file's content atomically (temp file + rename beside the real file), keeping its
 * permission bits. Refuses text that is not valid JSON: a bug here must never break a config.
 */
export function writeConfigText(file: { realPath: string; mode: number }, text: string): void {
  parseJson(text);
  writeFileAtomic(file.realPath, text, file.mode & 0o777);
  // The temp file was created under the umask; put back exactly what the file had (e.g. 0600 for ~/.claude.json).
  chmodSync(file.realPath, file.mode);
}

/**
 * Runs a read-modify-write under the target's lock when it has one (also while the file does not
 * exist yet, so that apply --add creating it cannot race Claude Code creating it).
 */
export function withTargetLock<T>(target: ConfigTarget, fn: () => T | Promise<T>): Promise<T> {
  return target.lock && existsSync(dirname(target.file)) ? withFileLock(target.file, fn) : Promise.resolve().then(fn);
}

/**
 * For a project config that has no servers: the stdio servers of the same project's local scope
 * (a plain `claude mcp add` puts them there, so people look for them in the wrong place). Read
 * only, without the lock; never throws (a broken ~/.claude.json is reported when it is the target).
 */
export function localStdioServers(project: ConfigTarget, local: ConfigTarget | null | undefined): { target: ConfigTarget; names: string[] } | undefined {
  if (project.scope !== 'project' || !local) return undefined;
  try {
    const text = readConfigText(local.file);
    const names = Object.entries((text !== undefined && serversOf(local, text)) || {})
      .filter(([, v]) => asStdio(v) !== undefined)
      .map(([k]) => k);
    return names.length ? { target: local, names } : undefined;
  } catch {
    return undefined;
  }
}

/** The hint for people that goes with localStdioServers(). */
export function localHint(found: { target: ConfigTarget; names: string[] }, command: 'import' | 'apply'): string {
  const n = found.names.length;
  return `${found.target.file} has ${n} local-scope stdio server${n === 1 ? '' : 's'} for ${found.target.projectKey} (${found.names.join(', ')}), which "claude mcp add" puts there by default: use "mcpshare ${command} ${targetFlag(found.target)}"`;
}

// ---------------------------------------------------------------------------------------------
// Entries

/** A stdio entry: Claude Code starts `command args` per session (`type` absent or "stdio"). */
export interface StdioEntry {
  type?: 'stdio';
  command: string;
  args?: string[];
  env?: Record<string, string>;
}

/** A remote entry: `{"type": "http"|"sse", "url": …}` (headers and other keys allowed). */
export interface RemoteEntry {
  type: string;
  url: string;
  [k: string]: unknown;
}

export function asStdio(value: unknown): StdioEntry | undefined {
  if (!isObject(value) || typeof value.command !== 'string') return undefined;
  if (value.type !== undefined && value.type !== 'stdio') return undefined;
  if (value.args !== undefined && !(Array.isArray(value.args) && value.args.every((a) => typeof a === 'string'))) return undefined;
  if (value.env !== undefined && !(isObject(value.env) && Object.values(value.env).every((v) => typeof v === 'string'))) return undefined;
  return value as unknown as StdioEntry;
}

export function asRemote(value: unknown): RemoteEntry | undefined {
  if (!isObject(value) || typeof value.url !== 'string') return undefined;
  return { ...value, type: typeof value.type === 'string' ? value.type : 'http' } as RemoteEntry;
}
