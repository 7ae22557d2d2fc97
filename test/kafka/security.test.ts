/**
 * Kafka security on the real broker's SASL_SSL listener (scripts/kafka.sh makes it: a CA and a
 * broker certificate from openssl, SCRAM users, PLAIN, unsecured OAUTHBEARER, ACLs enforced where
 * some exist). The pipeline end to end, `topics apply`, `ingest` and `export` over SASL_SSL with
 * SCRAM; every mechanism and a client certificate getting in; a wrong password, a wrong CA, a
 * PLAINTEXT client on the TLS port, a TLS client on the plaintext port, a missing ACL and a
 * failing token command each ending the real CLI process with exit 1 and one line naming the
 * cause within 10 s; files that are missing or unusable ending it with exit 2; and no password,
 * key password or token in any log line, even at debug level.
 *
 * For a broker other than the default development one, set KAFKA_BROKERS (its PLAINTEXT port)
 * and WEBSCALE_KAFKA_HOME (its kafka.sh home, where security/client.json lies).
 */
import { chmod, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_STAGES } from '../../src/core/records.js';
import { createTestTopics, freshPrefix } from '../support/kafka.js';
import { runCli, type CliResult } from '../support/cli.js';
import { PipelineHarness, usePipelineSuite } from '../support/pipeline.js';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, saslSslEnv, secureBroker, secureKafka, unsecuredJwt } from '../support/secure-kafka.js';

/** Topics `topics apply` manages: one spec per file in topics/. */
const TOPIC_SPECS = (await readdir(new URL('../../topics/', import.meta.url))).filter((f) => f.endsWith('.yaml')).length;

const suite = usePipelineSuite('security', { latencyMs: 40, maxLog: 100 });
let dir: string;
let doc: string;
let otherCa: string;
/** Topics of every pipeline suffix, made over PLAINTEXT, for the commands that only need them to exist. */
let shared: string;
const acls: { resourceType: number; name: string; principal: string; operation: number }[] = [];

/** The same harness, with every CLI process and worker on the SASL_SSL listener. */
class SecureHarness extends PipelineHarness {
  override env(prefix: string): Record<string, string> {
    return { ...super.env(prefix), ...saslSslEnv() };
  }
}

/** The user-facing failure contract: exit 1, one line on stderr, no stack trace. */
function expectOneLineFailure(res: CliResult, pattern: RegExp, code = 1): void {
  expect(res.code, res.stderr).toBe(code);
  const lines = res.stderr.trim().split('\n');
  expect(lines, res.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^webscale-rl: /);
  expect(lines[0]).toMatch(pattern);
  expect(res.stderr).not.toMatch(/\n\s+at |Error: /);
}

async function timed(args: string[], env: Record<string, string>, stdin?: string): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  const res = await runCli(args, { env: { WEBSCALE_TOPIC_PREFIX: shared, ...env }, timeoutMs: 30_000, ...(stdin === undefined ? {} : { stdin }) });
  return { ...res, ms: Date.now() - started };
}

/** Lets `principal` do `operation` on the topic (or group) `name`, as the super user; undone in afterAll. */
async function addAcl(name: string, principal: string, operation: number, resourceType: number = AclResourceTypes.TOPIC): Promise<void> {
  const admin = secureKafka('admin').admin();
  await admin.connect();
  try {
    await admin.createAcls({
      acl: [{ resourceType, resourceName: name, resourcePatternType: ResourcePatternTypes.LITERAL, principal, host: '*', operation, permissionType: AclPermissionTypes.ALLOW }],
    });
    acls.push({ resourceType, name, principal, operation });
  } finally {
    await admin.disconnect();
  }
}

