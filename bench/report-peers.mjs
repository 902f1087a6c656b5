/** Markdown for the peers part (bench/peers.mjs): mcpshare vs supergateway and mcp-proxy. */

const mb = (b) => (Number.isFinite(b) ? (b / 2 ** 20).toFixed(1) : 'n/a');
const mb0 = (b) => (Number.isFinite(b) ? Math.round(b / 2 ** 20).toLocaleString('en-US') : 'n/a');
const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const x2 = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a');
const verdict = (ok) => (ok ? '**pass**' : '**MISS**');
const row = (cells) => `| ${cells.join(' | ')} |`;

const MOMENT_LABELS = { idle: 'idle', afterLoad: 'after load' };
const momentLabel = (m) => MOMENT_LABELS[m] ?? `${m.replace('sessions', '')} sessions`;

function targetsTable(p) {
  const T = p.targets;
  const v = p.summary.verdicts;
  const out = [row(['target', 'measured', 'limit', 'result']), row(['---', '---', '---', '---'])];
  const mcp = Object.entries(T).filter(([, r]) => r.product === 'mcpshare');
  const misrouted = mcp.map(
    ([id, r]) =>
      `${id}: ${r.correctness.misrouted} misrouted, ${r.correctness.failed} failed of ${int(r.correctness.checked)} echo replies, ${r.strayReplies} for other sessions; ` +
      `progress: ${r.progressTotals?.wrongResults ?? 'n/a'} wrong results, ${r.progressTotals?.foreign ?? 'n/a'} foreign updates, ${r.strayProgress} to bystanders`,
  );
  out.push(row(['mcpshare replies and progress misrouted (or failed)', misrouted.join('<br>'), '0', verdict(v.mcpshareNoMisrouted)]));
  const lost = mcp.map(([id, r]) =>
    r.progressTotals ? `${id}: ${r.progressTotals.lost} lost, ${r.progressTotals.late} late of ${r.progressTotals.expected}` : `${id}: not measured`,
  );
  out.push(row(['mcpshare progress updates lost', lost.join('<br>'), '0', verdict(v.mcpshareNoLostProgress)]));
  for (const [id, t] of Object.entries(v.throughput)) {
    out.push(
      row([
        `calls/s at ${p.config.clients} clients × ${p.config.inFlight} ≥ ${T[id].label} (routes correctly)`,
        `${int(t.mcpshare)} vs ${int(t.peer)}`,
        '≥ 1×',
        verdict(t.pass),
      ]),
    );
  }
  for (const [m, t] of Object.entries(v.rssVsMcpProxy)) {
    out.push(
      row([
        `mcpshare process RSS ≤ ${p.config.rssTargetRatio} × mcp-proxy's, ${momentLabel(m)}`,
        `${mb(t.mcpshare)} vs ${mb(t.mcpProxy)} MB (${t.ratio.toFixed(2)}×)`,
        `≤ ${p.config.rssTargetRatio}×`,
        verdict(t.pass),
      ]),
    );
  }
  const wrong = Object.entries(p.summary.routesCorrectly)
    .filter(([, ok]) => !ok)
    .map(([id]) => T[id].label);
  if (wrong.length) out.push('', `Not held to the throughput target because they do not route correctly (or did not finish the load): ${wrong.join('; ')}.`);
  return out;
}

function memoryTable(p) {
  const moments = p.summary.moments;
  const top = `sessions${Math.max(...p.config.sessions)}`;
  const out = [
    row([
      'gateway',
      ...moments.map((m) => `own RSS, ${momentLabel(m)}`),
      ...moments.map((m) => `tree RSS, ${momentLabel(m)}`),
      `tree PSS, ${momentLabel(top)}`,
      `processes in tree, idle → ${momentLabel(top)}`,
    ]),
    row(['---', ...moments.map(() => '---:'), ...moments.map(() => '---:'), '---:', '---:']),
  ];
  for (const r of Object.values(p.targets)) {
    const M = r.memory;
    out.push(
      row([
        r.label,
        ...moments.map((m) => mb(M[m]?.own.rss)),
        ...moments.map((m) => mb0(M[m]?.tree.rss)),
        mb0(M[top]?.tree.pss),
        `${M.idle?.tree.processes ?? 'n/a'} → ${M[top]?.tree.processes ?? 'n/a'}`,
      ]),
    );
  }
  return out;
}

