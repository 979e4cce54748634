// A question with its gold answers: the unit every dataset reader produces and every trainer and
// evaluator consumes. Ground floor: imports nothing of ours.

/** A question with its gold answers (FlashRAG `golden_answers`, Search-R1 `ground_truth.target`). */
export interface QaExample {
  id: string;
  question: string;
  goldenAnswers: string[];
  /** Dataset name (`nq`, `hotpotqa`, `world_single_hop`, ...): Search-R1's `data_source`. */
  dataSource: string;
  /** Free-form extras carried through (e.g. question type of the bundled world). */
  metadata?: Record<string, unknown>;
}
