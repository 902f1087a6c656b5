/**
 * Hiding secrets that sit in command lines and URLs from what mcpshare prints: reasons, hints,
 * `--json` reports, dry-run diffs. Display only: what is registered or written is never altered
 * (import uses findArgSecrets() to refuse a command line that carries one instead).
 *
 * What counts as a secret on a command line:
 * - the value of a flag named like one: `--api-key V`, `--token=V`, `--githubToken V`, `--oauth2Bearer V`
 *   (but not `--api-key-file PATH` or `--no-auth`);
 * - the value of an auth-like header: `--header "Authorization: Bearer V"`, `-H "X-API-Key: V"`,
 *   `--header=Cookie:V`, and the two-word form `-H Authorization V`;
 * - the value of an environment assignment given to a container or wrapper: `-e NAME=V`,
 *   `--env NAME=V`, `--env=NAME=V` (NAME stays visible), and a bare `API_KEY=V` (as `env` takes it);
 * - inside a URL: a password (`postgres://user:V@host`), a user that looks like a token
 *   (`https://V@github.com`), query parameters named like one (`?api_key=V`, `&token=V`), and a long
 *   random-looking path segment (`/s/V/`, ≥ 16 mixed letters and digits);
 * - a value in a well-known token format (`sk-…`, `ghp_…`, `xoxb-…`, `glpat-…`, `AKIA…`).
 * A value that is nothing but `${VAR}` references (or `Bearer ${VAR}`) is not a secret in itself.
 */
export const REDACTED = '<redacted>';

/** The last word of a name that makes it secret: `api-key`, `GITHUB_TOKEN`, `clientSecret`, `oauth2Bearer`. */
const SECRET_WORDS = new Set([
  'apikey',
  'key',
  'token',
  'secret',
  'password',
  'passwd',
  'pass',
  'pwd',
  'passphrase',
  'auth',
  'authorization',
  'credential',
  'credentials',
  'bearer',
  'pat',
  'cookie',
  'sig',
  'signature',
]);
/** A first word that makes a flag a switch (`--no-auth`, `--skip-auth`), not a carrier of a value. */
const SWITCH_WORDS = new Set(['no', 'skip', 'disable', 'enable', 'allow', 'require', 'insecure', 'without']);

const REF = /\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}/g;
const HEADER_FLAGS = new Set(['--header', '-H', '--headers', '--http-header']);
const ENV_FLAGS = new Set(['-e', '--env']);
const ENV_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/;
const HEADER = /^(\s*)([A-Za-z0-9_-]+)(\s*:\s*)([\s\S]*)$/;
const TOKEN_SHAPE =
  /^(?:sk-|sk_(?:live|test)_|rk_(?:live|test)_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|xox[abposr]-|glpat-|hf_|npm_|pypi-|AKIA|ASIA|AIza)[A-Za-z0-9_-]{12,}$/;
const URL_IN_TEXT = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>]+/g;
/** Path segments after which the next one is a credential: `/s/SECRET/`, `/token/SECRET/`. */
const TOKEN_MARKERS = new Set(['s', 't', 'k', 'token', 'tokens', 'key', 'keys', 'secret', 'secrets', 'apikey', 'api-key', 'api_key', 'auth']);

