import { renderPlistXml } from '../util/plist.js';
import { chmodSync, mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { NODE_MEMORY_FLAGS } from '../runtime.js';
import { CLI_PATH } from '../units/daemon.js';
import { runChecked, runCommand, type CommandRunner } from '../units/runner.js';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * Starting the tray at login.
 *
 * - Linux (and other XDG desktops): an XDG autostart entry,
 *   `${XDG_CONFIG_HOME:-~/.config}/autostart/mcpshare-tray.desktop`, which the desktop session runs
 *   at login (GNOME and KDE on systemd turn it into a unit with systemd-xdg-autostart-generator).
 * - macOS: a LaunchAgent, `~/Library/LaunchAgents/dev.mcpshare.tray.plist`, loaded into the GUI
 *   domain with `launchctl bootstrap gui/UID`; RunAtLoad starts the tray at once and at every login,
 *   and KeepAlive {SuccessfulExit: false} restarts a crashed tray but leaves one the user quit.
 *
 * Both run `node NODE_MEMORY_FLAGS… CLI_PATH tray` with absolute paths: a login session does not
 * read the user's shell profile, so neither `mcpshare` nor `node` may be looked up on PATH.
 * Renderers are pure; enable/disable/status are small IO over them, with the platform, environment
 * and launchctl runner injectable so tests can ask for macOS on Linux.
 */

export const TRAY_LABEL = 'dev.mcpshare.tray';
export const DESKTOP_FILE_NAME = 'mcpshare-tray.desktop';
/** Marks a file as ours: a server registered as "tray" would get the same launchd label (dev.mcpshare.NAME). */
const MARKER = 'mcpshare tray autostart';
const THROTTLE_SEC = 10;

export type AutostartPlatform = 'linux' | 'darwin';

export interface AutostartOptions {
  /** Default process.platform; every platform but darwin and win32 is treated as an XDG desktop. */
  platform?: NodeJS.Platform;
  /** HOME, XDG_CONFIG_HOME and PATH come from here (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Runs launchctl (default: the real one, found on PATH). */
  run?: CommandRunner;
  /** gui/UID domain (default process.getuid()). */
  uid?: number;
  /** What the entry runs; defaults are this installation's node and CLI. */
  nodePath?: string;
  nodeFlags?: readonly string[];
  cliPath?: string;
  iconPath?: string;
  /** macOS: load the agent now (which starts the tray); false only writes it, for the next login. Default true. */
  start?: boolean;
}

export interface AutostartStatus {
  platform: AutostartPlatform;
  /** "xdg-autostart" (a .desktop entry) or "launch-agent" (a plist). */
  mechanism: 'xdg-autostart' | 'launch-agent';
  file: string;
  /** The file exists (the tray starts at the next login). */
  enabled: boolean;
  /** The file is exactly what `enableAutostart` would write now (false: another installation's or edited). */
  upToDate: boolean;
  /** A file at that path that mcpshare's autostart did not write (e.g. a server registered as "tray" on macOS). */
  foreign: boolean;
  /** What the entry runs (as this installation would write it). */
  command: string[];
  /** macOS: the agent is loaded in gui/UID now; running pid when launchd reports one. */
  loaded?: boolean;
  pid?: number;
}

export interface EnableResult extends AutostartStatus {
  /** The file was written (it did not exist or had other content). */
  written: boolean;
  /** macOS: launchctl command lines run, in order. */
  commands: string[][];
}

export interface DisableResult {
  platform: AutostartPlatform;
  file: string;
  removed: boolean;
  commands: string[][];
}

interface Resolved {
  platform: AutostartPlatform;
  home: string;
  env: NodeJS.ProcessEnv;
  run: CommandRunner;
  uid: number;
  argv: string[];
  iconPath: string;
}

export function autostartPlatform(platform: NodeJS.Platform = process.platform): AutostartPlatform {
  if (platform === 'darwin') return 'darwin';
  if (platform === 'win32') throw new Error('starting the tray at login is supported on Linux and macOS, not Windows');
  return 'linux';
}

/** Where this installation's package lives: CLI_PATH is `<root>/dist/cli.js`. */
export function packageRoot(cliPath: string = CLI_PATH): string {
  return dirname(dirname(cliPath));
}

function resolve(o: AutostartOptions): Resolved {
  const env = o.env ?? process.env;
  const cliPath = o.cliPath ?? CLI_PATH;
  return {
    platform: autostartPlatform(o.platform),
    home: env.HOME || homedir(),
    env,
    run: o.run ?? runCommand,
    uid: o.uid ?? process.getuid?.() ?? 501,
    argv: trayCommand({ nodePath: o.nodePath ?? stableNodePath(env.PATH ?? ''), nodeFlags: o.nodeFlags, cliPath }),
    iconPath: o.iconPath ?? join(packageRoot(cliPath), 'assets', 'mcpshare.png'),
  };
}

/**
 * The node to write into a login entry. process.execPath is the resolved binary, which can be a
 * versioned path a package manager deletes on upgrade (Homebrew's .../Cellar/node/20.x/bin/node);
 * a `node` on PATH that is the same file (/opt/homebrew/bin/node) keeps working after an upgrade.
 */
export function stableNodePath(pathEnv: string, execPath: string = process.execPath): string {
  let real: string;
  try {
    real = realpathSync(execPath);
  } catch {
    return execPath;
  }
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, 'node');
    try {
      if (realpathSync(candidate) === real) return candidate;
    } catch {
      // not there
    }
  }
  return execPath;
}

