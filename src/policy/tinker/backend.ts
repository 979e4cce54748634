// `backend: 'tinker'` of src/policy/backends.ts: TrainerSpec → TinkerTrainer.
// spec.model is the server's base model name; spec.options may carry:
//   baseUrl (default $TINKER_BASE_URL, else the hosted service), apiKey (default $TINKER_API_KEY),
//   tokenizer (a Tokenizer) or tokenizerDir (a folder with tokenizer.json; default: spec.model when
//   that is a local folder), lora ({rank, seed?, trainMlp?, trainAttn?, trainUnembed?}).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tokenizer } from '../../core/tokenizer.ts';
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
  const lora = tinkerLora(o.lora);
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

/**
 * backendOptions.lora → Tinker's lora_config. `targets` (train --lora-targets) map to train_attn /
 * train_mlp / train_unembed; Tinker's API has no alpha (the server picks it), so one is refused.
 */
function tinkerLora(o: unknown): TinkerTrainerOptions['lora'] {
  if (o === undefined) return undefined;
  const x = o as { rank?: unknown; alpha?: unknown; targets?: unknown; seed?: unknown } & Record<
    string,
    unknown
  >;
  // The client's own form ({rank, trainMlp?, trainAttn?, trainUnembed?}) passes through.
  if (['trainMlp', 'trainAttn', 'trainUnembed'].some((k) => k in x)) return x as TinkerTrainerOptions['lora'];
  if (typeof x.rank !== 'number') throw new Error('backendOptions.lora.rank: a number is required');
  if (x.alpha !== undefined)
    throw new Error(
      '--lora-alpha: the Tinker API has no alpha (the server chooses it; serve-trainer uses 32)',
    );
  const spec = typeof x.targets === 'string' ? x.targets : 'attn,mlp,unembed';
  const parts = spec.split(',').map((s) => s.trim());
  for (const p of parts)
    if (!['attn', 'mlp', 'unembed'].includes(p))
      throw new Error(
        `--lora-targets: the Tinker API trains attn, mlp and/or unembed, not ${JSON.stringify(p)}`,
      );
  return {
    rank: x.rank,
    ...(typeof x.seed === 'number' ? { seed: x.seed } : {}),
    trainAttn: parts.includes('attn'),
    trainMlp: parts.includes('mlp'),
    trainUnembed: parts.includes('unembed'),
  };
}
