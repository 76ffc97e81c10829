//! What each intent does and says: a JSON file a shop can edit (add or rename intents, change replies)
//! without code. [`BotConfig::default`] covers the Bitext customer-support intents plus
//! `search_product`, `recommend` and `greeting`.

use crate::error::{ChatError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// What the assistant does for an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "topic")]
pub enum Behaviour {
    /// Look up an order (asks for its number).
    TrackOrder,
    /// Cancel an order after confirmation (asks for its number).
    CancelOrder,
    /// Where a refund stands (asks for the order number).
    RefundStatus,
    /// Change an order's shipping address (asks for the order number and the address, then confirms).
    ChangeAddress,
    /// Search the catalog (product names and price range from the message).
    SearchProducts,
    /// Recommend products.
    Recommend,
    /// Quote a store policy (`refund`, `shipping`, `payment`, `cancellation`).
    Policy(String),
    /// Hand over to a human agent.
    Handoff,
    /// Reply with the intent's template only.
    Answer,
}

/// One intent's behaviour and reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentConfig {
    /// What to do.
    pub behaviour: Behaviour,
    /// Reply template for [`Behaviour::Answer`] (other behaviours use the named `replies`); `{intent}`
    /// is replaced by the intent's title.
    #[serde(default)]
    pub reply: Option<String>,
    /// Shown to the customer instead of the model's label (e.g. in clarifying questions).
    #[serde(default)]
    pub title: Option<String>,
}

/// The assistant's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotConfig {
    /// Intent label (as the model predicts it) → behaviour.
    pub intents: HashMap<String, IntentConfig>,
    /// Model labels renamed before lookup (`old → new`), e.g. after retraining with other names.
    #[serde(default)]
    pub rename: HashMap<String, String>,
    /// Named reply templates (`{order}`, `{status}`, `{products}`, `{intent}` …).
    pub replies: HashMap<String, String>,
    /// Out-of-scope messages in a row before handing over to a human.
    pub handoff_after: u32,
    /// Seconds of silence after which a conversation is forgotten.
    pub ttl_seconds: u64,
    /// Conversations kept at most (the least recently active are dropped first).
    pub max_conversations: usize,
    /// How customers write amounts ("1,299" is 1299 with `point`, 1.299 with `comma`).
    #[serde(default)]
    pub decimal_mark: crate::entities::DecimalMark,
}

/// Every reply template the assistant renders: a configuration lacking one is refused when it is loaded
/// (and by [`Assistant::new`](crate::dialogue::Assistant::new)), never shown to a customer as its key.
pub const REPLY_KEYS: &[&str] = &[
    "empty",
    "not_cancelled",
    "address_unchanged",
    "confirm_address",
    "handoff",
    "clarify",
    "sign_in",
    "ask_order",
    "products",
    "no_products",
    "recommendations",
    "policy",
    "no_order",
    "confirm_cancel",
    "ask_address",
    "cannot_cancel",
    "cannot_change_address",
    "refund_status",
    "order_status",
    "cancelled",
    "address_changed",
    "store_error",
];

