// The chart's model-fetch init container (modelFetch.*), rendered by the real helm: LLM stages with
// no LLM of their own get an init container that runs scripts/model-fetch.mjs into a shared
// volume, and WEBSCALE_MODEL_PATH pointing at the file it writes; stages with a URL and dedup do
// not. The manifests pass helm lint --strict and kubernetes-validate (offline), the chart's model
// table matches the script's, and the Dockerfile builds the init container's image.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'helm/webscale-rl');

interface EnvVar {
  name: string;
  value?: string;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean };
}
interface Volume {
  name: string;
  emptyDir?: { sizeLimit?: string };
  persistentVolumeClaim?: { claimName: string };
}
interface Deployment {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: { template: { spec: { initContainers?: Container[]; containers: Container[]; volumes?: Volume[] } } };
}

let helm = '';
let workDir = '';

async function render(...args: string[]): Promise<{ text: string; deployments: Map<string, Deployment> }> {
  const { stdout } = await run(helm, ['template', 'rel', CHART, '--namespace', 'pipelines', ...args], { maxBuffer: 16 * 1024 * 1024 });
  const deployments = new Map<string, Deployment>();
  for (const doc of parseAllDocuments(stdout)) {
    const m = doc.toJS() as Deployment | null;
    if (m?.kind === 'Deployment') deployments.set(m.metadata.labels?.['app.kubernetes.io/component'] ?? '', m);
  }
  return { text: stdout, deployments };
}

function env(c: Container | undefined): Map<string, string | undefined> {
  return new Map((c?.env ?? []).map((e) => [e.name, e.value]));
}

function podOf(deployments: Map<string, Deployment>, stage: string): Deployment['spec']['template']['spec'] {
  const d = deployments.get(stage);
  if (!d) throw new Error(`no Deployment for ${stage}`);
  return d.spec.template.spec;
}

