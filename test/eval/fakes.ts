// Scripted stand-ins for the Sampler and Retriever seams, used by the eval and OpenAI tests.
// The sampler is a real Sampler (stop strings, token budget, EOS, n) over a scripted "model":
// a function from the prompt text to the text it would generate.
import type { ChatMessage } from '../../src/core/tokenizer.ts';
import type { Passage } from '../../src/core/retriever.ts';
import type { Completion, SampleRequest, Sampler } from '../../src/core/sampler.ts';
import type { Tokenizer } from '../../src/core/tokenizer.ts';
import type { Hit, Retriever } from '../../src/core/retriever.ts';

/** One token per Unicode code point; id 3 is EOS. ChatML chat template. */
export class CharTokenizer implements Tokenizer {
  readonly eosTokenIds = [3];
  readonly vocabSize = 0x110000;
  encode(text: string): number[] {
    return Array.from(text, (c) => c.codePointAt(0)!);
  }
  decode(ids: readonly number[]): string {
    return ids
      .filter((i) => i !== 3)
      .map((i) => String.fromCodePoint(i))
      .join('');
  }
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string | null {
    const body = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
    return body + (opts?.addGenerationPrompt ? '<|im_start|>assistant\n' : '');
  }
}

export interface ScriptedCall {
  prompts: string[];
  req: Omit<SampleRequest, 'prompts'>;
}

/**
 * `script(promptText, sampleIndex)` returns what the model "would" write; the sampler then
 * applies the request's stop strings and token budget exactly as an engine would (cutting right
 * after the token that completes a stop string), or ends with EOS when the script runs out.
 * Log-prob of the k-th generated token: -(k + 1) / 100, so tests can check they travel intact.
 */
export class ScriptedSampler implements Sampler {
  readonly tokenizer = new CharTokenizer();
  readonly calls: ScriptedCall[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly script: (prompt: string, sampleIndex: number) => string,
    private readonly delayMs = 0,
  ) {}

  async sample(req: SampleRequest): Promise<Completion[][]> {
    const { prompts, ...rest } = req;
    const texts = prompts.map((p) => this.tokenizer.decode(p));
    this.calls.push({ prompts: texts, req: rest });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      return texts.map((t) =>
        Array.from({ length: req.n ?? 1 }, (_, j) => this.complete(this.script(t, j), req)),
      );
    } finally {
      this.inFlight--;
    }
  }

  private complete(full: string, req: SampleRequest): Completion {
    const chars = Array.from(full);
    let text = '';
    const tokens: number[] = [];
    for (const ch of chars) {
      if (tokens.length >= req.maxTokens) return this.done(tokens, text, 'length');
      text += ch;
      tokens.push(ch.codePointAt(0)!);
      const stop = req.stop.find((s) => s.length > 0 && text.endsWith(s));
      if (stop) return this.done(tokens, text, 'stop', stop);
    }
    if (tokens.length >= req.maxTokens) return this.done(tokens, text, 'length');
    tokens.push(3);
    return this.done(tokens, text, 'eos');
  }

  private done(
    tokens: number[],
    text: string,
    finish: Completion['finish'],
    stopString?: string,
  ): Completion {
    return {
      tokens,
      logprobs: tokens.map((_, k) => -(k + 1) / 100),
      finish,
      text,
      ...(stopString ? { stopString } : {}),
    };
  }
}

/** Keyword retriever over a fixed passage list: score = number of query words in the passage. */
export class KeywordRetriever implements Retriever {
  readonly queries: string[] = [];
  constructor(private readonly passages: Passage[]) {}
  async search(queries: string[], topk: number): Promise<Hit[][]> {
    this.queries.push(...queries);
    return queries.map((q) => {
      const words = q.toLowerCase().match(/\w+/g) ?? [];
      return this.passages
        .map((p) => {
          const hay = `${p.title} ${p.text}`.toLowerCase();
          return { ...p, score: words.filter((w) => hay.includes(w)).length };
        })
        .filter((h) => h.score > 0)
        .sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
        .slice(0, topk);
    });
  }
}
