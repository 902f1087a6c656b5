import { connect, createServer, type Server } from 'node:net';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { pidsInGroup } from '../util/procinfo.js';
import type { UnitState } from './backend.js';
import type { DaemonSpec } from './daemon.js';
import type { UserPaths } from '../registry/paths.js';
import type { Supervisor } from './supervisor.js';

/**
 * The supervisor's control channel: newline-delimited JSON over a Unix socket in the user's 0700
 * state directory, so `mcpshare start/stop/status` (another process) can drive a running supervisor
 * and nobody else can.
 */
export type ControlRequest =
  { op: 'start' | 'restart'; name: string } | { op: 'stop' | 'inspect' | 'forget'; name: string } | { op: 'ping' } | { op: 'shutdown' };

export type ControlReply = { ok: true; state?: UnitState; pid?: number } | { ok: false; error: string };

export const socketPath = (p: UserPaths) => join(p.stateDir, 'supervisor.sock');
export const stateFilePath = (p: UserPaths) => join(p.stateDir, 'supervisor.json');
export const supervisorLogPath = (p: UserPaths) => join(p.logDir, 'supervisor.log');
/** The running supervisor's pid, created exclusively: one supervisor per user (src/util/pid-lock.ts). */
export const supervisorLockPath = (p: UserPaths) => join(p.stateDir, 'supervisor.pid');

/** Serves control requests; `specOf` reads the registry afresh, so an edit applies at the next start. */
export function serveControl(supervisor: Supervisor, paths: UserPaths, specOf: (name: string) => DaemonSpec, onShutdown: () => void): Promise<Server> {
  mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.stateDir, 0o700);
  const sock = socketPath(paths);
  rmSync(sock, { force: true }); // a stale socket of a supervisor that died (we checked it does not answer)
  const persist = () => writeFileAtomic(stateFilePath(paths), JSON.stringify({ pid: process.pid, daemons: supervisor.pids() }) + '\n', 0o600);
  supervisor.on('change', persist);

  const handle = async (req: ControlRequest): Promise<ControlReply> => {
    switch (req.op) {
      case 'ping':
        return { ok: true, pid: process.pid };
      case 'start':
        supervisor.start(specOf(req.name));
        return { ok: true, state: supervisor.inspect(req.name) };
      case 'restart':
        await supervisor.restart(specOf(req.name));
        return { ok: true, state: supervisor.inspect(req.name) };
      case 'stop':
        await supervisor.stop(req.name);
        return { ok: true, state: supervisor.inspect(req.name) };
      case 'forget':
        await supervisor.stop(req.name);
        supervisor.forget(req.name);
        return { ok: true };
      case 'inspect':
        return { ok: true, state: supervisor.inspect(req.name) };
      case 'shutdown':
        setImmediate(onShutdown);
        return { ok: true };
      default:
        return { ok: false, error: `unknown operation ${JSON.stringify((req as { op?: unknown }).op)}` };
    }
  };

  const server = createServer((socket) => {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 64 * 1024) return socket.destroy();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let req: ControlRequest;
        try {
          req = JSON.parse(line) as ControlRequest;
        } catch {
          socket.write(JSON.stringify({ ok: false, error: 'not JSON' }) + '\n');
          continue;
        }
        handle(req).then(
          (reply) => socket.write(JSON.stringify(reply) + '\n'),
          (err: Error) => socket.write(JSON.stringify({ ok: false, error: err.message }) + '\n'),
        );
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, () => {
      chmodSync(sock, 0o600);
      persist();
      resolve(server);
    });
  });
}

/** Sends one request to the running supervisor; undefined when none answers. */
export function sendControl(paths: UserPaths, req: ControlRequest, timeoutMs = 30_000): Promise<ControlReply | undefined> {
  const sock = socketPath(paths);
  if (!existsSync(sock)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const c = connect(sock);
    let buf = '';
    const done = (v: ControlReply | undefined) => {
      clearTimeout(timer);
      c.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done({ ok: false, error: `the supervisor did not answer within ${timeoutMs / 1000} s` }), timeoutMs);
    c.setEncoding('utf8');
    c.on('error', () => done(undefined));
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        try {
          done(JSON.parse(buf.slice(0, nl)) as ControlReply);
        } catch {
          done({ ok: false, error: 'the supervisor sent an unreadable reply' });
        }
      }
    });
  });
}

/**
 * Kills daemons a previous supervisor left behind (it was killed with -9 and could not stop them),
 * so a new one does not find their ports taken. Only pids whose command line still is theirs.
 */
export async function reapOrphans(paths: UserPaths, expectedArgv: (name: string) => string[] | undefined, graceMs = 5000): Promise<string[]> {
  let state: { pid?: number; daemons?: Record<string, number> };
  try {
    state = JSON.parse(readFileSync(stateFilePath(paths), 'utf8')) as typeof state;
  } catch {
    return [];
  }
  const reaped: string[] = [];
  const groups: number[] = [];
  for (const [name, pid] of Object.entries(state.daemons ?? {})) {
    const argv = expectedArgv(name);
    let cmdline: string[];
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // gone (or not Linux: ps-based check not worth it for a rare crash)
    }
    if (!argv || cmdline.join(' ') !== argv.join(' ')) continue;
    try {
      process.kill(-pid, 'SIGTERM');
      reaped.push(name);
      groups.push(pid);
    } catch {
      // not ours any more
    }
  }
  // Wait until they are gone: the new daemons are started right after this and need the ports.
  const deadline = Date.now() + graceMs;
  while (groups.some((g) => liveInGroup(g)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const g of groups) {
    if (!liveInGroup(g)) continue;
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const killDeadline = Date.now() + 2000;
  while (groups.some((g) => liveInGroup(g)) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 50));
  return reaped;
}

/** True while a process group has a member that is not a zombie (an orphan's zombie may never be reaped in a container). */
function liveInGroup(pgid: number): boolean {
  return pidsInGroup(pgid).some((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return process.platform !== 'linux'; // no /proc: trust the group listing
    }
  });
}
