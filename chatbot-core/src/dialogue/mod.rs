//! Multi-turn dialogue: per-conversation state (with a time-to-live and a bound on how many are kept),
//! slot filling (an order number is asked for, then used), confirmation before anything that changes
//! an order, out-of-scope handling (a clarifying question, then a human after repeated failures) and
//! replies grounded in the store through the [`storefront`] traits — for the current customer only.

mod config;

pub use config::{Behaviour, BotConfig, IntentConfig};

use crate::entities::{Entities, Extractor};
use crate::error::Result;
use crate::intent::{Classifier, IntentModel};
use lru::LruCache;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use storefront::{Order, OrderStatus, PriceFilter, Product, Store, StoreError};

/// What the assistant did with a message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// Nothing beyond replying.
    None,
    /// Asked for a missing piece (`slot`: "order_number").
    AskSlot {
        /// The slot asked for.
        slot: String,
    },
    /// Asked what the customer meant (low confidence).
    Clarify,
    /// Handed the conversation to a human.
    Handoff,
    /// Looked up an order.
    OrderStatus {
        /// The order.
        order: String,
    },
    /// Asked to confirm a cancellation.
    ConfirmCancel {
        /// The order.
        order: String,
    },
    /// Asked to confirm a new shipping address.
    ConfirmAddress {
        /// The order.
        order: String,
        /// The new address.
        address: String,
    },
    /// Changed an order's shipping address.
    AddressChanged {
        /// The order.
        order: String,
    },
    /// The customer declined the address change.
    AddressDeclined {
        /// The order.
        order: String,
    },
    /// Cancelled an order.
    Cancelled {
        /// The order.
        order: String,
    },
    /// The customer declined the cancellation.
    CancelDeclined {
        /// The order.
        order: String,
    },
    /// Searched the catalog.
    SearchProducts {
        /// Product ids shown.
        products: Vec<String>,
    },
    /// Recommended products.
    Recommend {
        /// Product ids shown.
        products: Vec<String>,
    },
    /// Quoted a policy.
    Policy {
        /// Its topic.
        topic: String,
    },
    /// The store failed; nothing was changed.
    StoreError,
}

/// The assistant's answer to one message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reply {
    /// What to show the customer.
    pub text: String,
    /// The recognised intent (`None` for confirmations, slot answers and empty messages).
    pub intent: Option<String>,
    /// The classifier's calibrated confidence in it.
    pub confidence: f32,
    /// Entities found in the message (empty for answers to a yes / no confirmation, addresses given
    /// when asked for one, and empty messages: those turns skip entity extraction).
    pub entities: Entities,
    /// What was done.
    pub action: Action,
}

#[derive(Debug, Clone)]
enum Pending {
    OrderNumber(Behaviour),
    /// The new shipping address for this order.
    Address(String),
    /// Cancel this order?
    Confirm(String),
    /// Ship this order to this address?
    ConfirmAddress(String, String),
}

#[derive(Debug)]
struct Conversation {
    pending: Option<Pending>,
    misses: u32,
    seen: Instant,
}

/// A customer-support assistant over an intent model and a store.
#[derive(Debug)]
pub struct Assistant<M: IntentModel> {
    classifier: Classifier<M>,
    extractor: Extractor,
    store: Store,
    config: BotConfig,
    /// Least recently active first out (O(1) eviction at the bound).
    conversations: Mutex<LruCache<String, Conversation>>,
}

const YES: &[&str] = &["yes", "y", "yeah", "yep", "sure", "ok", "okay", "confirm", "correct", "do it", "go ahead"];
const NO: &[&str] = &["no", "n", "nope", "not", "dont", "stop", "keep", "never", "nevermind", "wait", "abort"];

