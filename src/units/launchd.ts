import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { renderPlistXml } from '../util/plist.js';
import type { RestartPolicy } from '../registry/registry.js';
import type { ServiceBackend, UnitState } from './backend.js';
import type { DaemonSpec } from './daemon.js';
import { launchdLabel, type UserPaths } from '../registry/paths.js';
import { runChecked, runCommand, type CommandRunner } from './runner.js';

/**
 * macOS LaunchAgents: `~/Library/LaunchAgents/dev.mcpshare.NAME.plist`, loaded into the user's GUI
 * domain with `launchctl bootstrap gui/UID`, so the daemon comes up at every login.
 */

/**
 * Secrets are loaded by a shell shim at start (`set -a; . FILE; exec …`) so they never appear in
 * the plist. The env file's path is passed as $0 and the command as "$@": no quoting of user text
 * inside the script itself.
 */
export const ENV_SHIM = 'set -a; . "$0" || exit 78; set +a; exec "$@"';

export function programArguments(spec: DaemonSpec): string[] {
  return spec.envFile ? ['/bin/sh', '-c', ENV_SHIM, spec.envFile, ...spec.argv] : spec.argv;
}

export function renderPlist(spec: DaemonSpec): string {
  return renderPlistXml(
    {
      Label: launchdLabel(spec.name),
      ProgramArguments: programArguments(spec),
      WorkingDirectory: spec.cwd,
      EnvironmentVariables: { ...spec.env },
      RunAtLoad: true,
      // Restart only after a failure; a clean exit (stopped on purpose) stays down.
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: Math.max(1, Math.round(spec.restart.restartSec)),
      StandardOutPath: spec.logFile,
      StandardErrorPath: spec.logFile,
      ProcessType: 'Background',
    },
    'Written by mcpshare; edit with "mcpshare edit", not by hand.',
  );
}

/** Maps `launchctl print gui/UID/LABEL` output to the common UnitState. */
export function parsePrint(text: string, burst: number): UnitState {
  const field = (re: RegExp) => re.exec(text)?.[1];
  // Whole value: "not running", "spawn scheduled" are two words.
  const state = field(/^\s*state = (.+?)\s*$/m);
  const pid = Number(field(/^\s*pid = (\d+)/m)) || undefined;
  const runs = Number(field(/^\s*runs = (\d+)/m) ?? 0);
  const exitRaw = field(/^\s*last exit code = (-?\d+)/m);
  const lastExitCode = exitRaw !== undefined ? Number(exitRaw) : undefined;
  const running = state === 'running';
  // launchd never gives up (it respawns every ThrottleInterval); it is a crash loop once it has
  // respawned more than the burst and the last run failed.
  const crashLoop = !running && (lastExitCode ?? 0) !== 0 && runs > burst;
  const active: UnitState['active'] = running ? 'running' : crashLoop || (lastExitCode ?? 0) !== 0 ? (crashLoop ? 'failed' : 'starting') : 'stopped';
  return {
    installed: true,
    active,
    crashLoop,
    restarts: Math.max(0, runs - 1),
    pid: running ? pid : undefined,
    lastExitCode,
    detail: `state=${state ?? '?'} runs=${runs}${lastExitCode !== undefined ? ` last exit code=${lastExitCode}` : ''}`,
  };
}

export class LaunchdBackend implements ServiceBackend {
  readonly name = 'launchd' as const;

  constructor(
    private readonly paths: UserPaths,
    private readonly uid: number = process.getuid?.() ?? 501,
    private readonly run: CommandRunner = runCommand,
  ) {}

  private domain() {
    return `gui/${this.uid}`;
  }

  private target(name: string) {
    return `${this.domain()}/${launchdLabel(name)}`;
  }

  definitionPath(name: string): string {
    return join(this.paths.launchAgentsDir, `${launchdLabel(name)}.plist`);
  }

  private async loaded(name: string): Promise<boolean> {
    return (await this.run('launchctl', ['print', this.target(name)])).exitCode === 0;
  }

  async install(spec: DaemonSpec): Promise<void> {
    mkdirSync(this.paths.launchAgentsDir, { recursive: true });
    mkdirSync(this.paths.logDir, { recursive: true, mode: 0o700 });
    // A loaded job keeps its old definition: unload it so the next bootstrap reads the new plist.
    if (await this.loaded(spec.name)) await runChecked(this.run, 'launchctl', ['bootout', this.target(spec.name)]);
    writeFileAtomic(this.definitionPath(spec.name), renderPlist(spec), 0o644);
  }

  async uninstall(name: string): Promise<void> {
    if (await this.loaded(name)) await runChecked(this.run, 'launchctl', ['bootout', this.target(name)]);
    rmSync(this.definitionPath(name), { force: true });
  }

  async start(name: string): Promise<void> {
    if (!existsSync(this.definitionPath(name))) throw new Error(`${this.definitionPath(name)} does not exist; run "mcpshare edit ${name}" to write it again`);
    const print = await this.run('launchctl', ['print', this.target(name)]);
    if (print.exitCode === 0) {
      if (/^\s*state = running\s*$/m.test(print.stdout)) return; // already up
      // Loaded but down (a crash loop): launchd's run counter only resets when the job is reloaded.
      await runChecked(this.run, 'launchctl', ['bootout', this.target(name)]);
    }
    await runChecked(this.run, 'launchctl', ['bootstrap', this.domain(), this.definitionPath(name)]);
  }

  async stop(name: string): Promise<void> {
    // KeepAlive would respawn a killed job: unloading is the only stop that sticks (until next login).
    if (await this.loaded(name)) await runChecked(this.run, 'launchctl', ['bootout', this.target(name)]);
  }

  async restart(name: string): Promise<void> {
    if (await this.loaded(name)) await runChecked(this.run, 'launchctl', ['kickstart', '-k', this.target(name)]);
    else await this.start(name);
  }

  async inspect(name: string, policy: RestartPolicy): Promise<UnitState> {
    const installed = existsSync(this.definitionPath(name));
    const r = await this.run('launchctl', ['print', this.target(name)]);
    if (r.exitCode !== 0) return { installed, active: 'stopped', crashLoop: false, restarts: 0, detail: 'not loaded' };
    return { ...parsePrint(r.stdout, policy.burst), installed };
  }
}
