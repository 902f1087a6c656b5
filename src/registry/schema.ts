import * as z from 'zod/mini';
import { McpshareError } from '../errors.js';
import { validateName } from './names.js';
import type { ServerEntry } from './registry.js';

/**
 * What a registry entry must look like when read back: the file is the user's too (a hand edit, a
 * dotfile sync, an older or newer mcpshare), and a wrong field would otherwise surface later as a
 * unit that cannot start or a URL with "undefined" in it. Unknown fields pass through untouched, so
 * a read-modify-write never drops what a newer version (or a person) added. zod/mini: the same
 * checks as zod's classic API for ~1.5 MB less in every process that reads the registry.
 */

/** The service managers a daemon can be installed with. */
export const BACKEND_NAMES = ['systemd', 'launchd', 'supervisor'] as const;

const nonEmpty = z.string().check(z.minLength(1));
const isName = (name: string) => {
  try {
    validateName(name);
    return true;
  } catch {
    return false;
  }
};

const entrySchema = z.looseObject({
  name: z.string().check(z.refine(isName)),
  kind: z.enum(['bridged', 'native']),
  transport: z.enum(['http', 'sse']),
  path: z.string().check(z.startsWith('/')),
  command: nonEmpty,
  args: z.array(z.string()),
  port: z.int().check(z.minimum(1), z.maximum(65535)),
  cwd: z.optional(nonEmpty),
  envFile: z.optional(nonEmpty),
  pathEnv: z.optional(z.string()),
  restart: z.looseObject({
    restartSec: z.number().check(z.minimum(0)),
    burst: z.int().check(z.minimum(1)),
    intervalSec: z.number().check(z.minimum(0)),
  }),
  idleStopSec: z.optional(z.int().check(z.minimum(0))),
  backend: z.enum(BACKEND_NAMES),
  addedAt: z.string(),
  updatedAt: z.optional(z.string()),
});

/** What each field must be, in words a person editing the file can act on. */
const EXPECTED: Record<string, string> = {
  name: 'must be the server\'s name: 1–48 letters, digits, "-" or "_", starting with a letter or digit',
  kind: 'must be "bridged" or "native"',
  transport: 'must be "http" or "sse"',
  path: 'must be a URL path starting with "/" (e.g. "/mcp")',
  command: 'must be a non-empty string (the program to run)',
  args: 'must be a list of strings',
  port: 'must be an integer from 1 to 65535',
  cwd: 'must be a non-empty string (a directory) or absent',
  envFile: 'must be a non-empty string (a file) or absent',
  pathEnv: 'must be a string or absent',
  restart: 'must be an object {"restartSec": seconds, "burst": count, "intervalSec": seconds}',
  'restart.restartSec': 'must be a number of seconds (0 or more)',
  'restart.burst': 'must be an integer of 1 or more',
  'restart.intervalSec': 'must be a number of seconds (0 or more)',
  idleStopSec: 'must be a whole number of seconds (0: never stop it when idle) or absent',
  backend: `must be one of ${BACKEND_NAMES.map((b) => `"${b}"`).join(', ')}`,
  addedAt: 'must be a date string',
  updatedAt: 'must be a date string or absent',
};

/** What was found, without echoing strings: an edited command line may hold a token. */
function found(value: unknown): string {
  if (value === undefined) return 'it is missing';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return `found ${JSON.stringify(value)}`;
  if (Array.isArray(value)) return 'found a list';
  return `found ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}`;
}

function at(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

/**
 * The registry's servers, every entry checked. A bad entry is McpshareError 'registry-invalid'
 * naming the file, the server and the field; the file is never rewritten here (nothing is lost).
 */
export function validServers(servers: Record<string, unknown>, file: string): Record<string, ServerEntry> {
  const out: Record<string, ServerEntry> = {};
  for (const [key, raw] of Object.entries(servers)) {
    const result = entrySchema.safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0];
      const field = issue.path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '');
      const top = String(issue.path[0] ?? '');
      const expected = EXPECTED[field] ?? EXPECTED[top] ?? 'is not valid';
      const what = field ? `"${field}" ${expected}` : 'is not an object';
      throw invalid(file, key, field || undefined, `${what} (${found(at(raw, issue.path))})`);
    }
    const entry: ServerEntry = result.data;
    if (entry.name !== key) throw invalid(file, key, 'name', `"name" must be the same as its key "${key}" (found another name)`);
    out[key] = entry;
  }
  return out;
}

function invalid(file: string, server: string, field: string | undefined, problem: string): McpshareError<'registry-invalid'> {
  return new McpshareError('registry-invalid', `${file}: server "${server}": ${problem}; the file was left as is — fix it, or restore ${file}.bak`, {
    context: { file, server, field },
  });
}
