/**
 * Declarative topic specs: one YAML file per topic in `topics/`, validated with zod. A spec says
 * what a topic should look like (partitions, replication, Kafka configs) and which record type
 * its values hold; `applyTopics` makes a cluster match it without destroying anything.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RECORD_TYPES } from '../codec/record-types.js';
import { WebscaleError } from '../core/errors.js';
import { packageDir } from '../kafka/package-dir.js';
import { TOPIC_SUFFIXES } from '../kafka/topic-names.js';

/** `valueSchema` of a topic whose values are Avro schemas themselves (JSON), not records. */
export const AVRO_SCHEMA_VALUE = 'AvroSchema';

/** Configs every spec must set, so nothing important is left to broker defaults. */
export const REQUIRED_TOPIC_CONFIGS = ['cleanup.policy', 'retention.ms', 'compression.type', 'max.message.bytes'] as const;

/** Config values may be written as YAML numbers or strings; Kafka wants strings. */
const configValue = z.union([z.string(), z.number()]).transform((v) => String(v));

export const topicSpecSchema = z
  .object({
    suffix: z.string().regex(/^[a-zA-Z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
    /** The record type of the values, or `AvroSchema` for the schemas topic (an .avsc as JSON text). */
    valueSchema: z.enum([...RECORD_TYPES, AVRO_SCHEMA_VALUE]),
    partitions: z.number().int().positive(),
    replicationFactor: z.number().int().positive(),
    configs: z.record(z.string().min(1), configValue),
  })
  .strict()
  .superRefine((spec, ctx) => {
    for (const key of REQUIRED_TOPIC_CONFIGS) {
      if (spec.configs[key] === undefined) ctx.addIssue({ code: 'custom', path: ['configs', key], message: `${key} is required` });
    }
    const minIsr = spec.configs['min.insync.replicas'];
    if (spec.replicationFactor > 1 && minIsr === undefined) {
      ctx.addIssue({ code: 'custom', path: ['configs', 'min.insync.replicas'], message: 'required when replicationFactor > 1' });
    }
    if (minIsr !== undefined && Number(minIsr) > spec.replicationFactor) {
      ctx.addIssue({ code: 'custom', path: ['configs', 'min.insync.replicas'], message: 'cannot exceed replicationFactor' });
    }
  });

export type TopicSpec = z.output<typeof topicSpecSchema>;

/** The package's topic specs folder. */
export function defaultTopicsDir(): string {
  return packageDir('topics');
}

/**
 * Reads and validates every `*.yaml` in `dir`; returns them in pipeline order. Throws
 * CONFIG_INVALID naming every bad file and path, or when a pipeline topic has no spec.
 */
export function loadTopicSpecs(dir: string = defaultTopicsDir()): TopicSpec[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  const specs: TopicSpec[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const path = join(dir, file);
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(path, 'utf8'));
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`);
      continue;
    }
    const result = topicSpecSchema.safeParse(raw);
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(`${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
      continue;
    }
    if (specs.some((s) => s.suffix === result.data.suffix)) problems.push(`${path}: duplicate suffix ${result.data.suffix}`);
    specs.push(result.data);
  }
  for (const suffix of TOPIC_SUFFIXES) {
    if (!specs.some((s) => s.suffix === suffix)) problems.push(`${dir}: no spec for topic ${suffix}`);
  }
  if (problems.length > 0) {
    throw new WebscaleError('CONFIG_INVALID', `invalid topic specs:\n  ${problems.join('\n  ')}`, { context: { dir, problems } });
  }
  const order = (s: TopicSpec): number => {
    const i = (TOPIC_SUFFIXES as readonly string[]).indexOf(s.suffix);
    return i === -1 ? TOPIC_SUFFIXES.length : i;
  };
  return specs.sort((a, b) => order(a) - order(b) || a.suffix.localeCompare(b.suffix));
}

/** The spec of one topic by suffix (throws USAGE when there is none). */
export function specFor(specs: readonly TopicSpec[], suffix: string): TopicSpec {
  const spec = specs.find((s) => s.suffix === suffix);
  if (!spec) throw new WebscaleError('USAGE', `no topic spec for ${suffix}`);
  return spec;
}
