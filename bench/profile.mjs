// `npm run bench -- --profile [--rows ...]`: runs the rows with the floor and tracewire processes
// under --cpu-prof, then prints, per row, where tracewire's process spends self time that the
// floor's does not: the top functions of @tracewire code, and the functions whose share of the
// profile grew most. Profiles and the summary stay in $TMPDIR/tracewire-profiles/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

/** Self time (µs) per function of one profile of measured rounds, keyed `name (file:line)`. */
export function selfTimes(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times = new Map();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const { functionName, url, lineNumber } = byId.get(profile.samples[i]).callFrame;
    const delta = profile.timeDeltas[i] ?? 0;
    if (functionName === '(idle)') continue;
    busy += delta;
    const short = url
      .replace(/^file:\/\//, '')
      .replace(/.*\/node_modules\//, '')
      .replace(/.*\/packages\//, 'packages/');
    const key = `${functionName || '(anonymous)'} (${short || 'native'}${url ? `:${lineNumber + 1}` : ''})`;
    times.set(key, (times.get(key) ?? 0) + delta);
  }
  return { times, busy, ops: profile.ops };
}

/** Per row: µs per operation of self time in @tracewire code, and what grew over the floor. */
function summarise(row, dir) {
  const tw = selfTimes(join(dir, `${row}-tracewire.cpuprofile`));
  const floor = selfTimes(join(dir, `${row}-floor.cpuprofile`));
  const perOp = (profile, key) => (profile.times.get(key) ?? 0) / profile.ops;
  const us = (value) => `${value.toFixed(2)} µs`;
  const ours = [...tw.times].filter(([key]) => key.includes('packages/')).sort((a, b) => b[1] - a[1]);
  const oursPerOp = ours.reduce((sum, [, time]) => sum + time, 0) / tw.ops;
  const grown = [...new Set([...tw.times.keys(), ...floor.times.keys()])]
    .map((key) => [key, perOp(tw, key) - perOp(floor, key)])
    .sort((a, b) => b[1] - a[1]);
  const lines = [
    `### ${row}`,
    '',
    `Busy CPU per op in the profiles: tracewire ${us(tw.busy / tw.ops)}, floor ${us(floor.busy / floor.ops)}. ` +
      `Self time in @tracewire code: ${us(oursPerOp)} per op. Top functions:`,
    '',
  ];
  for (const [key, time] of ours.slice(0, 10)) lines.push(`- ${us(time / tw.ops)} ${key}`);
  lines.push('', 'Largest growth of self time per op, tracewire over floor:', '');
  for (const [key, value] of grown.slice(0, 10)) lines.push(`- +${us(value)} ${key}`);
  return lines.join('\n');
}

export async function profileRows(rows, { quick }) {
  const dir = join(tmpdir(), 'tracewire-profiles');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const run = spawnSync(
    process.execPath,
    [
      join(here, 'suite', 'orchestrate.mjs'),
      '--rows',
      rows.join(','),
      '--no-export',
      '--profile',
      dir,
      '--out',
      join(dir, 'results.json'),
      ...(quick ? ['--quick'] : []),
    ],
    { stdio: 'inherit' },
  );
  if (run.status !== 0) process.exit(1);
  const text = [`## Profiles (node ${process.version})`, '', ...rows.map((row) => summarise(row, dir))].join(
    '\n\n',
  );
  writeFileSync(join(dir, 'summary.md'), `${text}\n`);
  console.log(text);
}
