// `backend: 'tinker'` of src/policy/backends.ts: TrainerSpec → TinkerTrainer.
// spec.model is the server's base model name; spec.options may carry:
//   baseUrl (default $TINKER_BASE_URL, else the hosted service), apiKey (default $TINKER_API_KEY),
//   tokenizer (a Tokenizer) or tokenizerDir (a folder with tokenizer.json; default: spec.model when
//   that is a local folder), lora ({rank, seed?, trainMlp?, trainAttn?, trainUnembed?}).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tokenizer } from '../types.ts';
import { TinkerTrainer, type TinkerTrainerOptions } from './trainer.ts';

export interface TinkerBackendSpec {
  model: string;
  valueHead?: boolean;
  seed?: number;
  options?: Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Error(`backend tinker: option ${key} must be a string`);
  return v;
}

export async function createTinkerBackend(spec: TinkerBackendSpec): Promise<TinkerTrainer> {
  const o = spec.options ?? {};
  let tokenizer = o.tokenizer as Tokenizer | undefined;
  if (!tokenizer) {
    const dir =
      str(o, 'tokenizerDir') ?? (existsSync(join(spec.model, 'tokenizer.json')) ? spec.model : undefined);
    if (!dir) {
      throw new Error(
        `backend tinker: needs the tokenizer of base model "${spec.model}" locally (the API does not ship it); ` +
          'pass options.tokenizerDir (a folder with tokenizer.json)',
      );
    }
    const { loadTokenizer } = await import('../../engine/tokenizer.ts');
    tokenizer = loadTokenizer(dir);
  }
  const lora = o.lora as TinkerTrainerOptions['lora'];
  return TinkerTrainer.create({
    baseModel: str(o, 'baseModel') ?? spec.model,
    baseUrl: str(o, 'baseUrl'),
    apiKey: str(o, 'apiKey'),
    tokenizer,
    // PPO's critic: works where the server offers our critic extension (serve-trainer); elsewhere
    // TinkerTrainer.create refuses with a message naming the alternatives.
    ...(spec.valueHead ? { role: 'critic' as const } : {}),
    ...(lora ? { lora } : {}),
  });
}
