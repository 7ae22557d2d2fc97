/** `webscale-rl topics apply`: create what is missing, report drift, destroy nothing. */
import { loadConfig } from '../config/load.js';
import { WebscaleError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { ensureBrokersReachable } from '../kafka/reachable.js';
import { formatTopicsReport, runTopicsApply } from '../topics/index.js';
import { overridesFrom, type CommonFlags } from './options.js';

export interface TopicsApplyFlags extends CommonFlags {
  allowPartitionIncrease?: boolean;
  partitions?: number;
  replicationFactor?: string;
  strict?: boolean;
}

export async function topicsApplyCommand(flags: TopicsApplyFlags): Promise<number> {
  const config = await loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
  const logger = createLogger(config.logLevel);
  let replication: number | 'auto' = 'auto';
  if (flags.replicationFactor !== undefined && flags.replicationFactor !== 'auto') {
    replication = Number(flags.replicationFactor);
    if (!Number.isInteger(replication) || replication <= 0) throw new WebscaleError('USAGE', '--replication-factor must be a positive integer or "auto"');
  }
  await ensureBrokersReachable(config);
  const report = await runTopicsApply(config, {
    logger,
    replicationFactorOverride: replication,
    ...(flags.partitions === undefined ? {} : { partitionsOverride: flags.partitions }),
    ...(flags.allowPartitionIncrease === undefined ? {} : { allowPartitionIncrease: flags.allowPartitionIncrease }),
  });
  process.stdout.write(formatTopicsReport(report) + '\n');
  const drift = report.topics.some((t) => t.status === 'drift');
  return drift && flags.strict ? 3 : 0;
}
