//! # storefront
//!
//! The small traits through which shopml's chatbot (and the reference shop) reach a store — the
//! catalog, the current customer's orders, recommendations, policies — and [`MemoryStore`], an in-memory
//! store built from the shipped Online Retail data so the chatbot can be tried without a server.
//!
//! Every order operation takes the customer it acts for: an implementation must never return or change
//! another customer's order (the demo store answers "not found", so order ids cannot be probed).
#![warn(missing_docs)]

mod memory;
pub mod search;
pub mod shipped;

pub use memory::MemoryStore;

use serde::Serialize;
use std::sync::Arc;

/// The form in which words of product names and queries are compared (see [`shopml_text::search_key`]).
pub use shopml_text::search_key;

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// Stock code / SKU.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unit price.
    pub price: f64,
    /// Category, if the store has one.
    pub category: Option<String>,
    /// Units in stock.
    pub stock: u32,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderStatus {
    /// Placed, not paid.
    Created,
    /// Paid, not shipped: can still be cancelled.
    Paid,
    /// On its way.
    Shipped,
    /// Arrived.
    Delivered,
    /// Cancelled before shipping.
    Cancelled,
    /// Money returned.
    Refunded,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Created,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    /// Whether an order may move from `self` to `to`: Created → Paid | Cancelled; Paid → Shipped |
    /// Cancelled | Refunded; Shipped → Delivered | Refunded; Delivered → Refunded. Cancelled and
    /// Refunded are final.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Created, Paid)
                | (Created, Cancelled)
                | (Paid, Shipped)
                | (Paid, Cancelled)
                | (Paid, Refunded)
                | (Shipped, Delivered)
                | (Shipped, Refunded)
                | (Delivered, Refunded)
        )
    }

    /// Whether the order has not shipped yet (it can still be cancelled or re-addressed).
    pub fn before_shipping(self) -> bool {
        matches!(self, OrderStatus::Created | OrderStatus::Paid)
    }

    /// The name (`"Paid"` …), as stores write it.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Created => "Created",
            OrderStatus::Paid => "Paid",
            OrderStatus::Shipped => "Shipped",
            OrderStatus::Delivered => "Delivered",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Refunded => "Refunded",
        }
    }

    /// The status named `s` ([`as_str`](Self::as_str)'s spelling).
    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Lower-case words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            OrderStatus::Created => "placed and awaiting payment",
            OrderStatus::Paid => "paid and being prepared for shipping",
            OrderStatus::Shipped => "shipped and on its way",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }
}

/// An order of the current customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    /// Order number.
    pub id: String,
    /// Status.
    pub status: OrderStatus,
    /// `(product id, quantity)` lines.
    pub lines: Vec<(String, u32)>,
    /// Sum of the lines.
    pub total: f64,
    /// When it was placed (as the store writes it).
    pub placed: String,
    /// Where it ships to.
    pub ship_to: String,
}

/// What a store operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such order for this customer.
    #[error("no order {0} for this customer")]
    NotFound(String),
    /// The order cannot be changed that way (e.g. cancelling a shipped order).
    #[error("order {order} is {status:?}: {reason}")]
    NotAllowed {
        /// The order.
        order: String,
        /// Its status.
        status: OrderStatus,
        /// Why.
        reason: String,
    },
    /// The request itself is unusable (e.g. an empty address).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The operation needs a signed-in customer.
    #[error("this needs a signed-in customer")]
    NotSignedIn,
    /// The store itself failed (database, network).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// `Result` with [`StoreError`].
pub type Result<T> = std::result::Result<T, StoreError>;

/// A price constraint for searches.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PriceFilter {
    /// At least.
    pub min: Option<f64>,
    /// At most.
    pub max: Option<f64>,
}

/// The product catalog.
pub trait Catalog: Send + Sync {
    /// Products matching `query` (words of the name) within `price`, best first, at most `limit`.
    fn search(&self, query: &str, price: PriceFilter, limit: usize) -> Result<Vec<Product>>;
    /// One product.
    fn product(&self, id: &str) -> Result<Option<Product>>;
    /// `(id, name)` of every product (for typo-tolerant name matching).
    fn names(&self) -> Result<Vec<(String, String)>>;
    /// The store's category names (for matching them in messages; none by default).
    fn categories(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// The current customer's orders.
pub trait Orders: Send + Sync {
    /// The order `id` if it is `customer`'s.
    fn order(&self, customer: &str, id: &str) -> Result<Order>;
    /// The customer's orders, newest first.
    fn orders(&self, customer: &str) -> Result<Vec<Order>>;
    /// Cancels `customer`'s order `id` (only before shipping).
    fn cancel(&self, customer: &str, id: &str) -> Result<Order>;
    /// Changes where `customer`'s order `id` ships to (only before shipping).
    fn change_address(&self, customer: &str, id: &str, address: &str) -> Result<Order>;
}

/// Recommendations for a customer (or anyone).
pub trait Recommendations: Send + Sync {
    /// Up to `k` products for `customer` (`None`: an anonymous visitor).
    fn recommend(&self, customer: Option<&str>, k: usize) -> Result<Vec<Product>>;
}

/// The demo stores' policy texts (`"refund"`, `"cancellation"`, `"shipping"`, `"payment"`).
pub fn default_policy(topic: &str) -> Option<&'static str> {
    Some(match topic {
        "refund" => "Returns are accepted within 30 days of delivery; refunds reach your card 5–10 working days after we receive the item.",
        "cancellation" => "Orders can be cancelled free of charge until they ship.",
        "shipping" => "Standard delivery takes 3–5 working days in the UK, 7–14 days abroad; express delivery takes 1–2 days.",
        "payment" => "We accept Visa, Mastercard, American Express, PayPal and bank transfer.",
        _ => return None,
    })
}

/// The store's policies (returns, shipping, payment …) as text.
pub trait Policies: Send + Sync {
    /// The policy on `topic` (`"refund"`, `"shipping"`, `"payment"`, `"cancellation"` …).
    fn policy(&self, topic: &str) -> Option<String>;
}

/// Everything the chatbot may touch, bundled.
#[derive(Clone)]
pub struct Store {
    /// Catalog.
    pub catalog: Arc<dyn Catalog>,
    /// Orders.
    pub orders: Arc<dyn Orders>,
    /// Recommendations.
    pub recommendations: Arc<dyn Recommendations>,
    /// Policies.
    pub policies: Arc<dyn Policies>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store { .. }")
    }
}

impl Store {
    /// One object serving every trait.
    pub fn from_one<S: Catalog + Orders + Recommendations + Policies + 'static>(s: S) -> Self {
        let s = Arc::new(s);
        Store { catalog: s.clone(), orders: s.clone(), recommendations: s.clone(), policies: s }
    }
}
