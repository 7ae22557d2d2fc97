// The chart's Kafka TLS and SASL values, rendered by the real helm: Secrets named in values reach
// every stage pod and the topics hook Job as secretKeyRef env and read-only certificate mounts
// whose paths are the ones the env names; the env the chart writes is what the worker's config
// loader reads; contradictions fail the render with the fix; and the manifests pass
// `helm lint --strict` and kubernetes-validate (offline, the validator the other chart tests use).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'helm/webscale-rl');
const WITH_LLM = ['--set', 'llm.url=http://vllm.llm:8000/v1'];

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[]; defaultMode?: number };
  projected?: { sources: { serviceAccountToken?: { audience: string; expirationSeconds: number; path: string } }[] };
}
interface PodSpec {
  containers: { name: string; env?: EnvVar[]; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
  volumes?: Volume[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: { template?: { spec: PodSpec } };
}

/** SASL_SSL with SCRAM, a CA from one Secret and a client certificate (encrypted key) from another. */
const SCRAM_TLS = [
  '--set', 'kafka.securityProtocol=SASL_SSL',
  '--set', 'kafka.sasl.mechanism=SCRAM-SHA-512',
  '--set', 'kafka.sasl.existingSecret=pipeline-kafka-user',
  '--set', 'kafka.sasl.usernameKey=username',
  '--set', 'kafka.tls.ca.existingSecret=my-cluster-cluster-ca-cert',
  '--set', 'kafka.tls.clientCert.existingSecret=pipeline-kafka-user',
  '--set', 'kafka.tls.clientCert.certKey=user.crt',
  '--set', 'kafka.tls.clientCert.keyKey=user.key',
  '--set', 'kafka.tls.clientCert.keyPasswordKey=user.password',
  '--set', 'kafka.tls.serverName=kafka.internal',
];

let helm = '';
let workDir = '';

async function render(...args: string[]): Promise<{ text: string; manifests: Manifest[] }> {
  const { stdout } = await run(helm, ['template', 'rel', CHART, '--namespace', 'pipelines', ...WITH_LLM, ...args], { maxBuffer: 16 * 1024 * 1024 });
  const manifests = parseAllDocuments(stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
  return { text: stdout, manifests };
}

/** Every pod that talks to Kafka: the stage Deployments and the topics hook Job. */
function kafkaPods(manifests: Manifest[]): { name: string; pod: PodSpec }[] {
  return manifests
    .filter((m) => m.kind === 'Deployment' || m.kind === 'Job')
    .map((m) => ({ name: `${m.kind}/${m.metadata.name}`, pod: m.spec?.template?.spec as PodSpec }));
}

function envMap(pod: PodSpec): Map<string, EnvVar> {
  return new Map((pod.containers[0]?.env ?? []).map((e) => [e.name, e]));
}

/** The path a pod sees for a Secret key: the mount of the volume whose item maps that key. */
function mountedPath(pod: PodSpec, secretName: string, key: string): string | undefined {
  for (const v of pod.volumes ?? []) {
    const item = v.secret?.secretName === secretName ? v.secret.items?.find((i) => i.key === key) : undefined;
    if (!item) continue;
    const mount = pod.containers[0]?.volumeMounts?.find((m) => m.name === v.name);
    if (mount) return `${mount.mountPath}/${item.path}`;
  }
  return undefined;
}

beforeAll(() => {
  helm = execFileSync(join(ROOT, 'scripts/ensure-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  workDir = mkdtempSync(join(tmpdir(), 'webscale-helm-sec-'));
}, 20 * 60_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('chart: Kafka TLS and SASL from existing Secrets', () => {
  it('wires SASL credentials and mounted certificates into every stage pod and the topics Job', async () => {
    const { text, manifests } = await render(...SCRAM_TLS);
    const pods = kafkaPods(manifests);
    expect(pods.map((p) => p.name)).toContain('Job/rel-webscale-rl-topics');
    expect(pods.filter((p) => p.name.startsWith('Deployment/'))).toHaveLength(5);
    for (const { name, pod } of pods) {
      const env = envMap(pod);
      expect(env.get('KAFKA_SECURITY_PROTOCOL')?.value, name).toBe('SASL_SSL');
      expect(env.get('KAFKA_SASL_MECHANISM')?.value, name).toBe('SCRAM-SHA-512');
      expect(env.get('KAFKA_SASL_USERNAME')?.valueFrom?.secretKeyRef, name).toEqual({ name: 'pipeline-kafka-user', key: 'username' });
      expect(env.get('KAFKA_SASL_PASSWORD')?.valueFrom?.secretKeyRef, name).toEqual({ name: 'pipeline-kafka-user', key: 'password' });
      expect(env.get('KAFKA_TLS_KEY_PASSWORD')?.valueFrom?.secretKeyRef, name).toEqual({ name: 'pipeline-kafka-user', key: 'user.password' });
      expect(env.get('KAFKA_TLS_SERVER_NAME')?.value, name).toBe('kafka.internal');
      // The files the env names are where the Secrets' keys are mounted, read-only.
      expect(env.get('KAFKA_TLS_CA')?.value, name).toBe(mountedPath(pod, 'my-cluster-cluster-ca-cert', 'ca.crt'));
      expect(env.get('KAFKA_TLS_CERT')?.value, name).toBe(mountedPath(pod, 'pipeline-kafka-user', 'user.crt'));
      expect(env.get('KAFKA_TLS_KEY')?.value, name).toBe(mountedPath(pod, 'pipeline-kafka-user', 'user.key'));
      for (const m of pod.containers[0]?.volumeMounts ?? []) if (m.name.startsWith('kafka-')) expect(m.readOnly, `${name} ${m.name}`).toBe(true);
      // Not inside the config mount (a read-only ConfigMap volume cannot hold mount points).
      expect(env.get('KAFKA_TLS_CA')?.value).not.toMatch(/^\/etc\/webscale-rl\//);
    }
    // Secrets stay in Secrets: no literal credential in the manifests, and no Secret is created.
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
    expect(text).not.toMatch(/KAFKA_SASL_PASSWORD\n\s+value:/);
  });

  it('hands the worker exactly the settings its config loader expects', async () => {
    const { manifests } = await render(...SCRAM_TLS);
    const pod = kafkaPods(manifests).find((p) => p.name.includes('-generate'))?.pod as PodSpec;
    // What the kubelet would put in the environment, with stand-ins for the Secrets' values.
    const env: Record<string, string> = {};
    for (const e of pod.containers[0]?.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = `secret-${e.valueFrom.secretKeyRef.key}`;
    }
    // The config file is the rendered ConfigMap's, written where the env says it is mounted.
    const configMap = manifests.find((m) => m.kind === 'ConfigMap') as Manifest & { data: Record<string, string> };
    const configFile = join(workDir, 'config.yaml');
    writeFileSync(configFile, configMap.data['config.yaml'] ?? '');
    expect(env['WEBSCALE_CONFIG']).toBe('/etc/webscale-rl/config.yaml');
    const config = await loadConfig({ env: { ...env, WEBSCALE_CONFIG: configFile } });
    expect(config.kafka.securityProtocol).toBe('SASL_SSL');
    expect(config.kafka.sasl).toMatchObject({ mechanism: 'scram-sha-512', username: 'secret-username', password: 'secret-password' });
    expect(config.kafka.ssl).toMatchObject({ caFile: env['KAFKA_TLS_CA'], certFile: env['KAFKA_TLS_CERT'], keyFile: env['KAFKA_TLS_KEY'], keyPassword: 'secret-user.password', serverName: 'kafka.internal' });
  });

  it('OAUTHBEARER with a projected service-account token: mounted, and named as the token file', async () => {
    const { manifests } = await render(
      '--set', 'kafka.securityProtocol=SASL_SSL', '--set', 'kafka.sasl.mechanism=OAUTHBEARER',
      '--set', 'kafka.sasl.oauthbearer.serviceAccountToken.audience=kafka.example.com',
      '--set', 'kafka.sasl.oauthbearer.serviceAccountToken.expirationSeconds=1800',
    );
    for (const { name, pod } of kafkaPods(manifests)) {
      const env = envMap(pod);
      const volume = pod.volumes?.find((v) => v.projected);
      expect(volume?.projected?.sources[0]?.serviceAccountToken, name).toEqual({ audience: 'kafka.example.com', expirationSeconds: 1800, path: 'token' });
      const mount = pod.containers[0]?.volumeMounts?.find((m) => m.name === volume?.name);
      expect(env.get('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE')?.value, name).toBe(`${mount?.mountPath}/token`);
      expect(env.has('KAFKA_SASL_PASSWORD'), name).toBe(false);
    }
  });

  it('by default: PLAINTEXT, no Kafka volumes, no credential env', async () => {
    const { manifests } = await render();
    for (const { name, pod } of kafkaPods(manifests)) {
      const env = envMap(pod);
      expect(env.get('KAFKA_SECURITY_PROTOCOL')?.value, name).toBe('PLAINTEXT');
      expect([...env.keys()].filter((k) => /^KAFKA_(SASL|TLS)_/.test(k)), name).toEqual([]);
      expect((pod.volumes ?? []).filter((v) => v.name.startsWith('kafka-')), name).toEqual([]);
    }
  });

  it('refuses values that cannot work, saying what to set', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'kafka.securityProtocol=SASL_SSL'], /needs kafka\.sasl\.mechanism/],
      [['--set', 'kafka.sasl.mechanism=PLAIN'], /kafka\.securityProtocol is PLAINTEXT: set kafka\.securityProtocol to SASL_SSL/],
      [['--set', 'kafka.tls.ca.existingSecret=ca'], /kafka\.tls is set but kafka\.securityProtocol is PLAINTEXT/],
      [['--set', 'kafka.securityProtocol=SASL_SSL', '--set', 'kafka.sasl.mechanism=PLAIN'], /needs kafka\.sasl\.existingSecret/],
      [['--set', 'kafka.securityProtocol=SASL_SSL', '--set', 'kafka.sasl.mechanism=PLAIN', '--set', 'kafka.sasl.existingSecret=s'], /needs a user name/],
      [['--set', 'kafka.securityProtocol=SASL_SSL', '--set', 'kafka.sasl.mechanism=OAUTHBEARER'], /OAUTHBEARER needs a token/],
      [['--set', 'kafka.securityProtocol=SSL', '--set', 'keda.enabled=true'], /needs keda\.triggerAuthenticationRef/],
      [['--set', 'kafka.securityProtocol=TLS'], /values don't meet the specifications/],
      [['--set', 'kafka.sasl.mechanism=GSSAPI'], /values don't meet the specifications/],
    ];
    for (const [args, pattern] of cases) await expect(render(...args), args.join(' ')).rejects.toThrow(pattern);
  });

  it('passes helm lint --strict and the Kubernetes JSON schemas (kubernetes-validate, offline)', async () => {
    const all = [...SCRAM_TLS, '--set', 'keda.enabled=true', '--set', 'keda.triggerAuthenticationRef=kafka-auth', '--set', 'serviceMonitor.enabled=true'];
    const lint = await run(helm, ['lint', '--strict', CHART, ...WITH_LLM, ...all]);
    expect(lint.stdout).toMatch(/0 chart\(s\) failed/);
    const validator = execFileSync(join(ROOT, 'scripts/helm-validator.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    for (const [label, args] of [
      ['scram-tls', all],
      ['oauth', ['--set', 'kafka.securityProtocol=SASL_SSL', '--set', 'kafka.sasl.mechanism=OAUTHBEARER', '--set', 'kafka.sasl.oauthbearer.serviceAccountToken.audience=kafka']],
    ] as const) {
      const { text } = await render(...args);
      const file = join(workDir, `${label}.yaml`);
      writeFileSync(file, text);
      const result = await run(validator, ['--strict', '-k', '1.30.0', file]);
      const output = result.stdout + result.stderr;
      for (const kind of ['deployment', 'job']) expect(output, `${label}: ${kind} validated`).toMatch(new RegExp(`passed for resource ${kind}/`));
      expect(output, label).not.toMatch(/ERROR|failed/i);
    }
  });
});
