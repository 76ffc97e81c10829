-- Customer↔dealer conversations about a product (customisation requests), their messages, and the
-- dealer's offers: a price for a quantity that the customer can accept into the cart.

CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    customer_id   INTEGER NOT NULL REFERENCES users(id),
    store_id      INTEGER NOT NULL REFERENCES stores(id),
    product_id    INTEGER NOT NULL REFERENCES products(id),
    created_at    INTEGER NOT NULL,
    -- the newest message's id, and the last one each side has read (unread = newer, from the other side)
    last_message  INTEGER NOT NULL DEFAULT 0,
    customer_read INTEGER NOT NULL DEFAULT 0,
    dealer_read   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (customer_id, product_id)
);
CREATE INDEX conversations_store ON conversations(store_id, last_message);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
    author_id        INTEGER NOT NULL REFERENCES users(id),
    from_dealer      INTEGER NOT NULL CHECK (from_dealer IN (0, 1)),
    body             TEXT NOT NULL,
    -- an offer (dealers only): a unit price for a quantity of the conversation's product
    offer_cents      INTEGER CHECK (offer_cents >= 0),
    offer_quantity   INTEGER CHECK (offer_quantity BETWEEN 1 AND 1000),
    -- the order that bought the offer (an offer is bought once)
    offer_order_id   INTEGER REFERENCES orders(id),
    created_at       INTEGER NOT NULL,
    CHECK ((offer_cents IS NULL) = (offer_quantity IS NULL)),
    CHECK (offer_cents IS NULL OR from_dealer = 1)
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);

-- A cart line taken from an offer: its agreed unit price (the catalogue price otherwise).
ALTER TABLE cart_items ADD COLUMN offer_id INTEGER REFERENCES messages(id);
ALTER TABLE cart_items ADD COLUMN agreed_cents INTEGER CHECK (agreed_cents >= 0);
