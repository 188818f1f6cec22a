-- 1,000,000 cases for the bench account (test mode), spread over about a year, newest last.
-- Parameters (substituted by run.py): account_id, rows
-- Status mix: 1 in 10,000 paused (the "rare" filter), 1 in 5 needs_details, 1 in 10 closed.
INSERT INTO collection_cases (
    id, account_id, is_test, reference, status, close_code, amount_to_recover, remainder,
    currency, debtor, debtor_type, debtor_country, collection_partner_id, collection_partner,
    requirements, creditor_reference, due_date, metadata, created_at, updated_at
)
SELECT
    (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
        || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
    %(account_id)s, true,
    'B' || lpad(upper(to_hex(i)), 7, '0'),
    CASE WHEN i %% 10000 = 0 THEN 'paused'
         WHEN i %% 5 = 1 THEN 'needs_details'
         WHEN i %% 10 = 2 THEN 'closed'
         ELSE 'active' END,
    CASE WHEN i %% 10 = 2 AND i %% 10000 <> 0 THEN 'paid' END,
    360000, 360000, 'eur',
    jsonb_build_object(
        'type', 'private', 'name', 'Debtor ' || i, 'contact_person', null,
        'email', 'debtor' || i || '@example.com', 'phone', '+49 170 1234567',
        'address', jsonb_build_object('line1', 'Friedrichstraße 123', 'line2', null,
            'city', 'Berlin', 'state', null, 'postal_code', '10117', 'country', 'DE'),
        'country', 'DE'),
    'private', 'DE', 'cp_partner_de_01',
    '{"id": "cp_partner_de_01", "name": "CollectMax GmbH", "email": "cases@collectmax.de",
      "phone": "+49 30 1234567", "site": "https://collectmax.de"}'::jsonb,
    '[]'::jsonb, 'INV-' || i, DATE '2024-11-01',
    jsonb_build_object('property_id', 'prop_' || (i %% 500)),
    ts, ts
FROM (
    SELECT i, md5(i::text) AS h,
           now() - interval '1 year' + (i * interval '31 seconds') AS ts
    FROM generate_series(1, %(rows)s) AS i
) AS s;
