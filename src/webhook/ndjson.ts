export type NdjsonLine = { line: number; text: string } | { line: number; tooLong: true };

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into lines (LF or CRLF), numbered from 1, without ever holding more than one
 * line: a line longer than `maxLineBytes` is skipped to its end and reported as too long. Empty
 * lines are not yielded but keep their number, so results point at the sender's own line numbers.
 */
export async function* readNdjsonLines(chunks: AsyncIterable<Uint8Array>, maxLineBytes: number): AsyncGenerator<NdjsonLine> {
  const decoder = new TextDecoder();
  let parts: Uint8Array[] = [];
  let size = 0;
  let tooLong = false;
  let line = 0;

  const finish = (): NdjsonLine | undefined => {
    line += 1;
    const result: NdjsonLine | undefined = tooLong ? { line, tooLong: true } : size > 0 ? { line, text: decoder.decode(concat(parts, size)).replace(/\r$/, '') } : undefined;
    parts = [];
    size = 0;
    tooLong = false;
    return result && ('tooLong' in result || result.text.trim() !== '') ? result : undefined;
  };

  for await (const chunk of chunks) {
    let start = 0;
    while (start <= chunk.length) {
      const end = chunk.indexOf(NEWLINE, start);
      const piece = chunk.subarray(start, end === -1 ? chunk.length : end);
      if (!tooLong) {
        if (size + piece.length > maxLineBytes) {
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
