// Where the instructions of a callgrind dump went, by function, with V8's JIT code named: callgrind only
// knows JIT code by address, so the broker runs with --perf-basic-prof (V8 writes /tmp/perf-<pid>.map:
// start, size and name of every piece of code it generates) and each address is named after the latest
// piece of code that covered it. Used by bench/instructions.mjs (BENCH_CG_FUNCTIONS) to list what keygate's
// warm CONNECT does that bare aedes' does not: session 11 found the proof's HMAC and megamorphic property
// reads in Node's stream code there (docs/BENCHMARKS.md).
import { readFileSync, rmSync } from 'node:fs';

/** Self instructions by function of one callgrind output file (the cost of calls made is the callee's). */
export function selfCost(file) {
  const names = new Map();
  const objects = new Map();
  const cost = new Map();
  // Name compression (callgrind format): "(id) name" defines an id, "(id)" refers to it.
  const name = (table, text) => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(text);
    if (match === null) return text;
    if (match[2] !== undefined) table.set(match[1], match[2]);
    return table.get(match[1]) ?? `?${match[1]}`;
  };
  let object = '';
  let fn = '';
  let callCost = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const first = line.charCodeAt(0);
    // A cost line: a position, then the events (only Ir here).
    if ((first >= 48 && first <= 57) || line[0] === '+' || line[0] === '-' || line[0] === '*') {
      if (callCost) {
        callCost = false; // the inclusive cost of a call: the callee's, not this function's
        continue;
      }
      const instructions = Number(line.split(' ')[1] ?? 0);
      const key = `${object}\u0000${fn}`;
      cost.set(key, (cost.get(key) ?? 0) + instructions);
    } else if (line.startsWith('ob=')) object = name(objects, line.slice(3));
    else if (line.startsWith('fn=')) fn = name(names, line.slice(3));
    else if (line.startsWith('cob=')) name(objects, line.slice(4));
    else if (line.startsWith('cfn=')) name(names, line.slice(4));
    else if (line.startsWith('calls=')) callCost = true;
  }
  return cost;
}

/** The code map V8 wrote for `pid` (--perf-basic-prof), sorted by start; order kept to prefer the latest. */
export function perfMap(pid) {
  let text;
  try {
    text = readFileSync(`/tmp/perf-${pid}.map`, 'utf8');
  } catch {
    return [];
  }
  const entries = [];
  for (const line of text.split('\n')) {
    const [start, size, ...rest] = line.split(' ');
    if (rest.length === 0) continue;
    entries.push({
      start: Number.parseInt(start, 16),
      end: Number.parseInt(start, 16) + Number.parseInt(size, 16),
      name: rest.join(' '),
      order: entries.length,
    });
  }
  return entries.sort((a, b) => a.start - b.start || a.order - b.order);
}

/** The name of the code at `address` (the latest entry covering it), or undefined. */
function codeAt(map, address) {
  let low = 0;
  let high = map.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (map[mid].start <= address) low = mid + 1;
    else high = mid - 1;
  }
  let best;
  // Code is small and addresses are reused: look back over the entries starting before the address.
  for (let i = high; i >= 0 && i > high - 400; i--) {
    const entry = map[i];
    if (entry.start <= address && address < entry.end && (best === undefined || entry.order > best.order))
      best = entry;
  }
  return best?.name;
}

/** Self instructions per unit (`per`) by readable function name: JIT code named from the map. */
export function functionsOf(file, pid, per) {
  const map = perfMap(pid);
  const byName = new Map();
  for (const [key, instructions] of selfCost(file)) {
    const [object, fn] = key.split('\u0000');
    const address = /^0x([0-9a-f]+)/.exec(fn);
    const code = address === null ? undefined : codeAt(map, Number.parseInt(address[1], 16));
    const label = code !== undefined ? `JIT ${code}` : `${fn} [${object.split('/').pop()}]`;
    byName.set(label, (byName.get(label) ?? 0) + instructions / per);
  }
  return byName;
}

/** The `top` functions by how many more instructions per unit `than` spent on them than `base`. */
export function largestDifferences(base, than, top) {
  const rows = [];
  for (const label of new Set([...base.keys(), ...than.keys()])) {
    const a = base.get(label) ?? 0;
    const b = than.get(label) ?? 0;
    rows.push({ function: label, base: a, other: b, difference: b - a });
  }
  return rows.sort((x, y) => y.difference - x.difference).slice(0, top);
}

/** Removes the code map V8 wrote for `pid`. */
export function removePerfMap(pid) {
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
