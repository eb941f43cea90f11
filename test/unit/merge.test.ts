import { describe, expect, it } from 'vitest';
import { mergeAttributes, mergeLabels, mergeSections, sameJson } from '../../src/sync/merge.js';

type Change = Parameters<typeof mergeLabels>[1];

describe('mergeLabels', () => {
  it.each<[string[], Change, string[]]>([
    [['a'], { labels: ['b'], override: false }, ['a', 'b']],
    [['a', 'b'], { labels: ['B', 'c'], override: false }, ['a', 'b', 'c']],
    [['a', 'b'], { labels: ['c'], override: true }, ['c']],
    [['a'], { labels: [], override: true }, []],
    [['a'], { override: true }, ['a']],
    [['a', 'b'], { labels: ['c'], override: false, remove: ['A', 'c'] }, ['b']],
    [[], { labels: ['x', 'X', 'x'], override: true }, ['x']],
  ])('%j with %j → %j', (current, change, expected) => {
    expect(mergeLabels(current, change)).toEqual(expected);
  });
});

describe('mergeSections', () => {
  const s = (title: string, text = title) => ({ title, items: [{ text }] });
  it('replaces sent sections in place, keeps the rest, drops emptied ones, appends new ones', () => {
    expect(mergeSections([s('A'), s('B'), s('C')], [s('B', 'b2'), { title: 'C', items: [] }, s('D')])).toEqual([s('A'), s('B', 'b2'), s('D')]);
  });
});

describe('mergeAttributes', () => {
  it('merges shallowly and removes keys sent as null', () => {
    expect(mergeAttributes({ a: 1, b: 'x' }, { b: null, c: true })).toEqual({ a: 1, c: true });
  });
});

describe('sameJson', () => {
  it.each([
    [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: undefined }, false],
    [[1, 2], [2, 1], false],
    [null, null, true],
    [{ a: null }, { a: 0 }, false],
  ])('%j vs %j → %s', (a, b, expected) => {
    expect(sameJson(a, b)).toBe(expected);
  });
});
