-- The replica that created an order (its random id; see src/replicas.rs): recovery finishes a Created
-- order of a replica that no longer runs without waiting for the order's lease.
ALTER TABLE orders ADD COLUMN claimed_by INTEGER;
