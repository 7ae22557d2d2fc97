// The Helm chart, rendered by the real helm binary (scripts/ensure-helm.sh builds it once) and
// checked as parsed manifests: a Deployment per stage wired to the worker's CLI and probes,
// config changes rolling the pods, KEDA aimed at the right consumer group and topic, the topics
// hook, schema validation of values, the refusal to render a stage without an LLM, and the core
// kinds against the Kubernetes JSON schemas (kubernetes-validate, offline).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { configSchema } from '../../src/config/schema.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'helm/webscale-rl');
const STAGES = ['dedup', 'filter', 'identify', 'generate', 'check'] as const;
const INPUT_TOPIC: Record<string, string> = {
  dedup: 'docs.raw',
  filter: 'docs.unique',
  identify: 'docs.filtered',
  generate: 'qa.tasks',
  check: 'qa.candidates',
};

// Loose views of the manifests: only the fields the assertions read.
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: { name: string; configMap?: { name: string } }[];
  restartPolicy?: string;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    scaleTargetRef?: { name: string; kind?: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers?: { type: string; metadata: Record<string, string> }[];
    maxUnavailable?: number | string;
    endpoints?: { port: string; path?: string }[];
  };
}

let helm = '';
let workDir = '';
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
  shutdownGrace: number;
  kafka: { topicPrefix: string; brokers: string[] };
  topics: { partitions: Record<string, number> };
  stages: Record<string, { replicas: number; maxReplicas: number; lagThreshold: number }>;
};

/** The chart refuses to render without an LLM; most tests give it this one (later --set wins). */
const WITH_LLM = ['--set', 'llm.url=http://vllm.llm:8000/v1'];

async function template(...args: string[]): Promise<Manifest[]> {
  return bareTemplate(...WITH_LLM, ...args);
}

