import type { BackendName, RestartPolicy } from '../registry/registry.js';
import type { DaemonSpec } from './daemon.js';

/** What a service manager reports about one daemon, normalised across systemd, launchd and the supervisor. */
export interface UnitState {
  /** A unit/plist/supervisor entry exists for it. */
  installed: boolean;
  /** running: the process is up; starting: being (re)started; stopped: not running on purpose; failed: gave up or exited with an error. */
  active: 'running' | 'starting' | 'stopped' | 'failed';
  /** The manager gave up after its restart burst: the daemon is in a crash loop. */
  crashLoop: boolean;
  /** Restarts done by the manager since the daemon was last started by hand. */
  restarts: number;
  pid?: number;
  lastExitCode?: number;
  /** The manager's own words (e.g. "Result=exit-code, status 3"), for people. */
  detail?: string;
  /** Something a person should know whatever the state (e.g. the daemon runs unsupervised). */
  warning?: string;
}

/** One service manager. install() also registers the daemon to start at login. */
export interface ServiceBackend {
  readonly name: BackendName;
  install(spec: DaemonSpec): Promise<void>;
  uninstall(name: string): Promise<void>;
  /**
   * Optional: makes the service manager itself ready before a start and its port check (the built-in
   * supervisor launches itself here, reaping daemons a killed predecessor left holding their ports).
   */
  prepareStart?(): Promise<void>;
  start(name: string): Promise<void>;
  stop(name: string): Promise<void>;
  restart(name: string): Promise<void>;
  /** The daemon's state; `policy` is its restart policy (launchd has no start limit of its own). */
  inspect(name: string, policy: RestartPolicy): Promise<UnitState>;
  /** Where the daemon's definition lives (unit file, plist), for messages. */
  definitionPath(name: string): string | undefined;
}
