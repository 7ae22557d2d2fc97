/**
 * `webscale-rl report [run folder | topic prefix]`: the error analysis of a run, printed, and
 * written as one self-contained HTML page. An existing folder is read as a run folder (see
 * `src/report/sources.ts`); anything else is taken as a Kafka topic prefix whose `rejections` and
 * `qa.verified` topics are read to their end; with no argument, the prefix of `--topic-prefix`
 * (or its environment variable and default), like the other Kafka commands.
 *
 * The page goes to `--html FILE`; for a run folder it defaults to `<folder>/report.html` (the
 * folder the user named). For Kafka there is no folder to default to, and nothing is written
 * that the user did not name: without `--html` only the text is printed.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebscaleError } from '../core/errors.js';
import { ReportBuilder, formatReportText, isDirectory, loadPrices, readRunFolder, readTopics, renderReportHtml, type Report } from '../report/index.js';
import { setup } from './kafka-commands.js';
import type { CommonFlags } from './options.js';

export interface ReportFlags extends CommonFlags {
  html?: string;
  prices?: string;
  examples?: number;
}

export async function reportCommand(target: string | undefined, flags: ReportFlags): Promise<number> {
  const prices = flags.prices === undefined ? null : await loadPrices(flags.prices);
  const builder = new ReportBuilder({ prices, ...(flags.examples === undefined ? {} : { examplesPerReason: flags.examples }) });
  let report: Report;
  let htmlPath: string | null = flags.html ?? null;
  let skipped = 0;
  if (target !== undefined && (await isDirectory(target))) {
    if (flags.topicPrefix !== undefined) throw new WebscaleError('USAGE', `--topic-prefix is for a Kafka report, but ${target} is a folder (a run folder report)`);
    const { source, summary, skippedLines } = await readRunFolder(target, builder);
    skipped = skippedLines;
    report = builder.build(source, summary);
    htmlPath ??= join(target, 'report.html');
  } else {
    if (target !== undefined && /[\\/]/.test(target)) throw new WebscaleError('USAGE', `no such folder: ${target} (a run folder, or a Kafka topic prefix such as webscale-rl.)`);
    if (target !== undefined && flags.topicPrefix !== undefined && flags.topicPrefix !== target) {
      throw new WebscaleError('USAGE', `two topic prefixes: "${target}" and --topic-prefix "${flags.topicPrefix}"; name one`);
    }
    // No target: the prefix of --topic-prefix, WEBSCALE_TOPIC_PREFIX or the config.
    const { config, kafka, codecs } = await setup(target === undefined ? flags : { ...flags, topicPrefix: target }, ['rejections', 'qa.verified']);
    const source = await readTopics(kafka, codecs, config.kafka.topicPrefix, config.kafka.brokers, builder);
    report = builder.build(source);
  }
  process.stdout.write(formatReportText(report) + '\n');
  if (skipped > 0) process.stderr.write(`webscale-rl: ${skipped} line(s) of the run folder were not records (not JSON, or over 16 MiB) and were skipped\n`);
  if (htmlPath === null) {
    process.stderr.write('report page: not written (name a file with --html)\n');
  } else {
    try {
      await writeFile(htmlPath, renderReportHtml(report));
    } catch (err) {
      throw new WebscaleError('USAGE', `cannot write the report page ${htmlPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    process.stderr.write(`report page -> ${htmlPath}\n`);
  }
  return 0;
}
