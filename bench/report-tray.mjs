/** Markdown for the tray part (bench/tray.mjs): the tray's RSS over time with N daemons. */

const mb = (b) => (Number.isFinite(b) ? (b / 2 ** 20).toFixed(1) : 'n/a');
const verdict = (ok) => (ok ? '**pass**' : '**MISS**');
const row = (cells) => `| ${cells.join(' | ')} |`;
const perMin = (b) => (Number.isFinite(b) ? `${b < 0 ? '−' : '+'}${mb(Math.abs(b))} MB/min` : 'n/a');

export function renderTray(r) {
  const c = r.config;
  const t = r.targets.trayNodeRssMB;
  const out = ['## Tray memory over time', ''];
  out.push(
    `The tray as users run it, \`${c.trayCommand}\`, on a private headless desktop (Xvfb ${r.desktop.display}, a session D-Bus, ` +
      'trayer as the tray host; no window manager), in a temporary HOME under the built-in supervisor, with N bridged ' +
      `\`server-everything\` ${c.serverEverything} daemons (\`mcpshare add NAME --port P -- ${c.server}\`) that the tray started itself. ` +
      `Once \`mcpshare status --json\` showed all N up and the icon was in the tray, VmRSS of the tray's node process and of its ` +
      `native tray binary (\`${c.binaryComm}\`) was read every ${c.intervalSec} s for ${c.seconds} s, while the tray checked every daemon ` +
      `every ${c.intervalSec} s. *Settled*: the median of the last half of the samples. *Trend*: the least-squares slope over the window ` +
      `(a ${c.seconds} s window cannot tell a heap still growing towards its plateau from a leak). *Peak*: VmHWM, the process's whole life (startup included).`,
    '',
  );
  if (!r.desktop.warmedUp)
    out.push(
      '> **Warning:** the X server could not be warmed up (no GDK_VISUALS after the warm-up client): the tray binary paid the ' +
        'first-GTK-client GLX probe (Mesa + LLVM, ~60 MB more) and its numbers are inflated.',
      '',
    );

  const races = r.rows.filter((x) => x.failedAttempts?.length);
  if (races.length)
    out.push(
      `> **mcpshare failure:** with ${races.map((x) => x.servers).join(' and ')} daemons, the tray's first start of the daemons ended in a split ` +
        'supervisor: several `mcpshare supervise --idle` processes of one HOME, the socket owned by one that does not run the daemons, ' +
        `so \`mcpshare status\` never showed them up (${races.map((x) => x.failedAttempts.map((f) => `${x.servers}: ${f.supervisors} supervisors`).join(', ')).join('; ')}). ` +
        'The step was torn down and run once more; the numbers below are from that second attempt. Details: `failedAttempts` in the JSON.',
      '',
    );

  out.push(`### Target: tray node process < ${t} MB`, '');
  out.push(
    row([
      'daemons',
      'node RSS settled',
      'node RSS in the window (first → last, max)',
      'node trend',
      'node peak (VmHWM)',
      'tray binary RSS settled',
      'tray binary peak (VmHWM)',
      `settled < ${t} MB`,
      `peak < ${t} MB`,
    ]),
    row(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---', '---']),
  );
  for (const x of r.rows) {
    out.push(
      row([
        String(x.servers),
        `${mb(x.node.settled)} MB`,
        `${mb(x.node.first)} → ${mb(x.node.last)} MB, max ${mb(x.node.maxInWindow)}`,
        perMin(x.node.slopeBytesPerMin),
        `${mb(x.node.hwm)} MB`,
        `${mb(x.binary.settled)} MB`,
        `${mb(x.binary.hwm)} MB`,
        verdict(x.verdicts.settledUnderTarget),
        verdict(x.verdicts.peakUnderTarget),
      ]),
    );
  }
  out.push('');

  const notes = [];
  notes.push(`- Time from starting the tray to all daemons up: ${r.rows.map((x) => `${x.servers}: ${x.upSec.toFixed(1)} s`).join('; ')}.`);
  notes.push(
    `- Daemons up at the end of the window: ${r.rows.map((x) => `${x.daemonsUpAtEnd}/${x.servers}`).join('; ')}; daemon restarts: ${r.rows.map((x) => x.daemonRestarts).join('; ')}.`,
  );
  const restarted = r.rows.filter((x) => x.binary.pids.length > 1 || x.binary.missingSamples);
  notes.push(
    restarted.length
      ? `- The tray binary was restarted or missing during the window: ${restarted.map((x) => `${x.servers} daemons: ${x.binary.pids.length} pids, ${x.binary.missingSamples} samples without one`).join('; ')}.`
      : '- The tray binary kept one pid through every window.',
  );
  const td = r.rows.map((x) => x.teardown).filter(Boolean);
  const killed = r.rows.flatMap((x) => (x.teardown?.killedAfterShutdown ?? []).map((k) => `${x.servers} daemons: ${k}`));
  notes.push(
    `- Teardown per step (\`mcpshare tray --quit --stop-daemons\`, then the supervisor's shutdown): ` +
      `exit codes ${td.map((x) => x.quitCode).join('/')}, supervisor ${[...new Set(td.map((x) => x.supervisorShutdown))].join(', ')}; ` +
      `processes of the temp HOME still running afterwards (killed): ${killed.length ? killed.join(', ') : 'none'}.`,
  );
  notes.push(
    `- Registering the servers (\`mcpshare add\`, one at a time): ${r.addSec.map((a) => `${a.sec.toFixed(1)} s before the ${a.servers}-daemon step`).join('; ')}.`,
  );
  const la = r.loadAverage;
  if (la)
    notes.push(
      `- Machine load (1-minute load average) ${la.before.toFixed(1)} before, ${la.after.toFixed(1)} after, on ${la.cpus} CPUs: start-up and teardown times stretch with it; RSS much less.`,
    );
  notes.push(
    `- Desktop start ${(r.desktop.startMs / 1000).toFixed(1)} s, including the X server warm-up (${r.desktop.warmUpMs} ms). Whole part: ${r.durationSec.toFixed(0)} s.`,
  );
  out.push(...notes, '');
  return out.join('\n');
}
