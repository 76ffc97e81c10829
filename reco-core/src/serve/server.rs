//! The thread-safe serving handle: hot swap, and live events that change the next answer without a refit.

use super::{Filter, Recommendation};
use crate::error::{RecoError, Result};
use crate::store::TrainedModel;
use arc_swap::ArcSwap;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

/// Live events kept per user (the most recent; SASRec reads at most `max_len` of history anyway).
pub const LIVE_EVENTS_PER_USER: usize = 200;
/// Users with live events kept; beyond it the user whose first live event is oldest is forgotten.
pub const LIVE_USERS: usize = 1_000_000;

/// Live events since a model was fitted: each user's (or guest session's) touched items by id, oldest
/// first, each item once at its latest position. Thread-safe and bounded ([`LIVE_EVENTS_PER_USER`],
/// [`LIVE_USERS`]); ids are kept as text so they outlive a model swap. [`Server`] keeps one; the bindings
/// keep one per model object.
#[derive(Debug, Default)]
pub struct LiveEvents {
    inner: RwLock<Live>,
}

#[derive(Debug, Default)]
struct Live {
    events: HashMap<String, Vec<String>>,
    /// Users in the order they got their first live event (for the bound).
    order: VecDeque<String>,
}

impl LiveEvents {
    /// Records that `user` touched `item` now (moved to the end if already there). Empty ids are an error.
    pub fn record(&self, user: &str, item: &str) -> Result<()> {
        if user.is_empty() || item.is_empty() {
            return Err(RecoError::param(if user.is_empty() { "user" } else { "item" }, "is empty"));
        }
        let mut live = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !live.events.contains_key(user) {
            if live.events.len() >= LIVE_USERS {
                if let Some(old) = live.order.pop_front() {
                    live.events.remove(&old);
                }
            }
            live.order.push_back(user.to_string());
        }
        let list = live.events.entry(user.to_string()).or_default();
        list.retain(|i| i != item);
        list.push(item.to_string());
        if list.len() > LIVE_EVENTS_PER_USER {
            list.remove(0);
        }
        Ok(())
    }

    /// `user`'s live events, oldest first.
    pub fn events(&self, user: &str) -> Vec<String> {
        let live = self.inner.read().unwrap_or_else(|e| e.into_inner());
        live.events.get(user).cloned().unwrap_or_default()
    }

    /// `user`'s newest live event (without copying the others).
    pub fn last(&self, user: &str) -> Option<String> {
        let live = self.inner.read().unwrap_or_else(|e| e.into_inner());
        live.events.get(user).and_then(|l| l.last()).cloned()
    }

    /// Whether no user has a live event.
    pub fn is_empty(&self) -> bool {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).events.is_empty()
    }

    /// Forgets `user`'s live events.
    pub fn forget(&self, user: &str) {
        let mut live = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if live.events.remove(user).is_some() {
            live.order.retain(|u| u != user);
        }
    }

    /// Forgets every live event.
    pub fn clear(&self) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = Live::default();
    }

    /// [`TrainedModel::recommend`] of `model` after `user`'s live events
    /// ([`TrainedModel::recommend_with_events`]).
    pub fn recommend(
        &self,
        model: &TrainedModel,
        user: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Recommendation>> {
        let events = self.events(user);
        if events.is_empty() {
            return model.recommend(user, k, filter);
        }
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        model.recommend_with_events(user, &events, k, filter)
    }
}

/// A thread-safe serving handle: every call reads the current model; [`swap`](Server::swap) replaces it
/// atomically, so calls in flight finish on the old model and later calls see the new one.
///
/// It also keeps live events ([`record_event`](Server::record_event)): each user's views, carts and
/// purchases since the fit, by id, so the next [`recommend`](Server::recommend) of a sequential model
/// (`transition`, `sknn`, `sasrec`) reads them at once, and every model leaves their items out. Events are
/// held in memory (bounded: [`LIVE_EVENTS_PER_USER`], [`LIVE_USERS`]) and survive a swap — the caller's
/// own store (the shop's database) is the record; refit from it and [`forget`](Server::forget) or
/// [`clear_events`](Server::clear_events) what the new model has seen.
#[derive(Debug)]
pub struct Server {
    current: ArcSwap<TrainedModel>,
    live: LiveEvents,
}

impl Server {
    /// Serves `model`.
    pub fn new(model: TrainedModel) -> Self {
        Server { current: ArcSwap::from_pointee(model), live: LiveEvents::default() }
    }

    /// Replaces the model; returns the previous one. Live events are kept.
    pub fn swap(&self, model: TrainedModel) -> Arc<TrainedModel> {
        self.current.swap(Arc::new(model))
    }

    /// The model now being served.
    pub fn model(&self) -> Arc<TrainedModel> {
        self.current.load_full()
    }

    /// Records a live event: `user` touched `item` (viewed, carted, bought) now. Any user id works (a
    /// guest session's id too); an item the current model does not know is kept (a later model may know
    /// it) and ignored when scoring. Empty ids are an error.
    pub fn record_event(&self, user: &str, item: &str) -> Result<()> {
        self.live.record(user, item)
    }

    /// `user`'s live events, oldest first (each item once, at its latest position).
    pub fn live_events(&self, user: &str) -> Vec<String> {
        self.live.events(user)
    }

    /// Forgets `user`'s live events (e.g. once a refit has seen them, or when a guest session ends).
    pub fn forget(&self, user: &str) {
        self.live.forget(user)
    }

    /// Forgets every live event.
    pub fn clear_events(&self) {
        self.live.clear()
    }

    /// [`TrainedModel::recommend`] on the current model, after `user`'s live events
    /// ([`TrainedModel::recommend_with_events`]).
    pub fn recommend(&self, user: &str, k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        self.live.recommend(&self.current.load(), user, k, filter)
    }

    /// [`TrainedModel::recommend_next`] on the current model.
    pub fn recommend_next(&self, history: &[&str], k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        self.current.load().recommend_next(history, k, filter)
    }

    /// [`TrainedModel::recommend_for_items`] on the current model.
    pub fn recommend_for_items(&self, items: &[&str], k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        self.current.load().recommend_next(items, k, filter)
    }

    /// [`TrainedModel::similar_items`] on the current model.
    pub fn similar_items(&self, item: &str, k: usize) -> Result<Vec<Recommendation>> {
        self.current.load().similar_items(item, k)
    }
}

#[cfg(test)]
mod live_tests {
    use super::LiveEvents;

    #[test]
    fn the_newest_event_moves_to_the_end_and_is_last() {
        let live = LiveEvents::default();
        assert_eq!(live.last("u"), None);
        for item in ["a", "b", "a"] {
            live.record("u", item).unwrap();
        }
        assert_eq!(live.events("u"), ["b", "a"]);
        assert_eq!(live.last("u").as_deref(), Some("a"));
        assert_eq!(live.last("other"), None);
    }
}
