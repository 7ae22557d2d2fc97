/**
 * The end-of-run summary and the live progress line of `webscale-rl run`: counts per stage and
 * reason (the verification rate and error analysis), tokens, LLM utilisation. The progress line
 * is drawn by hand with `readline` cursor calls: it is one line, redrawn a few times a second, and
 * a progress-bar library would add a dependency for less control over the text.
 */
import { clearLine, cursorTo } from 'node:readline';
import type { Writable } from 'node:stream';
import { LLM_STAGES, WORKER_STAGES } from '../core/records.js';
import { EXTRACTION_PATHS, type ExtractionPath } from '../input/extractors.js';
import type { RunStats, StageCounts } from '../runtime/stats.js';

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface UtilisationFigures {
  calls: number;
  busyMs: number;
  concurrency: number;
}

/** LLM utilisation = sum of call latencies / (wall x concurrency). */
export function utilisation(u: UtilisationFigures, wallMs: number): number | null {
  if (wallMs <= 0 || u.concurrency <= 0) return null;
  return u.busyMs / (wallMs * u.concurrency);
}

export function progressLine(stats: RunStats, totalBytes: number | null, inFlightLlm: number): string {
  const elapsed = stats.elapsedMs();
  const rate = elapsed > 0 ? (stats.documentsDone * 1000) / elapsed : 0;
  const tokens = stats.totalTokens();
  const rejected = [...stats.reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
  let eta = '';
  if (totalBytes && stats.bytesDone > 0 && stats.bytesDone < totalBytes) {
    const remaining = (elapsed * (totalBytes - stats.bytesDone)) / stats.bytesDone;
    eta = ` eta ${duration(remaining)}`;
  }
  return (
    `docs ${fmt(stats.documentsDone)}/${fmt(stats.documentsRead)} | qa ${fmt(stats.qaKept)} | ` +
    `rejected ${rejected.map(([r, n]) => `${r} ${n}`).join(', ') || 0} | ` +
    `tokens ${fmt(tokens.prompt + tokens.completion)} | llm ${inFlightLlm} in flight | ` +
    `${rate.toFixed(2)} docs/s${eta}`
  );
}

/**
 * Progress of `run` on stderr: on a terminal one line redrawn four times a second; otherwise
 * (piped, CI, a pod's log) a plain line every `lineIntervalMs` (config `progressInterval`), so a
 * long run is never silent for minutes. 0 = no plain lines.
 */
export class ProgressDisplay {
  private timer: NodeJS.Timeout | null = null;
  private tty = false;
  constructor(
    private readonly out: Writable & { isTTY?: boolean; columns?: number },
    private readonly render: () => string,
    private readonly elapsedMs: () => number = () => 0,
  ) {}

  start(lineIntervalMs: number, redrawMs = 250): void {
    this.tty = this.out.isTTY === true;
    if (this.tty) this.timer = setInterval(() => this.draw(), redrawMs);
    else if (lineIntervalMs > 0) this.timer = setInterval(() => this.out.write(`progress ${duration(this.elapsedMs())}: ${this.render()}\n`), lineIntervalMs);
    this.timer?.unref();
  }

  private draw(): void {
    const width = this.out.columns ?? 120;
    cursorTo(this.out, 0);
    this.out.write(this.render().slice(0, Math.max(20, width - 1)));
    clearLine(this.out, 1);
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    if (!this.tty) return;
    cursorTo(this.out, 0);
    clearLine(this.out, 0);
  }
}

/** `1 document`, `2 documents`. */
function counted(n: number, unit: string): string {
  return `${fmt(n)} ${unit}${n === 1 ? '' : 's'}`;
}

/** What one unit of a stage's in and out is, for the summary's sentences. */
const STAGE_WORDS: Record<(typeof WORKER_STAGES)[number], (c: StageCounts) => string> = {
  dedup: (c) => `dedup: ${counted(c.in, 'document')} in, ${fmt(c.out)} kept as unique, ${fmt(c.rejected)} rejected as copies`,
  filter: (c) => `filter: ${counted(c.in, 'document')} in, ${fmt(c.out)} passed, ${fmt(c.rejected)} rejected`,
  identify: (c) =>
    `identify: ${counted(c.in, 'document')} in, ${counted(c.out, 'persona task')} out (one task per persona identified for a document, so out can exceed in), ${counted(c.rejected, 'document')} rejected`,
  generate: (c) => `generate: ${counted(c.in, 'persona task')} in, ${counted(c.out, 'question-answer candidate')} out, ${fmt(c.rejected)} rejected`,
  check: (c) => `check: ${counted(c.in, 'candidate')} in, ${counted(c.out, 'QA pair')} kept, ${fmt(c.rejected)} rejected`,
};

/** The per-stage counts in words: "identify 6 in, 11 out" means 6 documents became 11 persona tasks. */
export function stageSentences(stats: RunStats): string[] {
  return WORKER_STAGES.map((s) => STAGE_WORDS[s](stats.stages[s]));
}

/** "markup 3, readability 1": the paths that produced pages, in the order they are tried. */
export function extractionCounts(counts: ReadonlyMap<ExtractionPath, number>): string {
  return EXTRACTION_PATHS.filter((p) => (counts.get(p) ?? 0) > 0)
    .map((p) => `${p} ${fmt(counts.get(p) ?? 0)}`)
    .join(', ');
}

export function formatSummary(stats: RunStats, extra: { utilisation: number | null; interrupted: boolean }): string {
  const lines: string[] = [];
  const elapsed = stats.elapsedMs();
  lines.push(`webscale-rl run ${extra.interrupted ? 'INTERRUPTED' : 'finished'} in ${duration(elapsed)}`);
  if (stats.documentsResumed > 0) lines.push(`resumed: ${fmt(stats.documentsResumed)} documents were already finished by the interrupted run (their lines are kept, not counted below)`);
  lines.push(
    `documents: ${fmt(stats.documentsRead)} read, ${fmt(stats.inputRejected)} rejected at input, ` +
      `${fmt(stats.documentsWithQa)} yielded QA; QA pairs kept: ${fmt(stats.qaKept)}`,
  );
  if (stats.inputSkipped.size > 0) {
    const skips = [...stats.inputSkipped.entries()].map(([reason, n]) => `${reason} ${fmt(n)}`).join(', ');
    lines.push(`input records skipped (not content): ${skips}`);
  }
  if (stats.inputExtraction.size > 0) lines.push(`HTML pages by extraction path: ${extractionCounts(stats.inputExtraction)}`);
  if (stats.documentsLlmFailed > 0) {
    const share = stats.llmFailedShare();
    lines.push(`documents with llm.failed: ${fmt(stats.documentsLlmFailed)} (${(share * 100).toFixed(1)}% of valid documents)`);
  }
  lines.push('stage       in        out       rejected  (llm.failed)');
  for (const s of WORKER_STAGES) {
    const c = stats.stages[s];
    lines.push(`${s.padEnd(10)}  ${fmt(c.in).padEnd(8)}  ${fmt(c.out).padEnd(8)}  ${fmt(c.rejected).padEnd(8)}  (${fmt(c.llm_failed)})`);
  }
  lines.push('in words:');
  for (const sentence of stageSentences(stats)) lines.push(`  ${sentence}`);
  const rate = stats.verificationRate();
  lines.push(`verification rate (check passed / checked): ${rate === null ? 'n/a' : `${(rate * 100).toFixed(1)}%`}`);
  if (stats.reasons.size > 0) {
    lines.push('rejections by reason:');
    for (const [reason, n] of [...stats.reasons.entries()].sort((a, b) => b[1] - a[1])) lines.push(`  ${reason.padEnd(26)} ${fmt(n)}`);
  }
  if (stats.languages.size > 0) {
    const byLanguage = [...stats.languages.entries()].sort(([, a], [, b]) => b.documents - a.documents);
    lines.push('languages (documents, QA pairs kept):');
    for (const [language, n] of byLanguage) lines.push(`  ${language.padEnd(6)} ${fmt(n.documents).padEnd(8)}  ${fmt(n.qa_kept)}`);
  }
  const t = stats.totalTokens();
  lines.push(`LLM: ${fmt(t.calls)} calls, ${fmt(t.prompt)} prompt + ${fmt(t.completion)} completion tokens`);
  for (const s of LLM_STAGES) {
    const u = stats.tokens[s];
    if (u.calls > 0) lines.push(`  ${s.padEnd(10)} ${fmt(u.calls)} calls, ${fmt(u.prompt)} + ${fmt(u.completion)} tokens`);
  }
  const l = stats.totalFromLog();
  if (l.calls > 0) {
    lines.push(`from the response log (no call made): ${fmt(l.calls)} requests, ${fmt(l.prompt)} prompt + ${fmt(l.completion)} completion tokens not paid again`);
    for (const s of LLM_STAGES) {
      const u = stats.fromLog[s];
      if (u.calls > 0) lines.push(`  ${s.padEnd(10)} ${fmt(u.calls)} requests, ${fmt(u.prompt)} + ${fmt(u.completion)} tokens`);
    }
  }
  if (extra.utilisation !== null) lines.push(`LLM utilisation: ${(extra.utilisation * 100).toFixed(1)}% of the concurrency cap`);
  if (extra.interrupted) lines.push(`interrupted: ${fmt(stats.documentsRead - stats.documentsDone)} documents were not finished`);
  return lines.join('\n');
}
