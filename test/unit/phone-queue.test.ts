import { describe, expect, it } from 'vitest';
import { Overloaded } from '../../src/sync/errors.js';
import { PhoneQueues } from '../../src/sync/phone-queue.js';

/** A task that records when it starts and ends, and ends when `finish` is called. */
function task(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
      return name;
    },
    finish,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('PhoneQueues', () => {
  it('runs one phone\'s tasks one at a time, in the order they came', async () => {
    const queues = new PhoneQueues({ maxBacklog: 100 });
    const log: string[] = [];
    const tasks = ['a', 'b', 'c'].map((name) => task(log, name));
    const answers = tasks.map((t) => queues.run('acc:+447911123456', t.run));
    await tick();
    expect(log).toEqual(['start a']);
    tasks[2]!.finish();
    tasks[1]!.finish();
    await tick();
    expect(log).toEqual(['start a']);
    tasks[0]!.finish();
    expect(await Promise.all(answers)).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('runs different phones side by side', async () => {
    const queues = new PhoneQueues({ maxBacklog: 100 });
    const log: string[] = [];
    const [a, b] = [task(log, 'a'), task(log, 'b')];
    const answers = [queues.run('acc:+1', a.run), queues.run('acc:+2', b.run)];
    await tick();
    expect(log).toEqual(['start a', 'start b']);
    b.finish();
    a.finish();
    await Promise.all(answers);
  });

  it('a failing task does not hold up the next one for its phone', async () => {
    const queues = new PhoneQueues({ maxBacklog: 100 });
    const failed = queues.run('k', () => Promise.reject(new Error('no')));
    const next = queues.run('k', async () => 'next');
    await expect(failed).rejects.toThrow('no');
    expect(await next).toBe('next');
  });

  it('refuses beyond the backlog, and lets go of a lane once its tasks have settled', async () => {
    const queues = new PhoneQueues({ maxBacklog: 2 });
    const log: string[] = [];
    const [a, b] = [task(log, 'a'), task(log, 'b')];
    const answers = [queues.run('k1', a.run), queues.run('k2', b.run)];
    expect(queues.depth).toBe(2);
    await expect(queues.run('k3', async () => 'c')).rejects.toBeInstanceOf(Overloaded);
    expect(queues.lanesOpen).toBe(2);
    a.finish();
    b.finish();
    await Promise.all(answers);
    expect([queues.depth, queues.lanesOpen]).toEqual([0, 0]);
  });
});
