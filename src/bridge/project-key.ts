import { basename, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A client root as MCP carries it (`roots/list`): a URI, usually `file://`, and an optional name. */
export interface Root {
  uri: string;
  name?: string;
}

/** The request header a client entry may carry to name its project (written by `mcpshare apply`). */
export const PROJECT_HEADER = 'x-mcpshare-project';

/**
 * One spelling per root: `file:///a/b/`, `file:///a/./b` and `file:///a/b` are one project. Other
 * URI schemes are kept as they are (compared exactly).
 */
export function canonicalUri(uri: string): string {
  if (!uri.startsWith('file:')) return uri;
  try {
    return pathToFileURL(resolve(fileURLToPath(uri))).href;
  } catch {
    return uri;
  }
}

/** Only well-formed roots: an object with a string uri (a client's answer is untrusted input). */
export function validRoots(value: unknown): Root[] {
  if (!Array.isArray(value)) return [];
  const out: Root[] = [];
  for (const r of value) {
    if (!r || typeof r !== 'object' || typeof (r as Root).uri !== 'string' || (r as Root).uri.length === 0) continue;
    const name = (r as Root).name;
    out.push({ uri: (r as Root).uri, ...(typeof name === 'string' ? { name } : {}) });
  }
  return out;
}

/** The set of canonical root URIs, sorted: what makes two sessions one project. */
export function rootSet(roots: readonly Root[]): string[] {
  return [...new Set(roots.map((r) => canonicalUri(r.uri)))].sort();
}

/** The project key of a set of roots; undefined when there are none (the session names no project). */
export function projectKeyOf(roots: readonly Root[]): string | undefined {
  const set = rootSet(roots);
  return set.length ? `project:${set.join('\n')}` : undefined;
}

/** The roots a project header names: one directory, given as an absolute path or a `file://` URI. */
export function rootsFromHeader(value: string): Root[] {
  const text = value.trim();
  let path: string;
  if (text.startsWith('file:')) {
    try {
      path = fileURLToPath(text);
    } catch (err) {
      throw new Error(`X-Mcpshare-Project: "${text}" is not a valid file:// URI (${(err as Error).message})`, { cause: err });
    }
  } else {
    path = text;
  }
  if (!isAbsolute(path)) throw new Error(`X-Mcpshare-Project must be the project's absolute directory (or its file:// URI), got "${text}"`);
  const dir = resolve(path);
  return [{ uri: pathToFileURL(dir).href, name: basename(dir) || dir }];
}

/** For people and /status: the roots as paths where they are files. */
export function describeRoots(roots: readonly Root[]): string {
  if (roots.length === 0) return '(no roots)';
  return rootSet(roots)
    .map((u) => {
      try {
        return u.startsWith('file:') ? fileURLToPath(u) : u;
      } catch {
        return u;
      }
    })
    .join(', ');
}

/** The roots every one of these sets has (by canonical URI), with the first set's names. */
export function intersectRoots(sets: readonly (readonly Root[])[]): Root[] {
  if (sets.length === 0) return [];
  let common = new Set(rootSet(sets[0]));
  for (const s of sets.slice(1)) {
    const here = new Set(rootSet(s));
    common = new Set([...common].filter((u) => here.has(u)));
  }
  const out = new Map<string, Root>();
  for (const r of sets[0]) {
    const c = canonicalUri(r.uri);
    if (common.has(c) && !out.has(c)) out.set(c, { ...r, uri: c });
  }
  return [...out.values()];
}
