/** The pure stage logic: what the embedded runner and the Kafka workers drive. */
export { filterStage } from './filter.js';
export { dedupStage } from './dedup.js';
export { identifyStage } from './identify.js';
export { generateStage } from './generate.js';
export { checkStage } from './check.js';
export { prefilter } from './prefilter.js';
export type { PrefilterResult } from './prefilter.js';
export { FewshotLibrary, loadFewshotLibrary } from './fewshot.js';
export type { FewshotExample } from './fewshot.js';
export { Decontaminator, loadDecontaminator } from './decontaminate.js';
export type { ContaminationResult } from './decontaminate.js';
export { PROMPT_VERSIONS } from './prompts.js';
export { PIPELINE_VERSION, defaultFewshotDir } from './paths.js';
export { normaliseDomain } from './domains.js';
export { MAX_PAIR_CHARS, clip, makeRejection } from './common.js';
export type { StageContext, StageFn, StageResult } from './types.js';
