//! Criterion benches live in `benches/`; see `benches/README.md`.
