/**
 * Editing JSON text without reformatting it. A client config is parsed with JSON.parse (which
 * validates it), and changes are spliced into the original text: only the replaced values' bytes
 * change, so a hand-formatted `.mcp.json` keeps its layout, `~/.claude.json` keeps everything
 * Claude Code wrote, and a dry-run diff shows exactly the entries that change.
 *
 * The scanner below trusts its input: call it only on text JSON.parse accepted.
 */
import { McpshareError } from '../errors.js';

/** One `"key": value` of an object, as offsets into the text (`valueEnd` is exclusive). */
export interface MemberSpan {
  key: string;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
}

/** A JSON syntax error with where it is: code 'json-syntax', context { line, column }. */
const syntaxError = (message: string, line?: number, column?: number) => new McpshareError('json-syntax', message, { context: { line, column } });

const BOM = '\uFEFF';

/** Offset of the first character after a byte-order mark, which JSON.parse refuses but editors write. */
export function bodyStart(text: string): number {
  return text.startsWith(BOM) ? 1 : 0;
}

/**
 * JSON.parse with an error that says where: Node 20 reports "at position N"; people need a line
 * and a column to find it in an editor.
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.slice(bodyStart(text)));
  } catch (err) {
    const msg = (err as Error).message;
    const m = /position (\d+)/.exec(msg);
    if (m && !/line \d+/.test(msg)) {
      const { line, column } = lineColumn(text, Number(m[1]) + bodyStart(text));
      throw syntaxError(`${msg} (line ${line}, column ${column})`, line, column);
    }
    if (/end of JSON input/.test(msg)) {
      const { line, column } = lineColumn(text, text.length);
      throw syntaxError(`${msg || 'empty file'} (line ${line}, column ${column})`, line, column);
    }
    const lc = /line (\d+),? column (\d+)/.exec(msg); // newer Node says where itself
    throw lc ? syntaxError(msg, Number(lc[1]), Number(lc[2])) : syntaxError(msg);
  }
}

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - (before.lastIndexOf('\n') + 1) + 1 };
}

const isWs = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text[i])) i++;
  return i;
}

/** `i` at an opening quote; returns the offset after the closing one. */
function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new Error('unterminated string');
}

/** `i` at the first character of a value; returns the offset just after it. */
function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (; i < text.length; i++) {
      const d = text[i];
      if (d === '"') i = skipString(text, i) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    throw new Error('unterminated container');
  }
  while (i < text.length && !isWs(text[i]) && text[i] !== ',' && text[i] !== '}' && text[i] !== ']') i++;
  return i;
}

/** Offset of the root value's first character. */
export function rootStart(text: string): number {
  return skipWs(text, bodyStart(text));
}

/** The members of the object whose `{` is at `openAt`, in text order (duplicates included). */
export function objectMembers(text: string, openAt: number): MemberSpan[] {
  if (text[openAt] !== '{') throw new Error(`no object at offset ${openAt}`);
  const members: MemberSpan[] = [];
  let i = skipWs(text, openAt + 1);
  if (text[i] === '}') return members;
  for (;;) {
    const keyStart = i;
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    i = skipWs(text, keyEnd) + 1; // past ':'
    const valueStart = skipWs(text, i);
    const valueEnd = skipValue(text, valueStart);
    members.push({ key, keyStart, valueStart, valueEnd });
    i = skipWs(text, valueEnd);
    if (text[i] === ',') {
      i = skipWs(text, i + 1);
      continue;
    }
    return members;
  }
}

/** The items of the array whose `[` is at `openAt`, as [start, end) offsets. */
export function arrayItems(text: string, openAt: number): { start: number; end: number }[] {
  if (text[openAt] !== '[') throw new Error(`no array at offset ${openAt}`);
  const items: { start: number; end: number }[] = [];
  let i = skipWs(text, openAt + 1);
  if (text[i] === ']') return items;
  for (;;) {
    const end = skipValue(text, i);
    items.push({ start: i, end });
    i = skipWs(text, end);
    if (text[i] !== ',') return items;
    i = skipWs(text, i + 1);
  }
}

/** The member JSON.parse would use for `key` (the last of duplicates), if any. */
export function findMember(text: string, openAt: number, key: string): MemberSpan | undefined {
  return objectMembers(text, openAt)
    .filter((m) => m.key === key)
    .pop();
}

/** Follows a path of object keys from the root; undefined when a key is missing or not an object on the way. */
export function locate(text: string, path: readonly string[]): MemberSpan | undefined {
  let at = rootStart(text);
  let found: MemberSpan | undefined;
  for (const key of path) {
    if (text[at] !== '{') return undefined;
    found = findMember(text, at, key);
    if (!found) return undefined;
    at = found.valueStart;
  }
  return found;
}

/**
 * The indentation unit of a pretty-printed file (two spaces, four, a tab), read from the first
 * indented line; '  ' when the file has none (minified or empty object).
 */
export function detectIndent(text: string): string {
  const m = /\n([ \t]+)\S/.exec(text);
  if (!m) return '  ';
  const ws = m[1];
  return ws[0] === '\t' ? '\t' : ws;
}

/** `{"a": 1, "b": [1, 2]}`: one line, with the spacing people type. */
export function oneLine(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** The leading whitespace of the line that contains `offset`. */
function lineIndent(text: string, offset: number): string {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start))![0];
}

/**
 * Serializes `value` to stand where `member`'s value is now: multi-line in the file's style when the
 * old value spanned lines (nested under the key's own indentation), one line when it did not.
 */
