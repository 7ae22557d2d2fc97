/** The report as plain text for the terminal: the same sections as the HTML page, examples shortened. */
import type { Report } from './model.js';

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
const pct = (r: number | null): string => (r === null ? 'n/a' : `${(r * 100).toFixed(1)}%`);
/**
 * One line of data for the terminal: whitespace collapsed, and control characters (an ESC that
 * would start a terminal escape sequence, a carriage return that would overwrite the line) shown
 * as U+FFFD: the text comes from a model and must not drive the user's terminal.
 */
const oneLine = (s: string, max = 160): string => {
  // eslint-disable-next-line no-control-regex
  const flat = s.replace(/\s+/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max)}…`;
};

export function ms(n: number): string {
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(1)} s`;
  return `${(n / 60_000).toFixed(1)} min`;
}

export function usd(n: number): string {
  return n >= 0.01 ? `$${n.toFixed(2)}` : `$${n.toPrecision(2)}`;
}

export function formatReportText(r: Report): string {
  const out: string[] = [];
  out.push(`webscale-rl report: ${oneLine(r.source.label, 400)}`);
  for (const [role, where] of Object.entries(r.source.inputs)) out.push(`  ${role}: ${oneLine(where, 400)}`);
  if (r.documents) {
    out.push(`documents: ${fmt(r.documents.read)} read, ${fmt(r.documents.inputRejected)} rejected at input, ${fmt(r.documents.withQa)} yielded QA`);
  }
  out.push(`QA pairs kept: ${fmt(r.qaKept)}; rejections: ${fmt(r.rejections)}${r.elapsedMs === null ? '' : `; run took ${ms(r.elapsedMs)}`}`);
  out.push(`verification rate (check passed / checked): ${pct(r.verification.rate)} (${fmt(r.verification.passed)} of ${fmt(r.verification.checked)})`);

  out.push('', 'rejections by stage:');
  for (const s of r.stages) {
    const flow = s.in === null ? '' : `  (${fmt(s.in)} in, ${fmt(s.out ?? 0)} out)`;
    out.push(`  ${oneLine(s.stage, 20).padEnd(10)} ${fmt(s.rejected).padStart(8)}${flow}`);
  }

  out.push(`  (in/out: records a stage took and passed on; identify passes on one task per persona, so its out can exceed its in)`);
  out.push('', `rejections by reason, with up to ${r.examplesPerReason} examples each:`);
  if (r.reasons.length === 0) out.push('  none');
  for (const row of r.reasons) {
    out.push(`  ${oneLine(row.reason, 60).padEnd(28)} ${fmt(row.count).padStart(8)}`);
    for (const e of row.examples) {
      const who = [e.doc_id, e.persona ?? '', e.domain ?? ''].filter((x) => x !== '').join(' | ');
      out.push(`    - ${oneLine(who, 100)}`);
      if (e.question !== null) out.push(`      Q: ${oneLine(e.question)}`);
      if (e.answer !== null) out.push(`      A: ${oneLine(e.answer)}`);
      if (e.personas !== null) out.push(`      personas: ${oneLine(e.personas.join('; '))}`);
      out.push(`      why: ${oneLine(e.detail)}`);
    }
  }

  out.push('', 'domain mix (pairs kept / rejected):');
  if (r.domains.length === 0) out.push('  none');
  for (const d of r.domains) out.push(`  ${oneLine(d.name, 40).padEnd(28)} ${fmt(d.kept).padStart(6)} / ${fmt(d.rejected)}`);
  out.push(`persona mix (pairs kept / rejected; top ${r.personas.length} of ${fmt(r.personasDistinct)}${r.personasCapped ? '+' : ''}):`);
  if (r.personas.length === 0) out.push('  none');
  for (const p of r.personas) out.push(`  ${oneLine(p.name, 40).padEnd(42)} ${fmt(p.kept).padStart(6)} / ${fmt(p.rejected)}`);

  out.push('');
  const t = r.tokens;
  out.push(
    `tokens: ${fmt(t.prompt)} prompt + ${fmt(t.completion)} completion${t.calls === null ? '' : ` in ${fmt(t.calls)} calls`}` +
      (t.exact ? '' : ' (summed from the records: an estimate)'),
  );
  out.push(`tokens per kept pair: ${r.tokensPerKeptPair === null ? 'n/a (no pair kept)' : fmt(Math.round(r.tokensPerKeptPair))}` +
    (r.tokensOnKeptPath === null ? '' : `; on a kept pair's own path: ${fmt(Math.round(r.tokensOnKeptPath))}`));
  out.push(
    r.cost.totalUsd === null
      ? r.cost.note
      : `cost: ${usd(r.cost.totalUsd)} in all, ${r.cost.perKeptPairUsd === null ? 'n/a' : usd(r.cost.perKeptPairUsd)} per kept pair (${r.cost.note})`,
  );
  const models = Object.entries(r.models).map(([s, m]) => `${s} ${m.join(', ')}`);
  if (models.length > 0) out.push(`models: ${oneLine(models.join('; '), 400)}`);

  out.push('', 'slowest stages (time per record):');
  if (r.stageTimesNote !== null) out.push(`  ${r.stageTimesNote}`);
  for (const s of r.stageTimes) out.push(`  ${oneLine(s.stage, 20).padEnd(10)} mean ${ms(s.meanMs).padStart(8)}, max ${ms(s.maxMs).padStart(8)}, ${fmt(s.records)} records`);
  return out.join('\n');
}
