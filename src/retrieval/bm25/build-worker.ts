// One analysis worker of buildIndex: EnglishAnalyzer over batches of passages (see analyze-batch.ts).
import { parentPort } from 'node:worker_threads';
import { EnglishAnalyzer } from '../analyzer.ts';
import { BatchAnalyzer } from './analyze-batch.ts';
import type { CorpusDoc } from './build.ts';

const english = new EnglishAnalyzer();
const analyzer = new BatchAnalyzer((text) => english.analyze(text));
const port = parentPort!;
port.on('message', (docs: CorpusDoc[]) => {
  try {
    const r = analyzer.run(docs);
    port.postMessage({ ok: r }, [r.enc.buffer as ArrayBuffer, r.store.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ error: (e as Error).stack ?? String(e) });
  }
});
