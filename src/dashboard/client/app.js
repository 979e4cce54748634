// The dashboard app (browser side, plain JS, no build step; docs/dashboard.md). Two data sources
// behind one small API: the dashboard server (live: metrics read by byte offset, server-sent
// events when a run's files grow) or window.SNAPSHOT (a static report written by `search-r1 report`).
/* global uPlot */
(function () {
  'use strict';
  const SNAP = window.SNAPSHOT;
  const PALETTE = [
    '#1f77b4',
    '#d62728',
    '#2ca02c',
    '#ff7f0e',
    '#9467bd',
    '#8c564b',
    '#e377c2',
    '#17becf',
    '#bcbd22',
    '#7f7f7f',
  ];
  // Steps are integers: x ticks at 1, 2, 5, 10, … never at 1.25.
  const STEP_INCRS = [
    1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
  ];
  const DASHES = [[], [6, 3], [2, 3], [8, 3, 2, 3], [1, 2]];
  // The reference's metric names (Search-R1 / verl), in the order wandb users look at them.
  const CHARTS = [
    { keys: ['critic/score/mean'], title: 'reward', note: 'critic/score/mean' },
    { keys: ['train/em'], title: 'train EM', note: 'train/em' },
    { prefix: 'val/test_score/', title: 'validation score', note: 'val/test_score/<data source>' },
    { keys: ['response_length/mean'], title: 'response length (tokens)', note: 'response_length/mean' },
    {
      keys: ['env/number_of_valid_search'],
      title: 'searches per question',
      note: 'env/number_of_valid_search',
    },
    { keys: ['env/ratio_of_valid_action'], title: 'valid actions', note: 'env/ratio_of_valid_action' },
    { keys: ['actor/ppo_kl'], title: 'KL to the rollout policy', note: 'actor/ppo_kl' },
    { keys: ['actor/kl_loss'], title: 'KL loss (to the reference)', note: 'actor/kl_loss' },
    { keys: ['critic/kl'], title: 'KL in the reward (PPO)', note: 'critic/kl' },
    { keys: ['actor/entropy_loss'], title: 'entropy', note: 'actor/entropy_loss' },
    { keys: ['actor/pg_clipfrac'], title: 'clip fraction', note: 'actor/pg_clipfrac' },
    { keys: ['actor/grad_norm'], title: 'grad norm', note: 'actor/grad_norm' },
    { keys: ['actor/lr'], title: 'learning rate', note: 'lr (actor/lr)' },
    { prefix: 'timing_s/', title: 'timings (s)', note: 'timing_s/*' },
    {
      keys: ['perf/tokens_per_s', 'perf/gen_tokens_per_s'],
      title: 'tokens/s',
      note: 'perf/tokens_per_s, perf/gen_tokens_per_s',
    },
  ];

  // ------------------------------------------------------------------ data sources
  async function getJson(path) {
    const res = await fetch(path, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.status + ' ' + path);
    return body;
  }
  const q = (params) =>
    Object.entries(params)
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v))
      .join('&');

  const live = {
    runs: () => getJson('/api/runs').then((b) => b.runs),
    metrics: (id, cursor) =>
      getJson('/api/run/metrics?' + q({ run: id, offset: cursor.offset, line: cursor.line })),
    tables: (id) => getJson('/api/run/tables?' + q({ run: id })),
    config: (id) => getJson('/api/run/config?' + q({ run: id })),
    checkpoints: (id) => getJson('/api/run/checkpoints?' + q({ run: id })).then((b) => b.checkpoints),
    trajectories: (id, f) => getJson('/api/run/trajectories?' + q({ run: id, ...f })),
  };
  const staticApi = SNAP && {
    runs: async () => SNAP.runs,
    metrics: async (id, cursor) =>
      cursor.offset > 0
        ? { rows: [], cursor, reset: false, pending: 0, more: false, errors: [] }
        : {
            rows: SNAP.metrics[id] || [],
            cursor: { offset: 1, line: 0 },
            reset: false,
            pending: 0,
            more: false,
            errors: SNAP.errors[id] || [],
          },
    tables: async (id) => ({ tables: SNAP.tables[id] || [], errors: [] }),
    config: async (id) => SNAP.config[id],
    checkpoints: async (id) => SNAP.checkpoints[id] || [],
    trajectories: async (id, f) => {
      const all = SNAP.trajectories[id] || [];
      const inKind = all.filter(
        (t) =>
          (!f.kind || t.kind === f.kind) &&
          (f.step === undefined || f.step === '' || t.step === Number(f.step)),
      );
      const hits = inKind.filter(
        (t) =>
          (f.correct === undefined || f.correct === '' || (t.em > 0 ? 1 : 0) === Number(f.correct)) &&
          (f.searches === undefined || f.searches === '' || t.searches === Number(f.searches)) &&
          (!f.group || t.group === f.group),
      );
      const pageSize = f.pageSize || 20;
      const page = f.page || 0;
      return {
        items: hits.slice(page * pageSize, (page + 1) * pageSize),
        total: hits.length,
        page,
        pageSize,
        steps: [...new Set(all.map((t) => t.step).filter((s) => s !== null))].sort((a, b) => a - b),
        groups: [...new Set(inKind.map((t) => t.group))].sort(),
        searchCounts: [...new Set(inKind.map((t) => t.searches))].sort((a, b) => a - b),
        errors: [],
        note:
          (SNAP.trajectoryTotals[id] || 0) > all.length
            ? 'This report holds ' +
              all.length +
              " of the run's " +
              SNAP.trajectoryTotals[id] +
              ' trajectories (newest steps first).'
            : '',
      };
    },
  };
  const api = staticApi || live;

  // ------------------------------------------------------------------ state
  const state = {
    runs: [],
    colors: {},
    selected: new Set(), // runs overlaid in the charts
    active: null, // the run whose tables, trajectories, config are shown
    tab: 'curves',
    smoothing: 0,
    extra: '',
    metrics: {}, // id → { rows, cursor, errors, pending }
    charts: {}, // chart id → { u, sig, title }
    traj: { kind: '', step: '', correct: '', searches: '', group: '', page: 0 },
  };
  // Tests and curious users read the charts' data here.
  window.dashboard = { state, charts: state.charts, ready: false, updates: 0 };

  const $ = (sel, el) => (el || document).querySelector(sel);
  const esc = (s) =>
    String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const fmt = (v) =>
    v === null || v === undefined
      ? '–'
      : typeof v !== 'number'
        ? esc(v)
        : Number.isInteger(v)
          ? String(v)
          : Math.abs(v) >= 1000 || Math.abs(v) < 1e-3
            ? v.toExponential(2)
            : v.toFixed(3);
  const runById = (id) => state.runs.find((r) => r.id === id);

  // ------------------------------------------------------------------ layout
  const legendHtml = $('#legend') ? $('#legend').innerHTML : '';
  document.body.innerHTML = `
<header><h1>Search-R1 <span>dashboard</span></h1><span id="status" class="status"></span></header>
<div class="layout">
<nav id="sidebar"><h2>Runs</h2><p class="hint">tick to overlay in the charts; click a name for its tables, trajectories and config</p><ul id="runs"></ul></nav>
<main>
<div class="tabs" role="tablist">
<button data-tab="curves">Curves</button><button data-tab="tables">Tables</button><button data-tab="trajectories">Trajectories</button><button data-tab="config">Config &amp; checkpoints</button>
</div>
<div id="errors"></div>
<section id="tab-curves" class="tab">
<div class="controls"><label>smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0"> <output id="smoothing-v">0</output></label>
<label>more metrics <input id="extra" type="search" placeholder="e.g. critic/ or prompt_length"></label><span id="curve-note" class="hint"></span></div>
<div id="charts" class="charts"></div><div id="extra-charts" class="charts"></div>
</section>
<section id="tab-tables" class="tab"></section>
<section id="tab-trajectories" class="tab">
<div class="filters">
<label>kind <select id="f-kind"></select></label>
<label>step <select id="f-step"></select></label>
<label>result <select id="f-correct"><option value="">all</option><option value="1">correct (EM)</option><option value="0">incorrect</option></select></label>
<label>searches <select id="f-searches"></select></label>
<label>source <select id="f-group"></select></label>
<span class="pager"><button id="prev" type="button">‹ prev</button> <span id="page-info"></span> <button id="next" type="button">next ›</button></span>
</div>
<div id="legend-slot"></div>
<p id="traj-note" class="hint"></p>
<div id="trajs"></div>
</section>
<section id="tab-config" class="tab"></section>
</main></div>`;
  $('#legend-slot').innerHTML = legendHtml;

  function setStatus(text, cls) {
    const el = $('#status');
    el.textContent = text;
    el.className = 'status ' + (cls || '');
  }

  // ------------------------------------------------------------------ runs
  function renderRuns() {
    $('#runs').innerHTML = state.runs
      .map((r) => {
        const depth = r.parent ? 1 : 0;
        const c = state.colors[r.id];
        const m = state.metrics[r.id];
        const steps = m && m.rows.length ? m.rows[m.rows.length - 1].step : null;
        return `<li class="${r.id === state.active ? 'active' : ''}" style="padding-left:${6 + depth * 14}px" data-run="${esc(r.id)}">
<input type="checkbox" ${state.selected.has(r.id) ? 'checked' : ''} aria-label="overlay ${esc(r.name)}"><span class="swatch" style="background:${c}"></span>
<a href="#" class="run-name">${esc(r.name)}</a><span class="kind">${r.kind}${steps !== null ? ' · step ' + steps : ''}</span></li>`;
      })
      .join('');
  }
  $('#runs').addEventListener('click', (ev) => {
    const li = ev.target.closest('li');
    if (!li) return;
    const id = li.dataset.run;
    if (ev.target.matches('input[type=checkbox]')) {
      if (ev.target.checked) state.selected.add(id);
      else state.selected.delete(id);
      loadMetrics(id).then(renderCharts);
      return;
    }
    ev.preventDefault();
    state.active = id;
    state.traj = { kind: '', step: '', correct: '', searches: '', group: '', page: 0 };
    renderRuns();
    renderTab();
  });

  async function refreshRuns() {
    state.runs = await api.runs();
    state.runs.forEach((r, i) => {
      if (!state.colors[r.id])
        state.colors[r.id] = PALETTE[Object.keys(state.colors).length % PALETTE.length];
      void i;
    });
    if (!state.active || !runById(state.active)) {
      const first = state.runs.find((r) => r.kind === 'train') || state.runs[0];
      state.active = first ? first.id : null;
      if (state.selected.size === 0)
        state.runs.filter((r) => r.kind === 'train').forEach((r) => state.selected.add(r.id));
    }
    renderRuns();
  }

  // ------------------------------------------------------------------ metrics (incremental)
  async function loadMetrics(id) {
    let m = state.metrics[id];
    if (!m) m = state.metrics[id] = { rows: [], cursor: { offset: 0, line: 0 }, errors: [], pending: 0 };
    for (let guard = 0; guard < 1000; guard++) {
      const c = await api.metrics(id, m.cursor);
      if (c.reset) {
        m.rows = [];
        m.errors = [];
        m.cursor = { offset: 0, line: 0 };
        continue;
      }
      m.rows.push(...c.rows);
      m.errors.push(...c.errors);
      m.cursor = c.cursor;
      m.pending = c.pending;
      if (!c.more) break;
    }
    return m;
  }

  function renderErrors() {
    const errs = [];
    for (const id of new Set([...state.selected, state.active])) {
      const m = state.metrics[id];
      if (m) for (const e of m.errors) errs.push(`${esc(e.file)}:${e.line}: ${esc(e.message)}`);
    }
    $('#errors').innerHTML = errs.length
      ? `<div class="error"><b>Lines that could not be read</b> (shown nowhere else):<ul>${errs
          .slice(0, 20)
          .map((e) => '<li>' + e + '</li>')
          .join('')}</ul></div>`
      : '';
  }

  // ------------------------------------------------------------------ charts
  /** Debiased exponential moving average (as TensorBoard's smoothing slider). */
  function smooth(ys, w) {
    if (!w) return ys;
    let last = 0;
    let n = 0;
    return ys.map((y) => {
      if (y === null || !Number.isFinite(y)) return y;
      last = last * w + (1 - w) * y;
      n++;
      return last / (1 - Math.pow(w, n));
    });
  }

  function chartSeries(def) {
    const runs = [...state.selected].map(runById).filter(Boolean);
    const out = [];
    runs.forEach((r) => {
      const rows = (state.metrics[r.id] || { rows: [] }).rows;
      let keys = def.keys || [];
      if (def.prefix) {
        const seen = new Set();
        for (const row of rows) for (const k of Object.keys(row)) if (k.startsWith(def.prefix)) seen.add(k);
        keys = [...seen].sort();
      }
      keys.forEach((k, ki) => {
        const pts = rows.filter((row) => typeof row[k] === 'number' && Number.isFinite(row[k]));
        if (pts.length === 0) return;
        const suffix = def.prefix ? k.slice(def.prefix.length) : keys.length > 1 ? k : '';
        out.push({
          run: r.id,
          key: k,
          label: runs.length > 1 ? r.name + (suffix ? ' · ' + suffix : '') : suffix || r.name,
          stroke: runs.length > 1 || keys.length === 1 ? state.colors[r.id] : PALETTE[ki % PALETTE.length],
          dash: runs.length > 1 ? DASHES[ki % DASHES.length] : [],
          x: pts.map((row) => row.step),
          y: pts.map((row) => row[k]),
        });
      });
    });
    return out;
  }

  function aligned(series) {
    const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const ys = series.map((s) => {
      const y = new Array(xs.length).fill(null);
      s.x.forEach((x, i) => (y[at.get(x)] = s.y[i]));
      return smooth(y, state.smoothing);
    });
    return [xs, ...ys];
  }

  function chartWidth(container) {
    const w = container.clientWidth || 900;
    const cols = w >= 1300 ? 3 : w >= 820 ? 2 : 1;
    return Math.floor((w - (cols - 1) * 14) / cols) - 22;
  }

  function drawChart(container, id, def, series) {
    const data = aligned(series);
    const sig = series.map((s) => s.label + '|' + s.stroke).join(';');
    const old = state.charts[id];
    const width = chartWidth(container);
    if (old && old.sig === sig && old.width === width) {
      old.u.setData(data);
      old.series = series;
      return;
    }
    if (old) {
      old.el.remove();
      old.u.destroy();
    }
    const el = document.createElement('div');
    el.className = 'chart';
    el.dataset.chart = id;
    el.innerHTML = `<h3>${esc(def.title)} <code>${esc(def.note)}</code></h3>`;
    container.appendChild(el);
    const sparse = series.some((s) => s.x.length < 4);
    const u = new uPlot(
      {
        width,
        height: 220,
        scales: {
          x: { time: false, range: (u, min, max) => (min === max ? [min - 1, max + 1] : [min, max]) },
          y: {
            range: (u, min, max) =>
              min === max
                ? [min - Math.max(1, Math.abs(min) * 0.1), max + Math.max(1, Math.abs(max) * 0.1)]
                : uPlot.rangeNum(min, max, 0.1, true),
          },
        },
        axes: [{ label: 'step', size: 36, incrs: STEP_INCRS }, { size: 60 }],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        series: [{ label: 'step' }].concat(
          series.map((s) => ({
            label: s.label,
            stroke: s.stroke,
            width: 1.6,
            dash: s.dash,
            spanGaps: true,
            points: { show: sparse || s.key.startsWith('val/'), size: 5 },
            value: (u, v) => fmt(v),
          })),
        ),
      },
      data,
      el,
    );
    state.charts[id] = { u, sig, width, el, series, title: def.title, keys: series.map((s) => s.key) };
  }

  function renderCharts() {
    const box = $('#charts');
    const extraBox = $('#extra-charts');
    const wanted = new Set();
    const defs = CHARTS.map((d, i) => ({ ...d, id: 'c' + i }));
    // "more metrics": every key matching the text that no chart above shows
    if (state.extra.trim()) {
      const shown = new Set(CHARTS.flatMap((d) => d.keys || []));
      const keys = new Set();
      for (const id of state.selected)
        for (const row of (state.metrics[id] || { rows: [] }).rows)
          for (const k of Object.keys(row))
            if (k !== 'step' && k.includes(state.extra.trim()) && !shown.has(k)) keys.add(k);
      [...keys]
        .sort()
        .slice(0, 24)
        .forEach((k) => defs.push({ keys: [k], title: k, note: '', id: 'x:' + k, extra: true }));
    }
    let drawn = 0;
    for (const d of defs) {
      const series = chartSeries(d);
      if (series.length === 0) continue;
      wanted.add(d.id);
      drawChart(d.extra ? extraBox : box, d.id, d, series);
      drawn++;
    }
    for (const id of Object.keys(state.charts))
      if (!wanted.has(id)) {
        state.charts[id].u.destroy();
        state.charts[id].el.remove();
        delete state.charts[id];
      }
    const sel = [...state.selected].map(runById).filter(Boolean);
    $('#curve-note').textContent =
      sel.length === 0
        ? 'Tick a run on the left to see its curves.'
        : drawn === 0
          ? 'No metrics yet: ' +
            sel
              .map(
                (r) =>
                  r.name +
                  (r.kind === 'train'
                    ? ' (metrics.jsonl empty or missing)'
                    : ' (' + r.kind + ' run: see Tables)'),
              )
              .join(', ')
          : sel
              .map((r) => r.name + ': ' + (state.metrics[r.id] || { rows: [] }).rows.length + ' rows')
              .join(' · ');
    renderErrors();
    window.dashboard.updates++;
  }

  // ------------------------------------------------------------------ tables
  function tableHtml(t) {
    const head = t.columns.map((c) => `<th>${esc(c)}</th>`).join('');
    const body = t.rows.map((r) => `<tr>${r.map((c) => `<td>${fmt(c)}</td>`).join('')}</tr>`).join('');
    return `<div class="table"><h3>${esc(t.title)}</h3><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>${t.caption ? `<p class="hint">${esc(t.caption)}</p>` : ''}</div>`;
  }

  /** Validation per data source, from the metrics rows (val/test_score/<source>, val/em/<source>). */
  function validationTable(rows) {
    const vrows = rows.filter((r) => Object.keys(r).some((k) => k.startsWith('val/test_score/')));
    if (vrows.length === 0) return null;
    const sources = [
      ...new Set(
        vrows.flatMap((r) =>
          Object.keys(r)
            .filter((k) => k.startsWith('val/test_score/'))
            .map((k) => k.slice(15)),
        ),
      ),
    ].sort();
    return {
      title: 'Validation by data source (greedy, every validation question)',
      columns: [
        'step',
        ...sources.flatMap((s) => [s + ' score', s + ' EM']),
        'EM (all)',
        'questions',
        'searches / question',
        'response length',
      ],
      rows: vrows.map((r) => [
        r.step,
        ...sources.flatMap((s) => [r['val/test_score/' + s] ?? null, r['val/em/' + s] ?? null]),
        r['val/em/all'] ?? null,
        r['val/num_questions'] ?? null,
        r['val/number_of_valid_search'] ?? null,
        r['val/response_length/mean'] ?? null,
      ]),
      caption:
        'From metrics.jsonl; the transcripts are in the run\'s val/step-N.jsonl (Trajectories tab, kind "val").',
    };
  }

  async function renderTables() {
    const run = runById(state.active);
    const el = $('#tab-tables');
    if (!run) return (el.innerHTML = '<p class="hint">No run.</p>');
    const parts = [];
    if (run.kind === 'train') {
      const m = await loadMetrics(run.id);
      const v = validationTable(m.rows);
      if (v) parts.push(tableHtml(v));
    }
    const t = await api.tables(run.id);
    for (const tb of t.tables) parts.push(tableHtml(tb));
    if (t.errors && t.errors.length)
      parts.push(
        `<div class="error">${t.errors.map((e) => esc(e.file + ':' + e.line + ': ' + e.message)).join('<br>')}</div>`,
      );
    el.innerHTML =
      `<h2>${esc(run.name)} <span class="kind">${run.kind}</span></h2>` +
      (parts.join('') || '<p class="hint">No validation or evaluation results in this run yet.</p>');
  }

  // ------------------------------------------------------------------ trajectories
  function options(values, cur, all, label) {
    return (
      `<option value="">${all}</option>` +
      values
        .map(
          (v) =>
            `<option value="${esc(v)}" ${String(v) === String(cur) ? 'selected' : ''}>${esc(label ? label(v) : v)}</option>`,
        )
        .join('')
    );
  }

  async function renderTrajectories() {
    const run = runById(state.active);
    if (!run) return;
    const f = state.traj;
    const kinds = run.kind === 'train' ? ['rollout', 'val'] : ['eval'];
    $('#f-kind').innerHTML = options(kinds, f.kind, 'all', (k) =>
      k === 'rollout' ? 'training rollouts' : k === 'val' ? 'validation' : 'evaluation',
    );
    const pageSize = 10;
    const res = await api.trajectories(run.id, { ...f, pageSize });
    $('#f-step').innerHTML = options(res.steps, f.step, 'all');
    $('#f-step').disabled = res.steps.length === 0;
    $('#f-searches').innerHTML = options(res.searchCounts, f.searches, 'any');
    $('#f-group').innerHTML = options(res.groups, f.group, 'all');
    const pages = Math.max(1, Math.ceil(res.total / pageSize));
    $('#page-info').textContent = `page ${res.page + 1} of ${pages} · ${res.total} trajectories`;
    $('#prev').disabled = res.page === 0;
    $('#next').disabled = res.page + 1 >= pages;
    $('#traj-note').textContent =
      res.note ||
      (res.errors && res.errors.length
        ? res.errors.map((e) => e.file + ':' + e.line + ': ' + e.message).join('; ')
        : '');
    $('#trajs').innerHTML = res.items.length
      ? res.items
          .map(
            (
              t,
            ) => `<article class="traj" data-kind="${t.kind}" data-step="${t.step ?? ''}" data-correct="${t.em > 0 ? 1 : 0}" data-searches="${t.searches}">
<h3><span class="badge ${t.kind}">${t.kind}${t.step !== null ? ' · step ' + t.step : ''}</span> ${esc(t.question)}</h3>
<dl><dt>prediction</dt><dd class="${t.em > 0 ? 'ok' : 'bad'}">${esc(t.prediction || '(none)')}</dd><dt>gold</dt><dd>${esc(t.golds.join(' | '))}</dd>
<dt>EM</dt><dd>${t.em}</dd>${t.score !== undefined ? `<dt>reward</dt><dd>${fmt(t.score)}</dd>` : ''}<dt>searches</dt><dd>${t.searches}</dd>
${t.finish ? `<dt>finish</dt><dd>${esc(t.finish)}</dd>` : ''}<dt>source</dt><dd>${esc(t.group)}</dd><dt>line</dt><dd><code>${esc(t.source)}</code></dd></dl>
${t.prompt ? `<details><summary>prompt</summary><pre class="prompt">${esc(t.prompt)}</pre></details>` : ''}
<pre class="response">${t.html}</pre></article>`,
          )
          .join('')
      : '<p class="hint">No trajectories match (training runs write samples/step-N.jsonl each step and val/step-N.jsonl at each validation).</p>';
  }
  for (const [sel, key] of [
    ['#f-kind', 'kind'],
    ['#f-step', 'step'],
    ['#f-correct', 'correct'],
    ['#f-searches', 'searches'],
    ['#f-group', 'group'],
  ])
    document.querySelector(sel).addEventListener('change', (ev) => {
      state.traj[key] = ev.target.value;
      state.traj.page = 0;
      renderTrajectories();
    });
  $('#prev').addEventListener('click', () => {
    state.traj.page = Math.max(0, state.traj.page - 1);
    renderTrajectories();
  });
  $('#next').addEventListener('click', () => {
    state.traj.page++;
    renderTrajectories();
  });

  // ------------------------------------------------------------------ config & checkpoints
  async function renderConfig() {
    const run = runById(state.active);
    const el = $('#tab-config');
    if (!run) return;
    const [cfg, cks] = await Promise.all([api.config(run.id), api.checkpoints(run.id)]);
    const ckHtml = cks.length
      ? tableHtml({
          title: 'Checkpoints (newest kept; resume with --resume)',
          columns: ['step', 'folder', 'models', 'size (MB)', 'written'],
          rows: cks.map((c) => [
            c.step,
            c.path,
            c.models.join(', '),
            Math.round(c.bytes / 1e5) / 10,
            c.written.replace('T', ' ').slice(0, 19),
          ]),
        })
      : `<p class="hint">${run.kind === 'train' ? 'No checkpoint yet.' : 'Not a training run: no checkpoints.'}</p>`;
    el.innerHTML = `<h2>${esc(run.name)} <span class="kind">${run.kind}</span></h2>${ckHtml}
<h3>Resolved config ${cfg ? '<code>' + esc(cfg.file) + '</code>' : ''}</h3>${cfg ? `<pre class="config">${esc(JSON.stringify(cfg.config, null, 2))}</pre>` : '<p class="hint">No config file in this run.</p>'}`;
  }

  // ------------------------------------------------------------------ tabs, live updates
  function renderTab() {
    document
      .querySelectorAll('.tabs button')
      .forEach((b) => b.classList.toggle('on', b.dataset.tab === state.tab));
    document
      .querySelectorAll('.tab')
      .forEach((s) => (s.style.display = s.id === 'tab-' + state.tab ? '' : 'none'));
    const run =
      state.tab === 'curves'
        ? Promise.all([...state.selected].map(loadMetrics)).then(renderCharts)
        : state.tab === 'tables'
          ? renderTables()
          : state.tab === 'trajectories'
            ? renderTrajectories()
            : renderConfig();
    return run.catch((e) => setStatus('error: ' + e.message, 'bad'));
  }
  document.querySelector('.tabs').addEventListener('click', (ev) => {
    const b = ev.target.closest('button');
    if (!b) return;
    state.tab = b.dataset.tab;
    renderTab();
  });
  $('#smoothing').addEventListener('input', (ev) => {
    state.smoothing = Number(ev.target.value);
    $('#smoothing-v').textContent = state.smoothing.toFixed(2);
    renderCharts();
  });
  $('#extra').addEventListener('input', (ev) => {
    state.extra = ev.target.value;
    renderCharts();
  });
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderCharts, 150);
  });

  let pending = Promise.resolve();
  function onChange(id) {
    // One update at a time: increments are read in order, from the cursor the last one left.
    pending = pending
      .then(async () => {
        if (state.selected.has(id) || state.metrics[id]) await loadMetrics(id);
        renderRuns();
        if (state.tab === 'curves') renderCharts();
        else if (id === state.active) await renderTab();
      })
      .catch((e) => setStatus('error: ' + e.message, 'bad'));
  }

  async function start() {
    await refreshRuns();
    await Promise.all([...state.selected].map(loadMetrics));
    renderRuns();
    await renderTab();
    if (SNAP) {
      setStatus('static report · ' + SNAP.generated.replace('T', ' ').slice(0, 19) + ' UTC', 'static');
    } else {
      const es = new EventSource('/api/events');
      es.addEventListener('open', () => setStatus('● live', 'live'));
      es.addEventListener('error', () => setStatus('○ reconnecting…', 'bad'));
      es.addEventListener('change', (ev) => onChange(JSON.parse(ev.data).run));
      es.addEventListener('runs', () => {
        pending = pending.then(refreshRuns).then(renderTab);
      });
    }
    window.dashboard.ready = true;
  }
  start().catch((e) => setStatus('error: ' + e.message, 'bad'));
})();
