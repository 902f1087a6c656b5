import { parse, patch, stringify } from '@decimalturn/toml-patch';
import { jsonEqual } from '../json-text.js';
import { FormatError } from './jsonc-edit.js';

/**
 * Reading and editing Codex's config.toml in place. @decimalturn/toml-patch (a maintained TOML 1.1
 * parser tested against toml-test) parses the document into a syntax tree that keeps comments and
 * layout; `patch` applies the difference between the parsed data and the data we want to that tree,
 * so only the changed entry's keys are rewritten: comments elsewhere, CRLF line ends, tabs, key order
 * and the other tables keep their bytes. The result is parsed again and compared with what was meant.
 */

/** Plain data (dates and other objects as JSON would carry them), for comparisons. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

export function parseToml(text: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { line?: number; column?: number };
    const line = typeof e.line === 'number' ? e.line : 1;
    const column = typeof e.column === 'number' ? e.column + 1 : 1;
    // Its message carries the offending line and a caret; the last line says what is wrong.
    const what = e.message.split('\n').filter(Boolean).pop() ?? e.message;
    throw new FormatError(`${what.replace(/\.$/, '')} at line ${line}, column ${column}`, line, column);
  }
}

/**
 * The text with the value at `path` set to `value` (undefined: deleted), creating the tables on the
 * way when missing. Throws when the result would not parse to exactly the intended data.
 */
export function setToml(text: string, path: readonly string[], value: unknown): string {
  const data = parseToml(text);
  const next = structuredClone(data);
  let node = next as Record<string, unknown>;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null || Array.isArray(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  const out = patch(text, next);
  let check: unknown;
  try {
    check = parse(out);
  } catch (err) {
    throw new Error(`internal: the edited config.toml does not parse (${(err as Error).message}); nothing was written`, { cause: err });
  }
  if (!jsonEqual(plain(check), plain(next))) throw new Error('internal: the edited config.toml does not parse to the intended content; nothing was written');
  return out;
}

const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));

/**
 * A new table `[a.b.NAME]` with `value`'s keys, appended at the end of the file in its line ends:
 * where people put a new server (toml-patch would add it as a dotted key above the first table).
 * Checked by parsing; when the result is not exactly the intended data (the parent is an inline
 * table, say), toml-patch adds it its own way.
 */
export function addTomlTable(text: string, path: readonly string[], value: Record<string, unknown>): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const body = stringify(value)
    .replace(/\r?\n/g, eol)
    .replace(new RegExp(`(${eol})*$`), eol);
  const sep = text === '' ? '' : text.endsWith('\n') ? eol : eol + eol;
  const out = `${text}${sep}[${path.map(key).join('.')}]${eol}${body}`;
  const data = parseToml(text);
  const next = structuredClone(data);
  let node = next as Record<string, unknown>;
  for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]] = value;
  try {
    if (jsonEqual(plain(parse(out)), plain(next))) return out;
  } catch {
    // fall through: let toml-patch place it
  }
  return setToml(text, path, value);
}
