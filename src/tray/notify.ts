import type { ServerHealth } from '../health/monitor.js';

/**
 * Desktop notifications (node-notifier: notify-send on Linux, Notification Center on macOS) and the
 * rule that decides when a daemon's trouble is worth one: entering a crash loop, and recovering from
 * one that was announced; never again while it stays failed.
 */
export interface Notice {
  title: string;
  message: string;
  /** Crash loops stay on screen until dismissed. */
  urgent?: boolean;
}

export type Notify = (n: Notice) => Promise<void>;

/** node-notifier, loaded on first use (it is not needed until something goes wrong). Never throws. */
export function desktopNotifier(opts: { icon?: string; log: (line: string) => void }): Notify {
  let mod: Promise<{ notify(o: object, cb: (err: Error | null) => void): void }> | undefined;
  return async (n) => {
    try {
      mod ??= import('node-notifier').then((m) => ((m as { default?: unknown }).default ?? m) as never);
      const notifier = await mod;
      await new Promise<void>((resolve) => {
        notifier.notify(
          {
            title: n.title,
            message: n.message,
            icon: opts.icon,
            appName: 'mcpshare',
            'app-name': 'mcpshare',
            urgency: n.urgent ? 'critical' : 'normal',
            wait: false,
          },
          (err) => {
            // The callback reports a missing notify-send or notification daemon; it never proves delivery.
            if (err) opts.log(`notification "${n.title}" could not be shown: ${err.message}`);
            resolve();
          },
        );
      });
    } catch (err) {
      opts.log(`notification "${n.title}" could not be shown: ${(err as Error).message}`);
    }
  };
}

export interface CrashLoopAlertOptions {
  /** A server that recovers and loops again within this long is not announced twice. Default 10 min. */
  repeatAfterMs?: number;
  now?: () => number;
}

/**
 * Feed it the health monitor's `change` events; it returns the notice to show, if any. One notice
 * when a daemon enters a crash loop (also when the tray starts and finds it there), one when an
 * announced daemon is up again, and nothing while it stays failed, starting or flapping.
 */
export class CrashLoopAlerts {
  /** When each server's last crash-loop notice went out. */
  private readonly lastAlert = new Map<string, number>();
  /** Servers whose crash loop was announced and which have not recovered since. */
  private readonly failing = new Set<string>();
  private readonly repeatAfterMs: number;
  private readonly now: () => number;

  constructor(opts: CrashLoopAlertOptions = {}) {
    this.repeatAfterMs = opts.repeatAfterMs ?? 10 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  onChange(current: ServerHealth, previous: ServerHealth | undefined): Notice | undefined {
    const name = current.name;
    if (current.state === 'crash-loop' && previous?.state !== 'crash-loop') {
      const last = this.lastAlert.get(name);
      const t = this.now();
      // Flapping (loop, restarted, loop again) gets one notice per window, not one per loop.
      if (last !== undefined && t - last < this.repeatAfterMs) return undefined;
      this.lastAlert.set(name, t);
      this.failing.add(name);
      const s = current.status;
      return {
        title: `mcpshare: ${name} keeps crashing`,
        message: `${name} stopped after ${s.restarts} restart${s.restarts === 1 ? '' : 's'}; its log is ${s.logFile || 'not known'}. Click it in the tray to start it again.`,
        urgent: true,
      };
    }
    if (current.state === 'up' && this.failing.has(name)) {
      this.failing.delete(name);
      return { title: `mcpshare: ${name} is back up`, message: `${name} is serving again on port ${current.status.port}.` };
    }
    return undefined;
  }

  /** A server left the registry: forget it. */
  forget(name: string): void {
    this.lastAlert.delete(name);
    this.failing.delete(name);
  }
}
