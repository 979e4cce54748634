import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorld, writeWorld } from '../../src/world/world.ts';
import { entity } from '../../src/world/kb.ts';
import { buildPretrainExamples, exampleText } from '../../src/demo/pretrain-data.ts';
import { Bm25Index, buildIndex } from '../../src/retrieval/bm25/index.ts';
import { parseAction } from '../../src/protocol/actions.ts';
import { extractAnswer, exactMatch, isValidSequence } from '../../src/protocol/rewards.ts';

test('pretraining data: never names an RL-train or test entity; mixed quality in the Search-R1 format', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'world-pt-'));
  try {
    const world = buildWorld({ seed: 5 });
    const files = await writeWorld(world, dir);
    await buildIndex(files.corpus, join(dir, 'index'));
    const index = await Bm25Index.open(join(dir, 'index'));
    // Every mode on (the default mix has no wrong-query / wrong-span trajectories; the modes stay available).
    const mix = { guess: 0.5, search_copy: 0.3, wrong_query: 0.1, wrong_span: 0.1 };
    const ex = await buildPretrainExamples(world, index, { seed: 1, topk: 3, baselineFormatsPerQuestion: 1, mix });

    const heldOut = [...world.train, ...world.test].flatMap((q) => q.metadata.chain).filter((id) => !/^(city|country)-/.test(id));
    const names = [...new Set(heldOut.map((id) => entity(world.kb, id).name))];
    const all = ex.map(exampleText).join('\n');
    for (const n of names) assert.ok(!all.includes(n), `held-out entity ${n} appears in pretraining text`);

    const kinds = new Map<string, number>();
    for (const e of ex) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    for (const k of ['passage', 'guess', 'search_copy', 'wrong_query', 'wrong_span', 'direct', 'rag']) assert.ok((kinds.get(k) ?? 0) > 0, k);

    // Trajectories are well-formed Search-R1 responses; 'correct' agrees with the EM reward; the
    // searching-and-copying ones are right, the others mostly wrong.
    const pre = new Map(world.pretrain.map((q) => [q.question, q]));
    let traj = 0;
    for (const e of ex.filter((e) => ['guess', 'search_copy', 'wrong_query', 'wrong_span'].includes(e.kind))) {
      const response = e.segments.map((s) => s.text).join('');
      assert.ok(isValidSequence(response).valid, `invalid format: ${response}`);
      const q = pre.get(e.prompt.slice(e.prompt.lastIndexOf('Question: ') + 10).trim());
      assert.ok(q, 'prompt names a pretrain question');
      const pred = extractAnswer(response);
      assert.equal(exactMatch(pred ?? '', q.goldenAnswers) === 1, e.correct, response);
      if (e.kind === 'search_copy') assert.equal(e.correct, true);
      // Policy segments end exactly at the stop string of a search turn, as a rollout's do.
      for (const s of e.segments.filter((s) => !s.injected && s.text.includes('<search>'))) assert.equal(parseAction(s.text)?.type, 'search');
      traj++;
    }
    assert.ok(traj >= world.pretrain.length);
    const wrongRate = ex.filter((e) => e.kind === 'guess' && e.correct).length / (kinds.get('guess') ?? 1);
    assert.ok(wrongRate < 0.2, `guesses right ${wrongRate}`);
    // A mix without wrong spans and queries (the second pretraining stage's) has none of them.
    const clean = await buildPretrainExamples(world, index, { seed: 1, topk: 3, mix: { guess: 0.6, search_copy: 0.4, wrong_query: 0, wrong_span: 0 } });
    await index.close?.();
    const defKinds = new Set(clean.map((e) => e.kind));
    assert.ok(defKinds.has('guess') && defKinds.has('search_copy') && !defKinds.has('wrong_span') && !defKinds.has('wrong_query'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
