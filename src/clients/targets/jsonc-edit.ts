import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { detectIndent, jsonEqual, lineColumn, oneLine, renderValueAt } from '../json-text.js';

/**
 * Reading and editing JSON and JSON-with-comments configs (VS Code, Zed, opencode, and the strict
 * JSON ones) without reformatting them. Microsoft's jsonc-parser (the parser VS Code itself uses)
 * parses, reports errors with offsets and gives every node's offsets; edits are splices at those
 * offsets, so comments, trailing commas, key order, indentation, tabs and CRLF line ends outside the
 * changed values keep their bytes. jsonc-parser's own `modify` is not used: it reformats the
 * neighbours of an inserted member and leaves a dangling comma when it removes the member before a
 * trailing comma (both seen with 3.3.1).
 */
export class FormatError extends Error {
  override name = 'FormatError';
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

export interface JsonDoc {
  text: string;
  root: Node;
  data: unknown;
}

const BOM = '\uFEFF';

/** "PropertyNameExpected" → "property name expected". */
const humanize = (code: string) => code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();

/**
 * Parses `text`; `strict` refuses comments and trailing commas (for clients that read plain JSON).
 * Errors say where: the first one, with its line and column.
 */
export function parseJsonDoc(text: string, strict: boolean): JsonDoc {
  // A byte-order mark becomes a space for the parser, so that offsets stay those of the text.
  const scan = text.startsWith(BOM) ? ` ${text.slice(1)}` : text;
  const errors: ParseError[] = [];
  const root = parseTree(scan, errors, { allowTrailingComma: !strict, disallowComments: strict, allowEmptyContent: false });
  if (errors.length || !root) {
    const e = errors[0];
    const { line, column } = lineColumn(text, e ? e.offset : text.length);
    const what = e ? humanize(printParseErrorCode(e.error)) : 'empty file';
    throw new FormatError(`${what} at line ${line}, column ${column}`, line, column);
  }
  return { text, root, data: plain(getNodeValue(root)) };
}

/** jsonc-parser builds objects without a prototype: make them ordinary for comparisons and JSON output. */
function plain(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

export function nodeAt(doc: JsonDoc, path: readonly string[]): Node | undefined {
  return path.length ? findNodeAtLocation(doc.root, [...path]) : doc.root;
}

/** The exact text of the value at `path`. */
export function valueText(doc: JsonDoc, path: readonly string[]): string | undefined {
  const n = nodeAt(doc, path);
  return n ? doc.text.slice(n.offset, n.offset + n.length) : undefined;
}

interface Splice {
  start: number;
  end: number;
  text: string;
}
const splice = (text: string, s: Splice) => text.slice(0, s.start) + s.text + text.slice(s.end);
const eolOf = (text: string) => (text.includes('\r\n') ? '\r\n' : '\n');
const lineStart = (text: string, at: number) => text.lastIndexOf('\n', at - 1) + 1;
const lineIndent = (text: string, at: number) => /^[ \t]*/.exec(text.slice(lineStart(text, at)))![0];

/**
 * The value at `path` replaced by `value`, or by `exactText` (revert's original bytes) when given:
 * one line if the old value was one line, else multi-line in the file's indentation and line ends.
 */
export function replaceValue(doc: JsonDoc, path: readonly string[], value: unknown, exactText?: string): string {
  const n = nodeAt(doc, path);
  if (!n || !n.parent) throw new Error(`internal: ${path.join('.')} is not in the file`);
  const member = { key: path[path.length - 1], keyStart: n.parent.offset, valueStart: n.offset, valueEnd: n.offset + n.length };
  return splice(doc.text, { start: member.valueStart, end: member.valueEnd, text: exactText ?? renderValueAt(doc.text, member, value) });
}

/** Offset just after the last member of an object node and, when it has one, its trailing comma. */
function afterLastMember(text: string, obj: Node): { end: number; trailingComma: boolean } {
  const last = obj.children![obj.children!.length - 1];
  const end = last.offset + last.length;
  let i = end;
  while (i < text.length && /\s/.test(text[i])) i++;
  return text[i] === ',' ? { end: i + 1, trailingComma: true } : { end, trailingComma: false };
}

/**
 * Adds `key: value` at the end of the object at `objPath`, creating the objects on that path that
 * are missing (only those). Follows the file: its indentation unit and line ends, a trailing comma
 * if the object's last member has one, one-line values if the object's members are one-liners.
 */
export function insertMember(doc: JsonDoc, objPath: readonly string[], key: string, value: unknown): string {
  const { text } = doc;
  let depth = 0;
  let obj: Node = doc.root;
  for (; depth < objPath.length; depth++) {
    const next = nodeAt(doc, objPath.slice(0, depth + 1));
    if (!next) break;
    obj = next;
  }
  if (obj.type !== 'object') throw new Error(`${depth ? objPath.slice(0, depth).join('.') : 'the file'} is not an object`);
  const nested = objPath.slice(depth).reduceRight<unknown>((inner, k) => ({ [k]: inner }), { [key]: value });
  const [k, v] = depth === objPath.length ? [key, value] : [objPath[depth], (nested as Record<string, unknown>)[objPath[depth]]];
  const eol = eolOf(text);
  const unit = detectIndent(text);
  const props = obj.children ?? [];
  const closeAt = obj.offset + obj.length - 1; // the '}'
  const multiLine = props.length
    ? text.slice(obj.offset, closeAt).includes('\n')
    : text.slice(doc.root.offset, doc.root.offset + doc.root.length).includes('\n');
  const last = props[props.length - 1];
  const lastValue = last?.children?.[1];
  const lastText = lastValue ? text.slice(lastValue.offset, lastValue.offset + lastValue.length) : '';
  const oneLineValues = /^[{[]/.test(lastText) && !/^(\{\s*\}|\[\s*\])$/.test(lastText) && !lastText.includes('\n');
  if (!multiLine) {
    const member = `${JSON.stringify(k)}: ${oneLine(v)}`;
    if (!last) return splice(text, { start: obj.offset + 1, end: closeAt, text: member });
    const { end, trailingComma } = afterLastMember(text, obj);
    return splice(text, { start: end, end, text: trailingComma ? ` ${member},` : `, ${member}` });
  }
  const indent =
    last && /^[ \t]*$/.test(text.slice(lineStart(text, last.offset), last.offset)) ? lineIndent(text, last.offset) : lineIndent(text, obj.offset) + unit;
  const rendered = oneLineValues ? oneLine(v) : JSON.stringify(v, null, unit).replace(/\n/g, `${eol}${indent}`);
  const member = `${indent}${JSON.stringify(k)}: ${rendered}`;
  if (!last) return splice(text, { start: obj.offset + 1, end: closeAt, text: `${eol}${member}${eol}${lineIndent(text, obj.offset)}` });
  const { end, trailingComma } = afterLastMember(text, obj);
  return splice(text, { start: end, end, text: trailingComma ? `${eol}${member},` : `,${eol}${member}` });
}

/**
 * Deletes `key` from the object at `objPath`, with its comma and its own lines, leaving the other
 * members, their comments and the object's trailing-comma style as they are. An object left without
 * members becomes `{}`.
 */
export function removeMember(doc: JsonDoc, objPath: readonly string[], key: string): string {
  const { text } = doc;
  const obj = nodeAt(doc, objPath);
  if (!obj || obj.type !== 'object') return text;
  const props = obj.children ?? [];
  const i = props.findIndex((p) => p.children?.[0]?.value === key);
  if (i < 0) return text;
  const p = props[i];
  if (props.length === 1) return splice(text, { start: obj.offset + 1, end: obj.offset + obj.length - 1, text: '' });
  let j = p.offset + p.length;
  while (j < text.length && /[ \t]/.test(text[j])) j++;
  const comma = text[j] === ',';
  if (comma || i < props.length - 1) {
    // Its comma follows it: take the member, its comma and the rest of its line (when only blanks),
    // from the start of its line (when only blanks precede it).
    const ls = lineStart(text, p.offset);
    const start = /^[ \t]*$/.test(text.slice(ls, p.offset)) ? ls : p.offset;
    let end = comma ? j + 1 : props[i + 1].offset;
    const rest = /^[ \t]*\r?\n/.exec(text.slice(end));
    if (start === ls && rest) end += rest[0].length;
    return splice(text, { start, end, text: '' });
  }
  // The last member, without a trailing comma: it goes with the comma after the member before it.
  const prev = props[i - 1];
  return splice(text, { start: prev.offset + prev.length, end: p.offset + p.length, text: '' });
}

/** Parses the edited text and checks it says exactly `expected`; a bug here must never reach a config. */
export function checkJson(text: string, strict: boolean, expected: unknown): void {
  let got: unknown;
  try {
    got = parseJsonDoc(text, strict).data;
  } catch (err) {
    throw new Error(`internal: the edited config does not parse (${(err as Error).message}); nothing was written`, { cause: err });
  }
  if (!jsonEqual(got, expected)) throw new Error('internal: the edited config does not parse to the intended content; nothing was written');
}
