import { doctor } from '../doctor/doctor.js';
import { renderDoctor } from '../doctor/render.js';
import { parseCommandLine } from '../util/args.js';

/** `doctor`: how many copies of which MCP servers run now, and what sharing them would save. */

export const doctorUsage = `Usage: mcpshare doctor [--json] [--ps]

Scans the running processes for MCP servers, counts the copies each client session (Claude Code,
an editor) started, sums their measured RSS, and shows what sharing would save: today's total,
the total with each shareable server run once behind a bridge, and a projection for 1 to 30
sessions. Servers that keep per-session state (a browser, a REPL) are marked and not counted.

Options:
  --json   the report as JSON (stable: fields are only ever added)
  --ps     read processes with "ps" instead of /proc (the macOS way; for comparison on Linux)
`;

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { json: { type: 'boolean' }, ps: { type: 'boolean' } }, false);
  const report = await doctor({ source: values.ps ? 'ps' : undefined });
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : renderDoctor(report));
  return 0;
}
