// The Search-R1 `/retrieve` wire format (docs/protocol.md §4), shared by server and client.
//   request:  {"queries": [string], "topk": int?, "return_scores": bool?}
//   response: {"result": [[{"document": {"id","contents"}, "score"}]]}   (return_scores: true)
//             {"result": [[{"id","contents"}]]}                           (return_scores: false)
import { z } from 'zod';
import { joinContents, splitContents } from '../protocol/passages.ts';
import type { Hit } from '../core/retriever.ts';

export interface WireLimits {
  maxQueries: number;
  maxQueryChars: number;
  maxTopk: number;
}

export const DEFAULT_WIRE_LIMITS: WireLimits = { maxQueries: 1024, maxQueryChars: 8192, maxTopk: 1000 };

export function retrieveRequestSchema(limits: WireLimits) {
  return z
    .object({
      queries: z.array(z.string().max(limits.maxQueryChars)).min(1).max(limits.maxQueries),
      topk: z.number().int().min(1).max(limits.maxTopk).nullish(),
      return_scores: z.boolean().nullish(),
    })
    .loose();
}

export interface WireDocument {
  id: string;
  contents: string;
}

/** The exact wire `contents` of a hit: the stored string when the retriever kept it. */
export function hitContents(hit: Hit): string {
  const c = (hit as Hit & { contents?: unknown }).contents;
  return typeof c === 'string' ? c : joinContents(hit.title, hit.text);
}

export function toWireResult(hits: Hit[][], returnScores: boolean): unknown[][] {
  return hits.map((list) =>
    list.map((h) => {
      const document: WireDocument = { id: h.id, contents: hitContents(h) };
      return returnScores ? { document, score: h.score } : document;
    }),
  );
}

const wireDoc = z.object({ id: z.union([z.string(), z.number()]).nullish(), contents: z.string() }).loose();
const scoredDoc = z.object({ document: wireDoc, score: z.number().nullish() }).loose();
export const retrieveResponseSchema = z
  .object({ result: z.array(z.array(z.union([scoredDoc, wireDoc]))) })
  .loose();

/** Parse a server response (either shape) into hits; unscored hits get descending rank scores. */
export function fromWireResponse(body: unknown): Hit[][] {
  const parsed = retrieveResponseSchema.parse(body);
  return parsed.result.map((list) =>
    list.map((item, rank) => {
      const scored = 'document' in item && typeof item.document === 'object' && item.document !== null;
      const doc = scored ? (item as z.infer<typeof scoredDoc>).document : (item as z.infer<typeof wireDoc>);
      const score = scored ? ((item as z.infer<typeof scoredDoc>).score ?? -rank) : -rank;
      const { title, text } = splitContents(doc.contents);
      const hit: Hit & { contents: string } = {
        id: doc.id == null ? '' : String(doc.id),
        title,
        text,
        score,
        contents: doc.contents,
      };
      return hit;
    }),
  );
}