/** Lower-case words of a flag, variable, parameter or header name (`--apiKey` → api, key). */
function words(name: string): string[] {
  return name
    .replace(/^-+/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** A name (flag without dashes, variable, query parameter, header) whose value is a secret. */
export function isSecretName(name: string): boolean {
  const w = words(name);
  if (!w.length) return false;
  if (w.length > 1 && SWITCH_WORDS.has(w[0])) return false;
  return SECRET_WORDS.has(w[w.length - 1]) || (w.length >= 2 && ['access key', 'private key', 'api key'].includes(w.slice(-2).join(' ')));
}

/** `--api-key`, `--token`, `-password`: a flag whose next argument is a secret. */
export function isSecretFlag(arg: string): boolean {
  return /^--?[A-Za-z]/.test(arg) && !arg.includes('=') && isSecretName(arg);
}

/** Authorization, Proxy-Authorization, Cookie, X-API-Key, X-Auth-Token, PRIVATE-TOKEN, … */
export function isAuthHeader(name: string): boolean {
  return isSecretName(name);
}

/** Nothing but `${VAR}` references (optionally after a scheme word: `Bearer ${TOKEN}`): not a secret in itself. */
function isReference(value: string): boolean {
  if (!value.match(REF)) return false;
  const rest = value.replace(REF, '').trim();
  return rest === '' || /^(?:bearer|basic|token|bot)$/i.test(rest);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Random-looking: a run of ≥ 16 letters and digits with both in it (`ZAPa8f3k2LmQ9xTz`), a UUID, or
 * ≥ 24 characters of base64url with upper case, lower case and digits. Names such as
 * `github-mcp-server-2025` are not: their runs are words.
 */
function randomLooking(s: string): boolean {
  if (UUID.test(s)) return true;
  if (!/^[A-Za-z0-9_-]{16,}$/.test(s)) return false;
  if (s.split(/[-_]/).some((run) => run.length >= 16 && /[A-Za-z]/.test(run) && /[0-9]/.test(run))) return true;
  return s.length >= 24 && /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s);
}

/** After `/s/`, `/token/`, …: ≥ 8 characters with letters and digits. */
function tokenAfterMarker(s: string): boolean {
  return s.length >= 8 && /^[A-Za-z0-9_\-.~%]+$/.test(s) && /[A-Za-z]/.test(s) && /[0-9]/.test(s);
}

type Found = string[];

/** A URL with its secrets hidden (userinfo password or token user, secret query values, token path segments). */
function redactUrl(url: string, found: Found): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(url);
  if (!m) return url;
  const [, scheme, authority, path, query = '', hash = ''] = m;
  let auth = authority;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const info = authority.slice(0, at);
    const colon = info.indexOf(':');
    if (colon >= 0 && colon < info.length - 1 && !isReference(info.slice(colon + 1))) {
      auth = `${info.slice(0, colon + 1)}${REDACTED}${authority.slice(at)}`;
      found.push('a password in a URL');
    } else if (colon < 0 && (randomLooking(info) || TOKEN_SHAPE.test(info))) {
      auth = `${REDACTED}${authority.slice(at)}`;
      found.push('a token as the user of a URL');
    }
  }
  let p = path;
  if (/^(?:https?|wss?):\/\/$/i.test(scheme)) {
    const segs = path.split('/');
    p = segs
      .map((seg, k) =>
        seg && (randomLooking(seg) || TOKEN_SHAPE.test(seg) || (k > 0 && TOKEN_MARKERS.has(segs[k - 1].toLowerCase()) && tokenAfterMarker(seg)))
          ? (found.push('a token in a URL path'), REDACTED)
          : seg,
      )
      .join('/');
  }
  const q = mapQuery(query, (part, eq) => {
    if (eq < 0) return part;
    const name = decodeSafe(part.slice(0, eq));
    const value = decodeSafe(part.slice(eq + 1));
    if (value === '' || isReference(value) || !(isSecretName(name) || TOKEN_SHAPE.test(value))) return part;
    found.push(`the ${name} parameter of a URL`);
    return `${part.slice(0, eq + 1)}${REDACTED}`;
  });
  return `${scheme}${auth}${p}${q}${hash}`;
}

