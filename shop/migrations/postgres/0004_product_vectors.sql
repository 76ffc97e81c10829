-- As ../sqlite/0004_product_vectors.sql.
CREATE TABLE product_vectors (
    product_id BIGINT PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    digest BYTEA NOT NULL,
    vector BYTEA NOT NULL
);
