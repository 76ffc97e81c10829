-- Refunds are recorded as intents before the gateway is called (in the transaction that reserves the
-- amount), so a crash between the reservation and the booking is finished by the recovery loop.
CREATE TABLE refunds (
    key           TEXT PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders(id),
    amount_cents  INTEGER NOT NULL CHECK (amount_cents > 0),
    status        TEXT NOT NULL CHECK (status IN ('pending', 'done', 'declined')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX refunds_pending ON refunds(status, created_at);
