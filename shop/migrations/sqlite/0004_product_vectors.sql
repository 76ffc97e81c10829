-- Sentence embeddings of the products' texts for semantic and hybrid search (only with an encoder
-- configured). `digest` = SHA-256 of the encoder's fingerprint and the embedded text: a row whose digest
-- no longer matches (text edited, another encoder) is embedded again; the others survive restarts.
CREATE TABLE product_vectors (
    product_id INTEGER PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    digest BLOB NOT NULL,
    vector BLOB NOT NULL
);