/** Waits until user webscale is refused (the broker applies ACLs asynchronously). */
async function waitUntilDenied(name: string, check: 'describe' | 'write' | 'group'): Promise<void> {
  const kafka = secureKafka('webscale');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const client = check === 'write' ? kafka.producer({ idempotent: false, retry: { retries: 0 } }) : kafka.admin({ retry: { retries: 0 } });
    await client.connect();
    try {
      if (check === 'describe') await (client as ReturnType<typeof kafka.admin>).fetchTopicMetadata({ topics: [name] });
      else if (check === 'group') await (client as ReturnType<typeof kafka.admin>).describeGroups([name]);
      else await (client as ReturnType<typeof kafka.producer>).send({ topic: name, messages: [{ key: 'probe', value: 'not a document' }], acks: 1 });
    } catch (err) {
      if (/AUTHORIZATION_FAILED|Not authorized/i.test(`${(err as { type?: string }).type ?? ''} ${(err as Error).message}`)) return;
    } finally {
      await client.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`the ACL on ${name} did not take effect within 20 s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  secureBroker(); // fails loudly, saying what to do, when the broker has no SASL_SSL listener
  dir = await mkdtemp(join(tmpdir(), 'wsrl-sec-'));
  doc = JSON.stringify({ id: 'sec-doc', text: 'A short document about glaciers and the people who measure them every spring.' }) + '\n';
  otherCa = join(dir, 'other-ca.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-noenc', '-keyout', join(dir, 'other-ca.key'), '-out', otherCa, '-days', '2', '-subj', '/CN=not the broker CA'], { stdio: 'ignore' });
  shared = freshPrefix('sec');
  await createTestTopics(shared);
}, 120_000);

afterAll(async () => {
  if (acls.length === 0) return;
  const admin = secureKafka('admin').admin();
  await admin.connect();
  try {
    await admin.deleteAcls({
      filters: acls.map((a) => ({ resourceType: a.resourceType, resourceName: a.name, resourcePatternType: ResourcePatternTypes.LITERAL, principal: a.principal, host: '*', operation: a.operation, permissionType: AclPermissionTypes.ALLOW })),
    });
  } finally {
    await admin.disconnect();
  }
});

describe('the pipeline over SASL_SSL with SCRAM-SHA-512 (real broker)', () => {
  it('topics apply, ingest, five stage workers and export: every document exactly once', async () => {
    const started = Date.now();
    const h = new SecureHarness(suite.h.dir, suite.llm.url);
    const prefix = freshPrefix('sec-e2e');
    const apply = await runCli(['topics', 'apply', '--partitions', '3', '--replication-factor', '1'], { env: h.env(prefix) });
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(new RegExp(`${TOPIC_SPECS} created`));
    const input = await h.writeInput('sec-e2e', 40);
    const expected = await h.embeddedExpectation(input);
    await h.ingest(prefix, input);
    try {
      for (const s of WORKER_STAGES) h.startWorker(s, prefix);
      await h.waitForCompletion(prefix, expected, 180_000);
      await h.assertExactlyOnce(prefix, expected);
    } finally {
      h.killAll();
    }
    // The figure the README quotes beside the plaintext run of test/kafka/pipeline.test.ts.
    console.log(`SASL_SSL end to end (40 documents, topics apply to exactly-once check): ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 300_000);
});

describe('every mechanism, and a client certificate', () => {
  const cases: [string, () => Promise<Record<string, string>>][] = [
    ['PLAIN', () => Promise.resolve(saslSslEnv({ mechanism: 'PLAIN' }))],
    ['SCRAM-SHA-256', () => Promise.resolve(saslSslEnv({ mechanism: 'scram-sha-256' }))],
    [
      'OAUTHBEARER from a token file',
      async () => {
        const file = join(dir, 'token');
        await writeFile(file, unsecuredJwt('webscale') + '\n');
        const { KAFKA_SASL_USERNAME: _u, KAFKA_SASL_PASSWORD: _p, ...env } = saslSslEnv({ mechanism: 'OAUTHBEARER' });
        return { ...env, KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file };
      },
    ],
    [
      'OAUTHBEARER from a token command printing JSON',
      async () => {
        const script = join(dir, 'token.sh');
        await writeFile(script, `#!/bin/sh\nprintf '{"access_token": "%s", "expires_in": 3600}' '${unsecuredJwt('webscale')}'\n`);
        await chmod(script, 0o755);
        const { KAFKA_SASL_USERNAME: _u, KAFKA_SASL_PASSWORD: _p, ...env } = saslSslEnv({ mechanism: 'OAUTHBEARER' });
        return { ...env, KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: script };
      },
    ],
    [
      'SCRAM-SHA-512 with a client certificate whose key is encrypted',
      () => {
        const s = secureBroker();
        return Promise.resolve({ ...saslSslEnv(), KAFKA_TLS_CERT: s.clientCertFile, KAFKA_TLS_KEY: s.clientKeyFile, KAFKA_TLS_KEY_PASSWORD: s.clientKeyPassword });
      },
    ],
    [
      'SCRAM-SHA-512 with the password in a file and the broker certificate checked for the name "localhost"',
      async () => {
        const file = join(dir, 'password');
        await writeFile(file, secureBroker().users.webscale + '\n');
        const { KAFKA_SASL_PASSWORD: _p, ...env } = saslSslEnv();
        return { ...env, KAFKA_SASL_PASSWORD_FILE: file, KAFKA_TLS_SERVER_NAME: 'localhost' };
      },
    ],
  ];
  for (const [name, env] of cases) {
    it(`${name}: topics apply finds the topics in place`, async () => {
      const res = await timed(['topics', 'apply', '--partitions', '3', '--replication-factor', '1'], await env());
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`0 created, ${TOPIC_SPECS} unchanged`));
    });
  }
});

