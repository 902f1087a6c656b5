import { parseArgs, type ParseArgsConfig } from 'node:util';
import { McpshareError } from '../errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/**
 * Splits `mcpshare cmd [options] -- CMD ARGS...` and parses the options strictly, so a typo is an
 * error that names the option instead of being passed to the wrong program.
 */
export function parseCommandLine<T extends OptionSpec>(argv: string[], options: T, allowPositionals = true) {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  try {
    const parsed = parseArgs({ args: own, options, allowPositionals, strict: true });
    return { values: parsed.values, positionals: parsed.positionals, rest, hadDashDash: dash >= 0 };
  } catch (err) {
    throw new McpshareError('usage', (err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

export function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new McpshareError('usage', `--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

/** Seconds given on the command line, returned as milliseconds. */
export function secondsOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new McpshareError('usage', `--${name} must be a positive number of seconds, got "${value}"`);
  return Math.round(n * 1000);
}
