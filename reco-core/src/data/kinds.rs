//! What an event's kind changes: how much it weighs in a fit ([`KindWeights`]), and which events a
//! leave-one-out split holds out when the data mixes kinds (purchases: what a shop wants predicted).

use super::split::LeaveOneOut;
use super::{Dataset, EventKind, Interaction};
use crate::error::{RecoError, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// How much each kind of event counts in a fit: an event's weight (quantity, rating, 1) is multiplied by
/// its kind's before any model sees it; a kind weighted 0 is left out altogether.
///
/// Defaults: view 0.25, search-click 0.25, add-to-cart 0.5, purchase 1. No dataset this project can read
/// has shop event kinds; the view weight is the validation optimum of item-kNN and ALS (transition: 0.1,
/// within 0.001 NDCG) on a proxy — MovieLens-100K with ratings ≤ 3 as views, ≥ 4 as purchases — where
/// leaving views out costs 25–29 % NDCG@10 and weighing them like purchases 4–8 % (item-kNN, ALS)
/// (`benches/kind_weights.py`; table in benches/README.md). The add-to-cart weight is not tuned (no data
/// with carts). Purchase-only data is unchanged by them. `benches/kind_weights.py --data FILE` tunes them on
/// a file that has kinds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct KindWeights {
    /// A product page seen.
    pub view: f32,
    /// A product clicked in search results.
    pub search_click: f32,
    /// A product put in the cart.
    pub add_to_cart: f32,
    /// A product bought.
    pub purchase: f32,
}

impl Default for KindWeights {
    fn default() -> Self {
        KindWeights { view: 0.25, search_click: 0.25, add_to_cart: 0.5, purchase: 1.0 }
    }
}

impl KindWeights {
    /// Every kind weighs 1: events count as given, whatever their kind.
    pub const EQUAL: KindWeights = KindWeights { view: 1.0, search_click: 1.0, add_to_cart: 1.0, purchase: 1.0 };

    /// The weight of `kind`.
    pub fn of(&self, kind: EventKind) -> f32 {
        match kind {
            EventKind::View => self.view,
            EventKind::SearchClick => self.search_click,
            EventKind::AddToCart => self.add_to_cart,
            EventKind::Purchase => self.purchase,
        }
    }

    /// Each weight finite and ≥ 0, at least one > 0.
    pub fn validate(&self) -> Result<()> {
        let all = [self.view, self.search_click, self.add_to_cart, self.purchase];
        if let Some(w) = all.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(RecoError::param("kind_weights", format!("each weight must be finite and ≥ 0, got {w}")));
        }
        if all.iter().all(|w| *w == 0.0) {
            return Err(RecoError::param("kind_weights", "every kind is weighted 0: nothing would be fitted"));
        }
        Ok(())
    }

    /// The defaults with some weights replaced: `"view=0.1,add-to-cart=0.5"` (kinds as
    /// [`EventKind::parse`] reads them; empty text: the defaults).
    pub fn parse(text: &str) -> Result<Self> {
        let mut w = KindWeights::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |why: String| RecoError::param("kind_weights", format!("`{pair}`: {why}"));
            let (k, v) = pair.split_once('=').ok_or_else(|| bad("expected KIND=WEIGHT".into()))?;
            let kind = EventKind::parse(k)
                .ok_or_else(|| bad(format!("`{k}` is not view, search-click, add-to-cart or purchase")))?;
            let v: f32 = v.trim().parse().map_err(|e| bad(format!("`{}`: {e}", v.trim())))?;
            *w.slot(kind) = v;
        }
        w.validate()?;
        Ok(w)
    }

    fn slot(&mut self, kind: EventKind) -> &mut f32 {
        match kind {
            EventKind::View => &mut self.view,
            EventKind::SearchClick => &mut self.search_click,
            EventKind::AddToCart => &mut self.add_to_cart,
            EventKind::Purchase => &mut self.purchase,
        }
    }
}

/// Each event's weight multiplied by its kind's; events of a kind weighted 0 dropped.
pub(crate) fn weigh(mut events: Vec<Interaction>, weights: &KindWeights) -> Result<Vec<Interaction>> {
    weights.validate()?;
    events.retain_mut(|e| {
        e.weight *= weights.of(e.kind);
        e.weight > 0.0
    });
    Ok(events)
}

