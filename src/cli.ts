#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * mcpshare's command line: a thin dispatcher; every command's logic lives in the core parts.
 * The shebang carries NODE_MEMORY_FLAGS (src/runtime.ts): a bridge runs for days, and a small young
 * generation keeps its RSS near 84 MB after sustained load instead of 113 MB.
 */
import { bridgeCommand, bridgeUsage } from './cli/bridge.js';
import { logsCommand, logsUsage, restartCommand, restartUsage, startCommand, startUsage, statusCommand, statusUsage, stopCommand, stopUsage } from './cli/daemons.js';
import { demoCommand, demoUsage } from './cli/demo.js';
import { addCommand, addUsage, editCommand, editUsage, listCommand, listUsage, removeCommand, removeUsage } from './cli/servers.js';
import { lingerCommandCli, lingerUsage, superviseCommand, superviseUsage } from './cli/supervise.js';
import { UsageError } from './util/args.js';
import { VERSION } from './version.js';

interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  bridge: { summary: 'share one stdio MCP server with many clients over HTTP/SSE', usage: bridgeUsage, run: bridgeCommand },
  demo: { summary: 'run the bridge in front of the bundled demo server', usage: demoUsage, run: demoCommand },
  add: { summary: 'register a server to run once as a shared login daemon', usage: addUsage, run: addCommand },
  remove: { summary: 'stop a server and delete its unit, entry and env file', usage: removeUsage, run: removeCommand },
  list: { summary: 'list the registered servers', usage: listUsage, run: listCommand },
  edit: { summary: "change a registered server (rewrites its unit, restarts it)", usage: editUsage, run: editCommand },
  start: { summary: 'start daemons and wait until they are up', usage: startUsage, run: startCommand },
  stop: { summary: 'stop daemons', usage: stopUsage, run: stopCommand },
  restart: { summary: 'restart daemons', usage: restartUsage, run: restartCommand },
  status: { summary: 'state, restarts, pid, memory and sessions of every daemon', usage: statusUsage, run: statusCommand },
  logs: { summary: "print or follow a daemon's log", usage: logsUsage, run: logsCommand },
  supervise: { summary: 'run the built-in supervisor (no systemd/launchd)', usage: superviseUsage, run: superviseCommand },
  'enable-linger': { summary: 'start your daemons at boot, not only at login (systemd)', usage: lingerUsage, run: lingerCommandCli },
};

function help(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `mcpshare ${VERSION}: one shared instance of each MCP server for all your AI coding sessions\n\nUsage: mcpshare <command> [options]\n\nCommands:\n${rows.join('\n')}\n\nRun "mcpshare help <command>" for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(help());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (name === 'help') {
    const c = rest[0] ? commands[rest[0]] : undefined;
    process.stdout.write(c ? c.usage : help());
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`mcpshare: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest[0] === '--help' || rest[0] === '-h') {
    process.stdout.write(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mcpshare ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`mcpshare ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Lingering handles (a client's half-open socket) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err) => {
    process.stderr.write(`mcpshare: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
