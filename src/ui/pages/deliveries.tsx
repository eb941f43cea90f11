import { DELIVERY_STATUSES, keptError, payloadKept, REFUSED_PAYLOAD_DAYS, type DeliveryStatus, type DeliverySummary } from '../../db/queries/deliveries.js';
import { CsrfField, Layout, Time } from '../layout.js';
import { refusalText } from '../refusal-text.js';
import { Pager } from './contacts.js';

/** What the page says after a replay: read back from the log, never taken from the URL. */
export type ReplayFlash = { kind: 'replayed'; id: string; status: DeliveryStatus; errorCode: string | null; errorMessage: string | null } | { kind: 'gone' };

export interface DeliveriesPageProps {
  csrfToken: string;
  status: string;
  /** The page's cursor, as sent: the page shown after a replay is this one again. */
  cursor?: string;
  items: DeliverySummary[];
  now: Date;
  flash?: ReplayFlash;
  nextHref?: string;
  previousHref?: string;
  firstHref?: string;
}

export function DeliveriesPage({ csrfToken, status, cursor, items, now, flash, nextHref, previousHref, firstHref }: DeliveriesPageProps) {
  return (
    <Layout title="Deliveries" csrfToken={csrfToken} current="deliveries" wide>
      <h1>Deliveries</h1>
      {flash && <Flash flash={flash} />}
      <form method="get" action="/ui/deliveries" class="filters">
        <div>
          <label for="status">Status</label>
          <select id="status" name="status">
            <option value="" selected={status === ''}>
              all
            </option>
            {DELIVERY_STATUSES.map((s) => (
              <option value={s} selected={status === s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="secondary">
          Show
        </button>
      </form>
      {items.length === 0 ? (
        <p class="muted">{firstHref ? 'Nothing on this page: the list ends before it.' : `No deliveries${status ? ` with status ${status}` : ''}.`}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Received</th>
              <th>Delivery</th>
              <th>Operation</th>
              <th>Phone</th>
              <th>Status</th>
              <th>Error</th>
              <th>ms</th>
              <th>
                <span class="visually-hidden">Replay</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((row) => (
              <DeliveryRow row={row} now={now} csrfToken={csrfToken} status={status} cursor={cursor} />
            ))}
          </tbody>
        </table>
      )}
      {items.some((row) => replayable(row, now)) && (
        <p class="muted">
          Replay applies a refused delivery's kept payload now, as a new delivery: what it sets replaces what deliveries received since then set, so a
          delivery already replayed and applied is best left alone.
        </p>
      )}
      <Pager nextHref={nextHref} previousHref={previousHref} firstHref={firstHref} />
    </Layout>
  );
}

const replayable = (row: DeliverySummary, now: Date) => row.status === 'refused' && payloadKept(row, now);

/** `status` and `cursor`: the list's filter and page, which the page shown after a replay keeps. */
function DeliveryRow({ row, now, csrfToken, status, cursor }: { row: DeliverySummary; now: Date; csrfToken: string; status: string; cursor?: string }) {
  const refused = row.status === 'refused';
  return (
    <tr class={refused ? 'refused' : undefined} id={row.id}>
      <td data-label="Received">
        <Time at={row.receivedAt} />
      </td>
      <td data-label="Delivery" class="sent">
        <code class="id">{row.id}</code>
        {row.idempotencyKey && <div class="muted">key {row.idempotencyKey}</div>}
        {row.replayOf && (
          <div class="muted">
            replay of <code>{row.replayOf}</code>
          </div>
        )}
      </td>
      <td data-label="Operation">{row.operation ?? <span class="muted">—</span>}</td>
      <td data-label="Phone">{row.phoneMasked ?? <span class="muted">—</span>}</td>
      <td data-label="Status">
        <span class={`status ${row.status}`}>{row.status}</span>
      </td>
      <td data-label="Error" class="sent">
        {row.errorCode && (
          <>
            <code class="error">{row.errorCode}</code>
            <div>{keptError(row, now) ?? refusalText(row.errorCode)}</div>
          </>
        )}
        {row.replayedAs && (
          <div class="replayed">
            Replayed as <code>{row.replayedAs.id}</code>: <span class={`status ${row.replayedAs.status}`}>{row.replayedAs.status}</span>
          </div>
        )}
      </td>
      <td data-label="Duration (ms)">{row.durationMs}</td>
      <td>
        {replayable(row, now) && (
          <form method="post" action={`/ui/deliveries/${encodeURIComponent(row.id)}/replay`} class="inline">
            <CsrfField token={csrfToken} />
            {status && <input type="hidden" name="status" value={status} />}
            {cursor && <input type="hidden" name="cursor" value={cursor} />}
            <button type="submit" class="secondary" aria-label={`${row.replayedAs ? 'Replay again' : 'Replay'} ${row.id}`}>
              {row.replayedAs ? 'Replay again' : 'Replay'}
            </button>
          </form>
        )}
      </td>
    </tr>
  );
}

function Flash({ flash }: { flash: ReplayFlash }) {
  if (flash.kind === 'gone') {
    return (
      <p class="flash bad" role="status">
        Nothing to replay: only refused deliveries keep their payload, for {REFUSED_PAYLOAD_DAYS} days. Send it again from its source.
      </p>
    );
  }
  if (flash.status === 'refused') {
    return (
      <p class="flash bad" role="status">
        Replayed as <code>{flash.id}</code>, and refused again: <code>{flash.errorCode ?? ''}</code> {flash.errorMessage ?? refusalText(flash.errorCode)}
      </p>
    );
  }
  return (
    <p class="flash ok" role="status">
      Replayed as <code>{flash.id}</code>: <strong>{flash.status}</strong>.
    </p>
  );
}
