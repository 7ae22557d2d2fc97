/**
 * A deterministic benchmark corpus: encyclopaedia-like prose of 150-400 words on varied subjects,
 * plus the kinds of pages a crawl also brings in and the pre-filter must turn away (stubs,
 * number tables, navigation boilerplate, binary junk) and a few the LLM filter turns down.
 * The same (count, seed) always gives byte-identical files, so runs can be compared.
 *
 * The stand-in LLM reads markers from the text: `[[domain:X]]` makes identify answer that domain
 * (so generate prompts draw that domain's few-shot examples, as with a real model), and
 * `[[unqualified]]` makes the filter say no. Without markers every document would be "Other".
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** What a generated document is expected to become; used to check the run's counts. */
export const DOC_KINDS = ['pass', 'too_short', 'low_alpha', 'repetitive', 'binary', 'unqualified'] as const;
export type DocKind = (typeof DOC_KINDS)[number];

/**
 * Mix of kinds, in per-mille. Most documents go all the way through; roughly one in ten is
 * junk for the pre-filter and a few are spam for the LLM filter.
 */
const MIX: readonly (readonly [DocKind, number])[] = [
  ['pass', 860],
  ['too_short', 35],
  ['low_alpha', 25],
  ['repetitive', 25],
  ['binary', 15],
  ['unqualified', 40],
];

