import type { Logger } from '../util/log.js';
import type { Router } from './router.js';

/**
 * Whether a child may be put to sleep now: nothing depends on it, neither a request in flight or
 * queued, nor a request it sent a client, nor a resource subscription (only a running child can
 * report the updates).
 */
export function canSleep(router: Router): boolean {
  if (router.upstream.state !== 'ready') return false;
  if (router.table.size > 0 || router.stats().queued > 0) return false;
  return router.subscriptions.uris().next().done === true;
}

/**
 * Stops a ready child because nobody uses it (Upstream.sleep: no crash, sessions stay); the router
 * starts it again on the next request that needs it (Upstream.wake). Undefined when it was not running.
 */
export function sleepChild(router: Router): Promise<void> | undefined {
  // What the child was told (log level) and asked (requests to clients) dies with it; the router
  // replays the sessions' settings when it starts again.
  router.serverRequests.childGone();
  router.logLevel.reset();
  return router.upstream.sleep();
}

/**
 * Global mode: stops the one child when nobody has used it for `idleMs`. (Project and session
 * children are put to sleep by the pool's own sweep, with the same rules.)
 */
export class IdleStop {
  private timer?: NodeJS.Timeout;
  stops = 0;

  constructor(
    private readonly router: Router,
    readonly idleMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    // Checked a few times per period: the child stops within idleMs × 1.25 of its last use.
    const every = Math.min(30_000, Math.max(250, Math.floor(this.idleMs / 4)));
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Puts the child to sleep if it is idle; true when it did. */
  async check(now = Date.now()): Promise<boolean> {
    const { router } = this;
    if (!canSleep(router) || now - router.upstream.lastUsed < this.idleMs) return false;
    const idleSec = Math.round((now - router.upstream.lastUsed) / 1000);
    const stopping = sleepChild(router);
    if (!stopping) return false;
    this.stops++;
    this.log.info(`MCP server unused for ${idleSec} s: stopping it (the next request starts it again)`);
    await stopping;
    return true;
  }
}
