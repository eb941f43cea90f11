import { describe, expect, it } from 'vitest';
import { readNdjsonLines } from '../../src/webhook/ndjson.js';

async function lines(chunks: string[], max = 100) {
  async function* source() {
    for (const chunk of chunks) yield new TextEncoder().encode(chunk);
  }
  const out = [];
  for await (const line of readNdjsonLines(source(), max)) out.push(line);
  return out;
}

describe('readNdjsonLines', () => {
  it('splits on LF and CRLF across chunk boundaries, numbering physical lines and skipping empty ones', async () => {
    expect(await lines(['{"a":1}\n{"b"', ':2}\r\n\n  \n{"c":3}'])).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}' },
      { line: 5, text: '{"c":3}' },
    ]);
  });

  it('reports a line over the limit as too long and goes on with the next', async () => {
    expect(await lines(['x'.repeat(60), 'y'.repeat(60), '\nok\n'], 100)).toEqual([
      { line: 1, tooLong: true },
      { line: 2, text: 'ok' },
    ]);
  });

  it('counts a line without its CRLF or LF: a line of exactly the limit passes with either, one byte more does not', async () => {
    const exact = 'x'.repeat(100);
    expect(await lines([`${exact}\r\n${exact}\n${exact}`], 100)).toEqual([
      { line: 1, text: exact },
      { line: 2, text: exact },
      { line: 3, text: exact },
    ]);
    expect(await lines([`${exact}y\r\n${exact}\r`, 'y\n', `${exact}yy`], 100)).toEqual([
      { line: 1, tooLong: true },
      { line: 2, tooLong: true },
      { line: 3, tooLong: true },
    ]);
  });

  it('keeps multi-byte characters split across chunks whole', async () => {
    const bytes = new TextEncoder().encode('{"n":"Zoë"}\n');
    async function* source() {
      yield bytes.subarray(0, 9);
      yield bytes.subarray(9);
    }
    const out = [];
    for await (const line of readNdjsonLines(source(), 100)) out.push(line);
    expect(out).toEqual([{ line: 1, text: '{"n":"Zoë"}' }]);
  });
});
