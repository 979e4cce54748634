// The dashboard page: one HTML document with uPlot, the app script and its styles inlined (no
// CDN, works offline). Served live by the dashboard server, or written as a static report with a
// snapshot of the runs' data embedded (`search-r1 report RUN`): the same app, the same view.
import { readFileSync } from 'node:fs';
import { loadUplot, TRAJECTORY_STYLE, trajectoryLegendHtml } from '../eval/report/render.ts';
import type { Snapshot } from './snapshot.ts';

const asset = (name: string) => readFileSync(new URL(`./client/${name}`, import.meta.url), 'utf8');

/** JSON inside <script>: escape '<' so no string can close the script element. */
const scriptJson = (x: unknown) => JSON.stringify(x).replace(/</g, '\\u003c');

export function dashboardHtml(snapshot?: Snapshot, title = 'Search-R1 dashboard'): string {
  const { js, css } = loadUplot();
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><link rel="icon" href="data:,">
<style>${css}</style><style>${TRAJECTORY_STYLE}</style><style>${asset('app.css')}</style></head>
<body>
<template id="legend">${trajectoryLegendHtml()}</template>
<script>window.SNAPSHOT = ${snapshot ? scriptJson(snapshot) : 'null'};</script>
<script>${js}</script>
<script>${asset('app.js')}</script>
</body></html>
`;
}
