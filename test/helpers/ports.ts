/** Test helpers: loopback ports. */
import { createServer, type Server } from 'node:net';

/** True when something accepts a TCP connection on 127.0.0.1:port (the product's own check). */
export { portAccepts } from '../../src/health/daemons.js';

/** True when we could listen on 127.0.0.1:port right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now, picked at random in 20000–31999: below
 * the kernel's ephemeral range (32768+, where other tests' outgoing connections and port-0 servers
 * land between our check and the daemon's bind) and away from mcpshare's own 8001–8099, which
 * concurrently running test files allocate from.
 */
export async function freePort(exclude: ReadonlySet<number> = new Set()): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!exclude.has(port) && (await canListen(port))) return port;
  }
  throw new Error('no free port found in 20000-31999');
}

/** Listens on 127.0.0.1:port (a "port taken by another program"); close it with server.close(). */
export async function occupyPort(port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
  });
  return { server, port: (server.address() as { port: number }).port };
}
