import { isMcpshareError, McpshareError } from '../errors.js';
import type { BackendName } from '../registry/registry.js';
import { BACKEND_NAMES } from '../registry/schema.js';
import type { ServiceBackend } from './backend.js';
import { LaunchdBackend } from './launchd.js';
import type { UserPaths } from '../registry/paths.js';
import { runCommand, type CommandRunner } from './runner.js';
import { SupervisorBackend } from './supervisor-backend.js';
import { SystemdBackend, systemdUserAvailable, userManagerAnswers } from './systemd.js';

/**
 * The service manager for new daemons: launchd on macOS, the systemd user manager on Linux when one
 * answers, the built-in supervisor otherwise. MCPSHARE_BACKEND=systemd|launchd|supervisor forces one.
 */
export async function detectBackend(env: NodeJS.ProcessEnv = process.env, run: CommandRunner = runCommand): Promise<BackendName> {
  const forced = env.MCPSHARE_BACKEND;
  if (forced) {
    if (!(BACKEND_NAMES as readonly string[]).includes(forced)) {
      throw new McpshareError('backend-unavailable', `MCPSHARE_BACKEND must be ${BACKEND_NAMES.join(', ').replace(/, (?=[^,]*$)/, ' or ')}, got "${forced}"`);
    }
    return forced as BackendName;
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
        if (isMcpshareError(err, 'tool-missing')) {
          throw new McpshareError(
            'backend-unavailable',
            'systemctl is not installed here, but the systemd backend was asked for (MCPSHARE_BACKEND=systemd, or the server was added under systemd); install systemd, or use MCPSHARE_BACKEND=supervisor',
            { cause: err },
          );
        }
        throw err;
      }
      if (!ok) {
        throw new McpshareError(
          'backend-unavailable',
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