/** mulberry32: a tiny seeded PRNG; Math.random cannot be seeded and the corpus must be stable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const between = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

interface Topic {
  domain: string;
  subjects: readonly string[];
  things: readonly string[];
  people: readonly string[];
  places: readonly string[];
  verbs: readonly string[];
}

// Vocabulary is our own; the combinations make thousands of distinct but plausible paragraphs.
const TOPICS: readonly Topic[] = [
  {
    domain: 'Natural Science',
    subjects: ['tidal glaciers', 'coral reef bleaching', 'migratory songbirds', 'volcanic soils', 'deep-sea vents', 'alpine lichens'],
    things: ['sediment cores', 'isotope ratios', 'population counts', 'satellite images', 'water samples', 'field transects'],
    people: ['field ecologists', 'marine biologists', 'geochemists', 'survey volunteers'],
    places: ['Svalbard', 'the Great Barrier Reef', 'the Andes', 'Iceland', 'the Baltic coast'],
    verbs: ['measured', 'compared', 'catalogued', 'monitored', 'sampled'],
  },
  {
    domain: 'Technology & Engineering',
    subjects: ['suspension bridges', 'heat pumps', 'lithium batteries', 'wind turbine blades', 'water treatment plants', 'railway signalling'],
    things: ['load tests', 'efficiency curves', 'fatigue cracks', 'control valves', 'sensor logs', 'maintenance records'],
    people: ['civil engineers', 'plant operators', 'safety inspectors', 'design teams'],
    places: ['Rotterdam', 'Osaka', 'the Ruhr valley', 'Ontario', 'Chennai'],
    verbs: ['tested', 'redesigned', 'reinforced', 'calibrated', 'replaced'],
  },
  {
    domain: 'Coding',
    subjects: ['garbage collectors', 'hash tables', 'database indexes', 'compiler optimisations', 'network protocols', 'version control'],
    things: ['benchmarks', 'stack traces', 'memory profiles', 'unit tests', 'pull requests', 'latency histograms'],
    people: ['backend developers', 'maintainers', 'site reliability engineers', 'students'],
    places: ['open-source projects', 'a payments company', 'a university lab', 'a game studio'],
    verbs: ['profiled', 'refactored', 'rewrote', 'benchmarked', 'reviewed'],
  },
  {
    domain: 'Social Science',
    subjects: ['urban migration', 'voting behaviour', 'household savings', 'language shift', 'trust in institutions', 'commuting patterns'],
    things: ['survey responses', 'census tables', 'interview transcripts', 'panel data', 'archival letters', 'election returns'],
    people: ['sociologists', 'political scientists', 'demographers', 'anthropologists'],
    places: ['Lagos', 'Manchester', 'rural Poland', 'Sao Paulo', 'the Mekong delta'],
    verbs: ['surveyed', 'interviewed', 'analysed', 'coded', 'mapped'],
  },
  {
    domain: 'Medicine & Health',
    subjects: ['childhood vaccination', 'type 2 diabetes', 'hospital infections', 'sleep apnoea', 'iron deficiency', 'physical rehabilitation'],
    things: ['blood tests', 'clinical trials', 'patient records', 'dosage schedules', 'screening results', 'follow-up visits'],
    people: ['nurses', 'general practitioners', 'epidemiologists', 'physiotherapists'],
    places: ['district hospitals', 'Kerala', 'Scandinavian clinics', 'rural Kenya', 'Quebec'],
    verbs: ['treated', 'screened', 'followed', 'enrolled', 'assessed'],
  },
  {
    domain: 'Commerce & Economics',
    subjects: ['grain prices', 'small business lending', 'container shipping', 'minimum wages', 'currency pegs', 'retail inventories'],
    things: ['price indices', 'balance sheets', 'freight rates', 'loan books', 'trade statistics', 'quarterly reports'],
    people: ['economists', 'central bankers', 'shop owners', 'analysts'],
    places: ['Singapore', 'the Rhine ports', 'Buenos Aires', 'Nairobi', 'the Midwest'],
    verbs: ['priced', 'forecast', 'audited', 'financed', 'hedged'],
  },
  {
    domain: 'Math',
    subjects: ['prime gaps', 'graph colouring', 'Markov chains', 'Fourier series', 'linear programming', 'knot invariants'],
    things: ['lemmas', 'counterexamples', 'numerical experiments', 'bounds', 'conjectures', 'proof sketches'],
    people: ['number theorists', 'graduate students', 'combinatorialists', 'applied mathematicians'],
    places: ['Gottingen', 'Cambridge seminars', 'Kyoto', 'Budapest', 'Princeton'],
    verbs: ['proved', 'generalised', 'computed', 'bounded', 'simplified'],
  },
  {
    domain: 'Education',
    subjects: ['reading fluency', 'classroom feedback', 'school meals', 'teacher training', 'exam anxiety', 'homework policies'],
    things: ['lesson plans', 'test scores', 'attendance records', 'rubrics', 'observation notes', 'pilot programmes'],
    people: ['primary teachers', 'school principals', 'education researchers', 'parents'],
    places: ['Finnish schools', 'Ontario districts', 'Chilean classrooms', 'Welsh villages'],
    verbs: ['piloted', 'evaluated', 'observed', 'revised', 'introduced'],
  },
  {
    domain: 'Travel & Lifestyle',
    subjects: ['night trains', 'mountain huts', 'street food markets', 'long-distance hiking', 'coastal ferries', 'home fermentation'],
    things: ['timetables', 'trail maps', 'recipes', 'booking rules', 'packing lists', 'seasonal menus'],
    people: ['travellers', 'hut wardens', 'cooks', 'tour guides'],
    places: ['the Dolomites', 'Hanoi', 'the Scottish Highlands', 'Lisbon', 'Patagonia'],
    verbs: ['walked', 'booked', 'cooked', 'visited', 'recommended'],
  },
];

const YEARS = [1887, 1912, 1936, 1958, 1971, 1984, 1996, 2003, 2011, 2017, 2021];

function sentence(r: Rand, t: Topic, subject: string): string {
  const n = between(r, 3, 97);
  const year = pick(r, YEARS);
  const templates = [
    () => `In ${year}, ${pick(r, t.people)} in ${pick(r, t.places)} ${pick(r, t.verbs)} ${pick(r, t.things)} to understand ${subject} better.`,
    () => `The study of ${subject} depends heavily on ${pick(r, t.things)}, which are ${pick(r, t.verbs)} at regular intervals.`,
    () => `Roughly ${n} percent of the ${pick(r, t.things)} examined showed a clear link to ${subject}.`,
    () => `Critics argued that ${pick(r, t.people)} had ${pick(r, t.verbs)} too few ${pick(r, t.things)} to draw firm conclusions.`,
    () => `A later review in ${pick(r, t.places)} found that ${subject} changed markedly after ${year}.`,
    () => `Because ${pick(r, t.things)} are costly to collect, most work on ${subject} relies on a small number of long-running sites.`,
    () => `${cap(pick(r, t.people))} usually distinguish between short-term fluctuations and lasting shifts in ${subject}.`,
    () => `One frequently cited example comes from ${pick(r, t.places)}, where ${n} separate ${pick(r, t.things)} were ${pick(r, t.verbs)} over a decade.`,
    () => `The results were not uniform: some ${pick(r, t.things)} pointed one way, others the opposite.`,
    () => `Today, ${subject} is discussed in textbooks as a case where careful ${pick(r, t.things)} overturned an older assumption.`,
  ];
  return pick(r, templates)();
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function wordCount(s: string): number {
  return s.split(/\s+/).filter((w) => w !== '').length;
}

/** Prose of about `words` words in paragraphs, on one subject of the topic. */
function article(r: Rand, t: Topic, words: number): { title: string; text: string } {
  const subject = pick(r, t.subjects);
  const title = `${cap(subject)}: ${pick(r, ['an overview', 'history and evidence', 'what the records show', 'a short guide', 'open questions'])}`;
  const paragraphs: string[] = [];
  let total = 0;
  while (total < words) {
    const sentences: string[] = [];
    const len = between(r, 3, 6);
    for (let i = 0; i < len && total < words; i++) {
      const s = sentence(r, t, subject);
      sentences.push(s);
      total += wordCount(s);
    }
    paragraphs.push(sentences.join(' '));
  }
  return { title, text: `${title}\n\n${paragraphs.join('\n\n')}` };
}

