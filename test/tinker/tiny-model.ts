// The tiny model folder the serve-trainer tests train through the API and in process alike.
import { join } from 'node:path';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { HfTokenizer, trainBpeTokenizer } from '../../src/engine/tokenizer.ts';
import { presetConfig } from '../../src/engine/config.ts';

/** Writes `dir/name`: a 300-token BPE over the tags and a 32-wide tiny model (weights from `seed`). */
export async function writeTinyModel(dir: string, name: string, seed = 11): Promise<{ tok: HfTokenizer; modelDir: string }> {
  const tok = new HfTokenizer(trainBpeTokenizer(['ab< cd< ej< abcdefghij <>/? aaaa>'], { vocabSize: 300 }));
  const config = { ...presetConfig('tiny'), vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, headDim: 8 };
  const modelDir = join(dir, name);
  await EmbeddedTrainer.create(config, tok, { seed }).saveWeights(modelDir);
  return { tok, modelDir };
}
