/**
 * From detected copies to what sharing would save: groups of copies of one server, their sums,
 * the saving now, and the projection for 1–30 sessions. Pure functions over a Detection; every
 * number comes from measured RSS (the bridge's cost too, when a bridge runs to measure).
 */
import type { ShareMode } from '../util/share-mode.js';
import { shareabilityOf, type Verdict } from '../registry/shareability.js';
import { redactArgs, showCommand } from '../util/redact.js';
import type { Detection, Instance, SessionRef, SharedDaemon, SharedKind } from './detect.js';
import type { ProcessSnapshot } from './processes.js';
import type { PssFigures } from './pss.js';

/** The session counts of the projection table. */
export const PROJECTION_SESSIONS: readonly number[] = [1, 2, 4, 8, 15, 30];

/**
 * A bridge's own idle RSS as README "Performance" documents it (48.9 MB, `npm run bench`, after
 * express was dropped): used only when no mcpshare bridge runs to be measured.
 */
export const DOCUMENTED_BRIDGE_RSS_BYTES = Math.round(48.9 * 1024 * 1024);

export interface BridgeCost {
  bytes: number;
  source: 'measured' | 'documented';
  /** For people: where the number comes from. */
  detail: string;
}

export interface InstanceRow {
  pid: number;
  serverPid: number;
  pids: number[];
  rssBytes: number;
  session: SessionRef | null;
}

export interface ServerGroup {
  /** The normalised command line shared by every copy (see command-line.ts normaliseCommand). */
  key: string;
  /** The name people know it by (package, script's package, module or executable). */
  server: string;
  /** One copy's command line as it runs. */
  command: string;
  verdict: Verdict;
  reason: string;
  /**
   * How mcpshare would share it (known-servers.ts): global (one copy), project (one copy per
   * project: the shared cost counts one copy per distinct working directory of today's copies) or
   * session (one copy per session: no saving, the bridge only manages them).
   */
  share: ShareMode;
  /** Distinct projects among the copies (their working directories; a copy whose directory is unknown counts alone). */
  projects: number;
  /** It can serve HTTP itself, so sharing it needs no bridge. */
  native: boolean;
  copies: number;
  /** Distinct client sessions with a copy. */
  sessions: number;
  /** Copies whose parent is init or a service manager: daemons, or orphans of closed sessions. */
  withoutSession: number;
  totalBytes: number;
  meanBytes: number;
  minBytes: number;
  maxBytes: number;
  /**
   * What it would cost shared: one copy (the mean) plus a bridge unless native — per project in
   * project mode, per copy in session mode; 0 when an mcpshare daemon already serves it.
   */
  sharedCostBytes: number;
  /** totalBytes − sharedCostBytes: negative for a single copy (the bridge costs more than it frees). */
  savingIfSharedBytes: number;
  /** savingIfSharedBytes for shareable servers; 0 for per-session and unknown ones (not counted). */
  savedNowBytes: number;
  /** The running mcpshare daemon that already shares this very command, if any (its name, or `pid N`). */
  alreadySharedBy: string | null;
  instances: InstanceRow[];
}

export interface SessionSummary extends SessionRef {
  copies: number;
  servers: string[];
  rssBytes: number;
}

export interface SharedRow {
  pid: number;
  kind: SharedKind;
  name: string | null;
  port: number | null;
  command: string;
  ownRssBytes: number;
  serverRssBytes: number;
  totalBytes: number;
  pids: number[];
  /** Server processes it runs (a project- or session-mode bridge runs several); all are in serverRssBytes. */
  children: number;
}

export interface ProjectionRow {
  sessions: number;
  /** Every session with its own copy of every server found (N × Σ mean per copy). */
  perSessionBytes: number;
  /** Shareable servers once (mean + bridge, native without), per-session and unknown ones N times. */
  sharedBytes: number;
  savedBytes: number;
  /** As sharedBytes, counting the unknown servers as shareable too. */
  sharedIfUnknownShareableBytes: number;
  savedIfUnknownShareableBytes: number;
}

