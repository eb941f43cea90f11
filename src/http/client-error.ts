import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorBody, ErrorCode } from './errors.js';

/** Node's own limit on a request's line and headers (`--max-http-header-size`). */
export const MAX_HEADER_KIB = 16;

/** The statuses only Node answers (no route's code maps to them), and the code their body carries: for the OpenAPI document too. */
export const NODE_STATUS_CODES = { 408: 'unavailable', 431: 'payload_too_large' } as const satisfies Record<number, ErrorCode>;

/** What Node refuses itself, by its error code: status, reason phrase and the one error body. */
function answerFor(code: string | undefined): [number, string, ErrorBody] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      // Most often a GET delivery whose query string carries a long payload.
      return [431, 'Request Header Fields Too Large', { error: `the URL and headers are larger than ${MAX_HEADER_KIB} KiB: send a long payload in a POST body`, code: NODE_STATUS_CODES[431] }];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'Payload Too Large', { error: 'the chunk extensions are too large', code: 'payload_too_large' }];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', { error: 'the request did not arrive in time; send it again', code: NODE_STATUS_CODES[408] }];
    default:
      return [400, 'Bad Request', { error: 'the request is not valid HTTP', code: 'invalid_payload' }];
  }
}

/**
 * Requests Node refuses before any route sees them (a request line and headers over 16 KiB, bytes
 * that are not HTTP, headers that never finish) are answered with the same JSON error body as
 * every other refusal, rather than Node's bare status line. As Node does, nothing is written once
 * an answer to an earlier request on the connection has begun, and the connection is closed.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
      const [status, reason, body] = answerFor(error.code);
      const json = JSON.stringify(body);
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
          `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${json}`,
      );
    }
    socket.destroy();
  });
}
