/**
 * The report as one self-contained HTML page: inline CSS, SVG charts drawn here, no script and
 * nothing fetched (a Content-Security-Policy of `default-src 'none'` says so to the browser too).
 * Every string that comes from the data (questions, answers, personas, model names, details, ids)
 * goes through `escapeHtml`: a hostile question is shown, never run. The page's size is bounded by
 * the report's caps (examples per reason, rows per mix, clipped strings), not by the run.
 *
 * Charts are hand-drawn SVG rather than a chart library: the page must carry no script, and a
 * horizontal bar chart is a few rectangles and labels.
 */
import type { MixRow, Report } from './model.js';
import { ms, usd } from './text.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and attribute values: the five characters HTML gives meaning to. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
const pct = (r: number | null): string => (r === null ? 'n/a' : `${(r * 100).toFixed(1)}%`);

const STAGE_COLOURS: Record<string, string> = {
  input: '#8c8c8c',
  dedup: '#6b8e23',
  filter: '#d08c2b',
  identify: '#7a5fb0',
  generate: '#2b7bb9',
  check: '#c0392b',
};
const KEPT = '#2e8b57';
const REJECTED = '#c0392b';

interface BarSegment {
  value: number;
  colour: string;
  label: string;
}

interface BarRow {
  label: string;
  segments: BarSegment[];
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A horizontal (stacked) bar chart; labels on the left, the total at the bar's end. */
function barChart(id: string, title: string, rows: readonly BarRow[], valueText: (n: number) => string = fmt): string {
  const labelWidth = 230;
  const barWidth = 380;
  const rowHeight = 22;
  const top = 8;
  const width = labelWidth + barWidth + 90;
  const height = top * 2 + rows.length * rowHeight;
  const max = Math.max(1, ...rows.map((r) => r.segments.reduce((a, s) => a + s.value, 0)));
  const parts: string[] = [];
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" class="lbl">${escapeHtml(shorten(row.label, 34))}<title>${escapeHtml(row.label)}</title></text>`);
    let x = labelWidth;
    let total = 0;
    for (const seg of row.segments) {
      const w = (seg.value / max) * barWidth;
      total += seg.value;
      if (w > 0) {
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${Math.max(1, w).toFixed(1)}" height="${rowHeight - 6}" fill="${seg.colour}"><title>${escapeHtml(`${row.label}: ${seg.label} ${valueText(seg.value)}`)}</title></rect>`,
        );
      }
      x += w;
    }
    parts.push(`<text x="${(x + 6).toFixed(1)}" y="${y + 15}" class="val">${escapeHtml(valueText(total))}</text>`);
  });
  return (
    `<svg id="${id}" class="chart" role="img" aria-label="${escapeHtml(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${escapeHtml(title)}</title>${parts.join('')}</svg>`
  );
}

function legend(items: ReadonlyArray<[string, string]>): string {
  return `<p class="legend">${items.map(([label, colour]) => `<span><i style="background:${colour}"></i>${escapeHtml(label)}</span>`).join('')}</p>`;
}

function mixTable(id: string, what: string, rows: readonly MixRow[]): string {
  if (rows.length === 0) return `<p class="none">No pairs.</p>`;
  const body = rows
    .map((r) => {
      const total = r.kept + r.rejected;
      return `<tr><td>${escapeHtml(r.name)}</td><td class="n">${fmt(r.kept)}</td><td class="n">${fmt(r.rejected)}</td><td class="n">${pct(total === 0 ? null : r.kept / total)}</td></tr>`;
    })
    .join('');
  return `<table id="${id}"><thead><tr><th>${escapeHtml(what)}</th><th>pairs kept</th><th>pairs rejected</th><th>kept share</th></tr></thead><tbody>${body}</tbody></table>`;
}

