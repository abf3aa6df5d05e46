// `npm run bench -- --profile [--rows ...]`: runs the rows with the floor and tracewire processes
// under --cpu-prof, then prints, per row, where tracewire's process spends self time that the
// floor's does not: the top functions of @tracewire code, and the functions whose share of the
// profile grew most. Profiles and the summary stay in $TMPDIR/tracewire-profiles/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

/** Self time (µs) per function of one .cpuprofile, keyed `name (file:line)`. */
export function selfTimes(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times = new Map();
  const deltas = profile.timeDeltas;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const delta = deltas[i] ?? 0;
    total += delta;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url
      .replace(/^file:\/\//, '')
      .replace(/.*\/node_modules\//, '')
      .replace(/.*\/packages\//, 'packages/');
    const key = `${functionName || '(anonymous)'} (${short || 'native'}${url ? `:${lineNumber + 1}` : ''})`;
    times.set(key, (times.get(key) ?? 0) + delta);
  }
  return { times, total };
}

function summarise(row, dir) {
  const files = readdirSync(dir).filter((file) => file.startsWith(`${row}-`));
  const pick = (variant) => files.find((file) => file.startsWith(`${row}-${variant}-`));
  const tw = selfTimes(join(dir, pick('tracewire')));
  const floor = selfTimes(join(dir, pick('floor')));
  const share = (profile, key) => (profile.times.get(key) ?? 0) / profile.total;
  const ours = [...tw.times].filter(([key]) => key.includes('packages/')).sort((a, b) => b[1] - a[1]);
  const oursShare = ours.reduce((sum, [, time]) => sum + time, 0) / tw.total;
  const grown = [...new Set([...tw.times.keys(), ...floor.times.keys()])]
    .map((key) => [key, share(tw, key) - share(floor, key)])
    .filter(([key]) => !key.startsWith('(idle)') && !key.startsWith('(program)'))
    .sort((a, b) => b[1] - a[1]);
  const percent = (value) => `${(value * 100).toFixed(2)}%`;
  const lines = [
    `### ${row}`,
    '',
    `@tracewire code: ${percent(oursShare)} of the tracewire process's samples. Top self time in it:`,
    '',
  ];
  for (const [key, time] of ours.slice(0, 10)) lines.push(`- ${percent(time / tw.total)} ${key}`);
  lines.push('', 'Largest growth in share of self time, tracewire over floor:', '');
  for (const [key, value] of grown.slice(0, 10)) lines.push(`- +${percent(value)} ${key}`);
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