function trafficTable(p) {
  const out = [
    row([
      'gateway',
      'p50 ms',
      'p99 ms',
      'calls/s',
      'replies checked',
      'misrouted',
      'failed',
      'replies for other sessions',
      'progress to bystander sessions',
      'progress received / expected (unique tokens)',
      'same (shared token)',
      'progress late',
      'progress foreign',
      'CPU µs per call (gateway tree)',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
  ];
  for (const r of Object.values(p.targets)) {
    const L = r.load;
    const c = r.correctness;
    const pr = (variant) => {
      const x = r.progress?.rounds.find((y) => y.variant === variant);
      if (!x) return 'n/a';
      const notes = [x.wrongResults && `${x.wrongResults} of ${x.clients} got another's result`, x.failedCalls && `${x.failedCalls} calls failed`].filter(
        Boolean,
      );
      return `${x.received} / ${x.expected}${notes.length ? ` (${notes.join(', ')})` : ''}`;
    };
    out.push(
      row([
        r.label,
        ms(L?.p50),
        ms(L?.p99),
        int(L?.callsPerSec),
        int(c.checked),
        int(c.misrouted),
        int(c.failed),
        int(r.strayReplies),
        int(r.strayProgress),
        pr('unique'),
        pr('shared'),
        r.progressTotals ? int(r.progressTotals.late) : 'n/a',
        r.progressTotals ? int(r.progressTotals.foreign) : 'n/a',
        int(L?.cpuUsPerCall?.gateway),
      ]),
    );
  }
  return out;
}

function ratiosTable(p) {
  const top = `sessions${Math.max(...p.config.sessions)}`;
  const out = [
    row([
      'peer',
      'compared with',
      'own RSS idle',
      `own RSS ${momentLabel(top)}`,
      `tree RSS ${momentLabel(top)}`,
      'own RSS after load',
      'calls/s',
      'p50',
      'p99',
    ]),
    row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
  ];
  for (const [id, q] of Object.entries(p.summary.ratios)) {
    out.push(
      row([
        p.targets[id].label,
        p.targets[q.against].label,
        x2(q.ownRss.idle),
        x2(q.ownRss[top]),
        x2(q.treeRss[top]),
        x2(q.ownRss.afterLoad),
        x2(q.callsPerSec),
        x2(q.p50),
        x2(q.p99),
      ]),
    );
  }
  return out;
}

export function renderPeers(p) {
  const cfg = p.config;
  const out = ['## Peers: mcpshare, supergateway and mcp-proxy on the same server and work', ''];
  out.push(
    'Every gateway fronts the same stdio `server-everything` and is driven by the same SDK clients (Streamable HTTP or SSE, as the row says). ' +
      `Memory: the gateway process alone (*own*) and its whole process tree (*tree*: gateway + every server child and shell it starts), idle ` +
      `(${cfg.settleMs} ms after start), with ${cfg.sessions.join(' and ')} sessions open (each initialized and made one call), and after the load. ` +
      `Load: ${cfg.clients} clients × ${cfg.inFlight} in flight, closed loop, \`echo\` with a unique message per call; ${cfg.warmupMs} ms warm-up per gateway, ` +
      `then ${cfg.rounds} rounds in turn of ${Math.round(cfg.measureMs / cfg.rounds)} ms each. Progress: ${cfg.progressClients} fresh sessions at once call ` +
      `\`${Object.values(p.targets).find((r) => r.progress)?.progress.tool ?? 'the long-running tool'}\` (${cfg.progressSeconds} s, 8–${7 + cfg.progressClients} steps, a different count per session), ` +
      'once with a token per session and once with the same token in every session (as SDK clients whose request ids line up send).',
    '',
  );
  if (p.machineLoad?.otherCores > 0.15)
    out.push(
      `> **Warning:** other processes on this machine used ${p.machineLoad.otherCores.toFixed(2)} cores on average during the load rounds ` +
        `(the bench's own processes ${p.machineLoad.oursCores.toFixed(2)}); latency and throughput are skewed (all gateways alike, as they take turns).`,
      '',
    );
  out.push('### Targets', '', ...targetsTable(p), '');
  out.push('### Memory (MB)', '', ...memoryTable(p), '');
  out.push('### Latency, throughput and routing', '', ...trafficTable(p), '');
  out.push(
    "- *misrouted*: a reply carrying another call's text; *replies for other sessions*: responses the SDK client received for a request id it never sent " +
      '("unknown message ID"); *progress to bystander sessions*: updates that reached the load-test sessions, which started no operation; *progress late*: the caller\'s own update after its result (the SDK client drops it); *foreign*: an update of another ' +
      "session's operation. *received* counts distinct own updates before the result; a call answered with another session's result is noted.",
    '',
  );
  out.push('### Ratios mcpshare / peer (below 1× = mcpshare uses less, or is faster for latency)', '', ...ratiosTable(p), '');
  out.push('### How each gateway ran', '');
  for (const r of Object.values(p.targets)) {
    out.push(`- **${r.label}** (${r.product} ${r.version}): \`${r.command ?? 'did not start'}\``);
    for (const e of r.errors) out.push(`  - failed in ${e.phase}: ${e.message.replace(/\n/g, ' ')}`);
    if (r.otherClientErrors) out.push(`  - other client-side errors: ${r.otherClientErrors} (e.g. ${r.clientErrorExamples.join(' / ')})`);
    const missed = (r.progress?.rounds ?? [])
      .map((x) => [
        x.variant,
        x.perClient
          .filter((c) => c.missing.length)
          .map(
            (c) =>
              `${c.expected} steps → missing ${c.missing.length === c.expected ? 'all' : `[${c.missing.join(', ')}]`}${c.wrongResult ? ' (result was not its own)' : ''}`,
          ),
      ])
      .filter(([, calls]) => calls.length);
    if (missed.length) out.push(`  - progress not received before the result: ${missed.map(([v, calls]) => `${v} tokens: ${calls.join('; ')}`).join(' — ')}`);
    if (r.correctness.examples.length) out.push(`  - first problems: \`${JSON.stringify(r.correctness.examples.slice(0, 2))}\``);
    if (r.bridge) out.push(`  - bridge counters: ${JSON.stringify(r.bridge)}`);
    if (r.exitedDuringBench) out.push(`  - **exited during the bench**: ${JSON.stringify(r.exitedDuringBench)}`);
    if (r.leftovers?.length) out.push(`  - processes left after stopping it: ${r.leftovers.join(', ')}`);
  }
  out.push('');
  return out.join('\n');
}
