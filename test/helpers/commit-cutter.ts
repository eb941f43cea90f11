import net from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that can lose a COMMIT's answer: once armed, the next COMMIT
 * a client sends goes through (so the transaction commits), its answer is held back, and `cut()`
 * then closes that connection, as a failover or a broken network does. The client sees its COMMIT
 * fail although it committed.
 */
export interface CommitCutter {
  /** `postgres://…` through the proxy, to the database of `url`. */
  url: string;
  /** Resolves once the next COMMIT has reached PostgreSQL with its answer held back. */
  armNextCommit(): Promise<void>;
  /** Closes the connection whose COMMIT answer is held. */
  cut(): void;
  close(): Promise<void>;
}

export async function startCommitCutter(databaseUrl: string): Promise<CommitCutter> {
  const target = new URL(databaseUrl);
  let armed: (() => void) | undefined;
  let held: { client: net.Socket; server: net.Socket } | undefined;
  const sockets = new Set<net.Socket>();

  const proxy = net.createServer((client) => {
    const server = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(server);
    const reader = commitReader();
    let holding = false;
    client.on('data', (chunk) => {
      if (reader(chunk) && armed) {
        holding = true;
        held = { client, server };
        const notify = armed;
        armed = undefined;
        // Once PostgreSQL has had time to read it: the COMMIT is written below, before this runs.
        setImmediate(notify);
      }
      server.write(chunk);
    });
    server.on('data', (chunk) => {
      if (!holding) client.write(chunk);
    });
    for (const [a, b] of [[client, server], [server, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((proxy.address() as net.AddressInfo).port);

  return {
    url: url.toString(),
    armNextCommit: () => new Promise<void>((resolve) => (armed = resolve)),
    cut() {
      held?.client.destroy();
      held?.server.destroy();
      held = undefined;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}

/**
 * Reads the frontend protocol a client sends and answers, per chunk, whether it holds a COMMIT: as
 * a simple query, or as a prepared statement's Parse or Bind (postgres.js prepares `commit`).
 */
function commitReader(): (chunk: Buffer) => boolean {
  let pending = Buffer.alloc(0);
  let started = false;
  const statements = new Map<string, string>();
  const isCommit = (text: string | undefined) => text !== undefined && /^\s*commit\s*;?\s*$/i.test(text);
  const cstring = (buffer: Buffer, at: number): [string, number] => {
    const end = buffer.indexOf(0, at);
    return [buffer.toString('utf8', at, end), end + 1];
  };
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    let found = false;
    for (;;) {
      if (!started) {
        // The startup message has no type byte.
        if (pending.length < 4 || pending.length < pending.readInt32BE(0)) break;
        pending = pending.subarray(pending.readInt32BE(0));
        started = true;
        continue;
      }
      if (pending.length < 5 || pending.length < 1 + pending.readInt32BE(1)) break;
      const type = String.fromCharCode(pending[0]!);
      const body = pending.subarray(5, 1 + pending.readInt32BE(1));
      pending = pending.subarray(1 + pending.readInt32BE(1));
      if (type === 'Q' && isCommit(cstring(body, 0)[0])) found = true;
      if (type === 'P') {
        const [name, at] = cstring(body, 0);
        const [text] = cstring(body, at);
        statements.set(name, text);
        if (isCommit(text)) found = true;
      }
      if (type === 'B') {
        const [, at] = cstring(body, 0);
        if (isCommit(statements.get(cstring(body, at)[0]))) found = true;
      }
    }
    return found;
  };
}