/** `node FLAGS… CLI tray`, all absolute. */
export function trayCommand(o: { nodePath?: string; nodeFlags?: readonly string[]; cliPath?: string } = {}): string[] {
  return [o.nodePath ?? process.execPath, ...(o.nodeFlags ?? NODE_MEMORY_FLAGS), o.cliPath ?? CLI_PATH, 'tray'];
}

export function desktopEntryPath(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME || homedir();
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'autostart', DESKTOP_FILE_NAME);
}

export function launchAgentPath(home: string): string {
  return join(home, 'Library', 'LaunchAgents', `${TRAY_LABEL}.plist`);
}

/** macOS's log folder for mcpshare (what userPaths() gives on darwin), computed for any platform. */
export function trayLogFileDarwin(home: string): string {
  return join(home, 'Library', 'Logs', 'mcpshare', 'tray.log');
}

// ---------------------------------------------------------------------------------------------
// Desktop Entry (freedesktop.org Desktop Entry Specification 1.5)
// ---------------------------------------------------------------------------------------------

/** The spec's reserved characters: an argument holding any of them must be quoted. */
const EXEC_RESERVED = /[\s"'\\><~|&;$*?#()`]/;

/**
 * One Exec argument, as the spec says: inside double quotes `"`, `` ` ``, `$` and `\` are escaped
 * with a backslash (the quoting rule); the value is then a `string`, whose escape rule doubles every
 * backslash; `%` starts a field code unless doubled. So `"` is written `\\"` and `$` is `\\$`:
 * systemd-xdg-autostart-generator (GNOME and KDE sessions on systemd) insists on exactly this, and
 * GLib reads it too.
 */
export function quoteExecArg(arg: string): string {
  if (/[\n\r\t\0]/.test(arg)) throw new Error(`cannot put a control character in a desktop entry's Exec: ${JSON.stringify(arg)}`);
  // The spec's four backslashes are rejected by systemd-xdg-autostart-generator, and paths with a
  // backslash are vanishingly rare: refuse clearly rather than write an entry that never runs.
  if (arg.includes('\\'))
    throw new Error(
      `cannot start ${JSON.stringify(arg)} from a desktop entry: its path has a backslash, which login sessions read differently; install mcpshare (and node) under a path without one`,
    );
  // Exec's quoting rule first (backslash before " ` $ \), then the string rule (every \ doubled).
  const out = arg === '' || EXEC_RESERVED.test(arg) ? `"${arg.replace(/(["`$\\])/g, '\\$1').replace(/\\/g, '\\\\')}"` : arg;
  return out.replace(/%/g, '%%');
}

