// Index building: worker threads and inline analysis write identical files; a build that crashes
// mid-corpus resumes from its last checkpoint and ends identical to an uninterrupted one; progress
// reports an ETA for JSONL files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndex, type BuildProgress, type CorpusDoc } from '../../src/retrieval/bm25/build.ts';
import { SyntheticCorpus } from '../../src/retrieval/synthetic.ts';

const syn = new SyntheticCorpus({ numDocs: 4000, vocabSize: 5000, seed: 21 });
const docs: CorpusDoc[] = [...syn.docs()].map((d) => ({ id: d.id, contents: d.contents }));

function assertSameFiles(a: string, b: string): void {
  const files = readdirSync(a)
    .filter((f) => f !== 'meta.json')
    .sort();
  assert.deepEqual(
    files,
    readdirSync(b)
      .filter((f) => f !== 'meta.json')
      .sort(),
  );
  for (const f of files) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
  const ma = JSON.parse(readFileSync(join(a, 'meta.json'), 'utf8'));
  const mb = JSON.parse(readFileSync(join(b, 'meta.json'), 'utf8'));
  delete ma.createdAt;
  delete mb.createdAt;
  assert.deepEqual(ma, mb);
}

test('threaded and inline analysis build identical indexes; a crashed build resumes', async () => {
  const root = mkdtempSync(join(tmpdir(), 'bm25-build-'));
  try {
    const inline = join(root, 'inline');
    const threaded = join(root, 'threaded');
    await buildIndex(docs, inline, { threads: 0, memoryBudgetBytes: 256 * 1024 });
    const st = await buildIndex(docs, threaded, { threads: 2, memoryBudgetBytes: 256 * 1024 });
    assert.ok(st.runs > 3);
    assertSameFiles(inline, threaded);

    // Crash after 2,600 passages (several runs spilled and checkpointed), then resume.
    const resumed = join(root, 'resumed');
    function* crashing(): Generator<CorpusDoc> {
      for (let i = 0; i < docs.length; i++) {
        if (i === 2600) throw new Error('simulated crash');
        yield docs[i];
      }
    }
    await assert.rejects(
      buildIndex(crashing(), resumed, { threads: 2, memoryBudgetBytes: 256 * 1024, resume: true }),
      /simulated crash/,
    );
    assert.ok(existsSync(join(resumed, '.build', 'checkpoint.json')), 'checkpoint kept after the crash');
    assert.ok(!existsSync(join(resumed, 'meta.json')));
    const again = await buildIndex(docs, resumed, {
      threads: 2,
      memoryBudgetBytes: 256 * 1024,
      resume: true,
    });
    assert.ok(again.resumedDocs > 0 && again.resumedDocs <= 2600, `resumed from ${again.resumedDocs}`);
    assert.equal(again.numDocs, docs.length);
    assertSameFiles(inline, resumed);
    assert.ok(!existsSync(join(resumed, '.build')), 'work dir removed after success');

    // Without resume, a stale checkpoint is discarded (fresh build, same result).
    const fresh = await buildIndex(docs, resumed, { threads: 0, memoryBudgetBytes: 256 * 1024 });
    assert.equal(fresh.resumedDocs, 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('progress on a JSONL corpus file reports the fraction read and an ETA', async () => {
  const root = mkdtempSync(join(tmpdir(), 'bm25-eta-'));
  try {
    const big = new SyntheticCorpus({ numDocs: 30_000, vocabSize: 5000, seed: 2 });
    const path = join(root, 'corpus.jsonl');
    big.writeJsonl(path);
    const seen: BuildProgress[] = [];
    await buildIndex(path, join(root, 'idx'), { onProgress: (p) => seen.push(p) });
    const mid = seen.filter((p) => p.phase === 'index');
    assert.ok(mid.length > 0, 'progress during indexing');
    for (const p of mid) {
      assert.ok(p.fraction! > 0 && p.fraction! < 1, `fraction ${p.fraction}`);
      assert.ok(p.etaSeconds! >= 0);
      // The byte-based estimate tracks the true share of passages read within a few percent.
      assert.ok(Math.abs(p.fraction! - p.docs / 30_000) < 0.05, `${p.fraction} vs ${p.docs / 30_000}`);
    }
    assert.equal(seen.at(-1)!.phase, 'done');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