function exampleHtml(e: Report['reasons'][number]['examples'][number]): string {
  const rows: string[] = [];
  const who = [e.persona === null ? null : `persona: ${e.persona}`, e.domain === null ? null : `domain: ${e.domain}`].filter((x) => x !== null);
  rows.push(`<div class="who"><code>${escapeHtml(e.doc_id)}</code>${who.length > 0 ? ` · ${escapeHtml(who.join(' · '))}` : ''}</div>`);
  if (e.question !== null) rows.push(`<div><b>Q</b> ${escapeHtml(e.question)}</div>`);
  if (e.answer !== null) rows.push(`<div><b>A</b> ${escapeHtml(e.answer)}</div>`);
  if (e.personas !== null) rows.push(`<div><b>personas</b> ${escapeHtml(e.personas.join('; '))}</div>`);
  rows.push(`<div class="why">${escapeHtml(e.detail)}</div>`);
  return `<li>${rows.join('')}</li>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.src{color:#555;margin:0 0 12px}.src code{font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px;min-width:420px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:150px}
.card b{display:block;font-size:20px}.card span{color:#555;font-size:12px}
.chart{background:#fff;border:1px solid #ddd;display:block;margin:6px 0;max-width:100%;height:auto}
.chart .lbl{font-size:12px;fill:#333}.chart .val{font-size:11px;fill:#555}
.legend span{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
ul.ex{margin:4px 0;padding-left:18px}ul.ex li{margin:4px 0;overflow-wrap:anywhere}.who{color:#555;font-size:12px}.why{color:#7a2c22;font-size:13px}
.none,.note{color:#666;font-style:italic}code{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
`;

export function renderReportHtml(r: Report): string {
  const cards: Array<[string, string]> = [
    ['QA pairs kept', fmt(r.qaKept)],
    ['rejections', fmt(r.rejections)],
    ['verification rate', pct(r.verification.rate)],
    ['tokens per kept pair', r.tokensPerKeptPair === null ? 'n/a' : fmt(Math.round(r.tokensPerKeptPair))],
    ['cost per kept pair', r.cost.perKeptPairUsd === null ? 'unknown' : usd(r.cost.perKeptPairUsd)],
  ];
  if (r.documents) cards.unshift(['documents read', fmt(r.documents.read)]);

  const figures: Array<[string, string]> = [];
  if (r.documents) {
    figures.push(['documents read', fmt(r.documents.read)], ['rejected at input', fmt(r.documents.inputRejected)], ['documents that yielded QA', fmt(r.documents.withQa)]);
  }
  figures.push(['QA pairs kept', fmt(r.qaKept)], ['rejections', fmt(r.rejections)]);
  figures.push(['verification rate (check passed / checked)', `${pct(r.verification.rate)} (${fmt(r.verification.passed)} of ${fmt(r.verification.checked)})`]);
  figures.push([
    'tokens',
    `${fmt(r.tokens.prompt)} prompt + ${fmt(r.tokens.completion)} completion${r.tokens.calls === null ? '' : ` in ${fmt(r.tokens.calls)} calls`}${r.tokens.exact ? '' : ' (summed from the records: an estimate)'}`,
  ]);
  figures.push(['tokens per kept pair (all tokens / pairs kept)', r.tokensPerKeptPair === null ? 'n/a (no pair kept)' : fmt(Math.round(r.tokensPerKeptPair))]);
  if (r.tokensOnKeptPath !== null) figures.push(["tokens on a kept pair's own path (mean)", fmt(Math.round(r.tokensOnKeptPath))]);
  figures.push(['cost', r.cost.totalUsd === null ? r.cost.note : `${usd(r.cost.totalUsd)} in all; ${r.cost.perKeptPairUsd === null ? 'n/a' : usd(r.cost.perKeptPairUsd)} per kept pair (${r.cost.note})`]);
  for (const [stage, models] of Object.entries(r.models)) figures.push([`model: ${stage}`, models.join(', ')]);
  if (r.elapsedMs !== null) figures.push(['run time', ms(r.elapsedMs)]);

  const stageRows = r.stages
    .map(
      (s) =>
        `<tr><td><i class="sw" style="background:${STAGE_COLOURS[s.stage] ?? '#999'}"></i>${escapeHtml(s.stage)}</td><td class="n">${s.in === null ? '–' : fmt(s.in)}</td><td class="n">${s.out === null ? '–' : fmt(s.out)}</td><td class="n">${fmt(s.rejected)}</td></tr>`,
    )
    .join('');

  const reasonRows = r.reasons
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.stage)}</td><td><code>${escapeHtml(row.reason)}</code></td><td class="n">${fmt(row.count)}</td><td><ul class="ex">${row.examples.map(exampleHtml).join('')}</ul></td></tr>`,
    )
    .join('');

  const reasonChart =
    r.reasons.length === 0
      ? '<p class="none">No rejections.</p>'
      : barChart(
          'chart-reasons',
          'Rejections by reason',
          [...r.reasons].sort((a, b) => b.count - a.count).slice(0, 25).map((row) => ({ label: row.reason, segments: [{ value: row.count, colour: STAGE_COLOURS[row.stage] ?? '#999', label: row.stage }] })),
        ) + legend([...new Set(r.reasons.map((x) => x.stage))].map((s) => [s, STAGE_COLOURS[s] ?? '#999']));

  const domainChart =
    r.domains.length === 0
      ? '<p class="none">No pairs kept or rejected with a domain.</p>'
      : barChart(
          'chart-domains',
          'Pairs by domain, kept and rejected',
          r.domains.map((d) => ({ label: d.name, segments: [{ value: d.kept, colour: KEPT, label: 'kept' }, { value: d.rejected, colour: REJECTED, label: 'rejected' }] })),
        ) + legend([['kept', KEPT], ['rejected', REJECTED]]);

  const timeSection =
    r.stageTimes.length === 0
      ? `<p class="note">${escapeHtml(r.stageTimesNote ?? 'no stage times')}</p>`
      : barChart(
          'chart-stage-time',
          'Mean time per record by stage',
          r.stageTimes.map((s) => ({ label: s.stage, segments: [{ value: s.meanMs, colour: STAGE_COLOURS[s.stage] ?? '#999', label: 'mean' }] })),
          ms,
        ) +
        `<table id="stage-times"><thead><tr><th>stage</th><th>records</th><th>mean per record</th><th>slowest record</th><th>total</th></tr></thead><tbody>${r.stageTimes
          .map((s) => `<tr><td>${escapeHtml(s.stage)}</td><td class="n">${fmt(s.records)}</td><td class="n">${ms(s.meanMs)}</td><td class="n">${ms(s.maxMs)}</td><td class="n">${ms(s.totalMs)}</td></tr>`)
          .join('')}</tbody></table><p class="note">Wall time from a stage's call to its result, waits for an LLM slot included; stages run concurrently, so totals overlap.</p>`;

  const inputs = Object.entries(r.source.inputs)
    .map(([role, where]) => `${escapeHtml(role)}: <code>${escapeHtml(where)}</code>`)
    .join(' · ');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>webscale-rl report: ${escapeHtml(r.source.label)}</title>
