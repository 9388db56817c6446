// `npm run bench:chart`: draws the main benchmark results (docs/bench-results/*.json, written by the
// benchmarks run with --save, as `npm run bench` does) as one SVG image, docs/benchmarks.svg, shown in
// docs/BENCHMARKS.md. Vega-Lite compiles the chart, Vega renders it headless to SVG (no canvas, no
// browser, offline). A result file that is missing leaves its panel or row out.
// Usage: node bench/chart.mjs [--out docs/benchmarks.svg] [--results docs/bench-results]
import { readFile, writeFile } from 'node:fs/promises';
import * as vega from 'vega';
import { compile } from 'vega-lite';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const resultsDir = arg('--results', 'docs/bench-results');
const out = arg('--out', 'docs/benchmarks.svg');

async function load(name) {
  try {
    return JSON.parse(await readFile(`${resultsDir}/${name}.json`, 'utf8'));
  } catch {
    return undefined;
  }
}

const [throughput, connect, memory, scope, revocation] = await Promise.all(
  ['throughput', 'connect', 'memory', 'scope', 'revocation'].map(load),
);

// One colour scale for every panel (Vega-Lite shares it across the concatenated views).
const colors = {
  'bare aedes': '#7570b3',
  mosquitto: '#66a61e',
  keygate: '#d95f02',
  'keygate warm': '#d95f02',
  'keygate cold': '#fdae6b',
  met: '#1b9e77',
  'not met': '#e7298a',
};
const colorScale = { domain: Object.keys(colors), range: Object.values(colors) };
const day = (r) => r?.measuredAt?.slice(0, 10) ?? '';

function bars(title, unit, rows, scaleType = 'linear') {
  return {
    title: { text: title, fontSize: 13 },
    width: 260,
    height: 24 * rows.length,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'name', type: 'nominal', sort: null, title: null },
          x: { field: 'value', type: 'quantitative', title: unit, scale: { type: scaleType } },
          // A bar on a log scale needs a baseline other than 0.
          ...(scaleType === 'log' ? { x2: { datum: 1 } } : {}),
          color: {
            field: 'name',
            type: 'nominal',
            legend: null,
            scale: colorScale,
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 },
        encoding: {
          y: { field: 'name', type: 'nominal', sort: null },
          x: { field: 'value', type: 'quantitative' },
          text: { field: 'label' },
        },
      },
    ],
  };
}

const fmt = (x, digits = 0) =>
  x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const panels = [];

if (throughput) {
  const rows = [
    { name: 'bare aedes', value: throughput.bare.deliveredPerSec },
    { name: 'keygate', value: throughput.keygate.deliveredPerSec },
  ];
  if (typeof throughput.mosquitto === 'object') {
    rows.push({ name: 'mosquitto', value: throughput.mosquitto.deliveredPerSec });
  }
  for (const r of rows) r.label = fmt(r.value);
  panels.push(
    bars(
      `Publish throughput, QoS 0 (median of ${throughput.runsPerVariant}; ${day(throughput)})`,
      'delivered msg/s',
      rows,
    ),
  );
}

if (connect?.rate) {
  const r = connect.rate;
  const rows = [
    { name: 'bare aedes', value: r.bare },
    ...(r.mosquittoPerSec ? [{ name: 'mosquitto', value: r.mosquittoPerSec }] : []),
    { name: 'keygate warm', value: r.warm },
    { name: 'keygate cold', value: r.cold },
  ].filter((row) => row.value > 0);
  for (const row of rows) row.label = fmt(row.value, row.value < 100 ? 1 : 0);
  panels.push(
    bars(
      `CONNECT rate, ${r.inFlight} in flight (median of ${r.runsPerVariant}; ${day(connect)})`,
      'CONNECT/s (log scale)',
      rows,
      'log',
    ),
  );
}