/** Render with exactly these values on top of values.yaml (no LLM unless given). */
async function bareTemplate(...args: string[]): Promise<Manifest[]> {
  const { stdout } = await run(helm, ['template', 'rel', CHART, '--namespace', 'pipelines', ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseAllDocuments(stdout)
    .map((doc) => {
      if (doc.errors.length > 0) throw doc.errors[0];
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

function ofKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

function deploymentFor(manifests: Manifest[], stage: string): Manifest {
  const found = ofKind(manifests, 'Deployment').filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === stage);
  expect(found, `one Deployment for ${stage}`).toHaveLength(1);
  return found[0] as Manifest;
}

function container(d: Manifest): Container {
  const c = d.spec?.template?.spec.containers[0];
  if (!c) throw new Error(`${d.metadata.name} has no container`);
  return c;
}

function envOf(c: Container): Map<string, string | undefined> {
  return new Map((c.env ?? []).map((e) => [e.name, e.value]));
}

function checksums(manifests: Manifest[]): string[] {
  return ofKind(manifests, 'Deployment').map((d) => d.spec?.template?.metadata?.annotations?.['checksum/config'] ?? '');
}

beforeAll(() => {
  // The first run builds helm from source (minutes on 2 cores); later runs find it cached.
  helm = execFileSync(join(ROOT, 'scripts/ensure-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  expect(existsSync(helm)).toBe(true);
  workDir = mkdtempSync(join(tmpdir(), 'webscale-helm-'));
}, 20 * 60_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('helm chart', () => {
  it('passes helm lint --strict, with an LLM and with every optional feature on', async () => {
    const { stdout } = await run(helm, ['lint', '--strict', CHART, ...WITH_LLM]);
    expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const all = await run(helm, [
      'lint', '--strict', CHART, ...WITH_LLM,
      '--set', 'keda.enabled=true', '--set', 'serviceMonitor.enabled=true', '--set', 'existingSecret=llm-creds',
    ]);
    expect(all.stdout).toMatch(/0 chart\(s\) failed/);
  });

  it('renders one Deployment per stage wired to the stage worker', async () => {
    const manifests = await template();
    expect(ofKind(manifests, 'Deployment')).toHaveLength(STAGES.length);
    const port = 9464;
    for (const stage of STAGES) {
      const d = deploymentFor(manifests, stage);
      const labels = d.metadata.labels ?? {};
      expect(labels['app.kubernetes.io/component']).toBe(stage);
      expect(labels['app.kubernetes.io/name']).toBe('webscale-rl');
      expect(labels['app.kubernetes.io/instance']).toBe('rel');
      expect(labels['app.kubernetes.io/managed-by']).toBe('Helm');
      expect(labels['app.kubernetes.io/version']).toBeTruthy();
      // The selector must single out this stage's pods, and the pods must carry it.
      const selector = d.spec?.selector?.matchLabels ?? {};
      expect(selector['app.kubernetes.io/component']).toBe(stage);
      expect(d.spec?.template?.metadata?.labels).toMatchObject(selector);

      const c = container(d);
      const args = c.args ?? [];
      expect(args.slice(0, 2)).toEqual(['stage', stage]);
      expect(args[args.indexOf('--metrics-port') + 1]).toBe(String(port));
      expect(args).toContain('--concurrency');
      expect(c.ports).toContainEqual({ name: 'metrics', containerPort: port, protocol: 'TCP' });
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(c.resources?.requests?.['cpu']).toBeTruthy();
      expect(c.resources?.limits?.['memory']).toBeTruthy();

      const pod = d.spec?.template?.spec;
      expect(pod?.terminationGracePeriodSeconds).toBeGreaterThan(values.shutdownGrace);
      expect(pod?.securityContext?.runAsNonRoot).toBe(true);
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });

      const env = envOf(c);
      expect(env.get('KAFKA_BROKERS')).toBe(values.kafka.brokers.join(','));
      expect(env.get('WEBSCALE_TOPIC_PREFIX')).toBe(values.kafka.topicPrefix);
      const configPath = env.get('WEBSCALE_CONFIG') ?? '';
      const mount = (c.volumeMounts ?? []).find((m) => configPath.startsWith(`${m.mountPath}/`));
      expect(mount, 'WEBSCALE_CONFIG lies in a mounted volume').toBeDefined();
      const volume = pod?.volumes?.find((v) => v.name === mount?.name);
      expect(volume?.configMap?.name).toBe(ofKind(manifests, 'ConfigMap')[0]?.metadata.name);
      // The pod name is the worker's transactional id, so a restarted container fences its zombie.
      const instance = (c.env ?? []).find((e) => e.name === 'WEBSCALE_INSTANCE_ID') as { valueFrom?: { fieldRef?: { fieldPath?: string } } } | undefined;
      expect(instance?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
      // Without an existing secret, no credential env vars point at a missing Secret.
      expect(env.has('HF_TOKEN')).toBe(false);
      // Scrape annotations are on by default.
      expect(d.spec?.template?.metadata?.annotations?.['prometheus.io/port']).toBe(String(port));
    }
  });

  it('keeps terminationGracePeriodSeconds above the drain grace it writes into the config', async () => {
    const manifests = await template('--set', 'shutdownGrace=120');
    const config = parse(ofKind(manifests, 'ConfigMap')[0]?.data?.['config.yaml'] ?? '') as {
      kafka: { shutdownGrace: string; brokers: string[]; topicPrefix: string };
    };
    expect(config.kafka.shutdownGrace).toBe('120s');
    expect(config.kafka.brokers).toEqual(values.kafka.brokers);
    for (const d of ofKind(manifests, 'Deployment')) {
      expect(d.spec?.template?.spec.terminationGracePeriodSeconds).toBeGreaterThan(120);
    }
  });

  it('renders a config file that the workers\' config schema accepts', async () => {
    const manifests = await template('--set', 'kafka.schemaRegistryUrl=http://registry.kafka:8081', '--set', 'shutdownGrace=45');
    const text = ofKind(manifests, 'ConfigMap')[0]?.data?.['config.yaml'] ?? '';
    const config = configSchema.parse(parse(text));
    expect(config.kafka.shutdownGrace).toBe(45_000);
    expect(config.kafka.schemaRegistryUrl).toBe('http://registry.kafka:8081');
    expect(config.kafka.topicPrefix).toBe(values.kafka.topicPrefix);
    expect(config.kafka.brokers).toEqual(values.kafka.brokers);
    // The user's own settings survive next to the chart's Kafka block.
    expect(config.pipeline.minTokens).toBe(50);
  });

  it('passes per-stage LLM settings, concurrency, image overrides and optional secret refs', async () => {
    const manifests = await template(
      '--set', 'llm.url=http://vllm.llm:8000/v1',
      '--set', 'llm.model=big-model',
      '--set', 'stages.check.llm.model=small-model',
      '--set', 'stages.identify.llm.url=http://small.llm:8000/v1',
      '--set', 'stages.generate.concurrency=300',
      '--set', 'stages.generate.image.repository=registry.example/webscale-rl-gpu',
      '--set', 'stages.generate.image.tag=9.9.9',
      '--set', 'stages.filter.enabled=false',
      '--set', 'existingSecret=llm-creds',
    );
    expect(ofKind(manifests, 'Deployment').map((d) => d.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual(
      ['check', 'dedup', 'generate', 'identify'],
    );
    const check = container(deploymentFor(manifests, 'check'));
    expect(envOf(check).get('WEBSCALE_LLM_MODEL')).toBe('small-model');
    expect(envOf(check).get('WEBSCALE_LLM_URL')).toBe('http://vllm.llm:8000/v1');
    const identify = container(deploymentFor(manifests, 'identify'));
    expect(envOf(identify).get('WEBSCALE_LLM_URL')).toBe('http://small.llm:8000/v1');
    expect(envOf(identify).get('WEBSCALE_LLM_MODEL')).toBe('big-model');
    const generate = container(deploymentFor(manifests, 'generate'));
    expect(generate.args?.[(generate.args?.indexOf('--concurrency') ?? 0) + 1]).toBe('300');
    expect(generate.image).toBe('registry.example/webscale-rl-gpu:9.9.9');
    expect(identify.image).toMatch(/^webscale-rl:/);
    for (const name of ['HF_TOKEN', 'OPENAI_API_KEY']) {
      const ref = check.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
      expect(ref).toEqual({ name: 'llm-creds', key: name, optional: true });
    }
  });

  it('takes Schema Registry credentials from a Secret and mounts its CA from another', async () => {
    const manifests = await template(
      '--set', 'kafka.schemaRegistryUrl=https://sr.example:8081',
      '--set', 'schemaRegistry.existingSecret=sr-creds',
      '--set', 'schemaRegistry.caSecret=sr-ca',
    );
    for (const stage of STAGES) {
      const d = deploymentFor(manifests, stage);
      const c = container(d);
      for (const [name, key] of [
        ['WEBSCALE_SCHEMA_REGISTRY_USERNAME', 'SCHEMA_REGISTRY_USERNAME'],
        ['WEBSCALE_SCHEMA_REGISTRY_PASSWORD', 'SCHEMA_REGISTRY_PASSWORD'],
        ['WEBSCALE_SCHEMA_REGISTRY_TOKEN', 'SCHEMA_REGISTRY_TOKEN'],
      ]) {
        expect(c.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef).toEqual({ name: 'sr-creds', key, optional: true });
      }
      const caPath = envOf(c).get('WEBSCALE_SCHEMA_REGISTRY_CA') ?? '';
      expect(caPath).toBe('/etc/webscale-rl-registry/ca.crt');
      const mount = (c.volumeMounts ?? []).find((m) => caPath.startsWith(`${m.mountPath}/`));
      const volume = d.spec?.template?.spec.volumes?.find((v) => v.name === mount?.name) as { secret?: { secretName?: string } } | undefined;
      expect(volume?.secret?.secretName).toBe('sr-ca');
    }
    // Without them, nothing points at a Secret that may not exist.
    const plain = container(deploymentFor(await template(), 'filter'));
    expect((plain.env ?? []).some((e) => e.name.startsWith('WEBSCALE_SCHEMA_REGISTRY'))).toBe(false);
  });

  it('changes the checksum/config annotation when, and only when, the config changes', async () => {
    const base = checksums(await template());
    expect(base).toHaveLength(STAGES.length);
    expect(new Set(base).size).toBe(1);
    expect(base[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(checksums(await template())).toEqual(base);
    const changed = checksums(await template('--set', 'config.pipeline.minTokens=80'));
    expect(changed[0]).not.toBe(base[0]);
    const grace = checksums(await template('--set', 'shutdownGrace=60'));
    expect(grace[0]).not.toBe(base[0]);
    // A value that does not reach the config (replica count) leaves the pods alone.
    expect(checksums(await template('--set', 'stages.filter.replicas=3'))).toEqual(base);
  });

  it('without KEDA: fixed replicas, no ScaledObjects', async () => {
    const manifests = await template();
    expect(ofKind(manifests, 'ScaledObject')).toHaveLength(0);
    for (const stage of STAGES) {
      expect(deploymentFor(manifests, stage).spec?.replicas).toBe(values.stages[stage]?.replicas);
    }
  });

  it('with KEDA: a ScaledObject per stage on its consumer group and input topic, bounded by partitions', async () => {
    const manifests = await template('--set', 'keda.enabled=true', '--set', 'stages.generate.maxReplicas=1000');
    const scaled = ofKind(manifests, 'ScaledObject');
    expect(scaled).toHaveLength(STAGES.length);
    const prefix = values.kafka.topicPrefix;
    for (const stage of STAGES) {
      const d = deploymentFor(manifests, stage);
      expect(d.spec).not.toHaveProperty('replicas');
      const so = scaled.find((s) => s.metadata.labels?.['app.kubernetes.io/component'] === stage);
      expect(so?.apiVersion).toBe('keda.sh/v1alpha1');
      expect(so?.spec?.scaleTargetRef?.name).toBe(d.metadata.name);
      const trigger = so?.spec?.triggers?.[0];
      expect(trigger?.type).toBe('kafka');
      const inputTopic = INPUT_TOPIC[stage] ?? '';
      expect(trigger?.metadata).toMatchObject({
        bootstrapServers: values.kafka.brokers.join(','),
        consumerGroup: `${prefix}${stage}`,
        topic: `${prefix}${inputTopic}`,
        lagThreshold: String(values.stages[stage]?.lagThreshold),
      });
      const partitions = values.topics.partitions[inputTopic] ?? 0;
      expect(partitions).toBeGreaterThan(0);
      const max = so?.spec?.maxReplicaCount ?? Infinity;
      expect(max).toBeLessThanOrEqual(partitions);
      expect(max).toBe(Math.min(stage === 'generate' ? 1000 : (values.stages[stage]?.maxReplicas ?? 0), partitions));
      expect(so?.spec?.minReplicaCount).toBeLessThanOrEqual(max);
    }
    // A different prefix moves groups and topics together.
    const other = await template('--set', 'keda.enabled=true', '--set', 'kafka.topicPrefix=team-a.');
    const filter = ofKind(other, 'ScaledObject').find((s) => s.metadata.labels?.['app.kubernetes.io/component'] === 'filter');
    expect(filter?.spec?.triggers?.[0]?.metadata).toMatchObject({ consumerGroup: 'team-a.filter', topic: 'team-a.docs.unique' });
  });

  it('runs the dedup stage; without it the filter reads docs.raw and the config says dedup is off', async () => {
    const dedupOf = (manifests: Manifest[]): unknown => {
      const config = parse(ofKind(manifests, 'ConfigMap')[0]?.data?.['config.yaml'] ?? '') as { pipeline?: { dedup?: unknown } };
      return config.pipeline?.dedup;
    };
    const manifests = await template('--set', 'keda.enabled=true');
    expect(deploymentFor(manifests, 'dedup').spec?.template?.spec?.containers?.[0]?.args?.slice(0, 2)).toEqual(['stage', 'dedup']);
    expect(dedupOf(manifests)).toEqual({ enabled: true });
    // The dedup stage needs no LLM: with none anywhere, only the LLM stages are refused.
    const onlyDedup = await bareTemplate('--set', 'stages.filter.enabled=false', '--set', 'stages.identify.enabled=false', '--set', 'stages.generate.enabled=false', '--set', 'stages.check.enabled=false');
    expect(ofKind(onlyDedup, 'Deployment').map((d) => d.metadata.labels?.['app.kubernetes.io/component'])).toEqual(['dedup']);
    const off = await template('--set', 'keda.enabled=true', '--set', 'stages.dedup.enabled=false');
    expect(ofKind(off, 'Deployment').some((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'dedup')).toBe(false);
    const filter = ofKind(off, 'ScaledObject').find((s) => s.metadata.labels?.['app.kubernetes.io/component'] === 'filter');
    expect(filter?.spec?.triggers?.[0]?.metadata).toMatchObject({ topic: `${values.kafka.topicPrefix}docs.raw` });
    expect(dedupOf(off)).toEqual({ enabled: false });
  });

  it('agrees with the partition counts of the topic specs in topics/, when they are there', async () => {
    const dir = join(ROOT, 'topics');
    const specs = existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : [];
    // Collect every {name, partitions} pair the spec files declare, whatever their nesting.
    const declared = new Map<string, number>();
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node !== null && typeof node === 'object') {
        const o = node as Record<string, unknown>;
        const name = o['suffix'] ?? o['name'];
        if (typeof name === 'string' && typeof o['partitions'] === 'number') declared.set(name, o['partitions']);
        Object.values(o).forEach(visit);
      }
    };
    for (const f of specs) for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) visit(doc.toJS());
    for (const [topic, partitions] of Object.entries(values.topics.partitions)) {
      const spec = declared.get(topic) ?? declared.get(`${values.kafka.topicPrefix}${topic}`);
      if (spec !== undefined) expect(partitions, `partitions of ${topic} match topics/`).toBe(spec);
    }
    // Once the specs exist, every stage input topic must be among them.
    if (specs.length > 0) {
      for (const topic of Object.values(INPUT_TOPIC)) expect(declared.has(topic), `topics/ declares ${topic}`).toBe(true);
    }
    // The chart must know the partitions of every stage input topic either way.
    for (const topic of Object.values(INPUT_TOPIC)) expect(values.topics.partitions[topic]).toBeGreaterThan(0);
  });

  it('adds PodDisruptionBudgets per stage, and metrics Services plus a ServiceMonitor on request', async () => {
    const plain = await template();
    expect(ofKind(plain, 'PodDisruptionBudget')).toHaveLength(STAGES.length);
    expect(ofKind(plain, 'ServiceMonitor')).toHaveLength(0);
    expect(ofKind(plain, 'Service')).toHaveLength(0);
    for (const pdb of ofKind(plain, 'PodDisruptionBudget')) {
      const stage = pdb.metadata.labels?.['app.kubernetes.io/component'] ?? '';
      expect(pdb.spec?.selector?.matchLabels).toEqual(deploymentFor(plain, stage).spec?.selector?.matchLabels);
    }
    const monitored = await template('--set', 'serviceMonitor.enabled=true');
    const services = ofKind(monitored, 'Service');
    expect(services).toHaveLength(STAGES.length);
    const monitors = ofKind(monitored, 'ServiceMonitor');
    expect(monitors).toHaveLength(1);
    expect(monitors[0]?.spec?.endpoints?.[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
    const monitorSelector = monitors[0]?.spec?.selector?.matchLabels ?? {};
    for (const svc of services) expect(svc.metadata.labels).toMatchObject(monitorSelector);
  });

  it('runs `topics apply` as a pre-install/pre-upgrade hook Job that needs no chart resource', async () => {
    const manifests = await template();
    const jobs = ofKind(manifests, 'Job');
    expect(jobs).toHaveLength(1);
    const job = jobs[0] as Manifest;
    const annotations = job.metadata.annotations ?? {};
    expect(annotations['helm.sh/hook']?.split(',').sort()).toEqual(['pre-install', 'pre-upgrade']);
    expect(annotations['helm.sh/hook-delete-policy']).toMatch(/before-hook-creation/);
    expect(Number(annotations['helm.sh/hook-weight'])).toBeLessThan(0);
    const pod = job.spec?.template?.spec;
    expect(pod?.restartPolicy).toBe('Never');
    const c = pod?.containers[0] as Container;
    expect(c.args).toEqual(['topics', 'apply']);
    const growing = ofKind(await template('--set', 'topics.init.allowPartitionIncrease=true'), 'Job')[0];
    expect(growing?.spec?.template?.spec.containers[0]?.args).toEqual(['topics', 'apply', '--allow-partition-increase']);
    const env = envOf(c);
    expect(env.get('KAFKA_BROKERS')).toBe(values.kafka.brokers.join(','));
    expect(env.get('WEBSCALE_TOPIC_PREFIX')).toBe(values.kafka.topicPrefix);
    // A pre-install hook runs before the release's ConfigMap exists: it must not mount it.
    expect(pod?.volumes?.some((v) => v.configMap !== undefined) ?? false).toBe(false);
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(ofKind(await template('--set', 'topics.init.enabled=false'), 'Job')).toHaveLength(0);
  });

  it('refuses to render, with a clear message, a stage that has no LLM', async () => {
    const noLlm = /stage (check|filter|generate|identify) has no LLM: set llm\.url .*llm\.modelPath .*existingSecret holding HF_TOKEN/;
    // The defaults name no LLM and the image ships no model.
    await expect(bareTemplate()).rejects.toThrow(noLlm);
    // helm lint runs templates in lint mode, where `fail` is reported but not fatal (so charts with
    // required values can be linted); it still shows the message.
    const lint = await run(helm, ['lint', '--strict', CHART]);
    expect(lint.stdout + lint.stderr).toMatch(noLlm);
    // One stage with an endpoint is not enough: the message names a stage that has none.
    await expect(bareTemplate('--set', 'stages.generate.llm.url=http://big:8000/v1')).rejects.toThrow(/stage check has no LLM.*stages\.check\.llm/);
    // A model id alone is not an LLM: without a Secret there is no HF_TOKEN to reach Hugging Face with.
    await expect(bareTemplate('--set', 'llm.model=Qwen/Qwen2.5-7B-Instruct')).rejects.toThrow(noLlm);

    // Each stage its own endpoint, or disabled: renders.
    const perStage = await bareTemplate(
      '--set', 'stages.filter.enabled=false',
      '--set', 'stages.identify.llm.url=http://small:8000/v1',
      '--set', 'stages.generate.llm.url=http://big:8000/v1',
      '--set', 'stages.check.llm.url=http://small:8000/v1',
    );
    // Three LLM stages, and dedup (no LLM).
    expect(ofKind(perStage, 'Deployment')).toHaveLength(4);
    // The pipeline config may name the endpoint instead of the chart's llm values.
    const viaConfig = await bareTemplate('--set', 'config.llm.url=http://vllm:8000/v1');
    expect(ofKind(viaConfig, 'Deployment')).toHaveLength(STAGES.length);
    // Hugging Face: a model id with the token's Secret.
    const hf = await bareTemplate('--set', 'llm.model=Qwen/Qwen2.5-7B-Instruct', '--set', 'existingSecret=llm-creds');
    expect(envOf(container(deploymentFor(hf, 'generate'))).get('WEBSCALE_LLM_MODEL')).toBe('Qwen/Qwen2.5-7B-Instruct');
  });

  it('runs a model baked into the image with llm.modelPath (WEBSCALE_MODEL_PATH)', async () => {
    const manifests = await bareTemplate('--set', 'llm.modelPath=/models/qwen2.5-0.5b.gguf', '--set', 'stages.check.llm.modelPath=/models/checker.gguf');
    const generate = envOf(container(deploymentFor(manifests, 'generate')));
    expect(generate.get('WEBSCALE_MODEL_PATH')).toBe('/models/qwen2.5-0.5b.gguf');
    expect(generate.has('WEBSCALE_LLM_URL')).toBe(false);
    expect(envOf(container(deploymentFor(manifests, 'check'))).get('WEBSCALE_MODEL_PATH')).toBe('/models/checker.gguf');
    // A relative path would depend on the image's working directory: the schema refuses it.
    await expect(bareTemplate('--set', 'llm.modelPath=models/x.gguf')).rejects.toThrow(/values don't meet the specifications|schema/);
  });

  it('rejects bad values through values.schema.json', async () => {
    const bad: string[][] = [
      ['--set', 'stages.filter.replicas=-1'],
      ['--set', 'shutdownGrace=30s'],
      ['--set', 'stages.summarise.enabled=true'],
      ['--set', 'metrics.port=70000'],
      ['--set', 'kafka.brokers={}'],
      ['--set', 'stages.generate.llm.url=not-a-url'],
    ];
    for (const args of bad) {
      await expect(template(...args), args.join(' ')).rejects.toThrow(/values don't meet the specifications|schema/);
    }
  });

  it('renders manifests that validate against the Kubernetes JSON schemas (kubernetes-validate, offline)', async () => {
    const validator = execFileSync(join(ROOT, 'scripts/helm-validator.sh'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    const { stdout } = await run(helm, [
      'template', 'rel', CHART, ...WITH_LLM,
      '--set', 'keda.enabled=true', '--set', 'serviceMonitor.enabled=true', '--set', 'existingSecret=llm-creds',
      '--set', 'kafka.schemaRegistryUrl=https://sr.example:8081', '--set', 'schemaRegistry.existingSecret=sr-creds', '--set', 'schemaRegistry.caSecret=sr-ca',
    ]);
    const rendered = join(workDir, 'rendered.yaml');
    writeFileSync(rendered, stdout);
    const result = await run(validator, ['--strict', '-k', '1.30.0', rendered]);
    const output = result.stdout + result.stderr;
    for (const kind of ['deployment', 'configmap', 'job', 'poddisruptionbudget', 'service']) {
      expect(output, `${kind} validated`).toMatch(new RegExp(`passed for resource ${kind}/`));
    }
    expect(output).not.toMatch(/ERROR|failed/i);

    // The validator does catch a broken manifest (so the pass above means something).
    const broken = stdout.replace(/terminationGracePeriodSeconds: \d+/, 'terminationGracePeriodSeconds: soon');
    const brokenFile = join(workDir, 'broken.yaml');
    writeFileSync(brokenFile, broken);
    await expect(run(validator, ['--strict', '-k', '1.30.0', brokenFile])).rejects.toMatchObject({ code: 1 });
  });
});
