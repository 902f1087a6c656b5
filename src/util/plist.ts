/**
 * A property list (XML, the format launchd reads) from plain data: the LaunchAgents of the daemons
 * and of the tray are both written through this, so escaping and layout live in one place.
 * Keys keep their insertion order; `undefined` values are left out.
 */
export type PlistValue = string | number | boolean | readonly PlistValue[] | PlistDict;
export interface PlistDict {
  readonly [key: string]: PlistValue | undefined;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function scalar(v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? '<true/>' : '<false/>';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`plist: only integers are written, not ${v}`);
    return `<integer>${v}</integer>`;
  }
  return `<string>${xml(v)}</string>`;
}

/** Lines for `value` at `indent`, prefixed by `head` (a `<key>` element, or nothing inside an array). */
function lines(value: PlistValue, indent: string, head: string): string[] {
  if (typeof value !== 'object') return [`${indent}${head}${scalar(value)}`];
  const inner = `${indent}  `;
  const open = head ? [`${indent}${head}`] : [];
  if (Array.isArray(value)) return [...open, `${indent}<array>`, ...(value as PlistValue[]).flatMap((v) => lines(v, inner, '')), `${indent}</array>`];
  return [...open, `${indent}<dict>`, ...dictLines(value as PlistDict, inner), `${indent}</dict>`];
}

function dictLines(d: PlistDict, indent: string): string[] {
  return Object.entries(d).flatMap(([k, v]) => (v === undefined ? [] : lines(v, indent, `<key>${xml(k)}</key>`)));
}

/** The whole file; `comment` (one line, no "--") goes right after the DOCTYPE. */
export function renderPlistXml(root: PlistDict, comment?: string): string {
  if (comment && comment.includes('--')) throw new Error('plist: an XML comment cannot contain "--"');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    ...(comment ? [`<!-- ${comment} -->`] : []),
    '<plist version="1.0">',
    '<dict>',
    ...dictLines(root, '  '),
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}
