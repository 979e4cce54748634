// Plain data shared by every layer. `protocol` is the bottom layer: it imports nothing of ours.

/** One retrievable passage. `title` is as stored (wiki-18 titles keep their quotes). */
export interface Passage {
  id: string;
  title: string;
  text: string;
}

/** A chat message, as handed to a model's own chat template. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

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
