import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readEnvFile } from '../util/envfile.js';
import { createLogger, redact, type Logger } from '../util/log.js';
import { groupMemory, groupRss, memoryOf, rssOf, type Memory } from '../util/procinfo.js';
import { VERSION } from '../version.js';
import { createBridgeHttp } from './http.js';
import { ErrorCode } from './jsonrpc.js';
import { Router, type RouterStats } from './router.js';
import { isLoopbackHost } from './security.js';
import { Upstream, type ChildState } from './upstream.js';
import { openBridgeState, type BridgeStateStatus } from './bridge-state.js';

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
  /** A session with no open stream and no request this long leaves memory (it can be resumed). */
  sessionIdleTimeoutMs?: number;
  /** A session unseen this long is forgotten for good (its id then gets 404). */
  sessionTtlMs?: number;
  /**
   * Where the session key, saved sessions and the discovery snapshot live (the CLI passes
   * mcpshare's state dir); absent: in memory only, for this process.
   */
  stateDir?: string;
  /** Start the child only when a request needs it (answering discovery from the snapshot meanwhile). */
  lazy?: boolean;
  /** Stop the child after this long without requests (0 or absent: never). */
  idleStopMs?: number;
  maxBodyBytes?: number;
  logger?: Logger;
}

export interface BridgeStatus {
  name: string;
  version: string;
  pid: number;
  url: string;
  uptimeSec: number;
  bridgeRssBytes: number | null;
  /** The bridge process's own memory: PSS where the OS gives it, else RSS (`kind` says which). */
  bridgeMemory: Memory | null;
  child: {
    pid: number | null;
    /** `idle`: no process on purpose (not needed yet, or stopped for being unused). */
    state: ChildState;
    restarts: number;
    rssBytes: number | null;
    /** The child's process group, PSS or RSS; 0 while it sleeps. */
    memory: Memory | null;
    lastExit: { code: number | null; signal: string | null; reason: string } | null;
  };
  server: { name: string; version: string; protocolVersion: string } | null;
  sessions: RouterStats['sessions'];
  requests: { served: number; inFlight: number; queued: number };
  serverRequests: { routed: number; fallback: number };
  misroutedDropped: number;
  warnings: string[];
  /** Lazy start, idle stop, resumable sessions and the discovery snapshot. */
  idle: BridgeStateStatus;
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

export class BridgeError extends Error {
  override name = 'BridgeError';
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  initTimeoutMs: 60_000,
  restartLimit: 5,
  restartWindowMs: 60_000,
  backoffBaseMs: 250,
  backoffMaxMs: 10_000,
  sessionIdleTimeoutMs: 5 * 60 * 1000,
  sessionTtlMs: 7 * 24 * 60 * 60 * 1000,
  maxBodyBytes: 4 * 1024 * 1024,
};

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE') {
        reject(new BridgeError(`port ${port} on ${host} is already in use; stop what holds it (ss -ltnp 'sport = :${port}') or choose another with --port`));
      } else if (err.code === 'EACCES') {
        reject(new BridgeError(`permission denied listening on ${where}; use a port above 1024`));
      } else if (err.code === 'EADDRNOTAVAIL') {
        reject(new BridgeError(`cannot listen on ${where}: no such local address`));
      } else reject(new BridgeError(`cannot listen on ${where}: ${err.message}`));
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
  if (!o.command) throw new BridgeError('no command given: mcpshare bridge [options] -- COMMAND [ARGS...]');
  if (!isLoopbackHost(o.host.replace(/^\[|\]$/g, ''))) {
    if (!o.allowRemote) {
      throw new BridgeError(`refusing to listen on ${o.host}: only loopback is allowed by default. Pass --allow-remote together with --token (or MCPSHARE_TOKEN) to expose it.`);
    }
    if (!o.token) throw new BridgeError(`listening on ${o.host} requires a bearer token: pass --token or set MCPSHARE_TOKEN`);
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
  let state: ReturnType<typeof openBridgeState> | undefined;
  const router = new Router(
    upstream,
    {
      queueTimeoutMs: o.initTimeoutMs,
      onSessionState: (peer) => state?.revival.record(peer),
      answerLocally: (peer, request) => state?.answerLocally(peer, request) ?? false,
    },
    log.child('router'),
  );
  state = openBridgeState(router, o, log);
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
      bridgeMemory: memoryOf(process.pid) ?? null,
      child: {
        pid: childPid,
        state: upstream.state,
        restarts: upstream.restarts,
        rssBytes: childPid ? (groupRss(childPid) ?? null) : null,
        memory: childPid ? (groupMemory(childPid) ?? null) : upstream.state === 'idle' ? { bytes: 0, kind: memoryOf(process.pid)?.kind ?? 'rss' } : null,
        lastExit: upstream.lastExit
          ? { code: upstream.lastExit.code, signal: upstream.lastExit.signal, reason: scrub(upstream.lastExit.reason) }
          : null,
      },
      server: init ? { name: init.serverInfo.name, version: init.serverInfo.version, protocolVersion: init.protocolVersion } : null,
      sessions: stats.sessions,
      requests: { served: stats.requestsServed, inFlight: stats.inFlight, queued: stats.queued },
      serverRequests: { routed: stats.serverRequestsRouted, fallback: stats.serverRequestsFallback },
      misroutedDropped: stats.misroutedDropped,
      warnings: stats.warnings,
      idle: state!.status(),
    };
  };

  const http = createBridgeHttp(
    router,
    {
      security: { allowedHosts: [...(o.allowedHosts ?? []), ...(isLoopbackHost(o.host) ? [] : [o.host])], allowedOrigins: o.allowedOrigins ?? [], token: o.token },
      maxBodyBytes: o.maxBodyBytes,
      sessionIdleTimeoutMs: o.sessionIdleTimeoutMs,
      sseKeepAliveMs: 25_000,
      status,
      sessions: state.revival,
      wake: async () => {
        const t0 = Date.now();
        const was = upstream.state;
        try {
          await upstream.whenReady(o.initTimeoutMs);
          return { status: 200, body: { ok: true, was, ms: Date.now() - t0, pid: upstream.pid ?? null } };
        } catch (err) {
          return { status: 503, body: { ok: false, was, error: scrub((err as Error).message) } };
        }
      },
    },
    log.child('http'),
  );
  const server = createServer(http.handle);
  // Streams may stay open for days; Node's defaults would cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  // Malformed HTTP (control characters in a header, oversized headers) gets a JSON-RPC error too,
  // not Node's bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({ jsonrpc: '2.0', error: { code: ErrorCode.InvalidRequest, message: `Bad Request: malformed HTTP request (${err.code ?? 'parse error'})` }, id: null });
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
      state!.stop();
      upstream.markStopping();
      router.shutdown(exit.code === 0 ? 'the bridge is shutting down' : exit.reason);
      // Let those error replies reach the sockets before the streams are closed.
      await new Promise((r) => setTimeout(r, 50));
      await http.closeAllSessions();
      state!.close();
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
  // Lazy: no child until a request needs one, once a snapshot can answer discovery meanwhile. With
  // none yet (a server just added) the child starts once to take it, which also proves it starts.
  upstream.start(o.lazy && !!state.snapshot.initResult);
  state.start();

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
