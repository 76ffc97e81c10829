-- shopml reference shop: the whole schema. Money is integer cents; times are Unix seconds.

CREATE TABLE stores (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- which configured payment gateway this store charges through
    gateway     TEXT NOT NULL DEFAULT 'simulated',
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- argon2id PHC string; NULL: an imported customer who cannot sign in
    password_hash  TEXT,
    role           TEXT NOT NULL CHECK (role IN ('customer', 'dealer', 'admin')),
    store_id       INTEGER REFERENCES stores(id),
    -- the customer's id in the recommender's training data (Online Retail CustomerID), if any
    ext_id         TEXT,
    created_at     INTEGER NOT NULL,
    CHECK ((role = 'dealer') = (store_id IS NOT NULL))
);

-- Opaque session tokens: only their SHA-256 is stored.
CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE products (
    id           INTEGER PRIMARY KEY,
    store_id     INTEGER NOT NULL REFERENCES stores(id),
    sku          TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    category     TEXT,
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0),
    -- the second guard against overselling (the first: conditional UPDATE + rows-affected check)
    stock        INTEGER NOT NULL CHECK (stock >= 0),
    popularity   REAL NOT NULL DEFAULT 0,
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    UNIQUE (store_id, sku)
);
CREATE INDEX products_store ON products(store_id);
CREATE INDEX products_category ON products(category);

CREATE VIRTUAL TABLE products_fts USING fts5(
    name, description, category, content = 'products', content_rowid = 'id', tokenize = 'porter unicode61'
);
CREATE TRIGGER products_ai AFTER INSERT ON products BEGIN
    INSERT INTO products_fts(rowid, name, description, category)
    VALUES (new.id, new.name, new.description, coalesce(new.category, ''));
END;
CREATE TRIGGER products_ad AFTER DELETE ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, name, description, category)
    VALUES ('delete', old.id, old.name, old.description, coalesce(old.category, ''));
END;
CREATE TRIGGER products_au AFTER UPDATE OF name, description, category ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, name, description, category)
    VALUES ('delete', old.id, old.name, old.description, coalesce(old.category, ''));
    INSERT INTO products_fts(rowid, name, description, category)
    VALUES (new.id, new.name, new.description, coalesce(new.category, ''));
END;

-- A cart belongs to a customer or to a guest token (hashed), never both.
CREATE TABLE carts (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    guest_token_hash  BLOB UNIQUE,
    created_at        INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (guest_token_hash IS NULL))
);
CREATE TABLE cart_items (
    cart_id     INTEGER NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
    product_id  INTEGER NOT NULL REFERENCES products(id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (cart_id, product_id)
);

-- Order numbers start at 100001 (AUTOINCREMENT: never reused), so they read as order numbers to
-- customers and to the chatbot's entity extractor.
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users(id),
    store_id        INTEGER NOT NULL REFERENCES stores(id),
    status          TEXT NOT NULL CHECK (status IN ('Created', 'Paid', 'Shipped', 'Delivered', 'Cancelled', 'Refunded')),
    total_cents     INTEGER NOT NULL CHECK (total_cents >= 0),
    refunded_cents  INTEGER NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= total_cents),
    ship_to         TEXT NOT NULL,
    payment_ref     TEXT,
    note            TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
INSERT INTO sqlite_sequence (name, seq) VALUES ('orders', 100000);
CREATE INDEX orders_user ON orders(user_id, id);
CREATE INDEX orders_store ON orders(store_id, id);
CREATE INDEX orders_status ON orders(status);

CREATE TABLE order_lines (
    order_id     INTEGER NOT NULL REFERENCES orders(id),
    product_id   INTEGER NOT NULL REFERENCES products(id),
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    price_cents  INTEGER NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE payments (
    id            INTEGER PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders(id),
    kind          TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents  INTEGER NOT NULL CHECK (amount_cents > 0),
    gateway_ref   TEXT NOT NULL,
    -- the idempotency key sent to the gateway: one booking per key
    key           TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL
);
CREATE INDEX payments_order ON payments(order_id);

-- Transactional outbox: written in the same transaction as the change it announces.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    order_id         INTEGER,
    payload          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    delivered_at     INTEGER,
    last_error       TEXT
);
CREATE INDEX outbox_pending ON outbox(delivered_at, next_attempt_at);
CREATE INDEX outbox_order ON outbox(order_id);

-- Stripe-style idempotency keys, per user; `status` NULL while the first request is running.
CREATE TABLE idempotency_keys (
    user_id       INTEGER NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    status        INTEGER,
    response      TEXT,
    order_id      INTEGER,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_created ON idempotency_keys(created_at);
CREATE INDEX idempotency_order ON idempotency_keys(order_id);

-- The simulated payment provider's own ledger (what a real provider keeps on its side).
CREATE TABLE sim_gateway_charges (
    key           TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    amount_cents  INTEGER NOT NULL,
    reference     TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Views, add-to-cart and purchases: the recommender's live feedback.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    product_id  INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('view', 'cart', 'purchase')),
    at          INTEGER NOT NULL
);
CREATE INDEX events_user ON events(user_id, id);
