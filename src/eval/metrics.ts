// Scores of one prediction (EM, SubEM, token F1: protocol/rewards.ts, SQuAD normalisation) and
// the tables: per method × dataset means and the unweighted average over datasets (the paper's
// "Avg." column).
import { exactMatch, subExactMatch, tokenF1 } from '../protocol/rewards.ts';
import type { ResultRecord } from './types.ts';

export type MetricName = 'em' | 'subem' | 'f1';
export const METRIC_LABELS: Record<MetricName, string> = { em: 'EM', subem: 'SubEM', f1: 'F1' };

export function scorePrediction(
  prediction: string,
  golds: readonly string[],
): { em: number; subem: number; f1: number } {
  if (prediction.length === 0) return { em: 0, subem: 0, f1: 0 };
  return {
    em: exactMatch(prediction, golds),
    subem: subExactMatch(prediction, golds),
    f1: tokenF1(prediction, golds),
  };
}

export interface CellStats {
  n: number;
  em: number;
  subem: number;
  f1: number;
  searches: number;
}

export interface ScoreTable {
  methods: string[];
  datasets: string[];
  /** cells[method][dataset]: means over that dataset's questions (absent: not run). */
  cells: Record<string, Record<string, CellStats>>;
  /** Unweighted mean over the datasets a method has results for. */
  average: Record<string, CellStats>;
}

export function buildScoreTable(
  records: Iterable<ResultRecord>,
  methodOrder: readonly string[],
  datasetOrder: readonly string[],
): ScoreTable {
  const sums: Record<string, Record<string, CellStats>> = {};
  for (const r of records) {
    const row = (sums[r.method] ??= {});
    const c = (row[r.dataset] ??= { n: 0, em: 0, subem: 0, f1: 0, searches: 0 });
    c.n++;
    c.em += r.em;
    c.subem += r.subem;
    c.f1 += r.f1;
    c.searches += r.numSearches;
  }
  const order = (seen: string[], preferred: readonly string[]) => [
    ...preferred.filter((x) => seen.includes(x)),
    ...seen.filter((x) => !preferred.includes(x)).sort(),
  ];
  const methods = order(Object.keys(sums), methodOrder);
  const datasets = order([...new Set(Object.values(sums).flatMap((r) => Object.keys(r)))], datasetOrder);
  const cells: ScoreTable['cells'] = {};
  const average: ScoreTable['average'] = {};
  for (const m of methods) {
    cells[m] = {};
    const avg: CellStats = { n: 0, em: 0, subem: 0, f1: 0, searches: 0 };
    let k = 0;
    for (const d of datasets) {
      const s = sums[m][d];
      if (!s) continue;
      const mean = {
        n: s.n,
        em: s.em / s.n,
        subem: s.subem / s.n,
        f1: s.f1 / s.n,
        searches: s.searches / s.n,
      };
      cells[m][d] = mean;
      avg.n += s.n;
      avg.em += mean.em;
      avg.subem += mean.subem;
      avg.f1 += mean.f1;
      avg.searches += mean.searches;
      k++;
    }
    average[m] =
      k === 0
        ? avg
        : { n: avg.n, em: avg.em / k, subem: avg.subem / k, f1: avg.f1 / k, searches: avg.searches / k };
  }
  return { methods, datasets, cells, average };
}

const fmt = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(3));

/** One markdown table per metric: rows = methods, columns = datasets + Avg. */
export function markdownTables(
  t: ScoreTable,
  metrics: readonly MetricName[] = ['em', 'subem', 'f1'],
): string {
  const out: string[] = [];
  const counts = t.datasets.map((d) => Math.max(0, ...t.methods.map((m) => t.cells[m][d]?.n ?? 0)));
  for (const metric of metrics) {
    out.push(`### ${METRIC_LABELS[metric]}\n`);
    out.push(`| Method | ${t.datasets.map((d, i) => `${d} (n=${counts[i]})`).join(' | ')} | Avg. |`);
    out.push(`|---|${t.datasets.map(() => '---:|').join('')}---:|`);
    for (const m of t.methods) {
      out.push(
        `| ${m} | ${t.datasets.map((d) => fmt(t.cells[m][d]?.[metric])).join(' | ')} | ${fmt(t.average[m][metric])} |`,
      );
    }
    out.push('');
  }
  // EM is a mean of 0/1 scores: its standard error sqrt(p(1-p)/n) says which gaps are noise
  // (small test sets such as Bamboogle's 125 or the world's held-out questions).
  out.push('### EM ± standard error\n');
  out.push(`| Method | ${t.datasets.join(' | ')} | Avg. |`);
  out.push(`|---|${t.datasets.map(() => '---:|').join('')}---:|`);
  for (const m of t.methods) {
    const se = t.datasets.map((d) => {
      const c = t.cells[m][d];
      return c ? Math.sqrt((c.em * (1 - c.em)) / c.n) : undefined;
    });
    const known = se.filter((x): x is number => x !== undefined);
    const avgSe =
      known.length > 0 ? Math.sqrt(known.reduce((a, x) => a + x * x, 0)) / known.length : undefined;
    const cell = (p: number | undefined, e: number | undefined) =>
      p === undefined || e === undefined ? '–' : `${p.toFixed(3)} ± ${e.toFixed(3)}`;
    out.push(
      `| ${m} | ${t.datasets.map((d, i) => cell(t.cells[m][d]?.em, se[i])).join(' | ')} | ${cell(t.average[m].em, avgSe)} |`,
    );
  }
  out.push('');
  out.push('### Searches per question\n');
  out.push(`| Method | ${t.datasets.join(' | ')} | Avg. |`);
  out.push(`|---|${t.datasets.map(() => '---:|').join('')}---:|`);
  for (const m of t.methods) {
    out.push(
      `| ${m} | ${t.datasets.map((d) => (t.cells[m][d] ? t.cells[m][d].searches.toFixed(2) : '–')).join(' | ')} | ${t.average[m].searches.toFixed(2)} |`,
    );
  }
  out.push('');
  return out.join('\n');
}
