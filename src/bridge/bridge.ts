import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpshareError } from '../errors.js';
import { readEnvFile } from '../util/envfile.js';
import { createLogger, redact, type Logger } from '../util/log.js';
import { groupMemory, groupRss, memoryKind, memoryOf, rssOf, sumMemory, type Memory } from '../util/procinfo.js';
import { VERSION } from '../version.js';
import { createBridgeHttp } from './http.js';
import { ErrorCode } from './jsonrpc.js';
import type { RouterStats } from './router.js';
import { ChildPool, type ChildRow } from './child-pool.js';
import { describeShareMode, type ShareMode } from '../util/share-mode.js';
import { isLoopbackHost } from './security.js';
import type { BridgeStatus } from './status.js';
import { Upstream, type ChildState } from './upstream.js';
import { openBridgeState, type IdleFigures } from './bridge-state.js';
import { IdleStop } from './lazy-child.js';

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
  /**
   * A session with no open stream and no request this long leaves memory (it can be resumed).
   * Default 5 minutes; 24 hours in session mode, where leaving memory ends the session's own server
   * process and whatever that process held for it.
   */
  sessionIdleTimeoutMs?: number;
  /** A session unseen this long is forgotten for good (its id then gets 404). */
  sessionTtlMs?: number;
  /**
   * Where the session key, saved sessions and the discovery snapshot live (the CLI passes
   * mcpshare's state dir); absent: in memory only, for this process.
   */
  stateDir?: string;
  /** Global mode: start the child only when a request needs it (answering discovery from the snapshot meanwhile). */
  lazy?: boolean;
  /**
   * Stop a child after this long without requests; it starts again on the next one. 0: never.
   * Default: never in global mode, 10 minutes for each child in project and session modes.
   */
  idleStopMs?: number;
  maxBodyBytes?: number;
  logger?: Logger;
  /** One child for everyone (default), one per project, or one per session: see child-pool.ts. */
  share?: ShareMode;
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
  sessionTtlMs: 7 * 24 * 60 * 60 * 1000,
  maxBodyBytes: 4 * 1024 * 1024,
  share: 'global' as ShareMode,
};

/** Project and session modes: how long a child with nothing to do runs on, unless told otherwise. */
const POOL_IDLE_STOP_MS = 10 * 60 * 1000;

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
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as BridgeOptions;
  const sessionIdleTimeoutMs = given.share === 'session' ? 24 * 60 * 60 * 1000 : 5 * 60 * 1000;
  const o = { ...DEFAULTS, sessionIdleTimeoutMs, ...given } as typeof DEFAULTS & BridgeOptions & { sessionIdleTimeoutMs: number };
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

  // Sessions that outlive the bridge, and the discovery snapshot (bridge-state.ts).
  const state = openBridgeState(o, (peer) => pool.subscriptionsOf(peer), log);
  const pool: ChildPool = new ChildPool({
    name: o.name,
    share: o.share,
    newUpstream: (label, global) =>
      new Upstream(
        {
          spec: { command: o.command, args: o.args, cwd: o.cwd, env: childEnv(fileEnv, o.env) },
          clientInfo: { name: 'mcpshare-bridge', version: VERSION },
          initTimeoutMs: o.initTimeoutMs,
          restartLimit: o.restartLimit,
          restartWindowMs: o.restartWindowMs,
          // Only the one child of global mode takes the bridge down with it; a project's child that
          // cannot start fails that project's requests (and is tried again later).
          failFast: global ? o.failFast : false,
          backoffBaseMs: o.backoffBaseMs,
          backoffMaxMs: o.backoffMaxMs,
        },
        log.child(global ? 'upstream' : `upstream ${label}`),
      ),
    router: { queueTimeoutMs: o.initTimeoutMs, onSessionState: (peer) => state.revival.record(peer) },
    snapshot: state.snapshot,
    childIdleMs: o.idleStopMs === 0 ? Infinity : (o.idleStopMs ?? POOL_IDLE_STOP_MS),
    retryFailedAfterMs: o.restartWindowMs,
    log: log.child('pool'),
  });
  // Global mode: the one child, started with the bridge (as before pools existed).
  const globalSlot = pool.global;
  const idleStop = globalSlot && o.idleStopMs ? new IdleStop(globalSlot.router, o.idleStopMs, log.child('idle')) : undefined;
  const idleFigures = (): IdleFigures =>
    globalSlot
      ? { lazy: !!o.lazy, idleStopSec: idleStop ? Math.round(idleStop.idleMs / 1000) : null, idleStops: idleStop?.stops ?? 0 }
      : { lazy: true, idleStopSec: Number.isFinite(pool.childIdleMs) ? Math.round(pool.childIdleMs / 1000) : null, idleStops: pool.idleStops };
  const startedAt = Date.now();
  let url = '';

  const status = (): BridgeStatus => {
    const children = pool.rows();
    const base = {
      name: o.name,
      version: VERSION,
      pid: process.pid,
      url,
      uptimeSec: Math.round((Date.now() - startedAt) / 1000),
      bridgeRssBytes: rssOf(process.pid) ?? null,
      bridgeMemory: memoryOf(process.pid) ?? null,
      share: o.share,
      idle: state.status(idleFigures()),
    };
    if (globalSlot) {
      const { upstream, router } = globalSlot;
      const stats = router.stats();
      const init = upstream.initResult;
      const childPid = upstream.pid ?? null;
      return {
        ...base,
        child: {
          pid: childPid,
          state: upstream.state,
          restarts: upstream.restarts,
          rssBytes: childPid ? (groupRss(childPid) ?? null) : null,
          memory: childMemory(childPid, upstream.state),
          lastExit: upstream.lastExit ? { code: upstream.lastExit.code, signal: upstream.lastExit.signal, reason: scrub(upstream.lastExit.reason) } : null,
        },
        server: init ? { name: init.serverInfo.name, version: init.serverInfo.version, protocolVersion: init.protocolVersion } : null,
        sessions: stats.sessions,
        stateless: stats.stateless,
        requests: { served: stats.requestsServed, inFlight: stats.inFlight, queued: stats.queued },
        serverRequests: { routed: stats.serverRequestsRouted, fallback: stats.serverRequestsFallback },
        misroutedDropped: stats.misroutedDropped,
        warnings: stats.warnings,
        children: children.map((c) => withMemory(c, scrub)),
      };
    }
    return { ...base, ...pooledStatus(pool, children, scrub) };
  };

  const http = createBridgeHttp(
    pool,
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
      sessions: state.revival,
      wake: async () => {
        // `check --deep`: proves the server itself starts and answers, waking it if it sleeps.
        const upstream = globalSlot?.upstream;
        if (!upstream)
          return { status: 200, body: { ok: true, was: 'pool', note: 'project and session modes start a server process per project or session on demand' } };
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
      idleStop?.stop();
      state.stop();
      pool.shutdown(exit.code === 0 ? 'the bridge is shutting down' : exit.reason);
      // Let those error replies reach the sockets before the streams are closed.
      await new Promise((r) => setTimeout(r, 50));
      await http.closeAllSessions();
      state.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await pool.stopAll();
      resolveDone(exit);
    })();
    return closing;
  };

  if (globalSlot) {
    globalSlot.upstream.on('fatal', (message) => {
      log.error(message);
      void close({ code: 1, reason: scrub(message) });
    });
    // Lazy: no child until a request needs one, once a snapshot can answer discovery meanwhile. With
    // none yet (a server just added) the child starts once to take it, which also proves it starts.
    globalSlot.upstream.start(o.lazy && !!state.snapshot.initResult);
    idleStop?.start();
  } else {
    log.info(`sharing mode ${o.share}: ${describeShareMode(o.share)}; children start with the first session that needs one`);
  }

  state.start();

  return {
    url,
    port,
    host: o.host,
    status,
    done,
    close: () => close(),
    killChildNow: () => pool.killAllNow(),
    log,
  };
}

