import type { BackendName, ServiceBackend } from './backend.js';
import { LaunchdBackend } from './launchd.js';
import type { UserPaths } from './paths.js';
import { runCommand, ToolMissingError, type CommandRunner } from './runner.js';
import { SupervisorBackend } from './supervisor-backend.js';
import { SystemdBackend, systemdUserAvailable, userManagerAnswers } from './systemd.js';

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

/**
 * The service manager for new daemons: launchd on macOS, the systemd user manager on Linux when one
 * answers, the built-in supervisor otherwise. MCPSHARE_BACKEND=systemd|launchd|supervisor forces one.
 */
export async function detectBackend(env: NodeJS.ProcessEnv = process.env, run: CommandRunner = runCommand): Promise<BackendName> {
  const forced = env.MCPSHARE_BACKEND;
  if (forced) {
    if (forced !== 'systemd' && forced !== 'launchd' && forced !== 'supervisor') {
      throw new BackendUnavailableError(`MCPSHARE_BACKEND must be systemd, launchd or supervisor, got "${forced}"`);
    }
    return forced;
  }
  if (process.platform === 'darwin') return 'launchd';
  if (process.platform === 'linux' && (await systemdUserAvailable(run))) return 'systemd';
  return 'supervisor';
}

/** The backend object for a name, checked to be usable here (a clear error instead of a failed systemctl later). */
export async function openBackend(name: BackendName, paths: UserPaths, run: CommandRunner = runCommand): Promise<ServiceBackend> {
  switch (name) {
    case 'systemd': {
      let ok: boolean;
      try {
        ok = await userManagerAnswers(run);
      } catch (err) {
        if (err instanceof ToolMissingError) {
          throw new BackendUnavailableError('systemctl is not installed here, but the systemd backend was asked for (MCPSHARE_BACKEND=systemd, or the server was added under systemd); install systemd, or use MCPSHARE_BACKEND=supervisor');
        }
        throw err;
      }
      if (!ok) {
        throw new BackendUnavailableError(
          'no systemd user manager answers "systemctl --user" here (is XDG_RUNTIME_DIR set? inside ssh/sudo run "loginctl enable-linger" or log in graphically); set MCPSHARE_BACKEND=supervisor to use the built-in supervisor instead',
        );
      }
      return new SystemdBackend(paths, run);
    }
    case 'launchd':
      return new LaunchdBackend(paths, process.getuid?.() ?? 501, run);
    case 'supervisor':
      return new SupervisorBackend(paths);
  }
}