impl Dataset {
    /// The same data with each event's weight multiplied by its kind's weight; events of a kind weighted 0
    /// are dropped (ids and item metadata stay). Apply once, before fitting. To *evaluate* weights, split
    /// first and weigh the split ([`LeaveOneOut::weighted`], or `run_loo`'s `kind_weights`): the held-out
    /// purchases and the users evaluated then stay the same whatever the weights.
    pub fn weighted(mut self, weights: &KindWeights) -> Result<Dataset> {
        self.interactions = weigh(std::mem::take(&mut self.interactions), weights)?;
        Ok(self)
    }

    /// [`weighted`](Self::weighted), borrowing `self` when no event's weight would change (purchase-only
    /// data with the default weights, say).
    pub fn weighted_view(&self, weights: &KindWeights) -> Result<Cow<'_, Dataset>> {
        weights.validate()?;
        if self.interactions.iter().all(|e| weights.of(e.kind) == 1.0) {
            return Ok(Cow::Borrowed(self));
        }
        Ok(Cow::Owned(self.clone().weighted(weights)?))
    }

    /// Whether the events mix purchases with other kinds (then leave-one-out holds out purchases).
    pub fn mixes_kinds(&self) -> bool {
        let purchase = |e: &Interaction| e.kind == EventKind::Purchase;
        self.interactions.iter().any(purchase) && !self.interactions.iter().all(purchase)
    }
}

impl LeaveOneOut {
    /// The split with its training events weighted by kind ([`Dataset::weighted`]); held-out items unchanged.
    pub fn weighted(self, weights: &KindWeights) -> Result<LeaveOneOut> {
        Ok(LeaveOneOut { train: weigh(self.train, weights)?, valid_train: weigh(self.valid_train, weights)?, ..self })
    }
}

/// Leave-one-out on data that mixes kinds: per user, `test` is the item whose first purchase came last,
/// and the user's training events are those *before* that purchase, without the item's own events (a view
/// of it included); `valid` is chosen the same way among those training events. A purchase counts only
/// when the user touched another item before it.
pub(super) fn leave_purchases_out(data: &Dataset) -> LeaveOneOut {
    let events = &data.interactions;
    let mut order: Vec<usize> = (0..events.len()).collect();
    // Stable: equal timestamps keep input order.
    order.sort_by_key(|&k| (events[k].user, events[k].timestamp));
    let (mut train, mut valid_train, mut test, mut valid) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for user_events in order.chunk_by(|&a, &b| events[a].user == events[b].user) {
        let history: Vec<Interaction> = user_events.iter().map(|&k| events[k]).collect();
        let user = history[0].user;
        let Some((item, kept)) = hold_last_purchase(&history) else {
            train.extend_from_slice(&history);
            valid_train.extend_from_slice(&history);
            continue;
        };
        test.push((user, item));
        train.extend_from_slice(&kept);
        match hold_last_purchase(&kept) {
            Some((item, before)) => {
                valid.push((user, item));
                valid_train.extend(before);
            }
            None => valid_train.extend(kept),
        }
    }
    LeaveOneOut { train, valid_train, test, valid }
}