fn reply(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Default for BotConfig {
    fn default() -> Self {
        let mut intents = HashMap::new();
        let mut add = |labels: &[&str], behaviour: Behaviour, reply: Option<&str>, title: &str| {
            for l in labels {
                intents.insert(
                    l.to_string(),
                    IntentConfig {
                        behaviour: behaviour.clone(),
                        reply: reply.map(str::to_string),
                        title: Some(title.into()),
                    },
                );
            }
        };
        add(&["track_order"], Behaviour::TrackOrder, None, "track an order");
        add(&["cancel_order"], Behaviour::CancelOrder, None, "cancel an order");
        add(&["get_refund", "track_refund"], Behaviour::RefundStatus, None, "a refund");
        add(&["change_shipping_address"], Behaviour::ChangeAddress, None, "change a shipping address");
        add(&["search_product"], Behaviour::SearchProducts, None, "find a product");
        add(&["recommend"], Behaviour::Recommend, None, "get recommendations");
        add(&["check_refund_policy"], Behaviour::Policy("refund".into()), None, "our refund policy");
        add(&["check_cancellation_fee"], Behaviour::Policy("cancellation".into()), None, "cancellation fees");
        add(&["delivery_options", "delivery_period"], Behaviour::Policy("shipping".into()), None, "delivery");
        add(&["check_payment_methods"], Behaviour::Policy("payment".into()), None, "payment methods");
        add(&["contact_human_agent", "contact_customer_service"], Behaviour::Handoff, None, "talk to a person");
        add(
            &["greeting"],
            Behaviour::Answer,
            Some("Hello! I can track or cancel orders, find products and recommend some. What can I do for you?"),
            "say hello",
        );
        for (l, title) in [
            ("change_order", "change an order"),
            ("check_invoice", "check an invoice"),
            ("get_invoice", "get an invoice"),
            ("complaint", "make a complaint"),
            ("create_account", "create an account"),
            ("delete_account", "delete an account"),
            ("edit_account", "edit your account"),
            ("switch_account", "switch accounts"),
            ("recover_password", "recover your password"),
            ("registration_problems", "registration problems"),
            ("newsletter_subscription", "the newsletter"),
            ("payment_issue", "a payment problem"),
            ("place_order", "place an order"),
            ("review", "leave a review"),
            ("set_up_shipping_address", "set up a shipping address"),
        ] {
            add(&[l], Behaviour::Answer, Some("I can help you {intent}: you'll find it under My account, or say \"agent\" and a colleague will take over."), title);
        }
        BotConfig {
            intents,
            rename: HashMap::new(),
            replies: reply(&[
                ("ask_order", "Sure — what is the order number?"),
                ("sign_in", "Please sign in first so I can see your orders."),
                ("order_status", "Order {order} is {status} (placed {placed}, total £{total})."),
                ("no_order", "I can't find order {order} on your account. Could you check the number?"),
                ("confirm_cancel", "Order {order} (total £{total}) is {status}. Shall I cancel it? (yes/no)"),
                ("cancelled", "Done: order {order} is cancelled. The payment will be released within a few days."),
                ("not_cancelled", "Okay, I won't cancel order {order}."),
                ("cannot_cancel", "Order {order} is {status}, so it can no longer be cancelled. {policy}"),
                ("refund_status", "Order {order} is {status}. {policy}"),
                ("ask_address", "Order {order} is {status}. What is the new shipping address?"),
                ("confirm_address", "Ship order {order} to \"{address}\"? (yes/no)"),
                ("address_changed", "Done: order {order} will ship to \"{address}\"."),
                ("address_unchanged", "Okay, order {order} keeps its address."),
                ("cannot_change_address", "Order {order} is {status}, so its address can no longer be changed."),
                ("products", "Here is what I found: {products}"),
                ("no_products", "I couldn't find a matching product{price}. Could you describe it differently?"),
                ("recommendations", "You might like: {products}"),
                ("policy", "{policy}"),
                ("clarify", "Sorry, I'm not sure I understood. Did you want to {intent}? You can also ask me to track or cancel an order, find a product or recommend something."),
                ("handoff", "Let me hand you over to a colleague — a human agent will reply here shortly."),
                ("empty", "Could you tell me what you need?"),
                ("store_error", "Sorry, I can't reach the store right now. Please try again in a moment."),
            ]),
            handoff_after: 2,
            ttl_seconds: 1800,
            max_conversations: 100_000,
            decimal_mark: Default::default(),
        }
    }
}

impl BotConfig {
    /// Reads a JSON configuration; fields left out keep nothing from the default, so start from
    /// `shopml chat config` output (the default written as JSON).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| ChatError::Io { path: path.to_path_buf(), source })?;
        let text = String::from_utf8(bytes).map_err(|e| ChatError::Parse {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("not UTF-8: {e}"),
        })?;
        Self::from_json(&text, path)
    }

    /// Parses a JSON configuration (as [`load`](Self::load) reads it); `source` names it in errors.
    pub fn from_json(text: &str, source: &Path) -> Result<Self> {
        let path = source;
        let c: BotConfig = serde_json::from_str(text).map_err(|e| ChatError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            reason: e.to_string(),
        })?;
        c.validate().map_err(|e| match e {
            ChatError::InvalidParameter { name, reason } => {
                ChatError::param(name, format!("{}: {reason}", path.display()))
            }
            other => other,
        })?;
        Ok(c)
    }

    /// Every template in [`REPLY_KEYS`] present and non-empty.
    pub fn validate(&self) -> Result<()> {
        let missing: Vec<&str> =
            REPLY_KEYS.iter().copied().filter(|k| self.replies.get(*k).is_none_or(|t| t.trim().is_empty())).collect();
        if !missing.is_empty() {
            return Err(ChatError::param(
                "replies",
                format!("reply templates missing or empty: {} (start from `shopml chat config`)", missing.join(", ")),
            ));
        }
        Ok(())
    }

    /// The template `key` with `{name}` variables filled (unknown variables are left as they are).
    pub fn render(&self, key: &str, vars: &[(&str, String)]) -> String {
        let mut out = self.replies.get(key).cloned().unwrap_or_else(|| key.to_string());
        for (k, v) in vars {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendered_template_is_required_and_a_missing_one_is_a_load_error() {
        // The keys the dialogue renders (string literals passed to `render`, and the `not_allowed` keys).
        let source = include_str!("mod.rs");
        let used: std::collections::BTreeSet<&str> = source
            .split("render(\"")
            .skip(1)
            .chain(source.split("not_allowed(\"").skip(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(used.len() >= 15, "{used:?}");
        for key in &used {
            assert!(REPLY_KEYS.contains(key), "the dialogue renders `{key}`, which REPLY_KEYS does not require");
        }
        BotConfig::default().validate().unwrap();
        let mut json: serde_json::Value = serde_json::to_value(BotConfig::default()).unwrap();
        json["replies"].as_object_mut().unwrap().remove("order_status");
        let err = BotConfig::from_json(&json.to_string(), Path::new("bot.json")).unwrap_err().to_string();
        assert!(err.contains("order_status") && err.contains("bot.json"), "{err}");
        json["replies"]["order_status"] = serde_json::json!("  ");
        assert!(BotConfig::from_json(&json.to_string(), Path::new("bot.json")).is_err(), "an empty template");
        // An old file without decimal_mark still loads (default: point).
        json["replies"]["order_status"] = serde_json::json!("Order {order}: {status}");
        json.as_object_mut().unwrap().remove("decimal_mark");
        let c = BotConfig::from_json(&json.to_string(), Path::new("bot.json")).unwrap();
        assert_eq!(c.decimal_mark, crate::entities::DecimalMark::Point);
    }
}
