// bench/incremental.mjs's tables: one per (disk, context), rows = scenarios,
// columns = the tools' mean times and the ratios, then issue #15's targets
// (and issue #10's remote-cache ones) as met or not, with the numbers.

/** Row order and labels; a context's table has the rows it measured. */
const SCENARIOS = [
  ['cold', 'cold'],
  ['noop', 'no-op'],
  ['one', 'one file changed'],
  ['touched', 'all files touched'],
  ['push', 'build + push (one file changed, empty registry)'],
  ['export', 'cold + --cache-to (mode=max, empty registry)'],
  ['import', '--cache-from, empty store'],
];

/**
 * issue #15's targets, as the ratio strata / peer of the means. One file
 * changed: ≤ 0.8× on the small context, ≤ 0.5× on the large one; the issue
 * names none for the two-stage workload, which takes the small context's.
 */
const TARGETS = [
  { scenario: 'cold', peer: 'BuildKit', max: () => 1.0, text: 'cold' },
  { scenario: 'noop', peer: 'BuildKit', max: () => 0.5, text: 'no-op' },
  { scenario: 'noop', peer: 'stat floor', max: () => 2.0, text: 'no-op' },
  { scenario: 'one', peer: 'BuildKit', max: (kind) => (kind === 'large' ? 0.5 : 0.8), text: 'one file changed' },
  { scenario: 'push', peer: 'BuildKit', max: () => 1.0, text: 'build + push', peerText: "BuildKit's build + docker push" },
];

const seconds = (r) => (r === undefined ? '' : r.stddev == null ? r.mean.toFixed(3) : `${r.mean.toFixed(3)} ± ${r.stddev.toFixed(3)}`);
const ratio = (a, b) => (a === undefined || b === undefined ? '' : (a.mean / b.mean).toFixed(2));
const mark = (ok) => (ok ? 'met' : 'NOT met');

/**
 * `results[scenario][tool]` are hyperfine results (tools: strata, before,
 * buildah, BuildKit, stat floor). `extra`: { disk, kind, made, runs, loads,
 * minutes, baseline, buildkit, exportEvent, runsRan, runsImported, sameImage }.
 */
export function report(results, extra) {
  const { kind, made, baseline } = extra;
  const lines = [];
  lines.push(`### ${extra.disk} — ${kind} (${made.files} files, ${made.folders} folders, ${(made.bytes / 1e6).toFixed(1)} MB)`);
  lines.push('');
  lines.push(
    `${extra.runs} run${extra.runs === 1 ? '' : 's'} each; load average ${extra.loads[0]} at its start, ${extra.loads[1]} at its end; ${extra.minutes.toFixed(1)} min; mean seconds${extra.runs > 1 ? ' ± σ' : ''}; ratios < 1: strata is faster${baseline ? '; before: the --baseline checkout, its own stores' : ''}`,
  );
  lines.push('');
  const columns = ['scenario', 'strata', ...(baseline ? ['before', 'strata/before'] : []), 'buildah', 'BuildKit', 'stat floor', 'strata/buildah', 'strata/BuildKit', ...(baseline ? ['before/BuildKit'] : []), 'strata/floor'];
  lines.push(`| ${columns.join(' | ')} |`);
  lines.push(`|${columns.map(() => '---').join('|')}|`);
  for (const [key, label] of SCENARIOS) {
    const r = results[key];
    if (r === undefined) continue;
    const [st, be, bu, bk, fl] = [r.strata, r.before, r.buildah, r.BuildKit, r['stat floor']];
    const cells = [label, seconds(st), ...(baseline ? [seconds(be), ratio(st, be)] : []), seconds(bu), seconds(bk), seconds(fl), ratio(st, bu), ratio(st, bk), ...(baseline ? [ratio(be, bk)] : []), ratio(st, fl)];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('');

  lines.push('issue #15 targets:');
  for (const t of TARGETS) {
    const r = results[t.scenario];
    if (r === undefined) continue;
    const max = t.max(kind);
    const head = `- ${t.text} ≤ ${max.toFixed(1)}× ${t.peerText ?? (t.peer === 'stat floor' ? 'the stat floor' : t.peer)}`;
    if (r[t.peer] === undefined) {
      lines.push(`${head}: not measured (no ${t.peer})`);
      continue;
    }
    const line = (tool) => {
      const x = r[tool].mean / r[t.peer].mean;
      return `${x.toFixed(2)}× (${r[tool].mean.toFixed(3)} s / ${r[t.peer].mean.toFixed(3)} s) — ${mark(x <= max)}`;
    };
    lines.push(`${head}: ${line('strata')}${r.before !== undefined ? `; before: ${line('before')}` : ''}`);
  }

  if (results.export !== undefined) {
    lines.push('issue #10 targets (remote cache):');
    const cold = results.cold.strata;
    const exp = results.export.strata;
    const cost = exp.mean - cold.mean;
    lines.push(`- export ≤ 10 % of cold: +${cost.toFixed(3)} s over the cold build's ${cold.mean.toFixed(3)} s = ${((cost / cold.mean) * 100).toFixed(1)} % — ${mark(cost / cold.mean <= 0.1)}`);
    if (extra.exportEvent !== undefined) {
      const e = extra.exportEvent;
      lines.push(
        // less noisy than a difference of two means on a shared machine
        `  strata's own account of one export (cache-exported event): ${(e.durationMs / 1000).toFixed(3)} s = ${((e.durationMs / 1000 / cold.mean) * 100).toFixed(1)} % of the cold mean — ${mark(e.durationMs / 1000 / cold.mean <= 0.1)}; ${e.records} records, ${e.uploaded} blobs uploaded (${(e.bytesUploaded / 1e6).toFixed(1)} MB), ${e.present} present`,
      );
    }
    const imp = results.import.strata;
    lines.push(
      `- import on an empty store: ${imp.mean.toFixed(3)} s (${((imp.mean / cold.mean) * 100).toFixed(0)} % of cold); RUN steps run: ${extra.runsRan}, imported: ${extra.runsImported} — ${mark(extra.runsRan === 0 && extra.runsImported > 0)}; same image ID as the exporting build: ${extra.sameImage ? 'yes' : 'NO'}`,
    );
  }
  return lines.join('\n');
}
