// eval counts prompts that do not fit the model's context and says so in the run's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval } from '../../src/eval/run.ts';
import { METHODS } from '../../src/eval/methods/index.ts';
import { DEFAULT_METHOD_OPTIONS } from '../../src/eval/types.ts';
import { ScriptedSampler } from './fakes.ts';

test('prompts longer than the context are counted per method × dataset, logged, and in table.md / scores.json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-ctx-'));
  try {
    const short = { id: 's', question: 'where was alpha born', goldenAnswers: ['Oslo'], dataSource: 'a' };
    const long = {
      id: 'l',
      question: `where was ${'very '.repeat(400)}alpha born`,
      goldenAnswers: ['Oslo'],
      dataSource: 'a',
    };
    const sampler = new ScriptedSampler(() => 'Oslo');
    // The char tokenizer makes one token per character: the long question alone is > 2,000 tokens.
    const opts = { ...DEFAULT_METHOD_OPTIONS, maxTotalTokens: 1000 };
    const lines: string[] = [];
    const r = await runEval({
      datasets: [{ name: 'a', examples: [short, long] }],
      methods: [METHODS.direct],
      sampler,
      retriever: null,
      opts,
      outDir: dir,
      log: (l) => lines.push(l),
    });
    assert.equal(r.table.cells.direct.a.em, 0.5); // the long one could not be answered
    assert.match(
      r.markdown,
      /\*\*1 prompt did not fit the model's context \(1000 tokens\)\*\* and scored 0 without an answer: direct \/ a: 1\./,
    );
    assert.ok(lines.some((l) => /1 prompts did not fit the context of 1000 tokens/.test(l)));
    const scores = JSON.parse(readFileSync(join(dir, 'scores.json'), 'utf8'));
    assert.deepEqual(scores.contextOverflow, { 'direct / a': 1 });
    const results = readFileSync(join(dir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      results.map((x) => [x.id, x.contextOverflow ?? false]),
      [
        ['s', false],
        ['l', true],
      ],
    );
    // A run where everything fits says nothing about it.
    const r2 = await runEval({
      datasets: [{ name: 'a', examples: [short] }],
      methods: [METHODS.direct],
      sampler,
      retriever: null,
      opts,
      outDir: join(dir, 'two'),
      log: () => {},
    });
    assert.doesNotMatch(r2.markdown, /did not fit/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
