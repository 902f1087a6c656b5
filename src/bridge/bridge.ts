import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpshareError } from '../errors.js';
import { readEnvFile } from '../util/envfile.js';
import { createLogger, redact, type Logger } from '../util/log.js';
import { groupRss, rssOf } from '../util/procinfo.js';
import { VERSION } from '../version.js';
import { createBridgeHttp } from './http.js';
import { ErrorCode } from './jsonrpc.js';
import { Router } from './router.js';
import { isLoopbackHost } from './security.js';
import type { BridgeStatus } from './status.js';
import { Upstream } from './upstream.js';

export interface BridgeOptions {
  /** Shown in /status and logs; usually the registry name. */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  /** dotenv file whose variables are given to the child (secrets live here, not on the command line). */
  envFile?: string;
  /** Extra variables for the child. */
  env?: Record<string, string>;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Required, with allowRemote, to listen anywhere but loopback. */
  token?: string;
  allowRemote?: boolean;
  allowedHosts?: string[];
  allowedOrigins?: string[];
  initTimeoutMs?: number;
  restartLimit?: number;
  restartWindowMs?: number;
  /** Exit at once if the server dies before its first ready (a service manager retries and counts). */
  failFast?: boolean;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  sessionIdleTimeoutMs?: number;
  maxBodyBytes?: number;
  logger?: Logger;
}

export interface BridgeExit {
  code: number;
  reason: string;
}

export interface RunningBridge {
  url: string;
  port: number;
  host: string;
  status(): BridgeStatus;
  /** Settles when the bridge stops by itself (crash loop) or through close(). */
  done: Promise<BridgeExit>;
  close(): Promise<void>;
  /** Synchronous child kill for process 'exit' handlers. */
  killChildNow(): void;
  /** The bridge's logger: it redacts the env-file values and the token. */
  log: Logger;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  initTimeoutMs: 60_000,
  restartLimit: 5,
  restartWindowMs: 60_000,
  backoffBaseMs: 250,
  backoffMaxMs: 10_000,
  sessionIdleTimeoutMs: 24 * 60 * 60 * 1000,
  maxBodyBytes: 4 * 1024 * 1024,
};

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE') {
        reject(
          new McpshareError(
            'port-in-use',
            `port ${port} on ${host} is already in use; stop what holds it (ss -ltnp 'sport = :${port}') or choose another with --port`,
            { cause: err, context: { port } },
          ),
        );
        return;
      }
      const context = { cause: err, context: { host, port } };
      if (err.code === 'EACCES') reject(new McpshareError('listen-failed', `permission denied listening on ${where}; use a port above 1024`, context));
      else if (err.code === 'EADDRNOTAVAIL') reject(new McpshareError('listen-failed', `cannot listen on ${where}: no such local address`, context));
      else reject(new McpshareError('listen-failed', `cannot listen on ${where}: ${err.message}`, context));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * The child's environment: the bridge's own, the env file and --env values, but never the bridge's
 * bearer token: the server behind it is often third-party code fetched by npx.
 */
function childEnv(fileEnv: Record<string, string>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...fileEnv, ...extra };
  delete env.MCPSHARE_TOKEN;
  return env;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts one bridge: HTTP first (so a port clash fails before anything is spawned), then the child. */
