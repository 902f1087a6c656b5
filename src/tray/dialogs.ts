import { resolveCommand } from '../units/daemon.js';

/**
 * The desktop's own dialogs, run as programs: a folder picker (zenity or kdialog on Linux, AppleScript
 * on macOS) and a read-only text window (the memory report, a log). The command lines are built by
 * plain functions so they can be checked without a desktop; `run` executes them.
 */
export interface Command {
  file: string;
  args: string[];
  /** Text for the program's stdin. */
  input?: string;
}

export type Platform = NodeJS.Platform;

/** Absolute path of `name` on PATH, or undefined. Cheap: no process is started. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    return resolveCommand(name, env.PATH ?? '');
  } catch {
    return undefined;
  }
}

/** AppleScript string literal. */
export function appleString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * How to ask for a folder on this desktop, or undefined when there is no way (no zenity, no kdialog).
 * zenity needs `--filename=<existing folder>/`: without it the chooser opens in "Recent", where OK
 * stays greyed out.
 */
export function folderPickerCommand(platform: Platform, o: { title: string; startDir: string; env?: NodeJS.ProcessEnv }): Command | undefined {
  const start = o.startDir.endsWith('/') ? o.startDir : `${o.startDir}/`;
  if (platform === 'darwin') {
    return {
      file: 'osascript',
      args: ['-e', `POSIX path of (choose folder with prompt ${appleString(o.title)} default location POSIX file ${appleString(start)})`],
    };
  }
  if (which('zenity', o.env)) return { file: 'zenity', args: ['--file-selection', '--directory', `--title=${o.title}`, `--filename=${start}`] };
  if (which('kdialog', o.env)) return { file: 'kdialog', args: ['--title', o.title, '--getexistingdirectory', start] };
  return undefined;
}

/** A scrollable read-only window with `text`, or undefined when none of the tools exists. */
export function textWindowCommand(platform: Platform, o: { title: string; text: string; env?: NodeJS.ProcessEnv }): Command | undefined {
  if (platform === 'darwin') {
    // A dialog is the one window AppleScript has; monospace text reads fine in it for a report.
    return { file: 'osascript', args: ['-e', `display dialog ${appleString(o.text)} with title ${appleString(o.title)} buttons {"OK"} default button "OK"`] };
  }
  if (which('zenity', o.env))
    return { file: 'zenity', args: ['--text-info', `--title=${o.title}`, '--width=760', '--height=520', '--font=Monospace 10'], input: o.text };
  if (which('kdialog', o.env)) return { file: 'kdialog', args: ['--title', o.title, '--msgbox', o.text] };
  return undefined;
}

/** How to open a file in the desktop's default app (a log in a text viewer). */
export function openFileCommand(platform: Platform, file: string, env?: NodeJS.ProcessEnv): Command | undefined {
  if (platform === 'darwin') return { file: 'open', args: ['-a', 'Console', file] };
  if (which('xdg-open', env)) return { file: 'xdg-open', args: [file] };
  return undefined;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a dialog and waits for the person to answer it. Never throws: a missing program is code 127. */
export async function runDialog(cmd: Command, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  const { execa } = await import('execa');
  const r = await execa(cmd.file, cmd.args, { env, extendEnv: false, input: cmd.input ?? '', reject: false, stripFinalNewline: true });
  const code = r.exitCode ?? (r.failed && 'code' in r && (r as { code?: string }).code === 'ENOENT' ? 127 : null);
  return { code, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/**
 * The folder the person picked, `null` when they cancelled, or an Error saying why no picker could
 * be shown (so the tray can tell them in a notification).
 */
export async function pickFolder(platform: Platform, o: { title: string; startDir: string; env?: NodeJS.ProcessEnv }): Promise<string | null | Error> {
  const cmd = folderPickerCommand(platform, o);
  if (!cmd) return new Error('no folder picker is installed (zenity or kdialog)');
  const r = await runDialog(cmd, o.env);
  if (r.code === 0 && r.stdout.trim()) return r.stdout.trim().replace(/(.)\/$/, '$1');
  // zenity/kdialog: 1 = Cancel; osascript: "User canceled" (-128). Anything else is a broken dialog.
  if (r.code === 1 && !/cannot open display|error/i.test(r.stderr)) return null;
  if (/-128|User canceled/i.test(r.stderr)) return null;
  return new Error(`the folder picker (${cmd.file}) failed: ${r.stderr.trim().split('\n').pop() || `exit code ${r.code}`}`);
}

/** The real desktop for the tray: these dialogs plus node-notifier. */
export async function systemDesktop(o: {
  platform: Platform;
  env: NodeJS.ProcessEnv;
  icon?: string;
  log: (line: string) => void;
}): Promise<import('./app.js').TrayDesktop> {
  const { desktopNotifier } = await import('./notify.js');
  return {
    notify: desktopNotifier({ icon: o.icon, log: o.log }),
    pickFolder: (title, startDir) => pickFolder(o.platform, { title, startDir, env: o.env }),
    async showText(title, text) {
      const cmd = textWindowCommand(o.platform, { title, text, env: o.env });
      if (!cmd) return false;
      const r = await runDialog(cmd, o.env);
      if (r.code !== 0 && r.code !== 1) o.log(`${cmd.file} could not show "${title}": ${r.stderr.trim().split('\n').pop() ?? `exit code ${r.code}`}`);
      return r.code === 0 || r.code === 1;
    },
    async openFile(file) {
      const cmd = openFileCommand(o.platform, file, o.env);
      if (!cmd) return false;
      const r = await runDialog(cmd, o.env);
      return r.code === 0;
    },
  };
}
