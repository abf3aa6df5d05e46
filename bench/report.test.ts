import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the benchmark, without type declarations
import {
  differenceInterval,
  ratioInterval,
  ratioText,
  verdicts,
  withinSerialization,
} from './suite/report.mjs';

interface Interval {
  low: number;
  high: number;
}

// A row as the orchestrator saves it: per-round CPU samples of each variant; `addedUs` as it derives.
function row(rounds: { bare: number[] } & Record<string, number[]>) {
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    return sorted.length % 2
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  };
  const bare = rounds.bare;
  const variants: Record<string, { samples: number[]; addedUs: number }> = {};
  for (const [name, samples] of Object.entries(rounds)) {
    const overBare = median(samples.map((value, i) => value / (bare[i] as number)));
    variants[name] = { samples, addedUs: (overBare - 1) * median(bare) };
  }
  return { id: 'test', label: 'test', variants };
}

// Rounds with a deterministic wobble of +-`spread` around `level`.
const rounds = (level: number, spread: number, n = 24) =>
  Array.from({ length: n }, (_, i) => level * (1 + spread * Math.sin(i * 2.3 + level)));

describe('bench report: a ratio and the interval its rounds allow', () => {
  it('calls a target met or MISSED only when the whole interval is on one side', () => {
    const steady = row({ bare: rounds(100, 0.01), floor: rounds(120, 0.01), tracewire: rounds(121, 0.01) });
    const met = verdicts(steady);
    expect(met.tf).toBe('met');
    expect(met.tfInterval.high).toBeLessThan(1.15);

    const costly = row({ bare: rounds(100, 0.01), floor: rounds(120, 0.01), tracewire: rounds(160, 0.01) });
    const missed = verdicts(costly);
    expect(missed.tf).toBe('MISSED');
    expect(missed.tfInterval.low).toBeGreaterThan(1.15);
  });

  it('says the noise decides when rounds spread more than the difference', () => {
    const noisy = row({ bare: rounds(100, 0.3), floor: rounds(110, 0.3), tracewire: rounds(113, 0.3) });
    const interval = ratioInterval(noisy, 'tracewire', 'floor') as Interval;
    expect(interval.low).toBeLessThan(1.15);
    expect(interval.high).toBeGreaterThan(1.15);
    expect(verdicts(noisy).tf).toBe('noise');
  });

  it('gives the same interval for the same saved results, and none without rounds', () => {
    const saved = row({ bare: rounds(100, 0.2), floor: rounds(115, 0.2), tracewire: rounds(125, 0.2) });
    expect(ratioInterval(saved, 'tracewire', 'floor')).toEqual(ratioInterval(saved, 'tracewire', 'floor'));
    const old = { variants: { bare: { addedUs: 0 }, floor: { addedUs: 10 }, tracewire: { addedUs: 11 } } };
    expect(ratioInterval(old, 'tracewire', 'floor')).toBeUndefined();
    expect(verdicts(old).tf).toBe('met');
  });

  it('calls otel/tracewire >= 2 unreachable only where OpenTelemetry surely adds less than twice the floor', () => {
    const near = row({
      bare: rounds(100, 0.01),
      floor: rounds(110, 0.01),
      tracewire: rounds(111, 0.01),
      otel: rounds(112, 0.01),
    });
    const bound = verdicts(near);
    expect(bound.ot).toBe('unreachable');
    expect(bound.ofInterval.high).toBeLessThan(2);

    // OpenTelemetry well above twice the floor: a tracewire near OpenTelemetry is a miss, not a bound.
    const far = row({
      bare: rounds(100, 0.01),
      floor: rounds(110, 0.01),
      tracewire: rounds(125, 0.01),
      otel: rounds(130, 0.01),
    });
    expect(verdicts(far).ot).toBe('MISSED');
    const ahead = row({
      bare: rounds(100, 0.01),
      floor: rounds(110, 0.01),
      tracewire: rounds(111, 0.01),
      otel: rounds(130, 0.01),
    });
    expect(verdicts(ahead).ot).toBe('met');
  });

  it('prints an unbounded end as infinity', () => {
    expect(ratioText(1.234, { low: 0.5, high: Number.POSITIVE_INFINITY })).toBe('1.23 [0.50–∞]');
    expect(ratioText(1.234, undefined)).toBe('1.23');
  });
});

describe('bench report: the export path against the serialization it does', () => {
  const exported = (level: number, spread: number) =>
    row({
      bare: rounds(100, spread),
      tracewire: rounds(110, spread),
      'tracewire:export': rounds(level, spread),
    });

  it('says yes or no only when the whole interval of export − recording is on one side', () => {
    const cheap = exported(114, 0.005);
    const cheapInterval = differenceInterval(cheap, 'tracewire:export', 'tracewire') as Interval;
    expect(cheapInterval.low).toBeGreaterThan(3);
    expect(cheapInterval.high).toBeLessThan(5);
    expect(withinSerialization(4, cheapInterval, 6)).toBe('yes');

    const costly = exported(125, 0.005);
    const costlyInterval = differenceInterval(costly, 'tracewire:export', 'tracewire') as Interval;
    expect(withinSerialization(15, costlyInterval, 6)).toBe('no');
  });

  it('says noise when rounds spread more than the gap', () => {
    const noisy = exported(118, 0.3);
    const interval = differenceInterval(noisy, 'tracewire:export', 'tracewire') as Interval;
    expect(interval.low).toBeLessThan(6);
    expect(interval.high).toBeGreaterThan(6);
    expect(withinSerialization(8, interval, 6)).toBe('noise');
    // Results saved without rounds are judged on the point value.
    expect(withinSerialization(8, undefined, 6)).toBe('no');
    expect(withinSerialization(5, undefined, 6)).toBe('yes');
  });
});
