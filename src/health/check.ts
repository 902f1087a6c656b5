import { lookupKnown } from '../registry/known-servers.js';
import { nativeFlagWords } from '../registry/shareability.js';
import type { ServerEntry } from '../registry/registry.js';
import { clientUrl } from '../registry/url.js';
import type { ServerStatus } from '../units/status.js';
import { wakeBridge, type WakeResult } from './daemons.js';
import { probe } from './probe.js';
import type { ProbeOptions, ProbeResult } from './types.js';

/**
 * A probe of a registered server, with advice that knows the registry and the service manager:
 * how to start it, where its log is, which transport flag a native server is missing.
 */
export interface ServerCheck extends ProbeResult {
  name: string;
  /** The service manager's view, when it was read (what `mcpshare status` says). */
  daemon?: Pick<ServerStatus, 'state' | 'restarts' | 'detail' | 'logFile'> & { idle?: boolean };
  /** `check --deep`: what starting its server (if it slept) gave. */
  deep?: WakeResult;
}

export type Prober = (target: Parameters<typeof probe>[0], opts?: ProbeOptions) => Promise<ProbeResult>;

export async function checkEntry(entry: ServerEntry, status: ServerStatus | undefined, opts: ProbeOptions = {}, run: Prober = probe): Promise<ServerCheck> {
  const result = await run({ url: clientUrl(entry), transport: entry.transport }, opts);
  const check: ServerCheck = { name: entry.name, ...result };
  if (status)
    check.daemon = { state: status.state, restarts: status.restarts, detail: status.detail, logFile: status.logFile, ...(status.idle ? { idle: true } : {}) };
  const advice = adviceFor(entry, check, status);
  if (advice) check.fix = advice;
  return check;
}

/**
 * `check --deep`: the handshake of an idle daemon is answered from its discovery snapshot, so it
 * proves the daemon, not its server. This starts a sleeping server (a bridge's POST /wake) and
 * waits until it is ready; a server that does not start makes the check fail.
 */
export async function deepCheck(entry: ServerEntry, check: ServerCheck, wake: (port: number) => Promise<WakeResult> = wakeBridge): Promise<ServerCheck> {
  if (entry.kind !== 'bridged' || !check.ok) return check;
  check.deep = await wake(entry.port);
  if (!check.deep.ok) {
    check.ok = false;
    check.fix = `the daemon answers, but its server does not start: ${check.deep.error ?? 'unknown error'}; see "mcpshare logs ${entry.name}"`;
  }
  return check;
}

function adviceFor(entry: ServerEntry, r: ProbeResult, status: ServerStatus | undefined): string | undefined {
  const log = status?.logFile ? `; its log is ${status.logFile}` : '';
  if (r.diagnosis === 'refused') {
    if (status?.state === 'crash-loop')
      return `the daemon gave up after ${status.restarts} restarts: read its log (mcpshare logs ${entry.name}), fix the cause, then "mcpshare start ${entry.name}"${log}`;
    if (status?.state === 'starting') return `the daemon is still starting; if this lasts, see "mcpshare logs ${entry.name}"${log}`;
    return `the daemon is not running: start it with "mcpshare start ${entry.name}"${log}`;
  }
  if (r.diagnosis === 'silent' && entry.kind === 'native') {
    const known = lookupKnown(entry.command, entry.args);
    if (known?.native) {
      const flags = nativeFlagWords(known.native, entry.port).join(' ');
      // Not the whole command line: it may carry a secret, and "mcpshare list" shows it.
      return `${known.id} is in stdio mode: its command needs "${flags}"; set it with "mcpshare edit ${entry.name} -- COMMAND ARGS ${flags}" (its current command: "mcpshare list")`;
    }
    return `the server binds port ${entry.port} but does not answer HTTP: it is probably in stdio mode; add its HTTP transport flag with "mcpshare edit ${entry.name} -- COMMAND ARGS"${log}`;
  }
  if (r.diagnosis === 'silent' && entry.kind === 'bridged') return `the bridge does not answer; restart it with "mcpshare restart ${entry.name}"${log}`;
  if ((r.diagnosis === 'wrong-path' || r.diagnosis === 'wrong-transport') && r.suggestion) {
    return `the server answers at ${r.suggestion.url} (${r.suggestion.transport}): re-register it with "mcpshare remove ${entry.name}" and "mcpshare add ${entry.name} --native ${r.suggestion.transport} --path ${new URL(r.suggestion.url).pathname} --port ${entry.port} -- …"`;
  }
  if (r.diagnosis === 'timeout') return `${r.fix ?? 'see its log'}${log}`;
  if (r.diagnosis === 'not-mcp') return `another program answers on port ${entry.port}: move the server with "mcpshare edit ${entry.name} --port N"`;
  if (r.diagnosis === 'http-error' && log) return `${r.fix ? `${r.fix}` : 'see its log'}${log}`;
  return r.fix;
}
