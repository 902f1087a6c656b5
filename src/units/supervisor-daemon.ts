import { Registry } from '../registry/registry.js';
import { createLogger } from '../util/log.js';
import { daemonSpec } from './daemon.js';
import { userPaths } from '../registry/paths.js';
import { Supervisor } from './supervisor.js';
import { acquirePidLock, releasePidLock } from '../util/pid-lock.js';
import { reapOrphans, sendControl, serveControl, socketPath, supervisorLockPath } from './supervisor-control.js';

export interface SuperviseOptions {
  /** Start no daemon at launch (when started on demand by `mcpshare start`); otherwise start them all. */
  idle?: boolean;
}

/**
 * Runs the built-in supervisor in this process until SIGINT/SIGTERM or a `shutdown` request, then
 * stops every daemon it started. Returns the exit code.
 */
export async function runSupervisor(opts: SuperviseOptions = {}): Promise<number> {
  const paths = userPaths();
  const log = createLogger('supervisor');
  // The lock before anything else: a second supervisor that merely failed to reach a busy first
  // one would otherwise reap its live daemons as orphans and take over its socket.
  const lock = supervisorLockPath(paths);
  const holder = acquirePidLock(lock, 'supervise');
  if (holder || (await sendControl(paths, { op: 'ping' }, 3000))?.ok) {
    log.error(`a supervisor is already running (pid ${holder ?? '?'}, socket ${socketPath(paths)})`);
    if (!holder) releasePidLock(lock);
    return 1;
  }
  process.once('exit', () => releasePidLock(lock));
  const registry = new Registry();
  const specOf = (name: string) => daemonSpec(registry.require(name), paths);
  const reaped = await reapOrphans(paths, (name) => {
    try {
      return specOf(name).argv;
    } catch {
      return undefined;
    }
  });
  if (reaped.length) log.warn(`stopped daemons left running by a previous supervisor: ${reaped.join(', ')}`);

  const supervisor = new Supervisor();
  supervisor.on('crash-loop', (name, state) => log.error(`${name}: crash loop, not restarting (${state.detail})`));
  supervisor.on('change', (name, state) =>
    log.info(`${name}: ${state.active}${state.pid ? ` pid ${state.pid}` : ''}${state.detail && state.active !== 'running' ? ` (${state.detail})` : ''}`),
  );

  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => (finish = r));
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${why}: stopping every daemon`);
    await supervisor.stopAll();
    server.close();
    finish(0);
  };
  const server = await serveControl(supervisor, paths, specOf, () => void shutdown('shutdown requested'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  log.info(`supervisor ${process.pid} listening on ${socketPath(paths)}`);

  if (!opts.idle) {
    for (const entry of registry.list()) {
      try {
        supervisor.start(daemonSpec(entry, paths));
      } catch (err) {
        log.error(`${entry.name}: ${(err as Error).message}`);
      }
    }
  }
  return finished;
}
