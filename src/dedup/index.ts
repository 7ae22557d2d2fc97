/** Deduplication: normal form, MinHash/LSH fingerprints, the bounded index, and its Kafka-shared form. */
export { normaliseText, exactKey, wordsOf } from './normalise.js';
export { minhashSignature, bandKeys, estimatedJaccard, matchProbability, type MinHashParams } from './minhash.js';
export { DedupIndex, type DedupMatch, type IndexEntry } from './index-store.js';
export { LocalDedup, dedupParams, fingerprintOf, fromDedupRecord, schemeOf, toDedupRecord, type DedupView } from './fingerprint.js';
export { SharedDedupIndex } from './shared-index.js';
