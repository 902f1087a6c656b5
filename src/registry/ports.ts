import { createServer } from 'node:net';

/** The loopback ports mcpshare hands out to shared servers (DESIGN.md). */
export const PORT_RANGE = { first: 8001, last: 8099 } as const;

/** True when nothing listens on host:port (we could bind it ourselves). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export class PortError extends Error {
  override name = 'PortError';
}

/**
 * The first port of the range that no registered server uses and nothing on this machine listens
 * on. A port in use by some other program is skipped, not reported: the user asked for any port.
 */
export async function allocatePort(taken: ReadonlySet<number>, range: { first: number; last: number } = PORT_RANGE): Promise<number> {
  for (let port = range.first; port <= range.last; port++) {
    if (taken.has(port)) continue;
    if (await isPortFree(port)) return port;
  }
  throw new PortError(`no free port left in ${range.first}–${range.last}; pass --port N with a free port`);
}

/** Checks a port the user chose: not another server's, and not in use by another program. */
export async function checkChosenPort(port: number, owners: ReadonlyMap<number, string>, self?: string): Promise<void> {
  const owner = owners.get(port);
  if (owner !== undefined && owner !== self) throw new PortError(`port ${port} is already used by the registered server "${owner}"`);
  if (owner === self && self !== undefined) return; // its own port; it may be listening right now
  if (!(await isPortFree(port))) {
    throw new PortError(`port ${port} is in use by another program on this machine (see "ss -ltnp 'sport = :${port}'"); choose another with --port, or leave --port out to get a free one`);
  }
}
