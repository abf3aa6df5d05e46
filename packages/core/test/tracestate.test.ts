import { MAX_TRACESTATE_LENGTH, parseTracestate, TraceState } from '@tracewire/core';
import { describe, expect, it } from 'vitest';

const members = (count: number, prefix = 'k'): string =>
  Array.from({ length: count }, (_, i) => `${prefix}${i}=v${i}`).join(',');

describe('parseTracestate: valid headers', () => {
  const cases: Array<[rule: string, header: unknown, serialized: string]> = [
    ['one member', 'foo=bar', 'foo=bar'],
    ['order is kept', 'b=1,a=2,c=3', 'b=1,a=2,c=3'],
    ['OWS around members is removed', ' foo=1 ,\tbar=2\t', 'foo=1,bar=2'],
    ['empty members are skipped', 'foo=1,,  ,bar=2,', 'foo=1,bar=2'],
    ['a trailing comma is an empty member', 'foo=1,', 'foo=1'],
    ['a leading comma is an empty member', ',foo=1', 'foo=1'],
    ['several headers combine in order', ['foo=1', 'bar=2,baz=3'], 'foo=1,bar=2,baz=3'],
    ['key may start with a digit', '1foo=bar', '1foo=bar'],
    ['key with every allowed symbol', 'a_-*/@z=1', 'a_-*/@z=1'],
    ['multi-tenant key', 'tenant@system=1', 'tenant@system=1'],
    ['key of 256 chars', `${'a'.repeat(256)}=1`, `${'a'.repeat(256)}=1`],
    ['value of 256 chars', `k=${'v'.repeat(256)}`, `k=${'v'.repeat(256)}`],
    ['value with inner spaces and printable symbols', 'k=a b!"#~', 'k=a b!"#~'],
    ['value starting with a space', 'k= v', 'k= v'],
    ['exactly 32 members', members(32), members(32)],
    ['a repeated key keeps its first value', 'foo=1,bar=2,foo=3', 'foo=1,bar=2'],
    ['a key repeated across headers keeps its first value', ['foo=1', 'foo=2'], 'foo=1'],
    ['32 members, one a repeat: valid, the repeat dropped', `${members(31)},k0=again`, members(31)],
  ];
  for (const [rule, header, serialized] of cases) {
    it(rule, () => {
      expect(parseTracestate(header)?.serialize(), rule).toBe(serialized);
    });
  }
});

describe('parseTracestate: an invalid header is discarded whole', () => {
  const cases: Array<[rule: string, header: unknown]> = [
    ['33 members', members(33)],
    ['33 members, one a repeat', `${members(32)},k0=again`],
    ['33 members across two headers', [members(20), members(13, 'x')]],
    ['upper-case key', 'Foo=1,bar=2'],
    ['key starting with a symbol', '_foo=1'],
    ['key starting with @', '@foo=1'],
    ['key with a forbidden char', 'fo.o=1'],
    ['key of 257 chars', `${'a'.repeat(257)}=1`],
    ['empty key', '=1'],
    ['empty value', 'foo='],
    ['value of 257 chars', `k=${'v'.repeat(257)}`],
    ['value with =', 'k=a=b'],
    ['value with a tab', 'k=a\tb'],
    ['value with a non-ASCII char', 'k=café'],
    ['value with a control char', 'k=a\u0001b'],
    ['member without =', 'foo=1,bar'],
    ['one bad member among good ones', 'foo=1,BAD=2,bar=3'],
    ['oversized header (100 KB)', `foo=${'v'.repeat(100_000)}`],
    ['over the hard cap', ' '.repeat(MAX_TRACESTATE_LENGTH + 1)],
    ['not a string', 7],
    ['array with a non-string', ['foo=1', 2]],
  ];
  for (const [rule, header] of cases) {
    it(rule, () => {
      expect(parseTracestate(header), rule).toBeUndefined();
    });
  }
  it('gives undefined, never an empty list, for an empty header', () => {
    expect(parseTracestate('')).toBeUndefined();
    expect(parseTracestate(' , ,')).toBeUndefined();
  });
});

describe('TraceState', () => {
  const state = parseTracestate('a=1,b=2,c=3')!;

  it('get', () => {
    expect(state.get('b')).toBe('2');
    expect(state.get('z')).toBeUndefined();
  });
  it('set adds the new member on the left and is immutable', () => {
    const next = state.set('z', '9');
    expect(next.serialize()).toBe('z=9,a=1,b=2,c=3');
    expect(state.serialize()).toBe('a=1,b=2,c=3');
  });
  it('set of an existing key moves it to the left with the new value', () => {
    expect(state.set('c', '0').serialize()).toBe('c=0,a=1,b=2');
  });
  it('set ignores an invalid key or value', () => {
    expect(state.set('Bad', '1')).toBe(state);
    expect(state.set('ok', 'a,b')).toBe(state);
  });
  it('set past 32 members drops the rightmost', () => {
    const full = parseTracestate(members(32))!;
    const next = full.set('new', 'x');
    expect(next.size).toBe(32);
    expect(next.get('new')).toBe('x');
    expect(next.get('k31')).toBeUndefined();
  });
  it('unset', () => {
    expect(state.unset('b').serialize()).toBe('a=1,c=3');
    expect(state.unset('zz')).toBe(state);
  });
  it('empty() serializes to the empty string', () => {
    expect(TraceState.empty().serialize()).toBe('');
    expect(TraceState.empty().set('a', '1').serialize()).toBe('a=1');
  });
  it('truncation removes whole entries, those over 128 chars first', () => {
    const long = `big=${'x'.repeat(130)}`;
    const ts = parseTracestate(`a=1,${long},b=2,c=3`)!;
    expect(ts.serializeWithin(512)).toBe(`a=1,${long},b=2,c=3`);
    expect(ts.serializeWithin(20)).toBe('a=1,b=2,c=3');
    expect(ts.serializeWithin(8)).toBe('a=1,b=2');
    expect(ts.serializeWithin(2)).toBe('');
  });
});
