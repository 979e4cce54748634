// One self-contained HTML report: line charts (uPlot, inlined from node_modules so the page works
// offline), tables, and trajectories with think/search/information/answer coloured and the
// environment's injected tokens marked. Generic on purpose: `search-r1 demo` and `search-r1 eval`
// both render through it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface Series {
  name: string;
  x: number[];
  y: (number | null)[];
}
export interface Chart {
  title: string;
  xLabel?: string;
  yLabel?: string;
  series: Series[];
}
export type Cell = string | number | null;
export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  caption?: string;
}
export interface TrajectorySegment {
  text: string;
  /** true: the environment wrote it (information block, invalid-action message); masked from the loss. */
  injected: boolean;
}
export interface TrajectoryView {
  title: string;
  /** The prompt, shown collapsed. */
  prompt?: string;
  segments: TrajectorySegment[];
  meta?: Record<string, string | number | boolean>;
}
export interface ReportInput {
  title: string;
  subtitle?: string;
  /** Free paragraphs (plain text) under the title. */
  notes?: string[];
  charts?: Chart[];
  tables?: Table[];
  trajectories?: TrajectoryView[];
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

let uplotAssets: { js: string; css: string } | null = null;
/** uPlot's script and stylesheet, read from node_modules once (pages inline them: no CDN). */
export function loadUplot(): { js: string; css: string } {
  if (!uplotAssets) {
    const req = createRequire(import.meta.url);
    const dist = join(dirname(req.resolve('uplot/package.json')), 'dist');
    uplotAssets = {
      js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8'),
    };
  }
  return uplotAssets;
}

/** uPlot wants one shared x array: the union of every series' x, with null where a series has no point. */
export function alignSeries(series: Series[]): { x: number[]; ys: (number | null)[][] } {
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    s.x.forEach((x, i) => {
      const v = s.y[i];
      y[index.get(x)!] = v === null || v === undefined || !Number.isFinite(v) ? null : v;
    });
    return y;
  });
  return { x: xs, ys };
}

const TAGS = ['think', 'search', 'information', 'answer'] as const;
const TAG_RE = /(<\/?(?:think|search|information|answer)>)/;

/**
 * Colours a trajectory. The tag state carries across segments (an information block opened in an
 * injected segment closes in the same one; a think can span turns).
 */
export function renderTrajectoryHtml(segments: TrajectorySegment[]): string {
  let open: string | null = null;
  const out: string[] = [];
  for (const seg of segments) {
    const parts = seg.text.split(TAG_RE).filter((p) => p.length > 0);
    const inner: string[] = [];
    for (const part of parts) {
      const m = /^<(\/?)(think|search|information|answer)>$/.exec(part);
      if (m) {
        const closing = m[1] === '/';
        if (!closing) open = m[2];
        inner.push(`<span class="tag t-${m[2]}">${escapeHtml(part)}</span>`);
        if (closing && open === m[2]) open = null;
      } else {
        inner.push(open ? `<span class="t-${open}">${escapeHtml(part)}</span>` : escapeHtml(part));
      }
    }
    out.push(`<span class="${seg.injected ? 'seg injected' : 'seg policy'}">${inner.join('')}</span>`);
  }
  return out.join('');
}

