import PQueue from 'p-queue';
import { Overloaded } from './errors.js';

interface Lane {
  queue: PQueue;
  /** Tasks added and not yet settled; the lane is released at zero. */
  count: number;
}

/** The lane of an account's phone (E.164). */
export const laneKey = (accountId: string, phone: string) => `${accountId}\u0000${phone}`;

/**
 * One lane per account and phone (`laneKey`), run one task at a time in arrival order; lanes run in parallel
 * (how many transactions run at once is the group committer's business). Beyond `maxBacklog`
 * unsettled tasks new ones are refused rather than held in memory.
 */
export class PhoneQueues {
  private readonly lanes = new Map<string, Lane>();
  private backlog = 0;

  constructor(private readonly options: { maxBacklog: number }) {}

  /** Deliveries accepted and not yet answered. */
  get depth(): number {
    return this.backlog;
  }

  get lanesOpen(): number {
    return this.lanes.size;
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    if (this.backlog >= this.options.maxBacklog) throw new Overloaded(1);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { queue: new PQueue({ concurrency: 1 }), count: 0 };
      this.lanes.set(key, lane);
    }
    const current = lane;
    current.count++;
    this.backlog++;
    try {
      return await current.queue.add(task);
    } finally {
      this.backlog--;
      if (--current.count === 0) this.lanes.delete(key);
    }
  }

  /** Resolves when every accepted task has settled. */
  async drain(): Promise<void> {
    await Promise.all([...this.lanes.values()].map((lane) => lane.queue.onIdle()));
  }
}
