#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * mcpshare's command line: a thin dispatcher; every command's logic lives in the core parts.
 * The shebang carries NODE_MEMORY_FLAGS (src/runtime.ts): a bridge runs for days, and a small young
 * generation keeps its RSS near 84 MB after sustained load instead of 113 MB.
 */
import { exitCodeOf } from './errors.js';
import { VERSION } from './version.js';

interface CommandModule {
  usage: string;
  run(argv: string[]): Promise<number>;
}

interface Command {
  summary: string;
  /** Loaded only when the command runs: a CLI call should not pay for every other command's imports. */
  load(): Promise<CommandModule>;
}

const commands: Record<string, Command> = {
  bridge: {
    summary: 'share one stdio MCP server with many clients over HTTP/SSE',
    load: async () => {
      const m = await import('./cli/bridge.js');
      return { usage: m.bridgeUsage, run: m.bridgeCommand };
    },
  },
  demo: {
    summary: 'run the bridge in front of the bundled demo server',
    load: async () => {
      const m = await import('./cli/demo.js');
      return { usage: m.demoUsage, run: m.demoCommand };
    },
  },
  add: {
    summary: 'register a server to run once as a shared login daemon',
    load: async () => {
      const m = await import('./cli/servers.js');
      return { usage: m.addUsage, run: m.addCommand };
    },
  },
  remove: {
    summary: 'stop a server and delete its unit, entry and env file',
    load: async () => {
      const m = await import('./cli/servers.js');
      return { usage: m.removeUsage, run: m.removeCommand };
    },
  },
  list: {
    summary: 'list the registered servers',
    load: async () => {
      const m = await import('./cli/servers.js');
      return { usage: m.listUsage, run: m.listCommand };
    },
  },
  edit: {
    summary: 'change a registered server (rewrites its unit, restarts it)',
    load: async () => {
      const m = await import('./cli/servers.js');
      return { usage: m.editUsage, run: m.editCommand };
    },
  },
  start: {
    summary: 'start daemons and wait until they are up',
    load: async () => {
      const m = await import('./cli/daemons.js');
      return { usage: m.startUsage, run: m.startCommand };
    },
  },
  stop: {
    summary: 'stop daemons',
    load: async () => {
      const m = await import('./cli/daemons.js');
      return { usage: m.stopUsage, run: m.stopCommand };
    },
  },
  restart: {
    summary: 'restart daemons',
    load: async () => {
      const m = await import('./cli/daemons.js');
      return { usage: m.restartUsage, run: m.restartCommand };
    },
  },
  status: {
    summary: 'state, restarts, pid, memory and sessions of every daemon',
    load: async () => {
      const m = await import('./cli/daemons.js');
      return { usage: m.statusUsage, run: m.statusCommand };
    },
  },
  logs: {
    summary: "print or follow a daemon's log",
    load: async () => {
      const m = await import('./cli/daemons.js');
      return { usage: m.logsUsage, run: m.logsCommand };
    },
  },
  check: {
    summary: 'prove each daemon speaks MCP (a real handshake) and say what is wrong',
    load: async () => {
      const m = await import('./cli/check.js');
      return { usage: m.checkUsage, run: m.checkCommand };
    },
  },
  import: {
    summary: "register the shareable stdio servers of a client's config",
    load: async () => {
      const m = await import('./cli/clients.js');
      return { usage: m.importUsage, run: m.importCommand };
    },
  },
  apply: {
    summary: "point a client's config (Claude Code's by default) at the shared daemons",
    load: async () => {
      const m = await import('./cli/clients.js');
      return { usage: m.applyUsage, run: m.applyCommand };
    },
  },
  revert: {
    summary: 'undo the last apply of a config',
    load: async () => {
      const m = await import('./cli/clients.js');
      return { usage: m.revertUsage, run: m.revertCommand };
    },
  },
  clients: {
    summary: 'the MCP clients on this machine, their servers, which are shared',
    load: async () => {
      const m = await import('./cli/client-targets.js');
      return { usage: m.clientsUsage, run: m.clientsCommand };
    },
  },
  connect: {
    summary: 'a stdio MCP server that relays to a shared daemon (for Claude Desktop)',
    load: async () => {
      const m = await import('./cli/connect.js');
      return { usage: m.connectUsage, run: m.connectCommand };
    },
  },
  doctor: {
    summary: 'find MCP servers duplicated per session and what sharing would save',
    load: async () => {
      const m = await import('./cli/doctor.js');
      return { usage: m.doctorUsage, run: m.doctorCommand };
    },
  },
  tray: {
    summary: 'the tray icon: server states, start/stop on click, notifications, .mcp.json',
    load: async () => {
      const m = await import('./cli/tray.js');
      return { usage: m.trayUsage, run: m.trayCommand };
    },
  },
  autostart: {
    summary: 'start the tray at login (on, off, status)',
    load: async () => {
      const m = await import('./cli/autostart.js');
      return { usage: m.autostartUsage, run: m.autostartCommand };
    },
  },
  supervise: {
    summary: 'run the built-in supervisor (no systemd/launchd)',
    load: async () => {
      const m = await import('./cli/supervise.js');
      return { usage: m.superviseUsage, run: m.superviseCommand };
    },
  },
  'enable-linger': {
    summary: 'start your daemons at boot, not only at login (systemd)',
    load: async () => {
      const m = await import('./cli/supervise.js');
      return { usage: m.lingerUsage, run: m.lingerCommandCli };
    },
  },
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
    process.stdout.write(c ? (await c.load()).usage : help());
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`mcpshare: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  const loaded = await command.load();
  if (rest[0] === '--help' || rest[0] === '-h') {
    process.stdout.write(loaded.usage);
    return 0;
  }
  try {
    return await loaded.run(rest);
  } catch (err) {
    process.stderr.write(`mcpshare ${name}: ${(err as Error).message}\n`);
    return exitCodeOf(err);
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
