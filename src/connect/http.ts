import http from 'node:http';

/**
 * The shim's HTTP client, on node:http. Not fetch(): loading undici costs ~13 MB of RSS in a process
 * whose whole point is to be small (measured: an idle node 39 MB, +node:http 42 MB, +fetch 52 MB).
 */
export class HttpClient {
  /** Keep-alive: a session's POSTs reuse a few loopback sockets instead of one connect per message. */
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly open = new Set<http.ClientRequest>();

  /**
   * Sends one request and resolves with the response as soon as its headers arrive (the body, maybe
   * a long SSE stream, is the caller's to read). Rejects on a connection error before the headers.
   */
  request(url: URL, method: string, headers: Record<string, string>, body?: string): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const attempt = (mayRetry: boolean) => {
        const h = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
        const req = http.request(url, { method, headers: h, agent: this.agent });
        this.open.add(req);
        req.once('close', () => this.open.delete(req));
        req.once('response', resolve);
        req.once('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive socket the server closed while idle fails the next request before it was
          // read; Node's documented remedy is to send it again on a fresh socket.
          if (mayRetry && req.reusedSocket && err.code === 'ECONNRESET') attempt(false);
          else reject(err);
        });
        req.end(body);
      };
      attempt(true);
    });
  }

  /** Cuts every request and socket (the shim is exiting). */
  destroy(): void {
    for (const req of this.open) req.destroy();
    this.agent.destroy();
  }
}

/** Nothing listens there (the daemon is stopped or restarting): safe to send again, nothing was delivered. */
export function isRefused(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] };
  // With autoSelectFamily (Node 20's default), "localhost" tries ::1 and 127.0.0.1 and reports both.
  return e?.code === 'ECONNREFUSED' || (Array.isArray(e?.errors) && e.errors.length > 0 && e.errors.every((x) => x.code === 'ECONNREFUSED'));
}

/** Reads a whole (small) body as text, at most `limit` bytes. */
export async function readText(res: http.IncomingMessage, limit = 1 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (size >= limit) continue; // drain the rest so the socket can be reused
    chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
