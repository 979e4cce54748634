// The eval HTML report: the score tables (through the shared report renderer,
// eval/report/render.ts) and a trajectory viewer with filters (method, dataset, correct /
// incorrect, number of searches, free text). Works offline: one file, no external assets.
// Transcripts are coloured server-side (renderTrajectoryHtml) and shown client-side on demand,
// so a large run stays a responsive page.
import { escapeHtml, renderReport, renderTrajectoryHtml, type Table } from './report/render.ts';
import { METRIC_LABELS, type MetricName, type ScoreTable } from './metrics.ts';
import type { TrajectoryRecord } from './types.ts';

export interface EvalReportInput {
  title: string;
  subtitle?: string;
  notes?: string[];
  table: ScoreTable;
  trajectories: TrajectoryRecord[];
  /** Most trajectories embedded (default 5000); the rest are counted in a note. */
  maxTrajectories?: number;
  /** How many trajectories the run has in all, when `trajectories` is a sample of them. */
  totalTrajectories?: number;
}

export function scoreTables(t: ScoreTable, metrics: readonly MetricName[] = ['em', 'subem', 'f1']): Table[] {
  // Cells as fixed 3-decimal strings (the renderer would print an exact 0 or 1 as an integer).
  const f = (x: number | undefined) => (x === undefined ? null : x.toFixed(3));
  const n = t.datasets.map((d) => Math.max(0, ...t.methods.map((m) => t.cells[m][d]?.n ?? 0)));
  return metrics.map((metric) => ({
    title: METRIC_LABELS[metric],
    columns: ['Method', ...t.datasets.map((d, i) => `${d} (n=${n[i]})`), 'Avg.'],
    rows: t.methods.map((m) => [
      m,
      ...t.datasets.map((d) => f(t.cells[m][d]?.[metric])),
      f(t.average[m][metric]),
    ]),
  }));
}

const VIEWER_STYLE = `
.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 8px 0; position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid #ddd; }
.filters label { font-size: 13px; } .count { color: #555; font-size: 13px; }
.ok { color: #0b6e0b; font-weight: 600; } .bad { color: #b00020; font-weight: 600; }
#more { margin: 10px 0; }
`;

export function renderEvalReport(input: EvalReportInput): string {
  const max = input.maxTrajectories ?? 5000;
  const shown = input.trajectories.slice(0, max);
  const notes = [...(input.notes ?? [])];
  const total = Math.max(input.totalTrajectories ?? 0, input.trajectories.length);
  if (total > shown.length)
    notes.push(
      `The viewer holds ${shown.length} of the ${total} trajectories (an even share per method and dataset; trajectories.jsonl has all).`,
    );
  const base = renderReport({
    title: input.title,
    subtitle: input.subtitle,
    notes,
    tables: scoreTables(input.table),
  });
  const data = shown.map((r) => ({
    m: r.method,
    d: r.dataset,
    id: r.id,
    q: r.question,
    g: r.golds,
    p: r.prediction,
    em: r.em,
    sub: r.subem,
    f1: r.f1,
    s: r.numSearches,
    fin: r.finish,
    prompt: r.prompt,
    html: renderTrajectoryHtml(r.segments),
  }));
  const options = (values: (string | number)[]) =>
    values.map((v) => `<option value="${escapeHtml(String(v))}">${escapeHtml(String(v))}</option>`).join('');
  const methods = [...new Set(data.map((x) => x.m))];
  const datasets = [...new Set(data.map((x) => x.d))];
  const searches = [...new Set(data.map((x) => x.s))].sort((a, b) => a - b);
  const viewer = `
<style>${VIEWER_STYLE}</style>
<h2>Trajectories</h2>
<div class="filters">
<label>method <select id="f-method"><option value="">all</option>${options(methods)}</select></label>
<label>dataset <select id="f-dataset"><option value="">all</option>${options(datasets)}</select></label>
<label>result <select id="f-correct"><option value="">all</option><option value="1">correct (EM)</option><option value="0">incorrect</option></select></label>
<label>searches <select id="f-searches"><option value="">any</option>${options(searches)}</select></label>
<label>text <input id="f-text" type="search" placeholder="question, answer…"></label>
<span class="count" id="count"></span>
</div>
<div id="trajs"></div>
<button id="more" type="button">show more</button>
<script>
const TRAJS = ${JSON.stringify(data).replace(/</g, '\\u003c')};
const PAGE = 50;
let limit = PAGE;
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
function matches(t) {
  const m = $('f-method').value, d = $('f-dataset').value, c = $('f-correct').value, s = $('f-searches').value;
  const q = $('f-text').value.trim().toLowerCase();
  if (m && t.m !== m) return false;
  if (d && t.d !== d) return false;
  if (c !== '' && String(t.em) !== c) return false;
  if (s !== '' && String(t.s) !== s) return false;
  if (q && !(t.q + ' ' + t.p + ' ' + t.g.join(' ') + ' ' + t.id).toLowerCase().includes(q)) return false;
  return true;
}
function render() {
  const hits = TRAJS.filter(matches);
  $('count').textContent = hits.length + ' of ' + TRAJS.length + ' trajectories';
  $('trajs').innerHTML = hits.slice(0, limit).map((t) =>
    '<section class="traj" data-method="' + esc(t.m) + '" data-dataset="' + esc(t.d) + '" data-correct="' + t.em + '" data-searches="' + t.s + '">' +
    '<h3>' + esc(t.m) + ' · ' + esc(t.d) + ' · ' + esc(t.id) + ': ' + esc(t.q) + '</h3>' +
    '<dl><dt>prediction</dt><dd class="' + (t.em ? 'ok' : 'bad') + '">' + esc(t.p || '(none)') + '</dd>' +
    '<dt>gold</dt><dd>' + esc(t.g.join(' | ')) + '</dd><dt>EM</dt><dd>' + t.em + '</dd><dt>SubEM</dt><dd>' + t.sub + '</dd>' +
    '<dt>F1</dt><dd>' + t.f1.toFixed(3) + '</dd><dt>searches</dt><dd>' + t.s + '</dd><dt>finish</dt><dd>' + esc(t.fin) + '</dd></dl>' +
    '<details><summary>prompt</summary><pre class="prompt">' + esc(t.prompt) + '</pre></details>' +
    '<pre class="response">' + t.html + '</pre></section>').join('');
  $('more').style.display = hits.length > limit ? '' : 'none';
}
for (const id of ['f-method', 'f-dataset', 'f-correct', 'f-searches', 'f-text']) $(id).addEventListener('input', () => { limit = PAGE; render(); });
$('more').addEventListener('click', () => { limit += PAGE; render(); });
render();
</script>
`;
  const at = base.lastIndexOf('</body>');
  return base.slice(0, at) + viewer + base.slice(at);
}
