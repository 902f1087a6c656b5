import { unifiedDiff } from './diff.js';
import { isOnlyReferences } from './expand.js';
import { applySplices, arrayItems, lineColumn, locate, objectMembers, type Splice } from './json-text.js';
import { isSecretName, REDACTED, redactArgs, showUrl } from '../util/redact.js';

/**
 * What `apply --dry-run` and `revert --dry-run` show of a config: the diff of its servers object
 * only, with every entry's secrets hidden. Nothing outside that object is ever printed (in
 * `~/.claude.json` it sits next to OAuth account data and API keys), not even as diff context, and
 * no entry's `env`/`headers` values, secret-looking args or URL tokens are printed either, whether
 * the entry changes or not.
 */

/**
 * The text with, in every entry of the servers object at `section` (or only in `names`): the
 * literal values of `env` and `headers` (variable references such as "${TOKEN}" stay visible),
 * secret-looking `args` (redactArgs), the secret parts of `url` (showUrl), and any other string
 * under a secret-looking key (`clientSecret`, …) replaced by "<redacted>".
 */
export function redactEntries(text: string, section: readonly string[], names?: Iterable<string>): string {
  const servers = locate(text, section);
  if (!servers || text[servers.valueStart] !== '{') return text;
  const only = names ? new Set(names) : undefined;
  const splices: Splice[] = [];
  for (const entry of objectMembers(text, servers.valueStart)) {
    if (only && !only.has(entry.key)) continue;
    if (text[entry.valueStart] === '{') redactEntry(text, entry.valueStart, splices);
  }
  return applySplices(text, splices);
}

function redactEntry(text: string, openAt: number, splices: Splice[]): void {
  for (const field of objectMembers(text, openAt)) {
    const raw = text.slice(field.valueStart, field.valueEnd);
    const c = text[field.valueStart];
    if (field.key === 'args' && c === '[') {
      const items = arrayItems(text, field.valueStart);
      const values = items.map((it) => JSON.parse(text.slice(it.start, it.end)) as unknown);
      const shown = redactArgs(values.map((v) => (typeof v === 'string' ? v : '')));
      items.forEach((it, k) => {
        if (typeof values[k] === 'string' && shown[k] !== values[k]) splices.push({ start: it.start, end: it.end, text: JSON.stringify(shown[k]) });
      });
    } else if ((field.key === 'env' || field.key === 'headers') && c === '{') {
      for (const v of objectMembers(text, field.valueStart)) hideString(text, v.valueStart, v.valueEnd, splices);
    } else if (field.key === 'url' && c === '"') {
      const url = JSON.parse(raw) as string;
      const shown = showUrl(url);
      if (shown !== url) splices.push({ start: field.valueStart, end: field.valueEnd, text: JSON.stringify(shown) });
    } else if (c === '{') {
      hideSecretKeys(text, field.valueStart, splices);
    } else if (c === '"' && isSecretName(field.key)) {
      hideString(text, field.valueStart, field.valueEnd, splices);
    }
  }
}

/** Nested objects of unknown keys (`"oauth": {"clientSecret": …}`): strings under secret-looking keys. */
function hideSecretKeys(text: string, openAt: number, splices: Splice[]): void {
  for (const m of objectMembers(text, openAt)) {
    if (text[m.valueStart] === '{') hideSecretKeys(text, m.valueStart, splices);
    else if (text[m.valueStart] === '"' && isSecretName(m.key)) hideString(text, m.valueStart, m.valueEnd, splices);
  }
}

function hideString(text: string, start: number, end: number, splices: Splice[]): void {
  const raw = text.slice(start, end);
  if (raw.startsWith('"') && !isOnlyReferences(JSON.parse(raw) as string)) splices.push({ start, end, text: JSON.stringify(REDACTED) });
}

/**
 * The servers object's text for display: from the start of its key's line (when nothing else is
 * on that line before the key) or from its key, to its closing brace. Undefined when absent.
 */
export function sectionExcerpt(text: string, section: readonly string[]): { text: string; line: number } | undefined {
  const m = locate(text, section);
  if (!m) return undefined;
  const lineStart = text.lastIndexOf('\n', m.keyStart - 1) + 1;
  const from = /^[ \t]*$/.test(text.slice(lineStart, m.keyStart)) ? lineStart : m.keyStart;
  return { text: `${text.slice(from, m.valueEnd)}\n`, line: lineColumn(text, from).line };
}

/**
 * The diff, for people, of two versions of a config that differ only inside the servers object at
 * `section`: that object alone (line numbers as in the file), every entry redacted.
 */
export function sectionDiff(oldText: string, newText: string, section: readonly string[], oldName: string, newName: string): string {
  const a = sectionExcerpt(redactEntries(oldText, section), section);
  const b = sectionExcerpt(redactEntries(newText, section), section);
  return unifiedDiff(a?.text ?? '', b?.text ?? '', oldName, newName, { oldStart: a?.line ?? 1, newStart: b?.line ?? 1 });
}
