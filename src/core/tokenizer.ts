// The tokenizer seam: what every layer needs of a tokenizer (the engine's HfTokenizer, a remote
// model's tokenizer.json, test fakes). Ground floor: imports nothing of ours.

/** A chat message, as handed to a model's own chat template. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface Tokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** Token ids that end a sequence (EOS, and e.g. <|im_end|> for chat models). */
  readonly eosTokenIds: readonly number[];
  readonly vocabSize: number;
  /** Renders messages through the model's own chat template; null when the model has none. */
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string | null;
}

