/**
 * Claude Code expands `${VAR}` and `${VAR:-default}` in `.mcp.json` values (command, args, env,
 * url, headers) from its own environment when it starts a session. A daemon registered by import
 * must get the values those sessions would have got, so import expands them the same way; a
 * variable that is unset (and has no default) is reported, and nothing is registered with a hole.
 */
const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface Expanded<T> {
  value: T;
  /** Variables referenced without a default that are not set. */
  missing: string[];
}

export function expandString(s: string, env: NodeJS.ProcessEnv, missing: Set<string>): string {
  return s.replace(REF, (whole, name: string, def: string | undefined) => {
    const v = env[name];
    // `:-` as in the shell: the default also stands in for a variable set to the empty string.
    if (def !== undefined) return v === undefined || v === '' ? def : v;
    if (v === undefined) {
      missing.add(name);
      return whole;
    }
    return v;
  });
}

/** Expands every string inside a JSON value (object keys are left alone). */
export function expandDeep<T>(value: T, env: NodeJS.ProcessEnv): Expanded<T> {
  const missing = new Set<string>();
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return expandString(v, env, missing);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const out = walk(value) as T;
  return { value: out, missing: [...missing].sort() };
}

/** True when the string is nothing but variable references (not a secret in itself). */
export function isOnlyReferences(s: string): boolean {
  return s !== '' && s.replace(REF, '') === '';
}
