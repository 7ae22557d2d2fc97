/**
 * The dedup stage, before any LLM call: a document whose normalised text was kept before becomes
 * a `dedup.exact` rejection, one sharing an LSH band with a kept document a `dedup.near` rejection,
 * both naming the kept document in `duplicate_of`; every other document passes unchanged and is
 * remembered. Re-ingesting a file therefore costs no LLM call.
 */
import type { DocumentRecord, Rejection } from '../core/records.js';
import { fingerprintOf } from '../dedup/fingerprint.js';
import { makeRejection } from './common.js';
import type { StageContext, StageResult } from './types.js';

export async function dedupStage(doc: DocumentRecord, ctx: StageContext): Promise<StageResult<DocumentRecord>> {
  const view = ctx.dedup;
  if (!view) return { outputs: [doc], rejections: [] };
  const entry = fingerprintOf(doc.id, doc.text, view.params);
  const match = await view.decide(entry, ctx.source, ctx.signal);
  if (match) {
    const rejection: Rejection = {
      ...makeRejection({
        docId: doc.id,
        stage: 'dedup',
        reason: match.kind === 'exact' ? 'dedup.exact' : 'dedup.near',
        detail: match.kind === 'exact' ? `same normalised text as ${match.of}` : `near-duplicate of ${match.of} (shares a MinHash LSH band, ${view.scheme})`,
      }),
      duplicate_of: match.of,
    };
    return { outputs: [], rejections: [rejection] };
  }
  return { outputs: [doc], rejections: [] };
}
