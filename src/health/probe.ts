import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { lookupKnown } from '../registry/known-servers.js';
import { nativeFlagWords } from '../registry/shareability.js';
import { portOwner } from '../util/port-owner.js';
import { showCommand } from '../util/redact.js';
import type { Handshake, Opened, ProbeContext } from './session.js';
import { openSseSession } from './sse.js';
import { openHttpSession } from './streamable.js';
import type { Diagnosis, ProbeOptions, ProbeResult, ProbeTarget, Transport } from './types.js';

export * from './types.js';

/**
 * The health probe: a real MCP handshake with a daemon on loopback, ended cleanly, and a diagnosis
 * a person can act on. It never throws: every failure is a ProbeResult.
 */
export async function probe(target: ProbeTarget, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const t0 = performance.now();
  const base = { url: target.url, transport: target.transport };
  const finish = (r: Omit<ProbeResult, 'url' | 'transport' | 'latencyMs' | 'ok'> & { latencyMs?: number }): ProbeResult => ({
    ...base,
    ok: r.diagnosis === 'up',
    ...r,
    latencyMs: round(r.latencyMs ?? performance.now() - t0),
  });
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    return finish({ diagnosis: 'not-loopback', message: `"${target.url}" is not a URL`, fix: 'use http://localhost:PORT/mcp (or /sse)' });
  }
  const where = await loopbackAddresses(url, opts.timeoutMs ?? 3000);
  if ('message' in where) return finish({ diagnosis: 'not-loopback', ...where });
  const ctx: ProbeContext = { addresses: where.addresses, timeoutMs: opts.timeoutMs ?? 3000 };

  const first = await handshake(url, target.transport, ctx);
  if (first.ok) {
    await first.session.close();
    const up = finish({
      diagnosis: 'up',
      server: first.server,
      protocolVersion: first.protocolVersion,
      capabilities: first.capabilities,
      latencyMs: first.latencyMs,
      message: upMessage(first),
    });
    if (!opts.concurrency) return up;
    const concurrency = await twoSessions(url, target.transport, ctx);
    if (concurrency.ok) return { ...up, concurrency };
    return {
      ...up,
      ok: false,
      diagnosis: 'single-client',
      concurrency,
      message: `${upMessage(first)}, but ${concurrency.message}`,
      fix: SINGLE_CLIENT_FIX,
    };
  }
  if (first.tryOthers && !opts.noAlternatives) {
    for (const alt of alternatives(url, target.transport)) {
      const other = await handshake(new URL(alt.url), alt.transport, ctx);
      if (!other.ok) continue;
      await other.session.close();
      const diagnosis: Diagnosis = alt.transport === target.transport ? 'wrong-path' : 'wrong-transport';
      return finish({
        diagnosis,
        status: first.status,
        server: other.server,
        suggestion: alt,
        message: `${first.message}; MCP over ${transportName(alt.transport)} answers at ${alt.url} (${other.server.name} ${other.server.version})`.trim(),
        fix: `point the client at {"type": "${alt.transport}", "url": "${alt.url}"}`,
      });
    }
  }
  const failed = finish({ diagnosis: first.diagnosis, status: first.status, message: first.message, fix: genericFix(first.diagnosis, url, target.transport) });
  return first.diagnosis === 'silent' || first.diagnosis === 'not-mcp' ? withPortHolder(failed, url) : failed;
}

/**
 * Names the process on the port (a person should not have to run lsof), and when it is a known
 * server that speaks HTTP only when told, the exact flags it is missing.
 */
function withPortHolder(r: ProbeResult, url: URL): ProbeResult {
  const holder = portOwner(Number(url.port || 80));
  if (!holder) return r;
  const command = holder.argv.length ? showCommand(holder.argv[0], holder.argv.slice(1)) : '?'; // a secret on its command line stays hidden
  const out: ProbeResult = {
    ...r,
    portHolder: { pid: holder.pid, command },
    message: `${r.message} (port ${url.port || 80} is held by pid ${holder.pid}: ${command})`,
  };
  const known = holder.argv.length ? lookupKnown(holder.argv[0], holder.argv.slice(1)) : undefined;
  if (r.diagnosis === 'silent' && known?.native) {
    out.fix = `${known.id} speaks stdio unless told otherwise: start it with "${nativeFlagWords(known.native, url.port || 80).join(' ')}"`;
  }
  return out;
}

const SINGLE_CLIENT_FIX =
  'this server handles one client at a time: run its stdio form behind the bridge ("mcpshare add NAME -- COMMAND ARGS"), which gives every client its own session over one server process';

function handshake(url: URL, transport: Transport, ctx: ProbeContext): Promise<Handshake> {
  return transport === 'http' ? openHttpSession(url, ctx) : openSseSession(url, ctx);
}

/**
 * Opens two sessions at once, then has the first one ping after the second initialized: catches a
 * server that refuses a second client and one whose second client silently replaces the first.
 */
