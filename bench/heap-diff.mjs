// What grew between two heap snapshots (bench/heap-probe.mjs with BENCH_HEAP_SNAPSHOTS): self size and
// count per node type and constructor name, largest growth first.
// Run: node bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot [top=40]
import { readFileSync } from 'node:fs';

function summarise(path) {
  const snapshot = JSON.parse(readFileSync(path, 'utf8'));
  const {
    node_fields: fields,
    node_types: [types],
  } = snapshot.snapshot.meta;
  const width = fields.length;
  const at = (name) => fields.indexOf(name);
  const [typeAt, nameAt, sizeAt] = [at('type'), at('name'), at('self_size')];
  const totals = new Map();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    const name = type === 'object' || type === 'closure' ? strings[nodes[i + nameAt]] : '';
    const key = `${type} ${name}`.slice(0, 80);
    const entry = totals.get(key) ?? { size: 0, count: 0 };
    entry.size += nodes[i + sizeAt];
    entry.count += 1;
    totals.set(key, entry);
  }
  return totals;
}

const [beforePath, afterPath, top = '40'] = process.argv.slice(2);
const before = summarise(beforePath);
const after = summarise(afterPath);
const rows = [...after].map(([key, { size, count }]) => {
  const was = before.get(key) ?? { size: 0, count: 0 };
  return { key, size: size - was.size, count: count - was.count };
});
rows.sort((a, b) => b.size - a.size);
console.log('| what | bytes grown | objects grown |\n|---|---|---|');
for (const row of rows.slice(0, Number(top))) console.log(`| ${row.key} | ${row.size} | ${row.count} |`);