export function renderValueAt(text: string, member: MemberSpan, value: unknown, indent = detectIndent(text)): string {
  const old = text.slice(member.valueStart, member.valueEnd);
  if (!old.includes('\n')) return oneLine(value);
  const base = lineIndent(text, member.keyStart);
  const eol = text.includes('\r\n') ? '\r\n' : '\n'; // a file saved on Windows keeps its line ends
  return JSON.stringify(value, null, indent).replace(/\n/g, `${eol}${base}`);
}

export interface Splice {
  start: number;
  end: number;
  text: string;
}

/** Applies non-overlapping splices (any order) to the text. */
export function applySplices(text: string, splices: readonly Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return out;
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

/** Offset of the `}` that closes the object whose `{` is at `openAt`. */
function closingBrace(text: string, openAt: number): number {
  const members = objectMembers(text, openAt);
  return skipWs(text, members.length ? members[members.length - 1].valueEnd : openAt + 1);
}

/** `{"a": {"b": value}}` for keys ['a', 'b']. */
function nest(keys: readonly string[], value: unknown): unknown {
  return keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

/**
 * A splice that adds `members` (none of which may be in it yet) at the end of the object at `path`
 * (keys from the root; [] is the root object), creating the objects of `path` that are missing, and
 * only those. The new text follows the file's style: multi-line in the file's indentation (and line
 * ends) when the object spans lines (or is an empty `{}` in a pretty-printed file, as
 * JSON.stringify writes it), one line otherwise, with `": "` or minified `":"` as the file has them.
 * Throws when something on the path is not an object.
 */
export function insertMembers(text: string, path: readonly string[], members: ReadonlyArray<readonly [string, unknown]>): Splice {
  let openAt = rootStart(text);
  let depth = 0;
  for (; depth < path.length; depth++) {
    if (text[openAt] !== '{') break;
    const found = findMember(text, openAt, path[depth]);
    if (!found) break;
    openAt = found.valueStart;
  }
  if (text[openAt] !== '{') throw new Error(`${depth ? JSON.stringify(path[depth - 1]) : 'the file'} is not an object`);
  // The deepest object that exists gets either the members themselves or the rest of the path around them.
  const add: (readonly [string, unknown])[] = depth === path.length ? [...members] : [[path[depth], nest(path.slice(depth + 1), Object.fromEntries(members))]];

  const existing = objectMembers(text, openAt);
  const closeAt = closingBrace(text, openAt);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const unit = detectIndent(text);
  const model = existing.length ? existing : objectMembers(text, rootStart(text)); // how keys and values are separated
  const compact = model.length > 0 && !/\s/.test(text.slice(skipString(text, model[0].keyStart), model[0].valueStart));
  const colon = compact ? ':' : ': ';
  const multiLine = existing.length ? text.slice(openAt, closeAt).includes('\n') : text.slice(rootStart(text)).trimEnd().includes('\n');

  if (!multiLine) {
    const render = (k: string, v: unknown) => `${JSON.stringify(k)}${colon}${compact ? JSON.stringify(v) : oneLine(v)}`;
    const comma = compact ? ',' : ', ';
    const body = add.map(([k, v]) => render(k, v)).join(comma);
    if (existing.length) {
      const at = existing[existing.length - 1].valueEnd;
      return { start: at, end: at, text: `${comma}${body}` };
    }
    return { start: openAt + 1, end: closeAt, text: body };
  }

  const last = existing[existing.length - 1];
  const lastOwnLine = last !== undefined && /^[ \t]*$/.test(text.slice(text.lastIndexOf('\n', last.keyStart - 1) + 1, last.keyStart));
  const indent = lastOwnLine ? lineIndent(text, last.keyStart) : lineIndent(text, openAt) + unit;
  // Values on one line when the object's last value is a one-line object or array; multi-line otherwise.
  const lastValue = last ? text.slice(last.valueStart, last.valueEnd) : '';
  const oneLineValues = /^[{[]/.test(lastValue) && !/^(\{\s*\}|\[\s*\])$/.test(lastValue) && !lastValue.includes('\n');
  const render = (k: string, v: unknown) =>
    `${JSON.stringify(k)}${colon}${oneLineValues ? oneLine(v) : JSON.stringify(v, null, unit).replace(/\n/g, `${eol}${indent}`)}`;
  const body = add.map(([k, v]) => `${indent}${render(k, v)}`).join(`,${eol}`);
  if (last) return { start: last.valueEnd, end: last.valueEnd, text: `,${eol}${body}` };
  return { start: openAt + 1, end: closeAt, text: `${eol}${body}${eol}${lineIndent(text, openAt)}` };
}

/**
 * Splices that delete every member named in `keys` from the object at `path`, each with its comma
 * and the whitespace before the next member (or, for the last ones, after the member before them), so
 * the rest keeps its layout; an object left without members becomes `{}`. Undefined when the object is absent.
 */
export function removeMembers(text: string, path: readonly string[], keys: Iterable<string>): Splice[] | undefined {
  const openAt = path.length ? locate(text, path)?.valueStart : rootStart(text);
  if (openAt === undefined || text[openAt] !== '{') return undefined;
  const gone = new Set(keys);
  const members = objectMembers(text, openAt);
  const removed = members.map((m) => gone.has(m.key));
  if (!removed.some(Boolean)) return [];
  if (removed.every(Boolean)) return [{ start: openAt + 1, end: closingBrace(text, openAt), text: '' }];
  // The trailing run of removed members goes with the comma after the last member kept.
  let tail = members.length;
  while (removed[tail - 1]) tail--;
  const splices: Splice[] = [];
  for (let i = 0; i < tail; i++) if (removed[i]) splices.push({ start: members[i].keyStart, end: members[i + 1].keyStart, text: '' });
  if (tail < members.length) splices.push({ start: members[tail - 1].valueEnd, end: members[members.length - 1].valueEnd, text: '' });
  return splices;
}