function kindAt(r: Rand): DocKind {
  let x = r() * 1000;
  for (const [kind, share] of MIX) {
    if (x < share) return kind;
    x -= share;
  }
  return 'pass';
}

export interface BenchDocument {
  id: string;
  text: string;
  url: string;
  source: string;
  kind: DocKind;
}

/** The i-th document of the corpus with this seed (independent of the others, so streamable). */
export function makeDocument(i: number, seed: number): BenchDocument {
  const r = rng((seed * 1_000_003 + i * 7919) >>> 0);
  const kind = kindAt(r);
  const topic = pick(r, TOPICS);
  const id = `bench-${String(i).padStart(6, '0')}`;
  const url = `https://example.org/wiki/${id}`;
  let text: string;
  switch (kind) {
    case 'pass': {
      const a = article(r, topic, between(r, 150, 400));
      text = `${a.text}\n[[domain:${topic.domain}]]`;
      break;
    }
    case 'unqualified': {
      const a = article(r, topic, between(r, 150, 300));
      text = `${a.text}\n\nBUY NOW and save on ${pick(r, topic.things)}! Limited offer, click the link below. [[unqualified]]`;
      break;
    }
    case 'too_short':
      text = `${cap(pick(r, topic.subjects))}. This page is a stub; you can help by expanding it.`;
      break;
    case 'low_alpha': {
      const rows: string[] = [];
      for (let k = 0; k < between(r, 30, 60); k++) rows.push(`${between(r, 1000, 9999)} | ${between(r, 10, 99)}.${between(r, 0, 9)} | ${between(r, 100, 999)} | ${between(r, 0, 99)}%`);
      text = `Table ${between(r, 1, 9)}\n${rows.join('\n')}`;
      break;
    }
    case 'repetitive': {
      const lines = ['Home | News | Sport | Weather | Contact us'];
      const menu = 'Home | News | Sport | Weather | Contact us';
      for (let k = 0; k < between(r, 20, 40); k++) lines.push(k % 5 === 0 ? `Updated ${pick(r, YEARS)} by ${pick(r, topic.people)}` : menu);
      text = lines.join('\n');
      break;
    }
    case 'binary': {
      const chars: string[] = [];
      for (let k = 0; k < between(r, 800, 1600); k++) chars.push(String.fromCharCode(r() < 0.3 ? between(r, 0, 8) : between(r, 33, 126)));
      text = chars.join('');
      break;
    }
  }
  return { id, text, url, source: 'bench-corpus', kind };
}

export interface CorpusFacts {
  documents: number;
  bytes: number;
  byKind: Record<DocKind, number>;
  /** Mean words per document that reaches the LLM filter. */
  meanWordsPassing: number;
}

/** Write `count` documents as JSON lines to `path`, streaming (10 000 documents are ~20 MB). */
export async function writeCorpus(path: string, count: number, seed: number): Promise<CorpusFacts> {
  const out = createWriteStream(path);
  const byKind = Object.fromEntries(DOC_KINDS.map((k) => [k, 0])) as Record<DocKind, number>;
  let bytes = 0;
  let words = 0;
  let passingLike = 0;
  for (let i = 0; i < count; i++) {
    const d = makeDocument(i, seed);
    byKind[d.kind]++;
    if (d.kind === 'pass' || d.kind === 'unqualified') {
      words += wordCount(d.text);
      passingLike++;
    }
    const line = JSON.stringify({ id: d.id, text: d.text, url: d.url, source: d.source }) + '\n';
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { documents: count, bytes, byKind, meanWordsPassing: passingLike === 0 ? 0 : words / passingLike };
}

/**
 * LLM calls the corpus should cost with the stand-in's defaults (2 personas, every check
 * passes): filter + identify + 2 x (generate + check) per passing document, one filter call
 * per unqualified one, none for pre-filter rejects.
 */
export function expectedCalls(facts: CorpusFacts, personas = 2): number {
  return facts.byKind.pass * (2 + 2 * personas) + facts.byKind.unqualified;
}
