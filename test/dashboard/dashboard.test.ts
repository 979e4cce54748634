// The dashboard in a real browser (headless Chromium) over a run this test trains (smoke preset):
// its charts hold metrics.jsonl's numbers, a line appended to metrics.jsonl appears without a
// reload (a partial line does not), the trajectory browser shows a rollout's search and injected
// information exactly as the mask says, and the static report renders its charts with no console
// errors. Bad input: torn and malformed lines, a run without metrics, paths outside the runs dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startDashboard } from '../../src/dashboard/server.ts';
import { writeStaticReport } from '../../src/dashboard/snapshot.ts';
import type { SampleLine } from '../../src/rl/samples.ts';
import { launchChromium } from './browser.ts';

type Metrics = Record<string, number>;
/** What the dashboard page puts on window (src/dashboard/client/app.js). */
interface PageWindow {
  dashboard: { ready: boolean; charts: unknown };
  SNAPSHOT: { runs: { id: string }[] };
  __noReload?: boolean;
}
const readJsonl = <T>(p: string): T[] =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);

/**
 * In the page: the points a chart plots for (run, metric key), read from uPlot's own data
 * (x where that series is not null): what is drawn, not what was fetched.
 */
function CHART_POINTS(a: { key: string; run: string }): [number[], number[]] | null {
  const charts = (window as unknown as PageWindow).dashboard.charts as Record<
    string,
    { u: { data: (number | null)[][] }; series: { run: string; key: string }[] }
  >;
  for (const c of Object.values(charts)) {
    const j = c.series.findIndex((s) => s.run === a.run && s.key === a.key);
    if (j < 0) continue;
    const xs: number[] = [];
    const ys: number[] = [];
    c.u.data[0].forEach((x, i) => {
      const y = c.u.data[j + 1][i];
      if (y === null || y === undefined) return;
      xs.push(x as number);
      ys.push(y);
    });
    return [xs, ys];
  }
  return null;
}

