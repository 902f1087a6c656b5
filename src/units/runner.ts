import { execa } from 'execa';
import { McpshareError } from '../errors.js';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a service-manager command. Injected so launchd's command lines can be tested off macOS. */
export type CommandRunner = (command: string, args: readonly string[]) => Promise<RunResult>;

export const runCommand: CommandRunner = async (command, args) => {
  const r = await execa(command, args, { reject: false, timeout: 60_000, stdin: 'ignore' });
  if ((r as { code?: string }).code === 'ENOENT' || (r.failed && /ENOENT/.test(String(r.message)) && r.exitCode === undefined)) {
    throw new McpshareError('tool-missing', `${command} not found on PATH: it is needed to manage the daemons here`, { context: { tool: command } });
  }
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};

/** Throws an error carrying the command line and its stderr when a command failed. */
export async function runChecked(run: CommandRunner, command: string, args: readonly string[]): Promise<RunResult> {
  const r = await run(command, args);
  if (r.exitCode !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim() || 'no output'}`);
  }
  return r;
}