export interface DoctorReport {
  /** Bumped only on an incompatible change; fields are otherwise only added. */
  schema: 1;
  takenAt: string;
  platform: NodeJS.Platform;
  scan: { source: 'proc' | 'ps'; processes: number; unreadable: number; durationMs: number };
  bridge: BridgeCost;
  totals: {
    servers: number;
    copies: number;
    sessions: number;
    /** Σ RSS of every per-session copy found now. */
    todayBytes: number;
    /** The same servers shared: shareable ones once (+ bridge), the rest as they are. */
    sharedBytes: number;
    savedBytes: number;
    /** What sharing the unknown servers too would save on top (if they keep no per-session state). */
    unknownSavingBytes: number;
    /** Σ RSS of what mcpshare already shares (bridges with their servers, native daemons). */
    alreadySharedBytes: number;
  };
  groups: ServerGroup[];
  sessions: SessionSummary[];
  shared: SharedRow[];
  projection: ProjectionRow[];
  /** The fewest concurrent sessions at which sharing the shareable servers saves memory; null when none is shareable. */
  breakEvenSessions: number | null;
  notes: string[];
  /** The same processes measured as PSS (shared pages counted once), where the OS offers it (Linux). */
  pss?: PssFigures;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The bridge's cost: the median own RSS of the running mcpshare bridges, else the documented idle RSS. */
export function bridgeCost(shared: readonly SharedDaemon[]): BridgeCost {
  const own = shared
    .filter((s) => s.kind === 'bridge' && s.ownRssBytes > 0)
    .map((s) => s.ownRssBytes)
    .sort((a, b) => a - b);
  if (own.length === 0) {
    return {
      bytes: DOCUMENTED_BRIDGE_RSS_BYTES,
      source: 'documented',
      detail: 'the idle RSS `npm run bench` measured (README, Performance), as no mcpshare bridge is running to measure',
    };
  }
  const mid = own.length >> 1;
  const median = own.length % 2 ? own[mid] : Math.round((own[mid - 1] + own[mid]) / 2);
  return { bytes: median, source: 'measured', detail: `median own RSS of the ${own.length} running mcpshare bridge(s), without their servers` };
}

function groupOf(key: string, copies: Instance[], bridge: BridgeCost, sharedBy: Map<string, SharedDaemon>): ServerGroup {
  const first = copies[0];
  const s = shareabilityOf(first.argv[0] ?? '', first.argv.slice(1));
  const native = !!s.known?.native;
  const sizes = copies.map((c) => c.rssBytes);
  const total = sum(sizes);
  const mean = Math.round(total / copies.length);
  const daemon = sharedBy.get(key);
  const projects = projectsOf(copies);
  const copiesShared = s.share === 'project' ? projects : s.share === 'session' ? copies.length : 1;
  const sharedCost = daemon ? 0 : copiesShared * mean + (native ? 0 : bridge.bytes);
  const saving = total - sharedCost;
  return {
    // Shown and printed as JSON: a secret on a command line (--api-key, a password in a URL) stays hidden.
    key: redactArgs(key.split(' ')).join(' '),
    server: s.known?.id ?? first.server,
    command: showCommand(first.argv[0] ?? '', first.argv.slice(1)),
    verdict: s.verdict,
    reason: s.reason,
    share: s.share,
    projects,
    native,
    copies: copies.length,
    sessions: new Set(copies.filter((c) => c.session).map((c) => c.session!.pid)).size,
    withoutSession: copies.filter((c) => !c.session).length,
    totalBytes: total,
    meanBytes: mean,
    minBytes: Math.min(...sizes),
    maxBytes: Math.max(...sizes),
    sharedCostBytes: sharedCost,
    savingIfSharedBytes: saving,
    savedNowBytes: s.verdict === 'shareable' ? saving : 0,
    alreadySharedBy: daemon ? (daemon.name ?? `pid ${daemon.pid}`) : null,
    instances: copies.map((c) => ({ pid: c.pid, serverPid: c.serverPid, pids: c.pids, rssBytes: c.rssBytes, session: c.session })),
  };
}

/** Distinct working directories of the copies; a copy whose directory could not be read counts as a project of its own. */
function projectsOf(copies: readonly Instance[]): number {
  const dirs = new Set<string>();
  let unknown = 0;
  for (const c of copies) {
    if (c.cwd) dirs.add(c.cwd);
    else unknown++;
  }
  return dirs.size + unknown;
}

/** Copies of one shareable server at N sessions, per its mode (project mode: today's projects, at most N). */
function sharedCopies(g: ServerGroup, n: number): number {
  return g.share === 'project' ? Math.min(n, g.projects) : g.share === 'session' ? n : 1;
}

/** Copies grouped by normalised command line, biggest total first. */
export function groupInstances(detection: Detection, bridge: BridgeCost): ServerGroup[] {
  const byKey = new Map<string, Instance[]>();
  for (const i of detection.instances) {
    const copies = byKey.get(i.key);
    if (copies) copies.push(i);
    else byKey.set(i.key, [i]);
  }
  const sharedBy = new Map<string, SharedDaemon>();
  for (const d of detection.shared) if (d.key && !sharedBy.has(d.key)) sharedBy.set(d.key, d);
  return [...byKey].map(([key, copies]) => groupOf(key, copies, bridge, sharedBy)).sort((a, b) => b.totalBytes - a.totalBytes || a.key.localeCompare(b.key));
}

/**
 * N sessions of every server found, from the measured mean per copy: each session with its own
 * copies, against shareable servers run once (plus a bridge, unless native).
 */
export function project(groups: readonly ServerGroup[], bridge: BridgeCost, sessions: readonly number[] = PROJECTION_SESSIONS): ProjectionRow[] {
  const once = (g: ServerGroup) => g.meanBytes + (g.native ? 0 : bridge.bytes);
  const perCopy = sum(groups.map((g) => g.meanBytes));
  const by = (v: Verdict) => groups.filter((g) => g.verdict === v);
  // Global-mode servers run once; project- and session-mode ones once per project or session (below).
  const sharedOnce = sum(
    by('shareable')
      .filter((g) => g.share === 'global')
      .map(once),
  );
  const pooled = by('shareable').filter((g) => g.share !== 'global');
  const pooledAt = (n: number) => sum(pooled.map((g) => sharedCopies(g, n) * g.meanBytes + (g.native ? 0 : bridge.bytes)));
  const unknownOnce = sum(by('unknown').map(once));
  const perSessionMean = sum(by('per-session').map((g) => g.meanBytes));
  const unknownMean = sum(by('unknown').map((g) => g.meanBytes));
  return sessions.map((n) => {
    const perSession = n * perCopy;
    const shared = sharedOnce + pooledAt(n) + n * (perSessionMean + unknownMean);
    const sharedAll = sharedOnce + pooledAt(n) + unknownOnce + n * perSessionMean;
    return {
      sessions: n,
      perSessionBytes: perSession,
      sharedBytes: shared,
      savedBytes: perSession - shared,
      sharedIfUnknownShareableBytes: sharedAll,
      savedIfUnknownShareableBytes: perSession - sharedAll,
    };
  });
}

/** The fewest sessions N with N × Σ mean > Σ (mean + bridge) over the shareable servers. */
export function breakEven(groups: readonly ServerGroup[], bridge: BridgeCost): number | null {
  // Servers run once (global mode); per-project and per-session ones do not pay off by session count alone.
  const shareable = groups.filter((g) => g.verdict === 'shareable' && g.share === 'global');
  const perCopy = sum(shareable.map((g) => g.meanBytes));
  if (perCopy <= 0) return null;
  const once = sum(shareable.map((g) => g.meanBytes + (g.native ? 0 : bridge.bytes)));
  return Math.floor(once / perCopy) + 1;
}

function sessionsOf(groups: readonly ServerGroup[]): SessionSummary[] {
  const by = new Map<number, SessionSummary>();
  for (const g of groups) {
    for (const i of g.instances) {
      if (!i.session) continue;
      const s = by.get(i.session.pid) ?? { ...i.session, copies: 0, servers: [], rssBytes: 0 };
      s.copies++;
      s.rssBytes += i.rssBytes;
      if (!s.servers.includes(g.server)) s.servers.push(g.server);
      by.set(s.pid, s);
    }
  }
  return [...by.values()].sort((a, b) => b.rssBytes - a.rssBytes || a.pid - b.pid);
}

function sharedRows(shared: readonly SharedDaemon[]): SharedRow[] {
  return shared.map((d) => ({
    pid: d.pid,
    kind: d.kind,
    name: d.name,
    port: d.port,
    command: d.command.length ? showCommand(d.command[0], d.command.slice(1)) : '',
    ownRssBytes: d.ownRssBytes,
    serverRssBytes: d.serverRssBytes,
    totalBytes: d.ownRssBytes + d.serverRssBytes,
    pids: d.pids,
    children: d.children,
  }));
}

/** The whole report from one snapshot's detection. */
export function buildReport(
  snapshot: ProcessSnapshot,
  detection: Detection,
  extraNotes: readonly string[] = [],
  platform: NodeJS.Platform = process.platform,
): DoctorReport {
  const bridge = bridgeCost(detection.shared);
  const groups = groupInstances(detection, bridge);
  const shareable = groups.filter((g) => g.verdict === 'shareable');
  const today = sum(groups.map((g) => g.totalBytes));
  const shared = sum(groups.map((g) => (g.verdict === 'shareable' ? g.sharedCostBytes : g.totalBytes)));
  const sessions = sessionsOf(groups);
  const notes = [...extraNotes];
  const orphans = sum(groups.map((g) => g.withoutSession));
  if (orphans)
    notes.push(
      `${orphans} cop${orphans === 1 ? 'y has' : 'ies have'} no client session (parent is init or a service manager): another tool's daemons, or orphans left by closed sessions`,
    );
  if (snapshot.lossyArgv) notes.push('command lines come from `ps` as space-joined text: an argument containing a space is split');
  if (groups.some((g) => g.verdict === 'unknown')) {
    notes.push(
      "servers mcpshare does not know would be shared by every session (global mode): one that scopes itself by the client's roots or a directory should run per project (--share project), one that keeps per-session state per session (--share session)",
    );
  }
  const pooled = groups.filter((g) => g.verdict === 'shareable' && g.share !== 'global');
  if (pooled.length) {
    notes.push(
      `${pooled.map((g) => `${g.server} runs one copy per ${g.share}`).join(', ')}: ${pooled.length === 1 ? 'its' : 'their'} shared cost counts ${pooled.some((g) => g.share === 'project') ? "one copy per project (distinct working directory of today's copies)" : 'one copy per session'}, against one copy per session today`,
    );
  }
  if (snapshot.unreadable) notes.push(`${snapshot.unreadable} process(es) could not be read (exited during the scan, or belong to another user)`);
  const rows = sharedRows(detection.shared);
  return {
    schema: 1,
    takenAt: snapshot.takenAt,
    platform,
    scan: {
      source: snapshot.source,
      processes: snapshot.processes.length,
      unreadable: snapshot.unreadable,
      durationMs: Math.round(snapshot.durationMs * 10) / 10,
    },
    bridge,
    totals: {
      servers: groups.length,
      copies: sum(groups.map((g) => g.copies)),
      sessions: sessions.length,
      todayBytes: today,
      sharedBytes: shared,
      savedBytes: today - shared,
      unknownSavingBytes: sum(groups.filter((g) => g.verdict === 'unknown').map((g) => g.savingIfSharedBytes)),
      alreadySharedBytes: sum(rows.map((r) => r.totalBytes)),
    },
    groups,
    sessions,
    shared: rows,
    projection: project(groups, bridge),
    breakEvenSessions: shareable.length ? breakEven(groups, bridge) : null,
    notes,
  };
}
