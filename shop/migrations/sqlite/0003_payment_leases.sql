-- A payment in flight holds a lease on its order: the periodic recovery leaves a Created order alone
-- until lease_until (Unix seconds; set at checkout to the longest a payment can take) has passed.
ALTER TABLE orders ADD COLUMN lease_until INTEGER;
-- Orders cancelled without a charge found (a payment interrupted or timed out): their charge key is
-- looked up again until this time (Unix seconds), and a charge that landed late is refunded.
ALTER TABLE orders ADD COLUMN charge_check_until INTEGER;
CREATE INDEX orders_charge_check ON orders(charge_check_until) WHERE charge_check_until IS NOT NULL;
