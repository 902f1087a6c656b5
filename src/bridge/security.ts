import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, httpRpcError } from './jsonrpc.js';

const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
/** Listen addresses that mean "every interface". */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '::0', '[::0]']);

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_HOSTNAMES.has(h) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h.endsWith('.localhost');
}

/** Hostname part of a Host header value ("[::1]:8001" → "[::1]", "localhost:80" → "localhost"). */
export function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) {
    const end = hostHeader.indexOf(']');
    return end > 0 ? hostHeader.slice(0, end + 1) : hostHeader;
  }
  const colon = hostHeader.lastIndexOf(':');
  return colon >= 0 ? hostHeader.slice(0, colon) : hostHeader;
}

export interface SecurityOptions {
  /** Extra Host names accepted besides loopback (e.g. the LAN name when --allow-remote). */
  allowedHosts: string[];
  /** Extra Origins accepted besides loopback ones ("http://example:3000"). */
  allowedOrigins: string[];
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

function jsonError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  httpRpcError(res, status, ErrorCode.InvalidRequest, message, { headers });
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * DNS-rebinding protection and optional bearer auth: returns a checker that answers a refused
 * request itself and returns false, or returns true to let the request through. A browser page on evil.example that resolves
 * to 127.0.0.1 still sends Host: evil.example and Origin: http://evil.example — both are refused.
 */
export function requestGuard(opts: SecurityOptions) {
  const extraHosts = new Set(opts.allowedHosts.map((h) => h.toLowerCase()));
  // Bound to a wildcard address (only possible with --allow-remote, which requires a token), clients
  // reach the bridge under any of the machine's names and addresses, so no Host list can be right.
  // The bearer token is what stops a rebinding page (it cannot know it), and Origin is still checked.
  const anyHost = !!opts.token && opts.allowedHosts.some((h) => WILDCARD_HOSTS.has(h.toLowerCase()));
  const extraOrigins = new Set(opts.allowedOrigins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const refuse = (status: number, message: string, headers?: Record<string, string>) => {
      jsonError(res, status, message, headers);
      return false;
    };
    const host = req.headers.host;
    if (!host) return refuse(403, 'Forbidden: missing Host header');
    const hostname = hostnameOf(host.toLowerCase());
    if (!anyHost && !isLoopbackHost(hostname) && !extraHosts.has(hostname) && !extraHosts.has(host.toLowerCase())) {
      return refuse(403, `Forbidden: Host "${host}" is not allowed (DNS rebinding protection)`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let ok = extraOrigins.has(origin.toLowerCase());
      if (!ok) {
        try {
          const u = new URL(origin);
          ok = (u.protocol === 'http:' || u.protocol === 'https:') && isLoopbackHost(u.hostname);
        } catch {
          ok = false;
        }
      }
      if (!ok) return refuse(403, `Forbidden: Origin "${origin}" is not allowed`);
    }
    if (opts.token) {
      const auth = req.headers.authorization ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(auth);
      if (!m || !tokenMatches(m[1].trim(), opts.token)) {
        return refuse(401, 'Unauthorized: a valid bearer token is required', { 'WWW-Authenticate': 'Bearer' });
      }
    }
    return true;
  };
}
