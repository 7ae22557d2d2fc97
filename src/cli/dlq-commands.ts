/**
 * `webscale-rl dlq stats` and `webscale-rl dlq replay`: the DLQ counted by stage, reason and age,
 * and dead letters put back into their source topics exactly once (see `src/dlq/`). Tables go to
 * stdout (or JSON with `--json`), one closing line to stderr.
 */
import { dlqStats, formatAge, replayDeadLetters, replayLines, selectionFrom, statsLines, type ReplayReport } from '../dlq/index.js';
import { setup } from './kafka-commands.js';
import type { CommonFlags } from './options.js';

export interface DlqStatsFlags extends CommonFlags {
  json?: boolean;
}

export interface DlqReplayFlags extends CommonFlags {
  reason?: string[];
  stage?: string[];
  since?: string;
  maxReplays?: number;
  dryRun?: boolean;
  json?: boolean;
}

function write(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
}

export async function dlqStatsCommand(flags: DlqStatsFlags): Promise<number> {
  const { config, logger, kafka, codecs } = await setup(flags, ['dlq']);
  const now = Date.now();
  const report = await dlqStats({ config, logger, kafka, codecs }, now);
  if (flags.json) {
    write([JSON.stringify(report)]);
  } else if (report.groups.length > 0) {
    write(statsLines(report.groups, now));
  }
  const oldest = report.groups.length > 0 ? Math.min(...report.groups.map((g) => g.oldest_created_at)) : null;
  process.stderr.write(
    `${report.topic}: ${report.total} dead letters, ${report.pending} not replayed${oldest === null ? '' : `, oldest ${formatAge(now - oldest)} old`}` +
      `${report.unreadable > 0 ? `; ${report.unreadable} records that are not readable dead letters` : ''}\n`,
  );
  return 0;
}

export async function dlqReplayCommand(flags: DlqReplayFlags): Promise<number> {
  // Bad flags are named before anything connects; maxReplays defaults from the config.
  selectionFrom(flags, 0);
  const { config, logger, kafka, codecs } = await setup(flags, ['dlq']);
  const selection = selectionFrom(flags, config.dlq.maxReplays);
  const dryRun = flags.dryRun ?? false;
  // Ctrl-C or SIGTERM: finish the transaction under way, then stop; the rest waits for a rerun.
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let report: ReplayReport;
  try {
    report = await replayDeadLetters({ config, logger, kafka, codecs }, selection, { dryRun, signal: stop.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  for (const w of report.warnings) process.stderr.write(`webscale-rl: warning: ${w}\n`);
  if (flags.json) write([JSON.stringify(report)]);
  else if (report.groups.length > 0) write(replayLines(report.groups, dryRun));
  const targets = Object.entries(report.targets)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${n} to ${t}`)
    .join(', ');
  const held = report.groups.reduce((n, g) => n + g.held, 0);
  const verb = dryRun ? 'would re-publish' : 're-published';
  process.stderr.write(
    `${dryRun ? 'dry run: ' : ''}${verb} ${report.replayed} dead letters${targets ? ` (${targets})` : ''}` +
      `${dryRun ? '' : ` in ${report.transactions} transactions, recorded in ${report.replayed_topic}`}` +
      `${held > 0 ? `; ${held} held back after ${selection.maxReplays} replays (--max-replays)` : ''}` +
      `${report.interrupted ? '; interrupted: run it again to replay the rest' : ''}\n`,
  );
  return report.interrupted ? 130 : 0;
}