<style>${CSS}i.sw{display:inline-block;width:10px;height:10px;margin-right:6px}</style></head>
<body><main>
<h1>webscale-rl report</h1>
<p class="src">${escapeHtml(r.source.kind === 'run' ? 'run folder' : 'Kafka')} <code>${escapeHtml(r.source.label)}</code> · ${inputs} · made ${escapeHtml(new Date(r.generatedAt).toISOString())}</p>
<section class="cards" id="cards">${cards.map(([k, v]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</section>
<h2>Figures</h2>
<table id="figures"><tbody>${figures.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</tbody></table>
<h2>Rejections by stage</h2>
<table id="stages"><thead><tr><th>stage</th><th>in</th><th>out</th><th>rejected</th></tr></thead><tbody>${stageRows}</tbody></table>
<p class="note">In and out: records a stage took and passed on (from the run summary; – when only records were read). Identify passes on one generation task per persona, so its out can exceed its in.</p>
<h2>Rejections by reason</h2>
${reasonChart}
<table id="reasons"><thead><tr><th>stage</th><th>reason</th><th>count</th><th>examples (up to ${escapeHtml(r.examplesPerReason)} per reason)</th></tr></thead><tbody>${reasonRows}</tbody></table>
<h2>Domain mix</h2>
${domainChart}
${mixTable('domains', 'domain', r.domains)}
<h2>Persona mix</h2>
<p class="note">Top ${fmt(r.personas.length)} of ${fmt(r.personasDistinct)}${r.personasCapped ? ' (and more, counted together as (other))' : ''} personas by pairs.</p>
${mixTable('personas', 'persona', r.personas)}
<h2>Slowest stages</h2>
${timeSection}
</main></body></html>
`;
}
