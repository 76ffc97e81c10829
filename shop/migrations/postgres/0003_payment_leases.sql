-- As ../sqlite/0003_payment_leases.sql.
ALTER TABLE orders ADD COLUMN lease_until BIGINT;
ALTER TABLE orders ADD COLUMN charge_check_until BIGINT;
CREATE INDEX orders_charge_check ON orders(charge_check_until) WHERE charge_check_until IS NOT NULL;
