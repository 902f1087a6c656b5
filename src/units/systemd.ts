import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import type { ServiceBackend, UnitState } from './backend.js';
import type { DaemonSpec } from './daemon.js';
import { unitName, type UserPaths } from '../registry/paths.js';
import { runChecked, runCommand, type CommandRunner } from './runner.js';

/**
 * systemd user units: `~/.config/systemd/user/mcp-NAME.service`, enabled for default.target so the
 * daemon comes up at login (at boot with `loginctl enable-linger`).
 */

/** Quotes one ExecStart= word: systemd splits on spaces, expands %specifiers and $VARIABLES. */
export function quoteExecArg(arg: string): string {
  if (/[\n\r]/.test(arg)) throw new Error(`a unit's command line cannot contain a newline: ${JSON.stringify(arg)}`);
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A value for a path-like setting (WorkingDirectory=, append:): only %specifiers need escaping. */
const pathValue = (p: string) => p.replace(/%/g, '%%');

/** An Environment= assignment, quoted as a whole. */
const envAssignment = (k: string, v: string) => `"${`${k}=${v}`.replace(/%/g, '%%').replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function renderUnit(spec: DaemonSpec): string {
  const lines = [
    '# Written by mcpshare; edit with "mcpshare edit", not by hand (changes here are overwritten).',
    '[Unit]',
    `Description=${spec.description} at ${spec.url}`,
    'After=network.target',
    // In [Unit]: the start limit that turns a crash loop into a failed unit instead of 900 restarts.
    `StartLimitIntervalSec=${spec.restart.intervalSec}`,
    `StartLimitBurst=${spec.restart.burst}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${spec.argv.map(quoteExecArg).join(' ')}`,
    ...(spec.cwd ? [`WorkingDirectory=${pathValue(spec.cwd)}`] : ['WorkingDirectory=%h']),
    ...Object.entries(spec.env).map(([k, v]) => `Environment=${envAssignment(k, v)}`),
    // Secrets stay in the 0600 env file; the unit only names it.
    ...(spec.envFile ? [`EnvironmentFile=${pathValue(spec.envFile)}`] : []),
    'Restart=on-failure',
    `RestartSec=${spec.restart.restartSec}`,
    'TimeoutStopSec=15',
    'KillMode=control-group',
    `StandardOutput=append:${pathValue(spec.logFile)}`,
    `StandardError=append:${pathValue(spec.logFile)}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ];
  return lines.join('\n');
}

/** Maps `systemctl show` properties to the common UnitState. */
export function parseShow(text: string): UnitState {
  const p: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) p[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  const installed = p.LoadState !== undefined && p.LoadState !== 'not-found';
  const restarts = Number(p.NRestarts ?? 0) || 0;
  const pid = Number(p.MainPID ?? 0) || undefined;
  const status = p.ExecMainStatus !== undefined && p.ExecMainStatus !== '' ? Number(p.ExecMainStatus) : undefined;
  const detail = `ActiveState=${p.ActiveState ?? '?'} SubState=${p.SubState ?? '?'} Result=${p.Result ?? '?'}${status !== undefined ? ` status=${status}` : ''}`;
  let active: UnitState['active'];
  switch (p.ActiveState) {
    case 'active':
    case 'reloading':
      active = p.SubState === 'running' ? 'running' : 'starting';
      break;
    case 'activating':
      active = 'starting'; // includes SubState=auto-restart: waiting RestartSec before the next try
      break;
    case 'failed':
      active = 'failed';
      break;
    default:
      active = 'stopped';
  }
  // With Restart=on-failure systemd only stays failed once it stopped retrying: the start limit
  // (systemd 252 reports Result=exit-code with NRestarts=burst; newer ones start-limit-hit).
  const crashLoop = active === 'failed' && (p.Result === 'start-limit-hit' || restarts > 0);
  return { installed, active, crashLoop, restarts, pid: active === 'running' || active === 'starting' ? pid : undefined, lastExitCode: status, detail };
}

export class SystemdBackend implements ServiceBackend {
  readonly name = 'systemd' as const;

  constructor(
    private readonly paths: UserPaths,
    private readonly run: CommandRunner = runCommand,
  ) {}

  private systemctl(...args: string[]) {
    return runChecked(this.run, 'systemctl', ['--user', ...args]);
  }

  definitionPath(name: string): string {
    return join(this.paths.systemdDir, unitName(name));
  }

  async install(spec: DaemonSpec): Promise<void> {
    mkdirSync(this.paths.systemdDir, { recursive: true });
    mkdirSync(this.paths.logDir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.definitionPath(spec.name), renderUnit(spec), 0o644);
    await this.systemctl('daemon-reload');
    await this.systemctl('enable', unitName(spec.name));
  }

  async uninstall(name: string): Promise<void> {
    const unit = unitName(name);
    if (existsSync(this.definitionPath(name))) {
      await this.run('systemctl', ['--user', 'disable', '--now', unit]);
      rmSync(this.definitionPath(name), { force: true });
    }
    await this.systemctl('daemon-reload');
    await this.run('systemctl', ['--user', 'reset-failed', unit]); // forget a failed state; fails harmlessly if none
  }

  async start(name: string): Promise<void> {
    const unit = unitName(name);
    // A unit that hit its start limit refuses to start until its failure is reset.
    await this.run('systemctl', ['--user', 'reset-failed', unit]);
    await this.systemctl('start', unit);
  }

  async stop(name: string): Promise<void> {
    await this.systemctl('stop', unitName(name));
    // A stopped unit should read "stopped", not keep the failed state of an earlier crash loop.
    await this.run('systemctl', ['--user', 'reset-failed', unitName(name)]);
  }

  async restart(name: string): Promise<void> {
    const unit = unitName(name);
    await this.run('systemctl', ['--user', 'reset-failed', unit]);
    await this.systemctl('restart', unit);
  }

  async inspect(name: string): Promise<UnitState> {
    const r = await this.systemctl('show', '-p', 'LoadState,ActiveState,SubState,Result,NRestarts,MainPID,ExecMainStatus', unitName(name));
    const state = parseShow(r.stdout);
    return { ...state, installed: state.installed && existsSync(this.definitionPath(name)) };
  }
}

/** True when a systemd user manager answers here (`systemctl --user` works). */
export async function systemdUserAvailable(run: CommandRunner = runCommand): Promise<boolean> {
  try {
    return await userManagerAnswers(run);
  } catch {
    return false;
  }
}

/** Whether `systemctl --user` reaches a running user manager; throws ToolMissingError without systemctl. */
export async function userManagerAnswers(run: CommandRunner): Promise<boolean> {
  const r = await run('systemctl', ['--user', 'is-system-running']);
  return ['running', 'degraded', 'starting', 'initializing'].includes(r.stdout.trim());
}