export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & BridgeOptions;
  if (!o.command) throw new McpshareError('usage', 'no command given: mcpshare bridge [options] -- COMMAND [ARGS...]');
  if (!isLoopbackHost(o.host.replace(/^\[|\]$/g, ''))) {
    if (!o.allowRemote) {
      throw new McpshareError(
        'usage',
        `refusing to listen on ${o.host}: only loopback is allowed by default. Pass --allow-remote together with --token (or MCPSHARE_TOKEN) to expose it.`,
      );
    }
    if (!o.token) throw new McpshareError('usage', `listening on ${o.host} requires a bearer token: pass --token or set MCPSHARE_TOKEN`);
  }
  const fileEnv = o.envFile ? readEnvFile(o.envFile) : {};
  const secrets = [...Object.values(fileEnv), ...Object.values(o.env ?? {}), ...(o.token ? [o.token] : [])];
  const log = o.logger ?? createLogger(`bridge:${o.name}`, { secrets });
  const scrub = (text: string) => redact(text, secrets);

  const upstream = new Upstream(
    {
      spec: { command: o.command, args: o.args, cwd: o.cwd, env: childEnv(fileEnv, o.env) },
      clientInfo: { name: 'mcpshare-bridge', version: VERSION },
      initTimeoutMs: o.initTimeoutMs,
      restartLimit: o.restartLimit,
      restartWindowMs: o.restartWindowMs,
      failFast: o.failFast,
      backoffBaseMs: o.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs,
    },
    log.child('upstream'),
  );
  const router = new Router(upstream, { queueTimeoutMs: o.initTimeoutMs }, log.child('router'));
  const startedAt = Date.now();
  let url = '';

  const status = (): BridgeStatus => {
    const stats = router.stats();
    const init = upstream.initResult;
    const childPid = upstream.pid ?? null;
    return {
      name: o.name,
      version: VERSION,
      pid: process.pid,
      url,
      uptimeSec: Math.round((Date.now() - startedAt) / 1000),
      bridgeRssBytes: rssOf(process.pid) ?? null,
      child: {
        pid: childPid,
        state: upstream.state,
        restarts: upstream.restarts,
        rssBytes: childPid ? (groupRss(childPid) ?? null) : null,
        lastExit: upstream.lastExit ? { code: upstream.lastExit.code, signal: upstream.lastExit.signal, reason: scrub(upstream.lastExit.reason) } : null,
      },
      server: init ? { name: init.serverInfo.name, version: init.serverInfo.version, protocolVersion: init.protocolVersion } : null,
      sessions: stats.sessions,
      stateless: stats.stateless,
      requests: { served: stats.requestsServed, inFlight: stats.inFlight, queued: stats.queued },
      serverRequests: { routed: stats.serverRequestsRouted, fallback: stats.serverRequestsFallback },
      misroutedDropped: stats.misroutedDropped,
      warnings: stats.warnings,
    };
  };

  const http = createBridgeHttp(
    router,
    {
      security: {
        allowedHosts: [...(o.allowedHosts ?? []), ...(isLoopbackHost(o.host) ? [] : [o.host])],
        allowedOrigins: o.allowedOrigins ?? [],
        token: o.token,
      },
      maxBodyBytes: o.maxBodyBytes,
      sessionIdleTimeoutMs: o.sessionIdleTimeoutMs,
      sseKeepAliveMs: 25_000,
      status,
    },
    log.child('http'),
  );
  const server = createServer((req, res) => http.handle(req, res));
  // Streams may stay open for days; Node's defaults would cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  // Malformed HTTP (control characters in a header, oversized headers) gets a JSON-RPC error too,
  // not Node's bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      error: { code: ErrorCode.InvalidRequest, message: `Bad Request: malformed HTTP request (${err.code ?? 'parse error'})` },
      id: null,
    });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  await listen(server, o.port, o.host);
  const port = (server.address() as AddressInfo).port;
  url = `http://${urlHost(o.host)}:${port}`;

  let resolveDone!: (e: BridgeExit) => void;
  const done = new Promise<BridgeExit>((r) => (resolveDone = r));
  const sweeper = setInterval(() => http.sweepIdle(), Math.min(60_000, Math.max(1000, o.sessionIdleTimeoutMs / 4)));
  sweeper.unref();

  let closing: Promise<void> | undefined;
  const close = (exit: BridgeExit = { code: 0, reason: 'stopped' }) => {
    closing ??= (async () => {
      clearInterval(sweeper);
      upstream.markStopping();
      router.shutdown(exit.code === 0 ? 'the bridge is shutting down' : exit.reason);
      // Let those error replies reach the sockets before the streams are closed.
      await new Promise((r) => setTimeout(r, 50));
      await http.closeAllSessions();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await upstream.stop();
      resolveDone(exit);
    })();
    return closing;
  };

  upstream.on('fatal', (message) => {
    log.error(message);
    void close({ code: 1, reason: scrub(message) });
  });
  upstream.start();

  return {
    url,
    port,
    host: o.host,
    status,
    done,
    close: () => close(),
    killChildNow: () => upstream.killNow(),
    log,
  };
}