beforeAll(() => {
  helm = execFileSync(join(ROOT, 'scripts/ensure-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  expect(existsSync(helm)).toBe(true);
  workDir = mkdtempSync(join(tmpdir(), 'webscale-helm-fetch-'));
}, 20 * 60_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('helm chart: modelFetch', () => {
  it('is an LLM: with no URL anywhere, modelFetch.enabled renders every stage; without it the chart refuses', async () => {
    await expect(render()).rejects.toThrow(/stage \w+ has no LLM: .*modelFetch\.enabled=true/);
    const { deployments } = await render('--set', 'modelFetch.enabled=true');
    expect([...deployments.keys()].sort()).toEqual(['check', 'dedup', 'filter', 'generate', 'identify']);
  });

  it('gives each LLM stage without an LLM of its own an init container fetching into a shared volume', async () => {
    const { deployments } = await render('--set', 'modelFetch.enabled=true', '--set', 'stages.generate.llm.url=http://big:8000/v1');
    const path = '/models/webscale-rl/models/SmolLM2-135M-Instruct.Q4_1.gguf';
    for (const stage of ['filter', 'identify', 'check']) {
      const pod = podOf(deployments, stage);
      const init = pod.initContainers ?? [];
      expect(init.map((c) => c.name), stage).toEqual(['model-fetch']);
      const fetch = init[0];
      expect(fetch?.image).toBe('webscale-rl:0.1.0-model-fetch');
      expect(fetch?.args).toEqual(['--model', 'smollm2-135m']);
      const fetchEnv = env(fetch);
      // model-fetch writes to $XDG_CACHE_HOME/webscale-rl/models; home and temp files on the volume too.
      for (const name of ['XDG_CACHE_HOME', 'HOME', 'TMPDIR']) expect(fetchEnv.get(name), name).toBe('/models');
      expect(fetch?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
      expect(fetch?.volumeMounts).toEqual([{ name: 'models', mountPath: '/models' }]);
      const worker = pod.containers[0];
      expect(env(worker).get('WEBSCALE_MODEL_PATH'), stage).toBe(path);
      expect(env(worker).has('WEBSCALE_LLM_URL')).toBe(false);
      expect(worker?.volumeMounts).toContainEqual({ name: 'models', mountPath: '/models', readOnly: true });
      expect(pod.volumes).toContainEqual({ name: 'models', emptyDir: { sizeLimit: '1Gi' } });
    }
    // A stage with its own endpoint uses it: no fetch, no model path. Dedup calls no LLM.
    for (const stage of ['generate', 'dedup']) {
      const pod = podOf(deployments, stage);
      expect(pod.initContainers, stage).toBeUndefined();
      expect(env(pod.containers[0]).has('WEBSCALE_MODEL_PATH'), stage).toBe(false);
      expect((pod.volumes ?? []).map((v) => v.name), stage).not.toContain('models');
    }
    expect(env(podOf(deployments, 'generate').containers[0]).get('WEBSCALE_LLM_URL')).toBe('http://big:8000/v1');
  });

  it('takes another model, image, mount path and a PersistentVolumeClaim', async () => {
    const { deployments } = await render(
      '--set', 'modelFetch.enabled=true',
      '--set', 'modelFetch.model=gemma3-270m',
      '--set', 'modelFetch.image.repository=registry.example.com/fetch',
      '--set', 'modelFetch.image.tag=7',
      '--set', 'modelFetch.mountPath=/var/models/',
      '--set', 'modelFetch.volume.existingClaim=gguf-cache',
      '--set', 'modelFetch.extraEnv[0].name=PIP_INDEX_URL',
      '--set', 'modelFetch.extraEnv[0].value=https://mirror.example.com/simple',
    );
    const pod = podOf(deployments, 'check');
    const fetch = pod.initContainers?.[0];
    expect(fetch?.image).toBe('registry.example.com/fetch:7');
    expect(fetch?.args).toEqual(['--model', 'gemma3-270m']);
    expect(env(fetch).get('PIP_INDEX_URL')).toBe('https://mirror.example.com/simple');
    expect(env(pod.containers[0]).get('WEBSCALE_MODEL_PATH')).toBe('/var/models/webscale-rl/models/gemma-3-270m-q4_k_m.gguf');
    expect(pod.volumes).toContainEqual({ name: 'models', persistentVolumeClaim: { claimName: 'gguf-cache' } });
    // Without an image of its own, the main image's repository and tag with -model-fetch.
    const own = await render('--set', 'modelFetch.enabled=true', '--set', 'image.repository=registry.example.com/webscale-rl', '--set', 'image.tag=1.2.3');
    expect(podOf(own.deployments, 'filter').initContainers?.[0]?.image).toBe('registry.example.com/webscale-rl:1.2.3-model-fetch');
  });

  it('rejects a model model-fetch does not know, and a relative mount path (values.schema.json)', async () => {
    await expect(render('--set', 'modelFetch.enabled=true', '--set', 'modelFetch.model=llama-70b')).rejects.toThrow(/values don't meet the specifications|schema/);
    await expect(render('--set', 'modelFetch.enabled=true', '--set', 'modelFetch.mountPath=models')).rejects.toThrow(/values don't meet the specifications|schema/);
  });

  it('knows the same model files as scripts/model-fetch.mjs', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'scripts/model-fetch.mjs'), '--list']);
    const listed = stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(listed.length).toBeGreaterThanOrEqual(2);
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as { properties: { modelFetch: { properties: { model: { enum: string[] } } } } };
    expect([...schema.properties.modelFetch.properties.model.enum].sort()).toEqual(listed.map(([id]) => id).sort());
    for (const [id, file] of listed) {
      const { deployments } = await render('--set', 'modelFetch.enabled=true', '--set', `modelFetch.model=${id}`);
      expect(env(podOf(deployments, 'identify').containers[0]).get('WEBSCALE_MODEL_PATH')).toBe(`/models/webscale-rl/models/${file}`);
    }
  });

  it('passes helm lint --strict and kubernetes-validate (offline)', async () => {
    const lint = await run(helm, ['lint', '--strict', CHART, '--set', 'modelFetch.enabled=true', '--set', 'modelFetch.volume.existingClaim=gguf-cache']);
    expect(lint.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const validator = execFileSync(join(ROOT, 'scripts/helm-validator.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    for (const [label, args] of [
      ['emptyDir', ['--set', 'modelFetch.enabled=true']],
      ['pvc', ['--set', 'modelFetch.enabled=true', '--set', 'modelFetch.volume.existingClaim=gguf-cache', '--set', 'keda.enabled=true']],
    ] as const) {
      const { text } = await render(...args);
      const file = join(workDir, `${label}.yaml`);
      writeFileSync(file, text);
      const result = await run(validator, ['--strict', '-k', '1.30.0', file]);
      const output = result.stdout + result.stderr;
      expect(output, label).toMatch(/passed for resource deployment\//);
      expect(output, label).not.toMatch(/ERROR|failed/i);
    }
  });

  it('the Dockerfile has a model-fetch target: python3 and pip, the script, non-root', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const stage = /^FROM node:20-slim AS model-fetch\n([\s\S]*?)(?=^FROM )/m.exec(dockerfile)?.[1] ?? '';
    expect(stage).toMatch(/apt-get install .*python3 .*python3-pip/);
    expect(stage).toMatch(/^COPY .*scripts\/model-fetch\.mjs/m);
    expect(stage).toMatch(/^USER 1000:1000$/m);
    expect(stage).toMatch(/^ENTRYPOINT \["node", "scripts\/model-fetch\.mjs"\]$/m);
  });
});
