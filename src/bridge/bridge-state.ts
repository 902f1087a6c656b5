import { join } from 'node:path';
import type { Logger } from '../util/log.js';
import type { Peer } from './peer.js';
import { ensurePrivateDir, SessionKeys } from './session-keys.js';
import { SessionRevival } from './session-revival.js';
import { SessionStore } from './session-store.js';
import { commandKey, DiscoverySnapshot, type SnapshotSummary } from './snapshot.js';

export interface BridgeStateOptions {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  /** The port asked for: 0 (a random port no client can find again) keeps everything in memory. */
  port: number;
  /** Where the key, sessions and snapshots live; absent: nowhere (in memory, for this process only). */
  stateDir?: string;
  sessionTtlMs: number;
}

/** What /status says about lazy start, idle stop, resumable sessions and the snapshot. */
export interface BridgeStateStatus {
  /** The child starts only when a request needs it. */
  lazy: boolean;
  /** Seconds without requests after which the child (each child, in project and session modes) stops; null: never. */
  idleStopSec: number | null;
  /** How often a child was stopped for being idle. */
  idleStops: number;
  /** Sessions recorded (in memory or not) that a client can resume. */
  resumableSessions: number;
  /** Sessions brought back from their record (after a restart, or after leaving memory). */
  resumed: number;
  /** Requests with a session id that is no session (forged, deleted, expired). */
  refusedIds: number;
  /** Whether sessions and the snapshot are on disk (no: a bridge on a random port). */
  persistent: boolean;
  snapshot: SnapshotSummary | null;
}

/** A file name for a server name: registry names are safe already, a plain bridge's may not be. */
const fileName = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'bridge';

/** What the idle stop adds to BridgeStateStatus (it lives with the children, not here). */
export type IdleFigures = Pick<BridgeStateStatus, 'lazy' | 'idleStopSec' | 'idleStops'>;

/**
 * The parts of a bridge that remember across restarts: the session key, the session records with
 * their revival, and the discovery snapshot. `subscriptionsOf` says what a session is subscribed to
 * (its router knows).
 */
export function openBridgeState(o: BridgeStateOptions, subscriptionsOf: (peer: Peer) => string[], log: Logger) {
  const dir = o.stateDir ?? '';
  const slog = log.child('sessions');
  let keys = SessionKeys.ephemeral(o.name);
  let writable = false;
  if (o.stateDir) {
    try {
      keys = SessionKeys.load(dir, o.name, slog);
      writable = true;
    } catch (err) {
      // Sessions still work; they just cannot outlive this process.
      slog.warn(`cannot use ${dir} for the session key (${(err as Error).message}): sessions will not survive a restart of this bridge`);
    }
  }
  const persistent = writable && o.port !== 0;
  const base = `${fileName(o.name)}-${o.port}`;
  if (persistent) {
    try {
      ensurePrivateDir(join(dir, 'sessions'));
      ensurePrivateDir(join(dir, 'snapshots'));
    } catch (err) {
      slog.warn(`cannot create ${dir}/sessions: ${(err as Error).message}`);
    }
  }
  const store = new SessionStore({ file: persistent ? join(dir, 'sessions', `${base}.json`) : undefined, ttlMs: o.sessionTtlMs }, slog);
  const revival = new SessionRevival(keys, store, subscriptionsOf, slog);
  // By name alone: a server moved to another port is still the same server (the command key
  // guards against a name reused for another command).
  const snapshot = new DiscoverySnapshot(
    persistent ? join(dir, 'snapshots', `${fileName(o.name)}.json`) : undefined,
    commandKey(o.command, o.args, o.cwd),
    log.child('snapshot'),
  );

  let housekeeping: NodeJS.Timeout | undefined;
  return {
    revival,
    snapshot,
    start(): void {
      // Expired sessions leave the records (and the file, with the next write) once a minute.
      housekeeping = setInterval(() => store.expire(), 60_000);
      housekeeping.unref();
    },
    stop(): void {
      if (housekeeping) clearInterval(housekeeping);
    },
    /** Writes what is pending (the bridge is stopping). */
    close(): void {
      store.close();
    },
    status(idle: IdleFigures): BridgeStateStatus {
      return {
        ...idle,
        resumableSessions: store.size,
        resumed: revival.revived,
        refusedIds: revival.refused,
        persistent,
        snapshot: snapshot.summary(),
      };
    },
  };
}

export type BridgeState = ReturnType<typeof openBridgeState>;
