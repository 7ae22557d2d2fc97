/**
 * The few-shot demonstration library: one JSON-lines file per domain, each line
 * `{"original_material", "question", "answer", "domain", "persona"}` (the reference
 * implementation's format, so a user's folder in that layout drops in).
 *
 * Files: any `*.jsonl` in the folder. A line's `domain` field decides its domain; when a line has
 * none, the file name does (our slugs: `math.jsonl`, `technology_engineering.jsonl`, ...; the
 * spelled-out domain name works too). Example ids are `<domain-slug>/<n>`, n counting the
 * domain's examples in file-name then line order, so they are stable for a given folder and end
 * up in each QA record's provenance.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DOMAINS, type Domain } from '../core/records.js';
import { WebscaleError } from '../core/errors.js';
import type { Rng } from './common.js';
import { domainFromFileStem, domainSlug, normaliseDomain } from './domains.js';
import { defaultFewshotDir } from './paths.js';

export interface FewshotExample {
  id: string;
  original_material: string;
  question: string;
  answer: string;
  domain: Domain;
  persona: string;
}

export type FewshotExampleInput = Omit<FewshotExample, 'id'>;

export class FewshotLibrary {
  private readonly byDomain = new Map<Domain, FewshotExample[]>();

  /** Ids are assigned here, in the order given. */
  constructor(examples: readonly FewshotExampleInput[]) {
    for (const ex of examples) {
      const list = this.byDomain.get(ex.domain) ?? [];
      list.push({ id: `${domainSlug(ex.domain)}/${list.length}`, ...ex });
      this.byDomain.set(ex.domain, list);
    }
  }

  static empty(): FewshotLibrary {
    return new FewshotLibrary([]);
  }

  get size(): number {
    let n = 0;
    for (const list of this.byDomain.values()) n += list.length;
    return n;
  }

  forDomain(domain: Domain): readonly FewshotExample[] {
    return this.byDomain.get(domain) ?? [];
  }

  counts(): Record<Domain, number> {
    return Object.fromEntries(DOMAINS.map((d) => [d, this.forDomain(d).length])) as Record<Domain, number>;
  }

  /**
   * Up to `k` distinct examples, drawn with `rng`: from the domain first; when it has fewer than
   * `k`, topped up from `Other`, then from all remaining domains. Same rng state -> same draw.
   */
  sample(domain: Domain, k: number, rng: Rng): FewshotExample[] {
    const picked: FewshotExample[] = [];
    const tiers: FewshotExample[][] = [[...this.forDomain(domain)]];
    if (domain !== 'Other') tiers.push([...this.forDomain('Other')]);
    tiers.push(DOMAINS.filter((d) => d !== domain && d !== 'Other').flatMap((d) => this.forDomain(d)));
    for (const pool of tiers) {
      while (picked.length < k && pool.length > 0) {
        const i = Math.floor(rng() * pool.length);
        const [ex] = pool.splice(i, 1);
        if (ex) picked.push(ex);
      }
      if (picked.length >= k) break;
    }
    return picked;
  }
}

function invalid(file: string, line: number, message: string): WebscaleError {
  return new WebscaleError('CONFIG_INVALID', `few-shot file ${file}, line ${line}: ${message}`, {
    context: { file, line },
  });
}

function parseLine(file: string, lineNo: number, raw: string, fileDomain: Domain | null): FewshotExampleInput {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw invalid(file, lineNo, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(file, lineNo, 'expected a JSON object');
  }
  const obj = value as Record<string, unknown>;
  const fields: Record<string, string> = {};
  for (const field of ['original_material', 'question', 'answer', 'persona'] as const) {
    const v = obj[field];
    if (typeof v !== 'string' || v.trim() === '') {
      throw invalid(file, lineNo, `field "${field}" must be a non-empty string`);
    }
    fields[field] = v.trim();
  }
  let domain: Domain | null;
  if (obj.domain === undefined) {
    domain = fileDomain;
    if (domain === null) {
      throw invalid(file, lineNo, 'no "domain" field, and the file name does not name a domain');
    }
  } else {
    if (typeof obj.domain !== 'string') throw invalid(file, lineNo, 'field "domain" must be a string');
    domain = normaliseDomain(obj.domain);
    if (domain === null) {
      throw invalid(file, lineNo, `unknown domain ${JSON.stringify(obj.domain)} (expected one of ${DOMAINS.join(', ')})`);
    }
  }
  return {
    original_material: fields.original_material ?? '',
    question: fields.question ?? '',
    answer: fields.answer ?? '',
    persona: fields.persona ?? '',
    domain,
  };
}

/** Load every `*.jsonl` in `dir` (default: the bundled `data/fewshot`). */
export async function loadFewshotLibrary(dir?: string): Promise<FewshotLibrary> {
  const folder = dir ?? defaultFewshotDir();
  let names: string[];
  try {
    names = (await readdir(folder)).filter((n) => n.endsWith('.jsonl')).sort();
  } catch (err) {
    throw new WebscaleError('CONFIG_INVALID', `cannot read the few-shot folder ${folder}: ${(err as Error).message}`, {
      cause: err,
      context: { dir: folder },
    });
  }
  if (names.length === 0) {
    throw new WebscaleError('CONFIG_INVALID', `the few-shot folder ${folder} holds no *.jsonl files`, {
      context: { dir: folder },
    });
  }
  const examples: FewshotExampleInput[] = [];
  for (const name of names) {
    const file = join(folder, name);
    const fileDomain = domainFromFileStem(basename(name, '.jsonl'));
    const content = await readFile(file, 'utf8');
    content.split(/\r?\n/).forEach((raw, i) => {
      if (raw.trim() === '') return;
      examples.push(parseLine(file, i + 1, raw, fileDomain));
    });
  }
  return new FewshotLibrary(examples);
}
