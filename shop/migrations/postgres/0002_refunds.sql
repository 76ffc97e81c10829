-- As ../sqlite/0002_refunds.sql.
CREATE TABLE refunds (
    key           TEXT PRIMARY KEY,
    order_id      BIGINT NOT NULL REFERENCES orders(id),
    amount_cents  BIGINT NOT NULL CHECK (amount_cents > 0),
    status        TEXT NOT NULL CHECK (status IN ('pending', 'done', 'declined')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX refunds_pending ON refunds(status, created_at);