/**
 * The Exec value. The program itself may not contain `%`: GLib and systemd-xdg-autostart-generator
 * both look for the file under its `%%`-escaped name and, not finding it, skip the entry.
 */
export function execLine(argv: readonly string[]): string {
  if (argv[0]?.includes('%'))
    throw new Error(
      `cannot start ${JSON.stringify(argv[0])} from a desktop entry: login sessions do not find a program whose path has a "%"; use a node installed under a path without one`,
    );
  return argv.map(quoteExecArg).join(' ');
}

/** A desktop entry `string` value: backslashes and control characters escaped. */
function desktopString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r');
}

export function renderDesktopEntry(o: { argv: readonly string[]; iconPath: string }): string {
  return [
    `# Written by "mcpshare autostart on" (${MARKER}); "mcpshare autostart off" removes it.`,
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.5',
    'Name=mcpshare',
    'GenericName=Shared MCP servers',
    'Comment=Tray icon for the MCP servers mcpshare shares with your AI coding sessions',
    `Exec=${execLine(o.argv)}`,
    `Icon=${desktopString(o.iconPath)}`,
    'Terminal=false',
    // No window: a launch-feedback cursor would spin until it times out.
    'StartupNotify=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// LaunchAgent
// ---------------------------------------------------------------------------------------------

export function renderTrayPlist(o: { argv: readonly string[]; logFile: string; path: string }): string {
  return renderPlistXml(
    {
      Label: TRAY_LABEL,
      ProgramArguments: o.argv,
      EnvironmentVariables: { PATH: o.path },
      RunAtLoad: true,
      // Quitting from the menu exits 0 and must stay quit; a crash (non-zero, signal) restarts.
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: THROTTLE_SEC,
      // A menu bar app: full CPU/IO priority, and only in a graphical login (not over ssh).
      ProcessType: 'Interactive',
      LimitLoadToSessionType: 'Aqua',
      StandardOutPath: o.logFile,
      StandardErrorPath: o.logFile,
    },
    `Written by "mcpshare autostart on" (${MARKER}); "mcpshare autostart off" removes it.`,
  );
}

/** launchctl command lines (arguments after "launchctl"). */
export const launchctlBootstrap = (uid: number, plist: string): string[] => ['bootstrap', `gui/${uid}`, plist];
export const launchctlBootout = (uid: number): string[] => ['bootout', `gui/${uid}/${TRAY_LABEL}`];
export const launchctlPrint = (uid: number): string[] => ['print', `gui/${uid}/${TRAY_LABEL}`];
export const launchctlKickstart = (uid: number): string[] => ['kickstart', `gui/${uid}/${TRAY_LABEL}`];

// ---------------------------------------------------------------------------------------------
// IO
// ---------------------------------------------------------------------------------------------

function fileFor(r: Resolved): string {
  return r.platform === 'darwin' ? launchAgentPath(r.home) : desktopEntryPath({ ...r.env, HOME: r.home });
}

function render(r: Resolved): string {
  if (r.platform === 'darwin') {
    return renderTrayPlist({ argv: r.argv, logFile: trayLogFileDarwin(r.home), path: r.env.PATH || '/usr/local/bin:/usr/bin:/bin' });
  }
  return renderDesktopEntry({ argv: r.argv, iconPath: r.iconPath });
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function launchdState(r: Resolved): Promise<{ loaded: boolean; pid?: number }> {
  const p = await r.run('launchctl', launchctlPrint(r.uid));
  if (p.exitCode !== 0) return { loaded: false };
  const running = /^\s*state = running\s*$/m.test(p.stdout);
  const pid = Number(/^\s*pid = (\d+)/m.exec(p.stdout)?.[1]) || undefined;
  return { loaded: true, pid: running ? pid : undefined };
}

export async function autostartStatus(o: AutostartOptions = {}): Promise<AutostartStatus> {
  const r = resolve(o);
  const file = fileFor(r);
  const text = readOrUndefined(file);
  const status: AutostartStatus = {
    platform: r.platform,
    mechanism: r.platform === 'darwin' ? 'launch-agent' : 'xdg-autostart',
    file,
    enabled: text !== undefined,
    upToDate: text === render(r),
    foreign: text !== undefined && !text.includes(MARKER),
    command: r.argv,
  };
  if (r.platform === 'darwin') Object.assign(status, await launchdState(r));
  return status;
}

function refuseForeign(file: string, text: string | undefined, verb: string): void {
  if (text !== undefined && !text.includes(MARKER)) {
    throw new Error(
      `${file} was not written by "mcpshare autostart" (a server registered as "tray" has the same launchd label?): not ${verb} it. ` +
        'Rename that server (mcpshare remove tray, then add it under another name) and try again.',
    );
  }
}

export async function enableAutostart(o: AutostartOptions = {}): Promise<EnableResult> {
  const r = resolve(o);
  const file = fileFor(r);
  const text = render(r);
  const previous = readOrUndefined(file);
  refuseForeign(file, previous, 'overwriting');
  const written = previous !== text;
  const commands: string[][] = [];
  const launchctl = async (args: string[]) => {
    commands.push(args);
    await runChecked(r.run, 'launchctl', args);
  };

  if (r.platform === 'darwin') {
    // launchd opens the log itself and does not create its folder.
    mkdirSync(dirname(trayLogFileDarwin(r.home)), { recursive: true, mode: 0o700 });
    mkdirSync(dirname(file), { recursive: true });
    const before = await launchdState(r);
    // A loaded job keeps the definition it was loaded with: unload it so the new one is read
    // (with start: false the running job is left alone; the new plist applies at the next login).
    if (written && before.loaded && o.start !== false) {
      await launchctl(launchctlBootout(r.uid));
      // bootout returns before the job is gone (the tray takes a moment to quit); a bootstrap
      // issued meanwhile fails with "Bootstrap failed: 5: Input/output error".
      for (let i = 0; i < 50 && (await launchdState(r)).loaded; i++) await new Promise((res) => setTimeout(res, 100));
    }
    if (written) writeAtomic644(file, text);
    if (o.start !== false) {
      try {
        if (written || !before.loaded) await bootstrapWithRetry(launchctl, launchctlBootstrap(r.uid, file));
        // Loaded but not running (quit from its menu, or stopped for an upgrade): start it again.
        else if (!before.pid) await launchctl(launchctlKickstart(r.uid));
      } catch (err) {
        throw new Error(`${file} is in place (the tray starts at your next login), but starting it now failed: ${(err as Error).message}`, { cause: err });
      }
    }
  } else {
    mkdirSync(dirname(file), { recursive: true });
    if (written) writeAtomic644(file, text);
  }
  return { ...(await autostartStatus(o)), written, commands };
}

/** `launchctl bootstrap`, tried three times a second apart: launchd may still be tearing the old job down. */
async function bootstrapWithRetry(launchctl: (args: string[]) => Promise<void>, args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchctl(args);
    } catch (err) {
      if (attempt >= 3 || !/Input\/output error|: 5:|: 37:/.test((err as Error).message)) throw err;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
}

export async function disableAutostart(o: AutostartOptions = {}): Promise<DisableResult> {
  const r = resolve(o);
  const file = fileFor(r);
  const previous = readOrUndefined(file);
  refuseForeign(file, previous, 'removing');
  const commands: string[][] = [];
  if (r.platform === 'darwin') {
    const state = await launchdState(r);
    // Unloading stops the job's process: a tray turning its own "Start at login" off must not kill
    // itself, so its own job stays loaded until logout (the plist is gone: it does not come back).
    if (state.loaded && state.pid !== process.pid) {
      commands.push(launchctlBootout(r.uid));
      await runChecked(r.run, 'launchctl', launchctlBootout(r.uid));
    }
  }
  rmSync(file, { force: true });
  return { platform: r.platform, file, removed: previous !== undefined, commands };
}

/** The file mode is 0644 whatever the umask: the session manager / launchd reads it as the user. */
function writeAtomic644(file: string, text: string): void {
  writeFileAtomic(file, text, 0o644);
  chmodSync(file, 0o644);
}
