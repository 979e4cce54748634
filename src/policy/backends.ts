// Trainer backends by name: one small table. Each entry loads the backend lazily so that a
// backend's dependencies are only needed when it is used.
import type { Trainer } from '../core/trainer.ts';

export type BackendName = 'embedded' | 'tinker';

export interface TrainerSpec {
  backend: BackendName;
  /** Model to start from: an HF folder (embedded) or the backend's model name. */
  model: string;
  /** A value head on top of the model (the PPO critic). */
  valueHead?: boolean;
  /** Seed for anything the backend initialises at random (e.g. a fresh value head). */
  seed?: number;
  /** Backend-specific options (e.g. a Tinker base URL and API key variable). */
  options?: Record<string, unknown>;
}

type Factory = (spec: TrainerSpec) => Promise<Trainer>;

export const TRAINER_BACKENDS: Record<BackendName, Factory> = {
  // options.lora ({rank, alpha?, targets?}, from train --lora-*): the policy trains LoRA adapters
  // (docs/lora.md); a critic (valueHead) is trained in full.
  embedded: async (spec) => {
    const { EmbeddedTrainer } = await import('./embedded.ts');
    const { lora, ...options } = spec.options ?? {};
    const t = await EmbeddedTrainer.load(spec.model, {
      valueHead: spec.valueHead ?? false,
      seed: spec.seed,
      ...options,
    });
    if (lora !== undefined && !spec.valueHead) {
      const { loraFromOptions } = await import('../engine/lora.ts');
      t.enableLora(loraFromOptions(lora, spec.seed ?? 0));
    }
    return t;
  },
  // Tinker API (hosted, SkyRL, or `search-r1 serve-trainer`). options: baseUrl, apiKey (default
  // $TINKER_BASE_URL / $TINKER_API_KEY), tokenizer (a Tokenizer) or tokenizerDir (HF folder with
  // tokenizer.json: the API does not ship tokenizers), lora ({rank, …}).
  tinker: async (spec) => {
    const { createTinkerBackend } = await import('./tinker/backend.ts');
    return createTinkerBackend(spec);
  },
};

export async function createTrainer(spec: TrainerSpec): Promise<Trainer> {
  const factory = TRAINER_BACKENDS[spec.backend];
  if (!factory)
    throw new Error(`unknown backend "${spec.backend}" (known: ${Object.keys(TRAINER_BACKENDS).join(', ')})`);
  return factory(spec);
}