async function twoSessions(url: URL, transport: Transport, ctx: ProbeContext): Promise<{ ok: boolean; message: string }> {
  const [a, b] = await Promise.all([handshake(url, transport, ctx), handshake(url, transport, ctx)]);
  try {
    if (!a.ok || !b.ok) {
      const failed = !a.ok ? a : (b as Exclude<Handshake, Opened>);
      return { ok: false, message: `of two sessions opened at once, one failed: ${failed.message}` };
    }
    const pingB = await b.session.ping();
    if (pingB) return { ok: false, message: `the second of two concurrent sessions failed: ${pingB}` };
    const pingA = await a.session.ping();
    if (pingA) return { ok: false, message: `the first session broke when a second one opened: ${pingA}` };
    return { ok: true, message: 'two concurrent sessions both work' };
  } finally {
    await Promise.all([a.ok && a.session.close(), b.ok && b.session.close()]);
  }
}

/** The other endpoints worth trying when the one asked for is not MCP: the default path, then the other transport. */
function alternatives(url: URL, transport: Transport): ProbeTarget[] {
  const other: Transport = transport === 'http' ? 'sse' : 'http';
  const list: ProbeTarget[] = [
    { transport, url: `${url.origin}${defaultPath(transport)}` },
    { transport: other, url: `${url.origin}${defaultPath(other)}` },
  ];
  return list.filter((t) => !(t.transport === transport && new URL(t.url).pathname === url.pathname));
}

export function defaultPath(t: Transport): string {
  return t === 'http' ? '/mcp' : '/sse';
}

function transportName(t: Transport): string {
  return t === 'http' ? 'Streamable HTTP' : 'legacy SSE';
}

function upMessage(o: Opened): string {
  return `MCP server "${o.server.name}" ${o.server.version} answered initialize in ${round(o.latencyMs)} ms${o.protocolVersion ? ` (protocol ${o.protocolVersion})` : ''}`;
}

function genericFix(d: Diagnosis, url: URL, transport: Transport): string | undefined {
  const port = url.port || '80';
  switch (d) {
    case 'refused':
      return `start the server that should listen on port ${port}`;
    case 'silent':
      return `the program on port ${port} accepts connections but does not answer HTTP: an MCP server there is probably still in stdio mode; add its HTTP transport flag (e.g. "--transport http"). If it is only slow, raise --timeout`;
    case 'wrong-path':
    case 'wrong-transport':
      return `no MCP endpoint found at ${url.origin}${defaultPath('http')} or ${url.origin}${defaultPath('sse')} either: check the server's path and transport`;
    case 'not-mcp':
      return `another program answers on port ${port}; give the MCP server a port of its own`;
    case 'timeout':
      return `the server answers HTTP but is slow to initialize: it may still be starting (a first "npx" run downloads the package) or be overloaded; try again, raise --timeout, or read its log`;
    case 'single-client':
      return SINGLE_CLIENT_FIX;
    case 'http-error':
      return `see the server's log; the endpoint is ${url.href} (${transportName(transport)})`;
    default:
      return undefined;
  }
}

/**
 * The loopback addresses to connect to, or why this URL is not probed: mcpshare daemons are plain
 * HTTP on this machine, and a probe must not send anything elsewhere.
 */
async function loopbackAddresses(url: URL, timeoutMs: number): Promise<{ addresses: string[] } | { message: string; fix: string }> {
  if (url.protocol === 'https:') {
    return {
      message: `${url.href} uses TLS: mcpshare daemons serve plain HTTP on loopback (the traffic never leaves this machine)`,
      fix: `use http://localhost:${url.port || '443'}${url.pathname}`,
    };
  }
  if (url.protocol !== 'http:') return { message: `${url.href} is not an http:// URL`, fix: 'use http://localhost:PORT/mcp (or /sse)' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return { addresses: ['127.0.0.1', '::1'] };
  if (isIP(host)) return isLoopbackIp(host) ? { addresses: [host] } : notLoopback(url, host);
  try {
    const found = await withTimeout(lookup(host, { all: true }), timeoutMs, `resolving ${host} took longer than ${timeoutMs} ms`);
    return found.length && found.every((a) => isLoopbackIp(a.address))
      ? { addresses: found.map((a) => a.address) }
      : notLoopback(url, found.map((a) => a.address).join(', '));
  } catch (err) {
    return { message: `cannot resolve ${host}: ${(err as Error).message}`, fix: `use http://localhost:${url.port || '80'}${url.pathname}` };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

function notLoopback(url: URL, address: string): { message: string; fix: string } {
  return {
    message: `${url.hostname} is ${address}, not this machine's loopback: mcpshare probes only local daemons`,
    fix: `shared daemons listen on 127.0.0.1; use http://localhost:${url.port || '80'}${url.pathname}`,
  };
}

function isLoopbackIp(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1' || /^::ffff:127\./i.test(ip);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