test('dashboard over a smoke training run, in headless Chromium', { timeout: 900_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'sr1-dash-'));
  const runs = join(root, 'runs');
  const runDir = join(runs, 'smoke');
  mkdirSync(runs);

  let t0 = Date.now();
  const lap = (what: string) => {
    process.stderr.write(`dashboard test: ${what} ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    t0 = Date.now();
  };
  // ---- a real training run (2 steps of the smoke preset), through the CLI
  const tr = spawnSync(
    process.execPath,
    ['bin/search-r1.mjs', 'train', '--preset', 'smoke', '--steps', '2', '--run-dir', runDir],
    { encoding: 'utf8' },
  );
  assert.equal(tr.status, 0, tr.stderr);
  assert.match(tr.stderr, /train: watch it with `search-r1 dashboard [^`]*smoke`/);
  const metrics = readJsonl<Metrics>(join(runDir, 'metrics.jsonl'));
  assert.deepEqual(
    metrics.map((m) => m.step),
    [1, 2],
  );
  assert.deepEqual(readdirSync(join(runDir, 'samples')).sort(), ['step-000001.jsonl', 'step-000002.jsonl']);

  // ---- bad neighbours: a run without metrics, a malformed line, things outside the runs dir
  mkdirSync(join(runs, 'no-metrics', 'val'), { recursive: true });
  writeFileSync(join(runs, 'no-metrics', 'config.json'), '{"name":"no-metrics"}');
  mkdirSync(join(runs, 'bad'));
  writeFileSync(
    join(runs, 'bad', 'metrics.jsonl'),
    '{"step":1,"critic/score/mean":0.1}\n{oops\n{"step":3,"critic/score/mean":0.3}\n',
  );
  const outside = join(root, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.jsonl'), '{"question":"SECRET-OUTSIDE","em":1}\n');
  writeFileSync(join(outside, 'metrics.jsonl'), '{"step":1,"SECRET-OUTSIDE":1}\n');
  symlinkSync(outside, join(runs, 'linked-outside'));
  symlinkSync(join(outside, 'secret.jsonl'), join(runDir, 'val', 'step-000099.jsonl'));

  lap('train');
  const dash = await startDashboard({ roots: [runs], port: 0, pollMs: 150 });
  const browser = await launchChromium();
  try {
    const get = async (path: string) => {
      const res = await fetch(new URL(path, dash.url));
      return { status: res.status, text: await res.text() };
    };
    const runList = JSON.parse((await get('/api/runs')).text) as { runs: { id: string; name: string }[] };
    assert.deepEqual(runList.runs.map((r) => r.name).sort(), ['bad', 'no-metrics', 'smoke']);
    const id = runList.runs.find((r) => r.name === 'smoke')!.id;

    // paths outside the runs dir: refused, never served
    for (const p of [
      `/api/run/file?run=${encodeURIComponent(id)}&path=${encodeURIComponent('../../outside/secret.jsonl')}`,
      `/api/run/file?run=${encodeURIComponent(id)}&path=${encodeURIComponent('val/step-000099.jsonl')}`,
      `/api/run/file?run=${encodeURIComponent(id)}&path=${encodeURIComponent(join(outside, 'secret.jsonl'))}`,
      `/api/run/file?run=${encodeURIComponent(id)}&path=config.json`,
      `/api/run/metrics?run=${encodeURIComponent(id + '/../../outside')}`,
      `/api/run/config?run=${encodeURIComponent('r0/linked-outside')}`,
      '/..%2f..%2foutside%2fsecret.jsonl',
      `/api/run/trajectories?run=${encodeURIComponent(id)}&step=99`,
    ]) {
      const r = await get(p);
      assert.ok(!r.text.includes('SECRET-OUTSIDE'), `${p} served outside content: ${r.text}`);
      if (!p.includes('trajectories')) assert.ok([403, 404].includes(r.status), `${p}: status ${r.status}`);
    }
    assert.equal((await get(`/api/run/file?run=${encodeURIComponent(id)}&path=metrics.jsonl`)).status, 200);
    // a run without metrics: listed, no rows, no error
    const nm = JSON.parse((await get('/api/run/metrics?run=r0%2Fno-metrics')).text) as {
      rows: unknown[];
      errors: unknown[];
    };
    assert.deepEqual([nm.rows.length, nm.errors.length], [0, 0]);
    // a malformed complete line: named by file and line, the other rows kept
    const bad = JSON.parse((await get('/api/run/metrics?run=r0%2Fbad')).text) as {
      rows: Metrics[];
      errors: { file: string; line: number }[];
    };
    assert.deepEqual(
      bad.rows.map((r) => r.step),
      [1, 3],
    );
    assert.deepEqual(
      bad.errors.map((e) => [e.file.endsWith(join('bad', 'metrics.jsonl')), e.line]),
      [[true, 2]],
    );

    lap('browser launch + API checks');
    // ---- the live page: charts hold metrics.jsonl's numbers
    const page = await browser.newPage();
    await page.goto(dash.url);
    await page.waitForFunction(() => (window as unknown as PageWindow).dashboard?.ready);
    await page.evaluate(() => ((window as unknown as PageWindow).__noReload = true));
    const chartData = (key: string, p = page) => p.evaluate(CHART_POINTS, { key, run: id });
    for (const key of [
      'critic/score/mean',
      'response_length/mean',
      'env/number_of_valid_search',
      'actor/grad_norm',
      'actor/lr',
    ]) {
      assert.deepEqual(await chartData(key), [metrics.map((m) => m.step), metrics.map((m) => m[key])], key);
    }
    const titles = await page.$$eval('.chart h3 code', (els) => els.map((e) => e.textContent));
    for (const t of [
      'critic/score/mean',
      'actor/kl_loss',
      'actor/entropy_loss',
      'actor/pg_clipfrac',
      'timing_s/*',
    ])
      assert.ok(titles.includes(t), `chart ${t} missing: ${titles.join(', ')}`);
    await page.screenshot({ path: join(root, 'dashboard-curves.png') });

    lap('page + charts');
    // ---- a torn last line is not shown; completed, it appears without a reload
    const mfile = join(runDir, 'metrics.jsonl');
    appendFileSync(mfile, '{"step":3,"critic/score/mean":0.75,"response_len');
    await page.waitForTimeout(700);
    assert.deepEqual((await chartData('critic/score/mean'))![0], [1, 2]);
    // the banner names the other run's malformed line, and nothing of this run's torn one
    const banner = (await page.textContent('#errors')) ?? '';
    assert.ok(banner.includes(`${join('bad', 'metrics.jsonl')}:2`), banner);
    assert.ok(!banner.includes(join('smoke', 'metrics.jsonl')), banner);
    appendFileSync(mfile, 'gth/mean":50}\n');
    await page.waitForFunction(
      (a) => (new Function('return ' + a.f)() as typeof CHART_POINTS)(a.arg)?.[0].includes(3),
      { f: CHART_POINTS.toString(), arg: { key: 'critic/score/mean', run: id } },
      { timeout: 10_000 },
    );
    assert.deepEqual(await chartData('critic/score/mean'), [
      [1, 2, 3],
      [...metrics.map((m) => m['critic/score/mean']), 0.75],
    ]);
    assert.deepEqual((await chartData('response_length/mean'))![1], [
      ...metrics.map((m) => m['response_length/mean']),
      50,
    ]);
    assert.equal(
      await page.evaluate(() => (window as unknown as PageWindow).__noReload),
      true,
      'the page was reloaded',
    );

    lap('live append');
    // ---- the trajectory browser: a rollout with a search, its injected information marked
    let pick: { step: number; line: SampleLine } | null = null;
    for (const step of [1, 2]) {
      const line = readJsonl<SampleLine>(join(runDir, 'samples', `step-00000${step}.jsonl`)).find(
        // (not one whose policy text writes an information tag itself: a policy may continue a truncated
        // block and close it, and the check below is that injected and policy text are told apart)
        (l) =>
          l.searches > 0 &&
          l.segments.some((s) => s.injected && s.text.includes('<information>')) &&
          !l.segments.some((s) => !s.injected && s.text.includes('information>')),
      );
      if (line) {
        pick = { step, line };
        break;
      }
    }
    assert.ok(pick, 'the smoke run made no rollout with a search (the browser check needs one)');
    await page.click(`li[data-run="${id}"] .run-name`);
    await page.click('button[data-tab=trajectories]');
    await page.waitForSelector('#trajs article');
    await page.selectOption('#f-kind', 'rollout');
    await page.waitForFunction(() => document.querySelector('#f-step option[value="2"]') !== null);
    await page.selectOption('#f-step', String(pick.step));
    await page.waitForFunction(
      (n) => document.querySelector(`#f-searches option[value="${n}"]`) !== null,
      pick.line.searches,
    );
    await page.selectOption('#f-searches', String(pick.line.searches));
    await page.waitForFunction(
      (n) =>
        Array.from(document.querySelectorAll('#trajs article')).length > 0 &&
        Array.from(document.querySelectorAll('#trajs article')).every(
          (a) => (a as HTMLElement).dataset.searches === String(n),
        ),
      pick.line.searches,
    );
    const first = await page.$$eval(
      '#trajs article',
      (as, q) => {
        const a = as.find((x) => x.querySelector('h3')!.textContent!.includes(q)) ?? as[0];
        return {
          question: a.querySelector('h3')!.textContent,
          injected: Array.from(a.querySelectorAll('.response .injected')).map((e) => e.textContent),
          searchTags: a.querySelectorAll('.response .seg.policy .t-search').length,
          infoInInjected: a.querySelectorAll('.response .injected .t-information').length,
          infoInPolicy: a.querySelectorAll('.response .seg.policy .t-information').length,
        };
      },
      pick.line.question,
    );
    assert.ok(first.question!.includes(pick.line.question), `${first.question} vs ${pick.line.question}`);
    assert.deepEqual(
      first.injected,
      pick.line.segments.filter((s) => s.injected).map((s) => s.text),
    );
    assert.ok(first.searchTags > 0 && first.infoInInjected > 0, JSON.stringify(first));
    assert.equal(first.infoInPolicy, 0);
    await page.screenshot({ path: join(root, 'dashboard-trajectories.png') });

    lap('trajectories');
    // ---- the static report of the run: same view, charts from the snapshot, no console errors
    const out = writeStaticReport(runDir);
    const html = readFileSync(out, 'utf8');
    assert.ok(!/<script[^>]+src=|<link[^>]+href="http/.test(html), 'the report loads nothing from outside');
    const rp = await browser.newPage();
    await rp.goto(pathToFileURL(out).href);
    await rp.waitForFunction(() => (window as unknown as PageWindow).dashboard?.ready);
    const staticId = (await rp.evaluate(
      () => (window as unknown as PageWindow).SNAPSHOT.runs[0].id,
    )) as string;
    const staticData = await rp.evaluate(CHART_POINTS, { key: 'critic/score/mean', run: staticId });
    assert.deepEqual(staticData, [
      [1, 2, 3],
      [...metrics.map((m) => m['critic/score/mean']), 0.75],
    ]);
    assert.ok((await rp.$$('.chart canvas')).length >= 10);
    assert.ok(!html.includes('SECRET-OUTSIDE'));
    assert.deepEqual(browser.errors, []);
    lap('static report');
    process.stderr.write(
      `dashboard screenshots: ${join(root, 'dashboard-curves.png')}, ${join(root, 'dashboard-trajectories.png')}\n`,
    );
  } finally {
    await browser.close();
    await dash.close();
  }
});
