/** Markdown for the memory part (bench/memory.mjs): memory vs sessions, forks vs shared. */

const mb = (b) => (Number.isFinite(b) ? Math.round(b / 2 ** 20).toLocaleString('en-US') : 'n/a');
const pct = (v) => (Number.isFinite(v) ? `${v < 0 ? '−' : ''}${Math.abs(Math.round(v * 100))}%` : 'n/a');
const row = (cells) => `| ${cells.join(' | ')} |`;
const signedMb = (b) => (b < 0 ? `−${mb(-b)}` : mb(b));

/** One table of the issue's shape: sessions, per-session forks, shared, saved; for RSS or PSS. */
function savedTable(r, key) {
  const out = [row(['sessions', 'per-session forks', 'shared (mcpshare)', 'saved', 'saved %']), row(['---:', '---:', '---:', '---:', '---:'])];
  for (const x of r.rows) {
    out.push(
      row([
        String(x.sessions),
        `${mb(x.forks[key])} MB (${x.forks.processes} processes)`,
        `${mb(x.shared[key])} MB (${x.shared.processes} processes)`,
        `${signedMb(x.saved[key])} MB`,
        pct(x.savedPct[key]),
      ]),
    );
  }
  return out;
}

export function renderMemory(r) {
  const out = ['## Memory vs sessions: a stdio child per session vs mcpshare', ''];
  const n = r.config.sessions;
  out.push(
    `Each simulated session uses the same ${r.servers.length} real servers (${r.servers.map((s) => `\`${s.pkg.replace('@modelcontextprotocol/', '')}\``).join(', ')}), ` +
      'started as `node <bin file>`. A session does what a client does at startup: initialize, then `tools/list`. ' +
      '**Per-session forks**: every session runs its own stdio child of every server (what a client does today). ' +
      `**Shared**: one mcpshare bridge per server (\`node ${[...r.nodeFlags, 'dist/cli.js bridge'].join(' ')}\`) with its one child, ` +
      'every session connected to each bridge over Streamable HTTP (SDK client, standalone GET stream open). ' +
      `Sessions are added step by step (${n.join(', ')}); after each step the processes settle ${r.config.settleMs} ms, then memory is summed over ` +
      'every server child (forks) or every bridge plus its child (shared). Client-side memory is not counted on either side.',
    '',
  );
  out.push('### RSS (sum of VmRSS)', '', ...savedTable(r, 'rss'), '');
  out.push(
    '### PSS (sum of Pss from /proc/PID/smaps_rollup)',
    '',
    'RSS counts pages a process shares (the node binary, libraries) once per process; PSS splits each shared page among the processes ' +
      'mapping it, so a sum of PSS is what the set really occupies. Pages shared with other node processes on the machine lower it a little.',
    '',
    ...savedTable(r, 'pss'),
    '',
  );

  // Per server at the largest N: where the saving comes from.
  const last = r.rows.length - 1;
  const f1 = r.forks.steps[0];
  const fN = r.forks.steps[last];
  const sN = r.shared.steps[last];
  out.push(`### Per server at ${r.rows[last].sessions} sessions (RSS)`, '');
  out.push(
    row([
      'server',
      `one fork (at ${f1.sessions} session${f1.sessions > 1 ? 's' : ''})`,
      `${fN.sessions} forks`,
      'bridge + its child, idle',
      `bridge + its child, ${sN.sessions} sessions`,
      'saved',
    ]),
  );
  out.push(row(['---', '---:', '---:', '---:', '---:', '---:']));
  for (const s of r.servers) {
    const one = f1.perServer[s.id].rss / f1.sessions;
    out.push(
      row([
        `\`${s.id}\``,
        `${mb(one)} MB`,
        `${mb(fN.perServer[s.id].rss)} MB`,
        `${mb(r.shared.idle.perServer[s.id].rss)} MB`,
        `${mb(sN.perServer[s.id].rss)} MB`,
        `${signedMb(fN.perServer[s.id].rss - sN.perServer[s.id].rss)} MB`,
      ]),
    );
  }
  out.push('');
  const be = r.breakEven;
  out.push(
    `- Break-even: the shared side (${r.servers.length} bridges and their children, no session yet: ${mb(r.shared.idle.total.rss)} MB RSS, ${mb(r.shared.idle.total.pss)} MB PSS) ` +
      `costs as much as ${be.estimatedSessionsRss.toFixed(1)} sessions' forks by RSS, ${be.estimatedSessionsPss.toFixed(1)} by PSS; ` +
      `the first measured session count where sharing uses less RSS: ${be.firstMeasuredSessions ?? 'none'}.`,
    `- Sessions counted by the bridges at each step: ${r.shared.steps.map((s) => `${s.sessions}: ${s.sessionsOnBridges.join('/')}`).join('; ')}.`,
    `- Time to start the forks of each step (${r.config.spawnConcurrency} at a time): ${r.forks.steps.map((s) => `${s.sessions}: ${(s.spawnMs / 1000).toFixed(1)} s`).join('; ')}.`,
    '',
  );
  return out.join('\n');
}