function renderTable(t: Table): string {
  const fmt = (c: Cell): string =>
    c === null
      ? '–'
      : typeof c === 'number'
        ? Number.isInteger(c)
          ? String(c)
          : c.toFixed(3)
        : escapeHtml(c);
  const head = t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${r.map((c) => `<td>${fmt(c)}</td>`).join('')}</tr>`).join('\n');
  const caption = t.caption ? `<p class="caption">${escapeHtml(t.caption)}</p>` : '';
  return `<section class="table"><h3>${escapeHtml(t.title)}</h3><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>${caption}</section>`;
}

function renderTrajectory(t: TrajectoryView): string {
  const meta = t.meta
    ? `<dl>${Object.entries(t.meta)
        .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`)
        .join('')}</dl>`
    : '';
  const prompt = t.prompt
    ? `<details><summary>prompt</summary><pre class="prompt">${escapeHtml(t.prompt)}</pre></details>`
    : '';
  return `<section class="traj"><h3>${escapeHtml(t.title)}</h3>${meta}${prompt}<pre class="response">${renderTrajectoryHtml(t.segments)}</pre></section>`;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** The trajectory colours, shared by every page that shows transcripts (report, eval viewer, dashboard). */
export const TRAJECTORY_STYLE = `
pre { white-space: pre-wrap; word-break: break-word; font: 12.5px/1.5 ui-monospace, monospace; margin: 0; }
.prompt { color: #777; }
.injected { background: #eef3f8; outline: 1px dashed #7b9cc0; }
.t-think { color: #7a5a00; } .t-search { color: #0b6e0b; font-weight: 600; } .t-information { color: #335577; }
.t-answer { color: #b00020; font-weight: 700; } .tag { opacity: 0.8; }
.legend span { margin-right: 14px; padding: 0 4px; }
`;

/** The key to the colours above. */
export function trajectoryLegendHtml(): string {
  return `<p class="legend">${TAGS.map((t) => `<span class="t-${t}">&lt;${t}&gt;</span>`).join('')}<span class="injected">injected by the environment (masked from the loss)</span></p>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; padding: 0 16px; }
h1 { margin-bottom: 4px; } .subtitle { color: #666; margin-top: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { border: 1px solid #ddd; border-radius: 6px; padding: 6px; }
.chart h3 { margin: 2px 6px 4px; font-size: 14px; }
table { border-collapse: collapse; margin: 6px 0 16px; } th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead { background: #f3f3f3; }
.caption { color: #666; font-size: 12px; margin-top: -10px; }
.traj { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
.traj h3 { margin: 2px 0 6px; font-size: 14px; }
.traj dl { display: flex; flex-wrap: wrap; gap: 2px 14px; margin: 0 0 6px; font-size: 12px; color: #555; }
.traj dt { font-weight: 600; } .traj dd { margin: 0; }
${TRAJECTORY_STYLE}`;

export function renderReport(input: ReportInput): string {
  const { js, css } = loadUplot();
  const charts = input.charts ?? [];
  const chartData = charts.map((c) => {
    const { x, ys } = alignSeries(c.series);
    return {
      title: c.title,
      xLabel: c.xLabel ?? 'step',
      yLabel: c.yLabel ?? '',
      names: c.series.map((s) => s.name),
      data: [x, ...ys],
    };
  });
  const notes = (input.notes ?? []).map((n) => `<p>${escapeHtml(n)}</p>`).join('\n');
  const chartDivs = charts
    .map((c, i) => `<div class="chart"><h3>${escapeHtml(c.title)}</h3><div id="chart-${i}"></div></div>`)
    .join('\n');
  const tables = (input.tables ?? []).map(renderTable).join('\n');
  const trajs = (input.trajectories ?? []).map(renderTrajectory).join('\n');
  const legend = trajectoryLegendHtml();
  // JSON inside <script>: escape '<' so no string can close the script element.
  const dataJson = JSON.stringify({ charts: chartData, palette: PALETTE }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>${css}</style><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(input.title)}</h1>
${input.subtitle ? `<p class="subtitle">${escapeHtml(input.subtitle)}</p>` : ''}
${notes}
${tables}
${charts.length ? `<h2>Training curves</h2><div class="charts">${chartDivs}</div>` : ''}
${trajs ? `<h2>Trajectories</h2>${legend}${trajs}` : ''}
<script>${js}</script>
<script>
const REPORT = ${dataJson};
REPORT.charts.forEach((c, i) => {
  const opts = {
    width: 540, height: 230,
    scales: { x: { time: false } },
    axes: [{ label: c.xLabel }, { label: c.yLabel }],
    series: [{ label: c.xLabel }].concat(c.names.map((n, k) => ({ label: n, stroke: REPORT.palette[k % REPORT.palette.length], width: 1.5, spanGaps: true }))),
  };
  new uPlot(opts, c.data, document.getElementById('chart-' + i));
});
</script>
</body></html>
`;
}
