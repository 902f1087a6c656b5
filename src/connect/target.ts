import { lookupEntry } from '../registry/lookup.js';
import { validateName } from '../registry/names.js';
import { clientUrl } from '../registry/url.js';

/** Where `mcpshare connect` relays to: a registered daemon (by name) or a URL. */
export interface Target {
  /** How messages name it: `"memory" (http://localhost:8003/mcp)` or the URL. */
  label: string;
  /** The daemon's Streamable HTTP endpoint. Called again after a refused connection: `mcpshare edit --port` may have moved it. */
  resolve(): URL;
  /** What a person can do when nothing answers there. */
  downHint: string;
}

export class TargetError extends Error {
  override name = 'TargetError';
}

const isUrl = (arg: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(arg);

export function targetFor(arg: string): Target {
  if (isUrl(arg)) {
    const url = parseUrl(arg);
    return { label: url.href, resolve: () => url, downHint: 'is the server running there?' };
  }
  validateName(arg);
  return {
    label: `"${arg}"`,
    resolve: () => {
      const entry = lookupEntry(arg);
      // A bridged daemon serves /mcp whatever transport its entry records for other clients.
      if (entry.kind === 'bridged') return new URL(clientUrl({ port: entry.port, path: '/mcp' }));
      if (entry.transport === 'sse') {
        throw new TargetError(`"${arg}" is a native server that speaks only legacy SSE (${clientUrl(entry)}); mcpshare connect relays to Streamable HTTP`);
      }
      return new URL(clientUrl(entry));
    },
    downHint: `start it with "mcpshare start ${arg}" (see "mcpshare status ${arg}" and "mcpshare logs ${arg}")`,
  };
}

function parseUrl(arg: string): URL {
  let url: URL;
  try {
    url = new URL(arg);
  } catch {
    throw new TargetError(`"${arg}" is not a valid URL`);
  }
  if (url.protocol !== 'http:') throw new TargetError(`${arg}: mcpshare connect speaks plain http to a local daemon (got ${url.protocol})`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/mcp';
  if (/\/sse\/?$/i.test(url.pathname)) {
    throw new TargetError(`${arg} is a legacy SSE endpoint; mcpshare connect relays to Streamable HTTP (for an mcpshare daemon: ${url.origin}/mcp)`);
  }
  return url;
}