impl<M: IntentModel> Assistant<M> {
    /// An assistant; the catalog's product and category names are indexed for entity matching.
    pub fn new(classifier: Classifier<M>, store: Store, config: BotConfig) -> Result<Self> {
        let backend = |e: StoreError| crate::error::ChatError::Backend(e.to_string());
        let names = store.catalog.names().map_err(backend)?;
        let categories = store.catalog.categories().map_err(backend)?;
        config.validate()?;
        let extractor =
            Extractor::new().with_catalog(names).with_categories(categories).with_decimal_mark(config.decimal_mark);
        // Unbounded map, bound enforced in `put_pending`: `LruCache::new(n)` would allocate for n
        // conversations up front (and a huge configured bound would abort the process).
        Ok(Assistant { classifier, extractor, store, config, conversations: Mutex::new(LruCache::unbounded()) })
    }

    /// The configuration in use.
    pub fn config(&self) -> &BotConfig {
        &self.config
    }

    /// Number of conversations currently remembered.
    pub fn conversations(&self) -> usize {
        self.conversations.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Answers `text` in conversation `conversation` for `customer` (`None`: not signed in; order
    /// questions then ask to sign in). Never fails on what the customer writes: empty, huge or
    /// unintelligible messages get a reply; errors are only the model's own.
    pub fn reply(&self, conversation: &str, customer: Option<&str>, text: &str) -> Result<Reply> {
        let now = Instant::now();
        let pending = self.take_pending(conversation, now);
        let mut out = Reply {
            text: String::new(),
            intent: None,
            confidence: 0.0,
            entities: Entities::default(),
            action: Action::None,
        };
        let norm = crate::text::normalize(text);
        if norm.is_empty() {
            out.text = self.config.render("empty", &[]);
            self.put_pending(conversation, pending, now, None);
            return Ok(out);
        }
        // A pending confirmation: yes / no, or anything else drops it.
        if let Some(Pending::Confirm(order)) = &pending {
            if says_yes(&norm) {
                self.cancel(customer, order, &mut out);
                self.put_pending(conversation, None, now, Some(0));
                return Ok(out);
            }
            if says_no(&norm) {
                out.text = self.config.render("not_cancelled", &[("order", order.clone())]);
                out.action = Action::CancelDeclined { order: order.clone() };
                self.put_pending(conversation, None, now, Some(0));
                return Ok(out);
            }
        }
        if let Some(Pending::ConfirmAddress(order, address)) = &pending {
            if says_yes(&norm) {
                self.change_address(customer, order, address, &mut out);
                self.put_pending(conversation, None, now, Some(0));
                return Ok(out);
            }
            if says_no(&norm) {
                out.text = self.config.render("address_unchanged", &[("order", order.clone())]);
                out.action = Action::AddressDeclined { order: order.clone() };
                self.put_pending(conversation, None, now, Some(0));
                return Ok(out);
            }
        }
        // A pending address: the message is the address (what else could it be — an intent would be
        // misread from "12 High Street").
        if let Some(Pending::Address(order)) = &pending.clone().filter(|_| !says_no(&norm)) {
            let address: String = text.trim().chars().filter(|c| !c.is_control()).take(300).collect();
            let vars = [("order", order.clone()), ("address", address.clone())];
            out.text = self.config.render("confirm_address", &vars);
            out.action = Action::ConfirmAddress { order: order.clone(), address: address.clone() };
            self.put_pending(conversation, Some(Pending::ConfirmAddress(order.clone(), address)), now, Some(0));
            return Ok(out);
        }
        // Entities only now: a yes / no or an address needs none (typo-tolerant product matching is
        // most of a turn's cost).
        out.entities = self.extractor.extract_normalized(text, &norm, chrono::Local::now().date_naive());
        // A pending order number: a message carrying one answers it, whatever its intent.
        if let (Some(Pending::OrderNumber(b)), Some(order)) = (&pending, out.entities.order_numbers.first().cloned()) {
            let next = self.order_action(b, customer, &order, &mut out);
            self.put_pending(conversation, next, now, Some(0));
            return Ok(out);
        }
        let intent = self.classifier.classify(text)?;
        let label = self.config.rename.get(&intent.label).cloned().unwrap_or(intent.label.clone());
        out.intent = Some(label.clone());
        out.confidence = intent.confidence;
        let cfg = self.config.intents.get(&label);
        if !intent.in_scope || cfg.is_none() {
            let misses = self.misses(conversation) + 1;
            if misses >= self.config.handoff_after {
                out.text = self.config.render("handoff", &[]);
                out.action = Action::Handoff;
                self.put_pending(conversation, None, now, Some(0));
            } else {
                let title = cfg.and_then(|c| c.title.clone()).unwrap_or_else(|| label.replace('_', " "));
                out.text = self.config.render("clarify", &[("intent", title)]);
                out.action = Action::Clarify;
                self.put_pending(conversation, None, now, Some(misses));
            }
            return Ok(out);
        }
        let cfg = cfg.expect("checked").clone();
        let next = self.act(&cfg, &label, customer, &norm, &mut out);
        self.put_pending(conversation, next, now, Some(0));
        Ok(out)
    }

    fn act(
        &self,
        cfg: &IntentConfig,
        label: &str,
        customer: Option<&str>,
        norm: &str,
        out: &mut Reply,
    ) -> Option<Pending> {
        let title = cfg.title.clone().unwrap_or_else(|| label.replace('_', " "));
        match &cfg.behaviour {
            b @ (Behaviour::TrackOrder
            | Behaviour::CancelOrder
            | Behaviour::RefundStatus
            | Behaviour::ChangeAddress) => {
                if customer.is_none() {
                    out.text = self.config.render("sign_in", &[]);
                    return None;
                }
                match out.entities.order_numbers.first().cloned() {
                    Some(order) => self.order_action(b, customer, &order, out),
                    None => {
                        out.text = self.config.render("ask_order", &[]);
                        out.action = Action::AskSlot { slot: "order_number".into() };
                        Some(Pending::OrderNumber(b.clone()))
                    }
                }
            }
            Behaviour::SearchProducts => {
                let price = out.entities.price.clone().unwrap_or_default();
                let filter = PriceFilter { min: price.min, max: price.max };
                // The message's content words, typo-corrected against the catalog's vocabulary.
                let query = self.extractor.correct(&content_words(norm));
                match self.store.catalog.search(&query, filter, 3) {
                    Ok(ps) if !ps.is_empty() => {
                        out.text = self.config.render("products", &[("products", list(&ps))]);
                        out.action = Action::SearchProducts { products: ps.iter().map(|p| p.id.clone()).collect() };
                    }
                    Ok(_) => {
                        let range = match (filter.min, filter.max) {
                            (None, None) => String::new(),
                            (lo, hi) => format!(
                                " in that price range (£{} – £{})",
                                lo.map_or("0".into(), |v| format!("{v:.2}")),
                                hi.map_or("any".into(), |v| format!("{v:.2}"))
                            ),
                        };
                        out.text = self.config.render("no_products", &[("price", range)]);
                        out.action = Action::SearchProducts { products: Vec::new() };
                    }
                    Err(_) => self.store_error(out),
                }
                None
            }
            Behaviour::Recommend => {
                match self.store.recommendations.recommend(customer, 3) {
                    Ok(ps) => {
                        out.text = self.config.render("recommendations", &[("products", list(&ps))]);
                        out.action = Action::Recommend { products: ps.iter().map(|p| p.id.clone()).collect() };
                    }
                    Err(_) => self.store_error(out),
                }
                None
            }
            Behaviour::Policy(topic) => {
                let text = self.store.policies.policy(topic).unwrap_or_else(|| self.config.render("handoff", &[]));
                out.text = self.config.render("policy", &[("policy", text)]);
                out.action = Action::Policy { topic: topic.clone() };
                None
            }
            Behaviour::Handoff => {
                out.text = self.config.render("handoff", &[]);
                out.action = Action::Handoff;
                None
            }
            Behaviour::Answer => {
                let template = cfg.reply.clone().unwrap_or_else(|| "I can help you {intent}.".into());
                out.text = template.replace("{intent}", &title);
                None
            }
        }
    }

    /// Track / cancel (ask to confirm) / refund for a known order number.
    fn order_action(&self, b: &Behaviour, customer: Option<&str>, order: &str, out: &mut Reply) -> Option<Pending> {
        let Some(customer) = customer else {
            out.text = self.config.render("sign_in", &[]);
            return None;
        };
        let o = match self.store.orders.order(customer, order) {
            Ok(o) => o,
            Err(StoreError::NotFound(_)) => {
                out.text = self.config.render("no_order", &[("order", order.to_string())]);
                out.action = Action::OrderStatus { order: order.to_string() };
                return None;
            }
            Err(_) => {
                self.store_error(out);
                return None;
            }
        };
        let vars = order_vars(&o);
        match b {
            Behaviour::CancelOrder if o.status.before_shipping() => {
                out.text = self.config.render("confirm_cancel", &vars);
                out.action = Action::ConfirmCancel { order: o.id.clone() };
                Some(Pending::Confirm(o.id))
            }
            Behaviour::ChangeAddress if o.status.before_shipping() => {
                out.text = self.config.render("ask_address", &vars);
                out.action = Action::AskSlot { slot: "address".into() };
                Some(Pending::Address(o.id))
            }
            Behaviour::CancelOrder | Behaviour::RefundStatus | Behaviour::ChangeAddress => {
                let key = match b {
                    Behaviour::CancelOrder => "cannot_cancel",
                    Behaviour::ChangeAddress => "cannot_change_address",
                    _ => "refund_status",
                };
                let mut vars = vars;
                vars.push(("policy", self.store.policies.policy("refund").unwrap_or_default()));
                out.text = self.config.render(key, &vars);
                out.action = Action::OrderStatus { order: o.id };
                None
            }
            _ => {
                out.text = self.config.render("order_status", &vars);
                out.action = Action::OrderStatus { order: o.id };
                None
            }
        }
    }

    fn cancel(&self, customer: Option<&str>, order: &str, out: &mut Reply) {
        let Some(customer) = customer else {
            out.text = self.config.render("sign_in", &[]);
            return;
        };
        match self.store.orders.cancel(customer, order) {
            Ok(o) => {
                out.text = self.config.render("cancelled", &order_vars(&o));
                out.action = Action::Cancelled { order: o.id };
            }
            Err(StoreError::NotAllowed { status, .. }) => self.not_allowed("cannot_cancel", order, status, out),
            Err(_) => self.store_error(out),
        }
    }

    fn change_address(&self, customer: Option<&str>, order: &str, address: &str, out: &mut Reply) {
        let Some(customer) = customer else {
            out.text = self.config.render("sign_in", &[]);
            return;
        };
        match self.store.orders.change_address(customer, order, address) {
            Ok(o) => {
                out.text = self.config.render("address_changed", &[("order", o.id.clone()), ("address", o.ship_to)]);
                out.action = Action::AddressChanged { order: o.id };
            }
            Err(StoreError::NotAllowed { status, .. }) => self.not_allowed("cannot_change_address", order, status, out),
            Err(StoreError::Invalid(why)) => {
                out.text = format!("{why}.");
                out.action = Action::None;
            }
            Err(_) => self.store_error(out),
        }
    }

    /// The store refused a change because of the order's status.
    fn not_allowed(&self, key: &str, order: &str, status: OrderStatus, out: &mut Reply) {
        let vars = [("order", order.to_string()), ("status", status.describe().to_string()), ("policy", String::new())];
        out.text = self.config.render(key, &vars);
        out.action = Action::OrderStatus { order: order.to_string() };
    }

    fn store_error(&self, out: &mut Reply) {
        out.text = self.config.render("store_error", &[]);
        out.action = Action::StoreError;
    }

    fn take_pending(&self, id: &str, now: Instant) -> Option<Pending> {
        let mut c = self.conversations.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = Duration::from_secs(self.config.ttl_seconds);
        if c.peek(id).is_some_and(|c| now.duration_since(c.seen) > ttl) {
            c.pop(id);
        }
        c.get_mut(id).and_then(|c| c.pending.take())
    }

    fn misses(&self, id: &str) -> u32 {
        let c = self.conversations.lock().unwrap_or_else(|p| p.into_inner());
        c.peek(id).map_or(0, |c| c.misses)
    }

    /// Stores the conversation's state (`misses`: `None` keeps the count). Past the bound the least
    /// recently active conversation goes — every turn touches its conversation, so expired ones are
    /// the least recently active and go first; one still held when its conversation comes back is
    /// dropped by `take_pending`.
    fn put_pending(&self, id: &str, pending: Option<Pending>, now: Instant, misses: Option<u32>) {
        let mut c = self.conversations.lock().unwrap_or_else(|p| p.into_inner());
        if !c.contains(id) {
            while c.len() >= self.config.max_conversations.max(1) {
                c.pop_lru();
            }
        }
        let e = c.get_or_insert_mut(id.to_string(), || Conversation { pending: None, misses: 0, seen: now });
        e.pending = pending;
        e.seen = now;
        if let Some(m) = misses {
            e.misses = m;
        }
    }
}

fn order_vars(o: &Order) -> Vec<(&'static str, String)> {
    vec![
        ("order", o.id.clone()),
        ("status", o.status.describe().to_string()),
        ("placed", o.placed.clone()),
        ("total", format!("{:.2}", o.total)),
    ]
}

fn list(ps: &[Product]) -> String {
    ps.iter().map(|p| format!("{} (£{:.2})", p.name, p.price)).collect::<Vec<_>>().join("; ")
}

/// The message's words that are not stop words or numbers (a product query when no catalog name matched).
fn content_words(norm: &str) -> String {
    const STOP: &[&str] = &[
        "i",
        "im",
        "a",
        "an",
        "the",
        "some",
        "any",
        "do",
        "you",
        "have",
        "want",
        "need",
        "looking",
        "for",
        "me",
        "show",
        "find",
        "search",
        "buy",
        "get",
        "please",
        "can",
        "could",
        "under",
        "over",
        "below",
        "above",
        "between",
        "and",
        "than",
        "less",
        "more",
        "dollars",
        "pounds",
        "euros",
        "cheap",
        "with",
        "to",
        "of",
        "in",
        "is",
        "are",
        "there",
        "something",
        "like",
        "would",
        "price",
        "priced",
        "from",
        "up",
        "at",
        "most",
        "least",
    ];
    crate::text::words(norm)
        .filter(|w| !STOP.contains(w) && !w.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `norm` contains one of `list` (a word, or a phrase of words).
fn mentions(norm: &str, list: &[&str]) -> bool {
    let padded = format!(" {norm} ");
    list.iter().any(|w| padded.contains(&format!(" {w} ")))
}

/// A confirmation answer that says no: a negation anywhere ("please don't", "ok no", "yes, wait").
fn says_no(norm: &str) -> bool {
    mentions(norm, NO)
}

/// A plain yes: a yes word and no negation — nothing changes on anything less.
fn says_yes(norm: &str) -> bool {
    mentions(norm, YES) && !says_no(norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_yes_confirms() {
        for yes in ["yes", "yes please", "ok go ahead", "sure", "y"] {
            assert!(says_yes(yes) && !says_no(yes), "{yes}");
        }
        for no in ["please dont", "ok no", "yes wait", "no thanks", "never mind", "not sure", "keep it"] {
            assert!(!says_yes(no) && says_no(no), "{no}");
        }
        assert!(!says_yes("please") && !says_no("12 high street"));
    }
}
