import { utf8Text } from '../text.js';

export type NdjsonLine = { line: number; text: string } | { line: number; tooLong: true } | { line: number; notUtf8: true };

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines (LF or CRLF), numbered from 1, without ever holding more than one
 * line: a line longer than `maxLineBytes` is skipped to its end and reported as too long. Empty
 * lines are not yielded but keep their number, so results point at the sender's own line numbers.
 */
export async function* readNdjsonLines(chunks: AsyncIterable<Uint8Array>, maxLineBytes: number): AsyncGenerator<NdjsonLine> {
  let parts: Uint8Array[] = [];
  let size = 0;
  let tooLong = false;
  let line = 0;

  const finish = (): NdjsonLine | undefined => {
    line += 1;
    // The CR of a CRLF line end is not the line's: a line of exactly maxLineBytes may carry one.
    const bytes = size > 0 ? concat(parts, size) : undefined;
    const length = bytes && bytes[bytes.length - 1] === CR ? size - 1 : size;
    const result = tooLong || length > maxLineBytes ? ({ line, tooLong: true } as const) : bytes ? textLine(line, bytes.subarray(0, length)) : undefined;
    parts = [];
    size = 0;
    tooLong = false;
    return result && (!('text' in result) || result.text.trim() !== '') ? result : undefined;
  };

  for await (const chunk of chunks) {
    let start = 0;
    while (start <= chunk.length) {
      const end = chunk.indexOf(NEWLINE, start);
      const piece = chunk.subarray(start, end === -1 ? chunk.length : end);
      if (!tooLong) {
        if (size + piece.length > maxLineBytes + 1) {
          tooLong = true;
          parts = [];
          size = 0;
        } else if (piece.length > 0) {
          parts.push(piece.slice());
          size += piece.length;
        }
      }
      if (end === -1) break;
      const done = finish();
      if (done) yield done;
      start = end + 1;
    }
  }
  if (size > 0 || tooLong) {
    const done = finish();
    if (done) yield done;
  }
}

function textLine(line: number, bytes: Uint8Array): NdjsonLine {
  const text = utf8Text(bytes);
  return text === undefined ? { line, notUtf8: true } : { line, text };
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