// Every target as "how far from it": measured / target for "at least" targets, target / measured for
// "at most" ones, so that 1 or more means met. The label gives the measured value itself.
const targets = [];
const target = (name, measured, goal, atLeast, label) => {
  if (measured === undefined || Number.isNaN(measured)) return;
  const score = atLeast ? measured / goal : measured > 0 ? goal / measured : 10;
  targets.push({ name, score: Math.min(score, 10), met: score >= 1 ? 'met' : 'not met', label });
};
if (throughput) {
  target(
    '1 throughput >= 0.95x aedes',
    throughput.ratio.delivered,
    0.95,
    true,
    // Three decimals: 0.948 is not met, and would read "0.95x" with two.
    `${fmt(throughput.ratio.delivered, 3)}x`,
  );
  const cmds = throughput.redis.commandsPerPublish + throughput.redis.commandsPerSubscribe;
  targets.push({
    name: '2 zero Redis commands',
    score: cmds === 0 ? 1 : 0,
    met: cmds === 0 ? 'met' : 'not met',
    label: `${fmt(throughput.redis.commandsPerPublish, 3)} per publish`,
  });
}
if (connect?.rate) {
  const ratio = connect.rate.ratio;
  target('3 warm >= 0.9x aedes CONNECT', ratio.warmOverBare, 0.9, true, `${fmt(ratio.warmOverBare, 3)}x`);
  target('3 warm >= 50x cold', ratio.warmOverCold, 50, true, `${fmt(ratio.warmOverCold ?? 0, 1)}x`);
}
if (connect?.storm) {
  const st = connect.storm;
  target('4 cold storm rate', st.perSec, st.target.perSec, true, `${fmt(st.perSec, 1)}/s`);
  target('4 storm loop p99 <= 10 ms', st.eventLoop.p99, 10, false, `${fmt(st.eventLoop.p99, 1)} ms`);
}
if (connect?.restart) {
  const rs = connect.restart;
  const seconds = rs.secondsUntilAllReadmitted;
  target(
    `5 restart, ${fmt(rs.devices)} devices <= 10 s`,
    seconds ?? Number.POSITIVE_INFINITY,
    10,
    false,
    seconds === undefined ? 'not all re-admitted' : `${fmt(seconds, 1)} s`,
  );
}
if (memory) {
  target(
    '6 heap <= 1 KB/conn beyond aedes',
    memory.extraBytesPerConnection,
    1024,
    false,
    `${fmt(memory.extraBytesPerConnection)} B`,
  );
}
if (scope) target('7 scope 100k/10 devices <= 3x', scope.ratio, 3, false, `${fmt(scope.ratio, 1)}x`);
if (revocation) {
  const notif = revocation.paths.find((p) => p.path === 'notifications');
  if (notif) target('revocation p99 <= 50 ms', notif.p99, 50, false, `${fmt(notif.p99, 1)} ms`);
}
if (targets.length) {
  panels.push({
    title: { text: 'Targets of issue 7: measured / target (1 or more = met, capped at 10)', fontSize: 13 },
    width: 560,
    height: 22 * targets.length,
    data: { values: targets },
    layer: [
      {
        mark: 'bar',
        encoding: {
          y: { field: 'name', type: 'nominal', sort: null, title: null },
          x: {
            field: 'score',
            type: 'quantitative',
            title: 'score (log scale)',
            scale: { type: 'log', domain: [0.01, 10] },
          },
          x2: { datum: 0.01 },
          color: {
            field: 'met',
            type: 'nominal',
            legend: null,
            scale: colorScale,
          },
        },
      },
      { mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { x: { datum: 1 } } },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 },
        encoding: {
          y: { field: 'name', type: 'nominal', sort: null },
          x: { field: 'score', type: 'quantitative' },
          text: { field: 'label' },
        },
      },
    ],
  });
}

if (!panels.length) {
  console.error(`no results in ${resultsDir}: run the benchmarks with --save first (npm run bench)`);
  process.exit(1);
}

const top = panels.slice(0, Math.min(panels.length, 2));
const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: {
    text: 'keygate benchmarks',
    subtitle:
      'bars: keygate against bare aedes 1.2 and mosquitto, measured in the same run (docs/BENCHMARKS.md)',
  },
  background: 'white',
  padding: 12,
  vconcat: [{ hconcat: top }, ...panels.slice(top.length)],
  config: {
    font: 'sans-serif',
    view: { stroke: null },
    axis: { labelFontSize: 11, titleFontSize: 11, labelLimit: 300 },
  },
};
const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
await writeFile(out, await view.toSVG());
view.finalize();
console.log(`wrote ${out} (${panels.length} panels, ${targets.length} targets)`);