/** A child's process group as the machine spends it (PSS where Linux gives it); 0 while it sleeps. */
function childMemory(pid: number | null, state: ChildState): Memory | null {
  if (pid) return groupMemory(pid) ?? null;
  return state === 'idle' ? { bytes: 0, kind: memoryKind() } : null;
}

function withMemory(c: ChildRow, scrub: (s: string) => string) {
  return {
    ...c,
    rssBytes: c.pid ? (groupRss(c.pid) ?? null) : null,
    memory: childMemory(c.pid, c.state),
    lastExit: c.lastExit && { ...c.lastExit, reason: scrub(c.lastExit.reason) },
  };
}

/**
 * /status of a project- or session-mode bridge: `child` sums up the children so that readers of the
 * one-child shape (status, the tray, health) see a daemon that is up whenever it can start children.
 */
function pooledStatus(
  pool: ChildPool,
  rows: ChildRow[],
  scrub: (s: string) => string,
): Omit<BridgeStatus, 'name' | 'version' | 'pid' | 'url' | 'uptimeSec' | 'bridgeRssBytes' | 'bridgeMemory' | 'share' | 'idle'> {
  const children = rows.map((c) => withMemory(c, scrub));
  const stats = pool.routers().map((r) => r.stats());
  const add = (f: (s: RouterStats) => number) => stats.reduce((n, s) => n + f(s), 0);
  const sessions = {
    'streamable-http': add((s) => s.sessions['streamable-http']),
    sse: add((s) => s.sessions.sse),
    total: add((s) => s.sessions.total) + pool.waitingSessions,
  };
  const stateless = { open: add((s) => s.stateless.open), listening: add((s) => s.stateless.listening), parked: add((s) => s.stateless.parked) };
  const rss = children.reduce((n, c) => n + (c.rssBytes ?? 0), 0);
  const lastExit = children.map((c) => c.lastExit).find((e) => e) ?? null;
  const init = pool.serverInfo;
  return {
    child: {
      pid: null,
      // The daemon serves as long as it can start children; each child's own state is in `children`.
      // With no process running (none needed yet, or all asleep) it is idle: it costs nothing.
      state: children.some((c) => c.pid !== null) ? 'ready' : 'idle',
      restarts: children.reduce((n, c) => n + c.restarts, 0),
      rssBytes: rss || null,
      memory: sumMemory(children.map((c) => c.memory)) ?? { bytes: 0, kind: memoryKind() },
      lastExit,
    },
    server: init ? { name: init.serverInfo.name, version: init.serverInfo.version, protocolVersion: init.protocolVersion } : null,
    sessions,
    stateless,
    requests: { served: add((s) => s.requestsServed), inFlight: add((s) => s.inFlight), queued: add((s) => s.queued) },
    serverRequests: { routed: add((s) => s.serverRequestsRouted), fallback: add((s) => s.serverRequestsFallback) },
    misroutedDropped: add((s) => s.misroutedDropped),
    warnings: [...new Set(stats.flatMap((s) => s.warnings))],
    children,
  };
}
