/**
 * Which credential may go to which host. A credential is sent only where it belongs:
 *
 * - the Hugging Face token (`llm.token`, HF_TOKEN) only to Hugging Face hosts over https:
 *   `huggingface.co` and its subdomains (`router.huggingface.co`, `api-inference.huggingface.co`),
 *   Inference Endpoints (`*.endpoints.huggingface.cloud`) and Spaces (`*.hf.space`). A self-hosted
 *   TGI, vLLM or Ollama (`--llm-url http://gpu-box:8080`) never sees it, whichever backend talks
 *   to it;
 * - an API key only to the origin (scheme, host, port) of the URL it was configured with:
 *   `llm.apiKey` (OPENAI_API_KEY) to `llm.url`, `llm.stages.<stage>.apiKey` to that stage's URL.
 *   A stage that overrides `url` with another origin does not get `llm.apiKey`: it may be a
 *   different company's server. Give it its own `llm.stages.<stage>.apiKey`.
 *
 * When both could go to one URL, the key configured for that URL wins over the HF token (an
 * OpenAI-compatible URL on huggingface.co with an explicit key).
 */

/** Host names (exact) that receive the HF token. */
export const HF_HOSTS: readonly string[] = ['huggingface.co'];
/** Host name suffixes (a subdomain of these) that receive the HF token. */
export const HF_HOST_SUFFIXES: readonly string[] = ['.huggingface.co', '.endpoints.huggingface.cloud', '.hf.space'];

/** The Inference Providers router the hf backend calls when no endpoint URL is set. */
export const HF_ROUTER_URL = 'https://router.huggingface.co/v1';

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Whether `url` is https on a Hugging Face host (see the list above). */
export function isHuggingFaceUrl(url: string): boolean {
  const u = parse(url);
  if (u === undefined || u.protocol !== 'https:') return false;
  // URL lower-cases the host and drops a trailing dot only sometimes; normalise both.
  const host = u.hostname.toLowerCase().replace(/\.$/, '');
  return HF_HOSTS.includes(host) || HF_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

/** Same scheme, host and port (the browser's origin rule; user-info and path do not count). */
export function sameOrigin(a: string, b: string): boolean {
  const ua = parse(a);
  const ub = parse(b);
  return ua !== undefined && ub !== undefined && ua.origin !== 'null' && ua.origin === ub.origin;
}

export interface Credentials {
  /** The Hugging Face token. */
  hfToken?: string | undefined;
  /** An API key, and the URL it was configured for (it goes to that URL's origin only). */
  apiKey?: string | undefined;
  apiKeyUrl?: string | undefined;
}

export type CredentialKind = 'apiKey' | 'hfToken';

/** The bearer credential that may be sent to `url`, or undefined when none may. */
export function credentialFor(url: string, creds: Credentials): { value: string; kind: CredentialKind } | undefined {
  if (creds.apiKey !== undefined && creds.apiKeyUrl !== undefined && sameOrigin(url, creds.apiKeyUrl)) {
    return { value: creds.apiKey, kind: 'apiKey' };
  }
  if (creds.hfToken !== undefined && isHuggingFaceUrl(url)) return { value: creds.hfToken, kind: 'hfToken' };
  return undefined;
}

/** `{ authorization: 'Bearer ...' }` when a credential may go to `url`, else `{}`. */
export function authHeadersFor(url: string, creds: Credentials): Record<string, string> {
  const credential = credentialFor(url, creds);
  return credential === undefined ? {} : { authorization: `Bearer ${credential.value}` };
}
