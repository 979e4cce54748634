import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignSeries, renderReport, renderTrajectoryHtml } from '../../src/eval/report/render.ts';
import { trajectorySegments } from '../../src/eval/report/trajectory.ts';

test('report: series are aligned on the union of x with gaps as null', () => {
  const { x, ys } = alignSeries([
    { name: 'a', x: [0, 2, 4], y: [1, 2, 3] },
    { name: 'b', x: [1, 2], y: [5, NaN] },
  ]);
  assert.deepEqual(x, [0, 1, 2, 4]);
  assert.deepEqual(ys, [
    [1, null, 2, 3],
    [null, 5, null, null],
  ]);
});

test('report: self-contained HTML (uPlot inlined, no external script), escaped text', () => {
  const html = renderReport({
    title: 'T <1>',
    charts: [{ title: 'reward', series: [{ name: 'grpo', x: [0, 1], y: [0.1, 0.5] }] }],
    tables: [{ title: 'EM', columns: ['method', 'overall'], rows: [['RAG', 0.25], ['x</script>', null]] }],
    trajectories: [{ title: 't', segments: [{ text: '<think> a </think><search> q </search>', injected: false }] }],
  });
  assert.ok(!/<script[^>]+src=/.test(html), 'no external scripts');
  assert.ok(!/https?:\/\/(?!www\.w3\.org)[^"']*\.(js|css)/.test(html), 'no CDN assets');
  assert.ok(html.includes('uPlot'), 'uPlot inlined');
  assert.ok(html.includes('T &lt;1&gt;'));
  assert.ok(html.includes('x&lt;/script&gt;'));
  assert.ok(html.includes('0.250'));
  // Exactly the two script elements we write, so escaped content cannot open or close one.
  assert.equal(html.match(/<script>/g)?.length, 2);
  assert.equal(html.match(/<\/script>/g)?.length, 2);
});

test('report: trajectory tags coloured, state carried across segments, injected marked', () => {
  const html = renderTrajectoryHtml([
    { text: '<think> x </think>\n<search> Foo </search>', injected: false },
    { text: '\n\n<information>Doc 1(Title: Foo) bar</information>\n\n', injected: true },
    { text: '<answer> bar </answer>', injected: false },
  ]);
  assert.match(html, /<span class="seg injected">.*t-information">Doc 1\(Title: Foo\) bar</s);
  assert.match(html, /<span class="t-search"> Foo <\/span>/);
  assert.match(html, /<span class="t-answer"> bar <\/span>/);
  assert.equal(html.match(/seg policy/g)?.length, 2);
});

test('report: segments follow the policy mask', () => {
  const tok = { decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + i)).join('') };
  const segs = trajectorySegments({ responseTokens: [0, 1, 2, 3, 4, 5], policyMask: Uint8Array.from([1, 1, 0, 0, 1, 0]) }, tok);
  assert.deepEqual(segs, [
    { text: 'ab', injected: false },
    { text: 'cd', injected: true },
    { text: 'e', injected: false },
    { text: 'f', injected: true },
  ]);
});
