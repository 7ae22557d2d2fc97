/** Deduplication: normal form, MinHash/LSH fingerprints, the bounded index, and the claims log that makes Kafka workers agree. */
export { normaliseText, exactKey, wordsOf } from './normalise.js';
export { minhashSignature, bandKeys, estimatedJaccard, matchProbability, type MinHashParams } from './minhash.js';
export { DedupIndex, type DedupMatch, type IndexEntry } from './index-store.js';
export { LocalDedup, decideAgainst, dedupParams, fingerprintOf, fromClaim, schemeOf, toClaim, type DedupView, type RecordSource } from './fingerprint.js';
export { ClaimLog } from './claim-log.js';
