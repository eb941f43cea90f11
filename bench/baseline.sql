-- pgbench baseline: the least SQL that makes the change one webhook upsert makes on this schema,
-- one transaction per delivery. Run by bench/pgbench.ts with -M prepared, which sets :account
-- (the account's id) and :base (the first phone of the range, as digits).
--
-- Like the service's webhook scenario: a new contact with a name and one enhanced-data section,
-- the labels "bench" and "tier-K" (created once, then found), the contact's two contact_labels
-- rows, and the delivery's row in the log. Unlike the service it reads nothing first (no token,
-- no existing contact, labels or tombstone), takes no advisory lock and sends one statement per
-- table: what is left is PostgreSQL's own cost for these rows and a commit.

-- A sequence rather than random(): every transaction gets a phone of its own, as in the service run.
SELECT nextval('cs_bench_n') AS n \gset

BEGIN;

INSERT INTO contacts (account_id, phone, name, enhanced_data)
VALUES (:account::text, '+' || (:base::bigint + :n::bigint), 'Bench ' || :n::bigint,
        jsonb_build_array(jsonb_build_object('title', 'Orders', 'items', jsonb_build_array(
          jsonb_build_object('text', 'ORD-' || :n::bigint, 'link', 'https://www.example.com/o/' || :n::bigint)))))
ON CONFLICT (account_id, phone) DO UPDATE
  SET name = excluded.name, enhanced_data = excluded.enhanced_data, updated_at = now()
RETURNING id AS contact_id \gset

-- Always in the same order, so two transactions creating the same labels cannot deadlock.
INSERT INTO labels (account_id, name, key)
VALUES (:account::text, 'bench', 'bench'), (:account::text, 'tier-' || :n::bigint % 10, 'tier-' || :n::bigint % 10)
ON CONFLICT (account_id, key) DO NOTHING;

INSERT INTO contact_labels (contact_id, label_id, position)
SELECT :contact_id::bigint, id, CASE key WHEN 'bench' THEN 0 ELSE 1 END
  FROM labels WHERE account_id = :account::text AND key IN ('bench', 'tier-' || :n::bigint % 10)
ON CONFLICT (contact_id, label_id) DO NOTHING;

INSERT INTO deliveries (id, account_id, operation, phone_masked, status, duration_ms)
VALUES ('dlv_bench_' || :n::bigint, :account::text, 'upsert',
        '+44*******' || right((:base::bigint + :n::bigint)::text, 3), 'applied', 0);

COMMIT;