/** A URL's `?query` with each `name=value` part passed through `fn` (eq: the index of "=", or -1); "" for none. */
function mapQuery(query: string | undefined, fn: (part: string, eq: number) => string): string {
  return query
    ? `?${query
        .slice(1)
        .split('&')
        .map((part) => fn(part, part.indexOf('=')))
        .join('&')}`
    : '';
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** A value on its own: a token, or text with URLs in it. */
function redactValue(value: string, found: Found): string {
  if (TOKEN_SHAPE.test(value)) {
    found.push('a value in a known token format');
    return REDACTED;
  }
  return value.replace(URL_IN_TEXT, (url) => redactUrl(url, found));
}

/** `Name: value` with an auth-like name: the value hidden. Undefined when it is not such a header. */
function redactHeader(value: string, found: Found): string | undefined {
  const m = HEADER.exec(value);
  if (!m || !isAuthHeader(m[2]) || m[4] === '' || isReference(m[4])) return undefined;
  found.push(`the ${m[2]} header`);
  return `${m[1]}${m[2]}${m[3]}${REDACTED}`;
}

/** `NAME=value`: the value hidden (always, or only when NAME looks secret). Undefined when it is not an assignment. */
function redactAssignment(value: string, found: Found, always: boolean): string | undefined {
  const m = ENV_ASSIGNMENT.exec(value);
  if (!m || m[2] === '' || isReference(m[2]) || !(always || isSecretName(m[1]))) return undefined;
  found.push(`the value of ${m[1]}`);
  return `${m[1]}=${REDACTED}`;
}

function scan(args: readonly string[]): { shown: string[]; found: { index: number; what: string }[] } {
  const shown: string[] = [];
  const found: { index: number; what: string }[] = [];
  args.forEach((a, i) => {
    const f: Found = [];
    const prev = i > 0 ? args[i - 1] : undefined;
    const prev2 = i > 1 ? args[i - 2] : undefined;
    let out: string | undefined;
    if (prev !== undefined && isSecretFlag(prev) && !a.startsWith('-')) {
      if (a !== '' && !isReference(a)) {
        out = REDACTED;
        f.push(`the value of ${prev}`);
      } else out = a;
    } else if (prev !== undefined && HEADER_FLAGS.has(prev)) {
      out = redactHeader(a, f);
    } else if (
      prev2 !== undefined &&
      HEADER_FLAGS.has(prev2) &&
      prev !== undefined &&
      /^[A-Za-z0-9_-]+$/.test(prev) &&
      isAuthHeader(prev) &&
      !a.startsWith('-')
    ) {
      if (a !== '' && !isReference(a)) {
        out = REDACTED;
        f.push(`the ${prev} header`);
      } else out = a;
    } else if (prev !== undefined && ENV_FLAGS.has(prev)) {
      out = redactAssignment(a, f, true);
      if (out !== undefined) f[f.length - 1] = `${f[f.length - 1]} (${prev} ${a.slice(0, a.indexOf('='))}=…)`;
    }
    if (out === undefined && a.startsWith('-')) {
      const eq = a.indexOf('=');
      if (eq > 1) {
        const flag = a.slice(0, eq);
        const value = a.slice(eq + 1);
        if (isSecretFlag(flag)) {
          if (value !== '' && !isReference(value)) {
            out = `${flag}=${REDACTED}`;
            f.push(`the value of ${flag}`);
          } else out = a;
        } else if (HEADER_FLAGS.has(flag)) {
          const h = redactHeader(value, f);
          if (h !== undefined) out = `${flag}=${h}`;
        } else if (ENV_FLAGS.has(flag)) {
          const e = redactAssignment(value, f, true);
          if (e !== undefined) {
            out = `${flag}=${e}`;
            f[f.length - 1] = `${f[f.length - 1]} (${flag}=${value.slice(0, value.indexOf('='))}=…)`;
          }
        }
        if (out === undefined) out = `${flag}=${redactValue(value, f)}`;
      }
    }
    if (out === undefined) out = redactAssignment(a, f, false);
    if (out === undefined) out = redactValue(a, f);
    shown.push(out);
    for (const what of f) found.push({ index: i, what });
  });
  return { shown, found };
}

/** One argument on its own (a `--token=…`, a URL with a password or a token, a known token format). */
export function redactArg(arg: string): string {
  return scan([arg]).shown[0];
}

/** A command line with the values of secret-looking flags, headers, assignments and URL parts hidden. */
export function redactArgs(args: readonly string[]): string[] {
  return scan(args).shown;
}

/**
 * What in a command line is a secret, for people: `the value of --api-key`, `the Authorization
 * header`, `a password in a URL`, … (each once, in order). Empty when nothing is.
 */
export function findArgSecrets(args: readonly string[]): string[] {
  return [...new Set(scan(args).found.map((x) => x.what))];
}

/** `command args…` for people, secrets hidden. */
export function showCommand(command: string, args: readonly string[]): string {
  return [command, ...redactArgs(args)].join(' ');
}

/**
 * A remote server's URL for people: scheme, host and path, with long random-looking path segments
 * (and the one after `/s/`, `/token/`, …) hidden, no userinfo, and every query value hidden (names
 * kept). A URL with nothing to hide is returned as it is.
 */
export function showUrl(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(url.trim());
  if (!m) return redactValue(url, []);
  const [, scheme, authority, path, query, hash] = m;
  const at = authority.lastIndexOf('@');
  const host = at >= 0 ? authority.slice(at + 1) : authority;
  const found: Found = [];
  const redacted = redactUrl(`${scheme}${host}${path}`, found);
  if (at < 0 && !query && !hash && !found.length) return url;
  const q = mapQuery(query, (part, eq) => (eq >= 0 ? `${part.slice(0, eq + 1)}${REDACTED}` : randomLooking(part) || TOKEN_SHAPE.test(part) ? REDACTED : part));
  return `${redacted}${q}`;
}