describe('security failures: exit 1 and one line naming the cause, within 10 s', () => {
  it('a wrong password (ingest, SCRAM-SHA-256)', async () => {
    const res = await timed(['ingest', '-'], saslSslEnv({ mechanism: 'SCRAM-SHA-256', password: 'not-the-password-1' }), doc);
    expectOneLineFailure(res, /refused the SCRAM-SHA-256 login of user "webscale": .*invalid credentials.*KAFKA_SASL_PASSWORD/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('a wrong password (a stage worker, PLAIN)', async () => {
    const res = await timed(['stage', 'dedup'], saslSslEnv({ mechanism: 'PLAIN', password: 'not-the-password-2' }));
    expectOneLineFailure(res, /refused the PLAIN login of user "webscale": .*Invalid username or password/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('a CA that did not sign the broker certificate (export)', async () => {
    const res = await timed(['export', '--output', join(dir, 'never.jsonl')], { ...saslSslEnv(), KAFKA_TLS_CA: otherCa });
    expectOneLineFailure(res, new RegExp(`TLS certificate of Kafka at .* is not trusted \\(self-signed certificate in certificate chain\\); give the CA .*KAFKA_TLS_CA.*${otherCa.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not hold it`));
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('no CA at all: the public CAs do not vouch for the broker (topics apply)', async () => {
    const { KAFKA_TLS_CA: _ca, ...env } = saslSslEnv();
    const res = await timed(['topics', 'apply'], env);
    expectOneLineFailure(res, /is not trusted .*KAFKA_TLS_CA/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('a PLAINTEXT client on the TLS port (topics apply)', async () => {
    const res = await timed(['topics', 'apply'], { KAFKA_BROKERS: secureBroker().saslSslBrokers.join(',') });
    expectOneLineFailure(res, /closed the connection without answering: the listener there probably expects TLS; set KAFKA_SECURITY_PROTOCOL/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('a SASL_SSL client on the PLAINTEXT port (ingest)', async () => {
    const res = await timed(['ingest', '-'], { ...saslSslEnv(), KAFKA_BROKERS: secureBroker().plaintextBrokers.join(',') }, doc);
    expectOneLineFailure(res, /TLS handshake with Kafka at .* failed .*does not speak TLS/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('a token command that fails (OAUTHBEARER, tail)', async () => {
    const { KAFKA_SASL_USERNAME: _u, KAFKA_SASL_PASSWORD: _p, ...env } = saslSslEnv({ mechanism: 'OAUTHBEARER' });
    const res = await timed(['tail', 'qa.verified'], { ...env, KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'echo "no credentials for this role" >&2; exit 3' });
    expectOneLineFailure(res, /OAUTHBEARER token command failed \(exit 3\): no credentials for this role; check kafka\.sasl\.oauthbearer\.tokenCommand/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('a missing ACL: a topic only another user may use (ingest)', async () => {
    const prefix = freshPrefix('sec-acl');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    await addAcl(`${prefix}docs.raw`, 'User:someone-else', AclOperationTypes.ALL);
    await waitUntilDenied(`${prefix}docs.raw`, 'describe');
    const res = await timed(['ingest', '-'], { ...saslSslEnv(), WEBSCALE_TOPIC_PREFIX: prefix }, doc);
    expectOneLineFailure(res, new RegExp(`denies user "webscale" access to topic ${prefix.replace(/\./g, '\\.')}docs\\.raw \\(TOPIC_AUTHORIZATION_FAILED: an ACL\\); ask the cluster's administrator`));
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });

  it('a missing ACL: a topic the user may see but not write (ingest)', async () => {
    const prefix = freshPrefix('sec-acl-write');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    await addAcl(`${prefix}docs.raw`, 'User:webscale', AclOperationTypes.DESCRIBE);
    await waitUntilDenied(`${prefix}docs.raw`, 'write');
    const res = await timed(['ingest', '-'], { ...saslSslEnv(), WEBSCALE_TOPIC_PREFIX: prefix }, doc);
    expectOneLineFailure(res, /denies user "webscale" access to a topic \(TOPIC_AUTHORIZATION_FAILED: an ACL\)/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(10_000);
  });


  it('a missing ACL met after start: a stage worker stops instead of restarting its consumer for ever', async () => {
    const prefix = freshPrefix('sec-acl-read');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    await addAcl(`${prefix}docs.raw`, 'User:webscale', AclOperationTypes.DESCRIBE);
    await waitUntilDenied(`${prefix}docs.raw`, 'write');
    const res = await timed(['stage', 'dedup'], { ...saslSslEnv(), WEBSCALE_TOPIC_PREFIX: prefix });
    expect(res.code, res.stderr).toBe(1);
    // Beside the worker's own log lines (JSON), one line for people.
    const human = res.stderr.split('\n').filter((l) => l.startsWith('webscale-rl: '));
    expect(human, res.stderr).toHaveLength(1);
    expect(human[0]).toMatch(/^webscale-rl: Kafka at .* denies user "webscale" access to a topic \(TOPIC_AUTHORIZATION_FAILED: an ACL\)/);
    expect(res.ms, 'milliseconds to the exit').toBeLessThan(30_000);
  });
});

describe('settings that cannot work: exit 2 before any connection', () => {
  const cases: [string, () => Record<string, string>, RegExp][] = [
    ['a CA file that does not exist', () => ({ ...saslSslEnv(), KAFKA_TLS_CA: '/nonexistent/ca.pem' }), /kafka\.ssl\.caFile \(KAFKA_TLS_CA\): cannot read \/nonexistent\/ca\.pem: no such file/],
    ['a password file that does not exist', () => ({ ...saslSslEnv(), KAFKA_SASL_PASSWORD: '', KAFKA_SASL_PASSWORD_FILE: '/nonexistent/pw' }), /kafka\.sasl\.passwordFile \(KAFKA_SASL_PASSWORD_FILE\): cannot read \/nonexistent\/pw: no such file/],
    [
      'a wrong key password',
      () => ({ ...saslSslEnv(), KAFKA_TLS_CERT: secureBroker().clientCertFile, KAFKA_TLS_KEY: secureBroker().clientKeyFile, KAFKA_TLS_KEY_PASSWORD: 'not-the-key-password' }),
      /cannot decrypt the private key .* with kafka\.ssl\.keyPassword \(KAFKA_TLS_KEY_PASSWORD\)/,
    ],
    ['SASL_SSL without a mechanism', () => ({ ...saslSslEnv(), KAFKA_SASL_MECHANISM: '' }), /kafka\.sasl\.mechanism: securityProtocol SASL_SSL needs a mechanism/],
    ['a CA file with PLAINTEXT', () => ({ KAFKA_TLS_CA: secureBroker().caFile }), /kafka\.ssl: TLS settings \(caFile\) are set but securityProtocol is PLAINTEXT/],
  ];
  for (const [name, env, pattern] of cases) {
    it(name, async () => {
      const res = await timed(['ingest', '-'], env(), doc);
      expectOneLineFailure(res, pattern, 2);
    });
  }
});

describe('secrets in logs', () => {
  it('no password, key password or token reaches stderr, even at debug level', async () => {
    const s = secureBroker();
    const secrets = [s.users.webscale, s.clientKeyPassword, 'wrong-password-3141592'];
    const withCert = { ...saslSslEnv(), KAFKA_TLS_CERT: s.clientCertFile, KAFKA_TLS_KEY: s.clientKeyFile, KAFKA_TLS_KEY_PASSWORD: s.clientKeyPassword, WEBSCALE_LOG_LEVEL: 'debug' };
    const token = unsecuredJwt('webscale');
    const tokenFile = join(dir, 'debug-token');
    await writeFile(tokenFile, token);
    const { KAFKA_SASL_USERNAME: _u, KAFKA_SASL_PASSWORD: _p, ...oauth } = saslSslEnv({ mechanism: 'OAUTHBEARER' });
    const runs = [
      await timed(['ingest', '-'], withCert, doc),
      await timed(['stage', 'dedup'], { ...withCert, KAFKA_SASL_PASSWORD: 'wrong-password-3141592' }),
      await timed(['ingest', '-'], { ...oauth, KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile, WEBSCALE_LOG_LEVEL: 'debug' }, doc),
    ];
    expect(runs[0]?.code, runs[0]?.stderr).toBe(0);
    expect(runs[1]?.code).toBe(1);
    expect(runs[2]?.code, runs[2]?.stderr).toBe(0);
    // The debug runs did log (kafkajs' connection lines), so the absence below means something.
    expect(runs[0]?.stderr.split('\n').length).toBeGreaterThan(5);
    for (const run of runs) {
      for (const secret of [...secrets, token, token.split('.')[1] ?? token]) expect(run.stdout + run.stderr).not.toContain(secret);
    }
  });
});
