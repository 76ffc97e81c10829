//! Serving a fitted SASRec: final hidden states, scores and next items for histories in order, live
//! events. A score is the dot product of the history's final hidden state with an item's (shared input
//! and output) embedding, so large catalogues can retrieve through an inner-product index over
//! [`item_embeddings`](SasRec::item_embeddings) queried with [`hidden_states`](SasRec::hidden_states).

use super::net::Dropout;
use super::{backend, SasRec};
use crate::error::{RecoError, Result};
use crate::model::check_k;
use candle_core::{Device, Tensor};
use ndarray::Array2;

/// Histories scored per forward pass.
const BATCH: usize = 256;

impl SasRec {
    /// What the network reads of a history: its known items (`< n_items`; others are ignored), the most
    /// recent `max_len` of them.
    fn known(&self, h: &[u32]) -> Vec<u32> {
        let known: Vec<u32> = h.iter().copied().filter(|&i| (i as usize) < self.n_items).collect();
        known[known.len().saturating_sub(self.params.max_len)..].to_vec()
    }

    /// Runs `f(rows, hidden)` for batches of histories of similar length (each batch left-padded only to
    /// its longest history); `hidden` is `(rows.len(), d)`, the final position's state of each.
    fn for_batches(
        &self,
        histories: &[&[u32]],
        mut f: impl FnMut(&[usize], Tensor) -> candle_core::Result<()>,
    ) -> Result<()> {
        let hs: Vec<Vec<u32>> = histories.iter().map(|h| self.known(h)).collect();
        let mut order: Vec<usize> = (0..hs.len()).collect();
        order.sort_by_key(|&r| hs[r].len());
        for chunk in order.chunks(BATCH) {
            let l = chunk.iter().map(|&r| hs[r].len()).max().unwrap_or(0).max(1);
            let mut ids = vec![0u32; chunk.len() * l];
            for (s, &r) in chunk.iter().enumerate() {
                let h = &hs[r];
                for (k, &i) in h.iter().enumerate() {
                    ids[s * l + (l - h.len()) + k] = i + 1;
                }
            }
            let run = || -> candle_core::Result<()> {
                let ids = Tensor::from_vec(ids, (chunk.len(), l), &Device::Cpu)?;
                let h = self.net.forward(&ids, &mut Dropout { p: 0.0, rng: None })?;
                f(chunk, h.narrow(1, l - 1, 1)?.squeeze(1)?)
            };
            run().map_err(backend)?;
        }
        Ok(())
    }

    /// The final hidden state after each history (`(histories, hidden)`): the query vector whose dot
    /// product with [`item_embeddings`](Self::item_embeddings) gives [`score_histories`](Self::score_histories).
    /// Unknown items are ignored, only the most recent `max_len` items are read, and an empty history
    /// reads as the padding alone.
    pub fn hidden_states(&self, histories: &[&[u32]]) -> Result<Array2<f32>> {
        let d = self.params.hidden;
        let mut out = Array2::zeros((histories.len(), d));
        self.for_batches(histories, |rows, h| {
            let h = h.flatten_all()?.to_vec1::<f32>()?;
            for (s, &r) in rows.iter().enumerate() {
                out.row_mut(r).iter_mut().zip(&h[s * d..(s + 1) * d]).for_each(|(o, v)| *o = *v);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The output embedding of every item (`(n_items, hidden)`).
    pub fn item_embeddings(&self) -> Result<Array2<f32>> {
        let (n, d) = (self.n_items, self.params.hidden);
        let e = self.net.items.narrow(0, 1, n).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).map_err(backend)?;
        Array2::from_shape_vec((n, d), e).map_err(|e| RecoError::Backend(e.to_string()))
    }

    /// Scores of every item after each history (`(histories, n_items)`, row-major), with the reading
    /// rules of [`hidden_states`](Self::hidden_states).
    pub fn score_histories(&self, histories: &[&[u32]]) -> Result<Vec<f32>> {
        let m = self.n_items;
        let mut out = vec![0f32; histories.len() * m];
        self.for_batches(histories, |rows, h| {
            let scores = self.net.logits(&h)?.flatten_all()?.to_vec1::<f32>()?;
            for (s, &r) in rows.iter().enumerate() {
                out[r * m..(r + 1) * m].copy_from_slice(&scores[s * m..(s + 1) * m]);
            }
            Ok(())
        })?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(RecoError::Backend("SASRec produced a non-finite score".into()));
        }
        Ok(out)
    }

    /// The `k` best next items after `history` (oldest first), best first, leaving out `exclude` and the
    /// history's own items. Unknown items in the history are ignored and only its most recent `max_len`
    /// items are read; an empty history (or one of unknown items only) and `k = 0` are errors.
    pub fn recommend_next(&self, history: &[u32], k: usize, exclude: &[u32]) -> Result<Vec<(u32, f32)>> {
        check_k(k)?;
        if self.known(history).is_empty() {
            return Err(RecoError::param("history", "has no item the model knows: give at least one"));
        }
        let mut scores = self.score_histories(&[history])?;
        for &i in history.iter().chain(exclude) {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        Ok(crate::eval::top_k(&scores, k))
    }

    /// Appends a live event: `item` becomes the newest of `user`'s history (moved to the end if it is
    /// already there; a new user gets a history; the oldest item drops out beyond `max_len`). The next
    /// scores change at once, with no refit.
    pub fn push_event(&mut self, user: u32, item: u32) -> Result<()> {
        if item as usize >= self.n_items {
            return Err(RecoError::UnknownItem(format!("index {item} (model has {} items)", self.n_items)));
        }
        let u = user as usize;
        if u >= self.sequences.len() {
            if u > self.sequences.len() + 1_000_000 {
                return Err(RecoError::UnknownUser(format!("index {user} is far beyond the model's users")));
            }
            self.sequences.resize(u + 1, Vec::new());
        }
        let s = &mut self.sequences[u];
        s.retain(|&i| i != item);
        s.push(item);
        if s.len() > self.params.max_len {
            s.remove(0);
        }
        Ok(())
    }
}
