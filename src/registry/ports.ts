import { createServer } from 'node:net';
import { McpshareError } from '../errors.js';

/** The loopback ports mcpshare hands out to shared servers (DESIGN.md). */
export const PORT_RANGE = { first: 8001, last: 8099 } as const;

/**
 * The range new servers get ports from: MCPSHARE_PORT_RANGE=FIRST-LAST (both 1024–65535) when set,
 * else 8001–8099. For a machine where those ports belong to something else, and for test suites
 * that register servers in parallel HOMEs and must not race each other for the same free port.
 */
export function portRange(env: NodeJS.ProcessEnv = process.env): { first: number; last: number } {
  const m = /^(\d+)-(\d+)$/.exec((env.MCPSHARE_PORT_RANGE ?? '').trim());
  if (!m) return PORT_RANGE;
  const first = Number(m[1]);
  const last = Number(m[2]);
  return first >= 1024 && last <= 65535 && first <= last ? { first, last } : PORT_RANGE;
}

/** True when we could bind host:port ourselves; an address family this machine lacks counts as free. */
function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT'));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * True when nothing listens on the port on loopback, IPv4 or IPv6: clients are given
 * `http://localhost:PORT`, which resolves to ::1 first on some systems (macOS), so a program bound
 * only to ::1 takes the port as surely as one on 127.0.0.1.
 */
export async function isPortFree(port: number): Promise<boolean> {
  return (await canBind(port, '127.0.0.1')) && (await canBind(port, '::1'));
}

/**
 * The first port of the range that no registered server uses and nothing on this machine listens
 * on. A port in use by some other program is skipped, not reported: the user asked for any port.
 */
export async function allocatePort(taken: ReadonlySet<number>, range: { first: number; last: number } = portRange()): Promise<number> {
  for (let port = range.first; port <= range.last; port++) {
    if (taken.has(port)) continue;
    if (await isPortFree(port)) return port;
  }
  throw new McpshareError('no-free-port', `no free port left in ${range.first}–${range.last}; pass --port N with a free port`, { context: { ...range } });
}

/** Checks a port the user chose: not another server's, and not in use by another program. */
export async function checkChosenPort(port: number, owners: ReadonlyMap<number, string>, self?: string): Promise<void> {
  const owner = owners.get(port);
  if (owner !== undefined && owner !== self)
    throw new McpshareError('port-taken', `port ${port} is already used by the registered server "${owner}"`, { context: { port, owner } });
  if (owner === self && self !== undefined) return; // its own port; it may be listening right now
  if (!(await isPortFree(port))) {
    throw new McpshareError(
      'port-in-use',
      `port ${port} is in use by another program on this machine (see "ss -ltnp 'sport = :${port}'"); choose another with --port, or leave --port out to get a free one`,
      { context: { port } },
    );
  }
}
