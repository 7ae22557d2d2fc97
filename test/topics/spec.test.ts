import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOPIC_SUFFIXES, topicName } from '../../src/kafka/index.js';
import { loadTopicSpecs, specFor } from '../../src/topics/index.js';
import { isWebscaleError } from '../../src/core/errors.js';

describe('topics/ specs', () => {
  const specs = loadTopicSpecs();

  it('has one valid spec per pipeline topic, in pipeline order', () => {
    expect(specs.map((s) => s.suffix)).toEqual([...TOPIC_SUFFIXES]);
  });

  it('maps each topic to the record type its values hold', () => {
    expect(Object.fromEntries(specs.map((s) => [s.suffix, s.valueSchema]))).toEqual({
      'docs.raw': 'Document',
      'docs.filtered': 'FilteredDocument',
      'qa.tasks': 'GenerationTask',
      'qa.candidates': 'QaCandidate',
      'qa.verified': 'QaRecord',
      rejections: 'Rejection',
      dlq: 'DeadLetter',
      'docs.unique': 'Document',
      'dedup.claims': 'DedupClaim',
      schemas: 'AvroSchema',
      'llm.responses': 'LlmResponse',
    });
  });

  it('keeps the sink forever, sizes messages for documents and never compacts', () => {
    expect(specFor(specs, 'qa.verified').configs['retention.ms']).toBe('-1');
    // The dedup claims are one ordered log (one partition) of small records, kept for a window.
    const claims = specFor(specs, 'dedup.claims');
    expect(claims.partitions).toBe(1);
    expect(Number(claims.configs['retention.ms'])).toBeGreaterThan(0);
    expect(claims.configs['cleanup.policy']).toBe('delete');
    // Writer schemas: one compacted entry per schema, kept forever (records outlive their writers).
    const schemas = specFor(specs, 'schemas');
    expect(schemas.configs['cleanup.policy']).toBe('compact');
    expect(schemas.configs['retention.ms']).toBe('-1');
    // The response log is a key-value store: compacted, one value per request key, kept for ever.
    const responses = specFor(specs, 'llm.responses');
    expect(responses.configs['cleanup.policy']).toBe('compact');
    expect(['producer', 'gzip']).toContain(responses.configs['compression.type']);
    for (const spec of specs.filter((s) => !['dedup.claims', 'schemas', 'llm.responses'].includes(s.suffix))) {
      expect(Number(spec.configs['max.message.bytes'])).toBeGreaterThanOrEqual(8 * 1024 * 1024);
      expect(spec.configs['cleanup.policy']).toBe('delete');
      // kafkajs consumers can only read gzip (or uncompressed) batches.
      expect(['producer', 'gzip', 'uncompressed']).toContain(spec.configs['compression.type']);
    }
  });

  it('gives the working topics one partition count, so a document keeps its partition number', () => {
    const counts = ['docs.raw', 'docs.unique', 'docs.filtered', 'qa.tasks', 'qa.candidates', 'qa.verified'].map((s) => specFor(specs, s).partitions);
    expect(new Set(counts).size).toBe(1);
  });

  it('builds topic names from the prefix', () => {
    expect(topicName('webscale-rl.', 'qa.verified')).toBe('webscale-rl.qa.verified');
  });
});

describe('invalid specs', () => {
  function dirWith(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'topics-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }

  it('names every bad path and every missing topic in one CONFIG_INVALID error', () => {
    const dir = dirWith({
      'docs.raw.yaml': 'suffix: docs.raw\nvalueSchema: Nope\npartitions: 0\nreplicationFactor: 3\nconfigs:\n  retention.ms: 1\n',
      // Well-formed, but missing configs (refinements run only on otherwise valid specs).
      'docs.filtered.yaml':
        'suffix: docs.filtered\nvalueSchema: FilteredDocument\npartitions: 3\nreplicationFactor: 3\nconfigs:\n  retention.ms: 1\n  compression.type: gzip\n  max.message.bytes: 1048576\n',
      'broken.yaml': 'suffix: [unclosed\n',
    });
    try {
      loadTopicSpecs(dir);
      expect.unreachable('invalid specs were accepted');
    } catch (err) {
      expect(isWebscaleError(err, 'CONFIG_INVALID')).toBe(true);
      const message = (err as Error).message;
      expect(message).toMatch(/docs\.raw\.yaml: valueSchema/);
      expect(message).toMatch(/docs\.raw\.yaml: partitions/);
      expect(message).toMatch(/docs\.filtered\.yaml: configs\.cleanup\.policy: cleanup\.policy is required/);
      expect(message).toMatch(/docs\.filtered\.yaml: configs\.min\.insync\.replicas: required when replicationFactor > 1/);
      expect(message).toMatch(/broken\.yaml/);
      expect(message).toMatch(/no spec for topic qa\.verified/);
    }
  });
});
