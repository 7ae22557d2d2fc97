/**
 * Mapping free-form domain names onto the 10 fixed domains. Models and users' few-shot files
 * write "technology and engineering", "Medicine&Health" or "natural_science"; all of these mean a
 * domain of the list. Anything that does not map stays unknown: the identify stage turns it into
 * `identify.unknown_domain` rather than guessing.
 */
import { DOMAINS, type Domain } from '../core/records.js';

function key(name: string): string {
  return name
    .normalize('NFKC')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/[_\-/]+/g, ' ')
    .replace(/[^\p{L}\p{N} ]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const BY_KEY = new Map<string, Domain>(DOMAINS.map((d) => [key(d), d]));

/** The domain a name means, or null when it is not one of the 10. */
export function normaliseDomain(name: string): Domain | null {
  return BY_KEY.get(key(name)) ?? null;
}

/** File-name slug of a domain: `Technology & Engineering` -> `technology_engineering`. */
export function domainSlug(domain: Domain): string {
  return domain
    .toLowerCase()
    .replace(/&/g, ' ')
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

const BY_SLUG = new Map<string, Domain>(DOMAINS.map((d) => [domainSlug(d), d]));

/** The domain whose slug (or spelled-out name) a file stem carries, e.g. `math` or `Math`. */
export function domainFromFileStem(stem: string): Domain | null {
  return BY_SLUG.get(stem.toLowerCase()) ?? normaliseDomain(stem);
}