/// The item of `history`'s last first-purchase that has an event of another item before it, and the
/// events before that purchase minus the item's own.
/// One pass (a crawler's history can hold 100,000 views).
fn hold_last_purchase(history: &[Interaction]) -> Option<(u32, Vec<Interaction>)> {
    let mut bought = std::collections::HashSet::new();
    // The first item touched, and whether a second one has been: then every item has another before it.
    let (mut first, mut two_items) = (None, false);
    let mut held = None;
    for (p, e) in history.iter().enumerate() {
        let other_before = two_items || first.is_some_and(|f| f != e.item);
        if e.kind == EventKind::Purchase && bought.insert(e.item) && other_before {
            held = Some(p);
        }
        two_items = other_before || two_items;
        first = first.or(Some(e.item));
    }
    let pos = held?;
    let item = history[pos].item;
    Some((item, history[..pos].iter().filter(|e| e.item != item).copied().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::split::leave_one_out;

    fn data(rows: &[(&str, &str, i64, EventKind)]) -> Dataset {
        let mut d = Dataset::new("t");
        for &(u, i, t, k) in rows {
            d.push(u, i, t, k, 2.0).unwrap();
        }
        d
    }

    #[test]
    fn weights_multiply_and_a_zero_kind_is_dropped() {
        use EventKind::*;
        let d = data(&[("a", "x", 1, View), ("a", "y", 2, AddToCart), ("a", "z", 3, Purchase)]);
        let w = KindWeights::parse("view=0, add-to-cart=0.5").unwrap();
        let d = d.weighted(&w).unwrap();
        let got: Vec<(EventKind, f32)> = d.interactions().iter().map(|e| (e.kind, e.weight)).collect();
        assert_eq!(got, vec![(AddToCart, 1.0), (Purchase, 2.0)]);
        assert_eq!(d.n_items(), 3, "ids stay");
    }

    #[test]
    fn bad_weights_are_named() {
        for (text, says) in [
            ("view", "expected KIND=WEIGHT"),
            ("like=1", "`like` is not view"),
            ("view=x", "`x`"),
            ("view=-1", "finite and ≥ 0"),
            ("purchase=nan", "finite and ≥ 0"),
            ("view=0,search-click=0,cart=0,purchase=0", "every kind is weighted 0"),
        ] {
            let e = KindWeights::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert_eq!(KindWeights::parse("").unwrap(), KindWeights::default());
        let w: KindWeights = serde_json::from_str(r#"{"view": 0.1}"#).unwrap();
        assert_eq!((w.view, w.purchase), (0.1, 1.0));
        assert!(serde_json::from_str::<KindWeights>(r#"{"like": 1}"#).is_err());
    }

    #[test]
    fn mixed_kinds_hold_out_the_last_purchase_and_train_on_what_came_before() {
        use EventKind::*;
        // a: views x, buys y, views z, views w, buys w, views v (after the purchase: not in training).
        let d = data(&[
            ("a", "x", 1, View),
            ("a", "y", 2, Purchase),
            ("a", "z", 3, View),
            ("a", "w", 4, View),
            ("a", "w", 5, Purchase),
            ("a", "v", 6, View),
            ("b", "x", 1, Purchase), // one item: training only
        ]);
        assert!(d.mixes_kinds());
        let s = leave_one_out(&d).unwrap();
        let id = |i: u32| d.items().id(i).to_string();
        let named = |pairs: &[(u32, u32)]| pairs.iter().map(|&(u, i)| (u, id(i))).collect::<Vec<_>>();
        assert_eq!(named(&s.test), vec![(0, "w".to_string())]);
        assert_eq!(named(&s.valid), vec![(0, "y".to_string())]);
        let items =
            |v: &[Interaction], u: u32| v.iter().filter(|e| e.user == u).map(|e| id(e.item)).collect::<Vec<_>>();
        assert_eq!(items(&s.train, 0), ["x", "y", "z"]);
        assert_eq!(items(&s.valid_train, 0), ["x"]);
        assert_eq!(items(&s.train, 1), ["x"]);
        assert_eq!(items(&s.valid_train, 1), ["x"]);
    }

    proptest::proptest! {
        /// The one-pass hold-out agrees with its definition read literally (quadratic).
        #[test]
        fn the_one_pass_hold_out_is_the_definition(events in proptest::collection::vec((0u32..5, proptest::bool::ANY), 0..40)) {
            let history: Vec<Interaction> = events
                .iter()
                .enumerate()
                .map(|(t, &(item, bought))| Interaction {
                    user: 0,
                    item,
                    timestamp: t as i64,
                    kind: if bought { EventKind::Purchase } else { EventKind::View },
                    weight: 1.0,
                })
                .collect();
            let first_purchase = |p: usize| {
                history[p].kind == EventKind::Purchase
                    && !history[..p].iter().any(|e| e.item == history[p].item && e.kind == EventKind::Purchase)
            };
            let want = (0..history.len())
                .rev()
                .find(|&p| first_purchase(p) && history[..p].iter().any(|e| e.item != history[p].item))
                .map(|p| history[p].item);
            proptest::prop_assert_eq!(hold_last_purchase(&history).map(|(item, _)| item), want);
        }
    }

    #[test]
    fn one_kind_keeps_the_plain_split() {
        let d = data(&[("a", "x", 1, EventKind::View), ("a", "y", 2, EventKind::View)]);
        assert!(!d.mixes_kinds());
        let s = leave_one_out(&d).unwrap();
        assert_eq!(s.test.len(), 1);
    }
}
