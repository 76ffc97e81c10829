-- As ../sqlite/0005_order_claims.sql.
ALTER TABLE orders ADD COLUMN claimed_by BIGINT;
