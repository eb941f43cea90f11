import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../helpers/app.js';
import { killAllServices, labelsOf, postJson, startService, type JsonAnswer, type ServiceProcess } from '../helpers/process.js';

/**
 * SPEC §2.4 and §6 "scaling out": two service processes on one PostgreSQL. Only the advisory lock
 * keeps one phone's deliveries apart between them; the in-process queues do not see each other.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('two service processes on one database', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let services: [ServiceProcess, ServiceProcess];

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    // One after the other: the first start creates the account and prints its secrets.
    const first = await startService({ databaseUrl: scratch.url });
    services = [first, await startService({ databaseUrl: scratch.url, credentials: first.credentials })];
  });
  afterAll(async () => {
    await killAllServices();
    await scratch?.drop();
  });

  it('80 concurrent merge deliveries to one phone, alternating between them, end with all 80 labels', async () => {
    const phone = '+447400990000';
    const answers = await Promise.all(
      Array.from({ length: 80 }, (_, i) => postJson(services[i % 2]!.webhookUrl, { contact: { phone, labels: `label-${i}` } })),
    );
    expect(answers.filter((a) => a.status !== 200).map((a) => [a.status, a.body])).toEqual([]);
    const expected = Array.from({ length: 80 }, (_, i) => `label-${i}`).sort();
    for (const service of services) expect([...((await labelsOf(service, phone)) ?? [])].sort()).toEqual(expected);
  }, 60_000);

  describe('any shuffled, duplicated sequence ends as a simple model says', () => {
    type LabelRef = { base: number; variant: number };
    type Op =
      | { kind: 'merge'; phone: number; labels: LabelRef[]; asString: boolean; keyed: boolean }
      | { kind: 'override'; phone: number; labels: LabelRef[]; asString: boolean; keyed: boolean }
      | { kind: 'remove'; phone: number; labels: LabelRef[]; asString: boolean; keyed: boolean; inContact: boolean }
      | { kind: 'delete'; phone: number; keyed: boolean };
    type Step = Op & { id: number };

    const PHONES = 3;
    const BASES = ['red', 'green', 'blue', 'gold'];
    const label: fc.Arbitrary<LabelRef> = fc.record({ base: fc.nat({ max: BASES.length - 1 }), variant: fc.nat({ max: 2 }) });
    const common = { phone: fc.nat({ max: PHONES - 1 }), keyed: fc.boolean() };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('merge' as const), labels: fc.array(label, { maxLength: 3 }), asString: fc.boolean(), ...common }),
      fc.record({ kind: fc.constant('override' as const), labels: fc.array(label, { maxLength: 3 }), asString: fc.boolean(), ...common }),
      fc.record({ kind: fc.constant('remove' as const), labels: fc.array(label, { minLength: 1, maxLength: 2 }), asString: fc.boolean(), inContact: fc.boolean(), ...common }),
      fc.record({ kind: fc.constant('delete' as const), ...common }),
    );
    /** Up to 14 distinct operations plus up to 6 repeats of them, shuffled: at most 20 steps. */
    const sequence: fc.Arbitrary<Step[]> = fc
      .array(op, { minLength: 1, maxLength: 14 })
      .chain((ops) =>
        fc.array(fc.nat({ max: ops.length - 1 }), { maxLength: 6 }).map((repeats) => [
          ...ops.map((o, id) => ({ ...o, id })),
          ...repeats.map((id) => ({ ...ops[id]!, id })),
        ]),
      )
      .chain((steps) => fc.shuffledSubarray(steps, { minLength: steps.length, maxLength: steps.length }));

    let execution = 0;

    /** Labels live in the whole account and keep their first spelling: each execution and phone gets names of its own. */
    const nameOf = (run: number, phone: number, ref: LabelRef) => {
      const name = `r${run}p${phone}-${BASES[ref.base]}`;
      return ref.variant === 0 ? name : ref.variant === 1 ? name.toUpperCase() : name[0]!.toUpperCase() + name.slice(1);
    };
    const phoneOf = (run: number, phone: number) => `+4474009${String(run * PHONES + phone).padStart(5, '0')}`;

    const payloadOf = (run: number, step: Step) => {
      const phone = phoneOf(run, step.phone);
      if (step.kind === 'delete') return { delete_contact: phone };
      const names = step.labels.map((ref) => nameOf(run, step.phone, ref));
      const labels = step.asString ? names.join(', ') : names;
      if (step.kind === 'merge') return { contact: { phone, labels } };
      if (step.kind === 'override') return { contact: { phone, labels }, overrideLabels: true };
      return step.inContact ? { contact: { phone, removeLabels: labels } } : { contact: { phone }, removeLabels: labels };
    };

    /**
     * The model: a phone is absent (null) or holds label keys in order; a key is shown as it was
     * first written in the account. Merge appends new keys at the end, override sets exactly the
     * keys given (first of each), removal drops keys, delete makes the phone absent. A repeat of a
     * keyed delivery is answered from the stored response and changes nothing; a delete strips the
     * contact from the stored answers about that phone (they keep status and delivery id).
     */
    class Model {
      readonly phones = new Map<number, string[] | null>();
      readonly spelling = new Map<string, string>();
      readonly answers = new Map<number, unknown>();
      readonly answerPhone = new Map<number, number>();

      remember(step: Step, body: unknown): void {
        this.answers.set(step.id, body);
        this.answerPhone.set(step.id, step.phone);
      }

      /** Applies one acknowledged step; returns what its answer must say. */
      apply(run: number, step: Step): { replayOf?: unknown; status: 'applied' | 'unchanged'; labels?: string[] } {
        if (step.keyed && this.answers.has(step.id)) return { replayOf: this.answers.get(step.id), status: 'unchanged' };
        const before = this.phones.get(step.phone) ?? null;
        if (step.kind === 'delete') {
          this.phones.set(step.phone, null);
          for (const [id, phone] of this.answerPhone) {
            const body = this.answers.get(id) as { contact?: unknown };
            if (phone !== step.phone || typeof body.contact !== 'object' || body.contact === null) continue;
            const { contact: _deleted, ...rest } = body;
            this.answers.set(id, rest);
          }
          return { status: before === null ? 'unchanged' : 'applied' };
        }
        const sent = step.labels.map((ref) => nameOf(run, step.phone, ref));
        const key = (name: string) => name.toLowerCase();
        let keys = before ?? [];
        if (step.kind === 'merge') keys = [...new Set([...keys, ...sent.map(key)])];
        if (step.kind === 'override') keys = [...new Set(sent.map(key))];
        if (step.kind === 'remove') keys = keys.filter((k) => !sent.some((name) => key(name) === k));
        for (const k of keys) if (!this.spelling.has(k)) this.spelling.set(k, sent.find((name) => key(name) === k)!);
        this.phones.set(step.phone, keys);
        const changed = before === null || before.join('\n') !== keys.join('\n');
        return { status: changed ? 'applied' : 'unchanged', labels: this.show(keys) };
      }

      show(keys: string[]): string[] {
        return keys.map((k) => this.spelling.get(k)!);
      }
    }

    it('15 runs of up to 20 deliveries on 3 phones, sent to both processes', async () => {
      await fc.assert(
        fc.asyncProperty(sequence, async (steps) => {
          const run = execution++;
          // Per phone one delivery at a time, alternating processes; phones in parallel. The order
          // of the 200s per phone is then well defined, and it is the order the model applies.
          const acknowledged = new Map<number, { step: Step; answer: JsonAnswer; via: number }[]>();
          await Promise.all(
            Array.from({ length: PHONES }, async (_, phone) => {
              const mine = steps.filter((s) => s.phone === phone);
              const acks: { step: Step; answer: JsonAnswer; via: number }[] = [];
              for (const [i, step] of mine.entries()) {
                const via = (i + phone) % 2;
                const headers: Record<string, string> = step.keyed ? { 'idempotency-key': `run-${run}-op-${step.id}` } : {};
                const answer = await postJson(services[via]!.webhookUrl, payloadOf(run, step), headers);
                if (answer.status !== 200) throw new Error(`step ${JSON.stringify(step)} via process ${via}: ${answer.status} ${JSON.stringify(answer.body)}`);
                acks.push({ step, answer, via });
              }
              acknowledged.set(phone, acks);
            }),
          );

          const model = new Model();
          for (let phone = 0; phone < PHONES; phone++) {
            for (const { step, answer, via } of acknowledged.get(phone)!) {
              const expected = model.apply(run, step);
              const where = `step ${JSON.stringify(step)} via process ${via}`;
              if (expected.replayOf !== undefined) {
                expect(answer.headers.get('idempotent-replayed'), where).toBe('true');
                expect(answer.body, where).toEqual(expected.replayOf);
                continue;
              }
              expect(answer.headers.get('idempotent-replayed'), where).toBeNull();
              expect(answer.body.status, where).toBe(expected.status);
              if (expected.labels) expect(answer.body.contact.labels, where).toEqual(expected.labels);
              if (step.keyed) model.remember(step, answer.body);
            }
            const keys = model.phones.get(phone) ?? null;
            const want = keys === null ? null : model.show(keys);
            for (const [via, service] of services.entries()) {
              expect(await labelsOf(service, phoneOf(run, phone)), `phone ${phone} read via process ${via}`).toEqual(want);
            }
          }
        }),
        { numRuns: 15, interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true },
      );
    }, 90_000);
  });
});
