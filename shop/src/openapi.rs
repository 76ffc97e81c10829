//! `GET /openapi.json`: the route table ([`ROUTES`]) with request and response schemas derived from
//! the handlers' own serde types (schemars: the deserialising side for bodies and queries, the
//! serialising side for answers), so a field added to a type shows up in the document by itself.
//! A test checks that every route is served; `scripts/test` runs schemathesis against the document.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};

/// A schema-producing function: `schema::<T>`.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// `T`'s schema (a `$ref` into `components/schemas` for named types).
pub fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a session is ignored.
    Public,
    /// Anyone; a session (or a guest cart token) changes the answer.
    Optional,
    /// A session (role checks on top answer 403).
    Session,
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `get`, `post`, …
    pub method: &'static str,
    /// Path with `{name}` parameters (all positive integer ids).
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// A struct whose fields are the query parameters.
    pub query: Option<SchemaFn>,
    /// The JSON body.
    pub body: Option<SchemaFn>,
    /// The success status.
    pub status: u16,
    /// The success body (`None`: no body, or text for `/health` and `/metrics`).
    pub response: Option<SchemaFn>,
    /// Request headers it reads: `(name, required, description)`.
    pub headers: &'static [(&'static str, bool, &'static str)],
}

impl Route {
    const fn new(method: &'static str, path: &'static str, access: Access, summary: &'static str) -> Route {
        Route { method, path, summary, access, query: None, body: None, status: 200, response: None, headers: &[] }
    }
    const fn query(mut self, f: SchemaFn) -> Route {
        self.query = Some(f);
        self
    }
    const fn body(mut self, f: SchemaFn) -> Route {
        self.body = Some(f);
        self
    }
    const fn ok(mut self, status: u16, f: SchemaFn) -> Route {
        self.status = status;
        self.response = Some(f);
        self
    }
    const fn empty(mut self, status: u16) -> Route {
        self.status = status;
        self
    }
    const fn headers(mut self, h: &'static [(&'static str, bool, &'static str)]) -> Route {
        self.headers = h;
        self
    }
}

const CART_TOKEN: (&str, bool, &str) = ("X-Cart-Token", false, "A guest cart's token (from `cart_token`)");
const IDEMPOTENCY: (&str, bool, &str) = ("Idempotency-Key", true, "1–255 visible ASCII characters, one per attempt");

use crate::{auth, cart, catalog, chat, checkout, conversations, orders, reco, search, StoreView};
use Access::{Optional, Public, Session};

/// Every route. The document is built from this list, and a test checks that each entry is served
/// (so the list and the router cannot drift apart silently).
pub const ROUTES: &[Route] = &[
    Route::new("get", "/health", Public, "Liveness (text `ok`)"),
    Route::new("get", "/metrics", Session, "Prometheus metrics (admin; or without a session on metrics_bind)"),
    Route::new("get", "/openapi.json", Public, "This document"),
    Route::new(
        "post",
        "/auth/register",
        Optional,
        "Create a customer account (signed in; merges the X-Cart-Token cart)",
    )
    .body(schema::<auth::Credentials>)
    .ok(201, schema::<auth::SignedIn>)
    .headers(&[CART_TOKEN]),
    Route::new("post", "/auth/login", Optional, "Sign in: an opaque session token (failed logins rate limited)")
        .body(schema::<auth::Credentials>)
        .ok(200, schema::<auth::SignedIn>)
        .headers(&[CART_TOKEN]),
    Route::new("post", "/auth/logout", Session, "End the session").empty(204),
    Route::new("get", "/me", Session, "The signed-in user").ok(200, schema::<auth::User>),
    Route::new("post", "/admin/users", Session, "Create a user of any role (admin)")
        .body(schema::<auth::NewUser>)
        .ok(201, schema::<auth::User>),
    Route::new(
        "post",
        "/admin/recommender/refit",
        Session,
        "Retrain the recommender on the shipped history plus the stored events, weighted by kind, now (admin)",
    )
    .ok(200, schema::<reco::FitReport>),
    Route::new("get", "/stores", Public, "Stores").ok(200, schema::<Vec<StoreView>>),
    Route::new("post", "/stores", Session, "Create a store (admin)")
        .body(schema::<crate::NewStore>)
        .ok(201, schema::<StoreView>),
    Route::new("get", "/products", Optional, "Search: keyword, semantic or hybrid; filters, sort, pages")
        .query(schema::<search::SearchParams>)
        .ok(200, schema::<search::SearchPage>),
    Route::new("post", "/products", Session, "Create a product (dealer: own store; admin)")
        .body(schema::<catalog::NewProduct>)
        .ok(201, schema::<catalog::ProductRow>),
    Route::new("get", "/products/{id}", Optional, "One product").ok(200, schema::<catalog::ProductRow>),
    Route::new("patch", "/products/{id}", Session, "Change a product (its dealer; admin)")
        .body(schema::<catalog::ProductPatch>)
        .ok(200, schema::<catalog::ProductRow>),
    Route::new("delete", "/products/{id}", Session, "Take a product off sale (its dealer; admin)").empty(204),
    Route::new("get", "/products/{id}/similar", Public, "Similar products")
        .query(schema::<catalog::K>)
        .ok(200, schema::<reco::Recommendations>),
    Route::new(
        "get",
        "/products/{id}/next",
        Optional,
        "What comes next after the visitor's sequence (customer events or guest cart) and this product",
    )
    .query(schema::<catalog::K>)
    .ok(200, schema::<reco::Recommendations>)
    .headers(&[CART_TOKEN]),
    Route::new("get", "/recommendations", Optional, "Recommendations after the customer's or guest cart's sequence")
        .query(schema::<catalog::K>)
        .ok(200, schema::<reco::Recommendations>)
        .headers(&[CART_TOKEN]),
    Route::new("get", "/cart", Optional, "The cart (session or X-Cart-Token)")
        .ok(200, schema::<cart::CartView>)
        .headers(&[CART_TOKEN]),
    Route::new("put", "/cart/items/{product_id}", Optional, "Set a line's quantity (0 removes)")
        .body(schema::<cart::Quantity>)
        .ok(200, schema::<cart::CartView>)
        .headers(&[CART_TOKEN]),
    Route::new("delete", "/cart/items/{product_id}", Optional, "Remove a line")
        .ok(200, schema::<cart::CartView>)
        .headers(&[CART_TOKEN]),
    Route::new("post", "/checkout", Session, "Buy the cart or items")
        .body(schema::<checkout::CheckoutReq>)
        .ok(201, schema::<orders::OrderView>)
        .headers(&[IDEMPOTENCY]),
    Route::new("get", "/orders", Session, "Orders, newest first: own (customer), the store's (dealer), all (admin)")
        .query(schema::<orders::OrderPage>)
        .ok(200, schema::<Vec<orders::OrderView>>),
    Route::new("get", "/orders/{id}", Session, "One order").ok(200, schema::<orders::OrderView>),
    Route::new("post", "/orders/{id}/cancel", Session, "Cancel before shipping (refunds the payment)")
        .ok(200, schema::<orders::Cancelled>),
    Route::new("post", "/orders/{id}/ship", Session, "Paid → Shipped (dealer/admin)")
        .ok(200, schema::<orders::OrderView>),
    Route::new("post", "/orders/{id}/deliver", Session, "Shipped → Delivered (dealer/admin)")
        .ok(200, schema::<orders::OrderView>),
    Route::new(
        "post",
        "/orders/{id}/refund",
        Session,
        "Full or partial refund (dealer/admin; 202 while the gateway fails)",
    )
    .body(schema::<orders::RefundReq>)
    .ok(200, schema::<orders::OrderView>)
    .headers(&[(IDEMPOTENCY.0, false, IDEMPOTENCY.2)]),
    Route::new("post", "/chat", Optional, "Support assistant (orders of the signed-in customer only)")
        .body(schema::<chat::ChatReq>)
        .ok(200, schema::<chat::ChatAnswer>),
    Route::new(
        "get",
        "/conversations",
        Session,
        "Conversations with stores: own (customer), the store's (dealer), all (admin); unread counts",
    )
    .ok(200, schema::<Vec<conversations::ConversationView>>),
    Route::new("post", "/conversations", Session, "Ask a product's store something (customers; one per product)")
        .body(schema::<conversations::NewConversation>)
        .ok(201, schema::<conversations::Thread>),
    Route::new("get", "/conversations/{id}", Session, "A conversation and its messages (marks them read)")
        .ok(200, schema::<conversations::Thread>),
    Route::new("post", "/conversations/{id}/messages", Session, "Write; the store's side may make an offer")
        .body(schema::<conversations::NewMessage>)
        .ok(201, schema::<conversations::MessageView>),
    Route::new(
        "post",
        "/conversations/{id}/offers/{message_id}/accept",
        Session,
        "Accept an offer into the cart at its price (the conversation's customer)",
    )
    .ok(200, schema::<cart::CartView>),
];

/// The error statuses any route may answer, besides its own success.
const ERRORS: &[(u16, &str)] = &[
    (400, "Malformed request or a value out of range"),
    (401, "No valid session"),
    (403, "Not allowed (role, store, CSRF)"),
    (404, "No such object (also someone else's)"),
    (409, "Conflicts with the current state (stock, order state, request in flight)"),
    (413, "Body too large"),
    (422, "Well-formed but unusable"),
    (429, "Rate limited (Retry-After)"),
    (503, "Overloaded, shutting down or not enabled"),
];

/// Query parameters from a struct's schema (inlined; `null` dropped from types: absent is how a query
/// says "none").
fn query_params(f: SchemaFn) -> Vec<Value> {
    let mut g = SchemaSettings::draft2020_12().for_deserialize().with(|s| s.inline_subschemas = true).into_generator();
    let s = f(&mut g);
    let required: Vec<&str> =
        s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let props = s.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    props
        .into_iter()
        .map(|(name, mut schema)| {
            if let Some(Value::Array(types)) = schema.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    schema["type"] = types[0].clone();
                }
            }
            let description = schema.as_object_mut().and_then(|o| o.remove("description")).unwrap_or(json!(""));
            json!({"name": name, "in": "query", "required": required.contains(&name.as_str()),
                   "description": description, "schema": schema})
        })
        .collect()
}

fn operation(r: &Route, requests: &mut SchemaGenerator, answers: &mut SchemaGenerator) -> Value {
    let mut params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}))
        .collect();
    params.extend(r.query.map(query_params).unwrap_or_default());
    params.extend(r.headers.iter().map(|(name, required, description)| {
        json!({"name": name, "in": "header", "required": required, "description": description,
               "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}})
    }));
    let ok = match (r.response, r.path) {
        (Some(f), _) => json!({"description": "Success", "content": {"application/json": {"schema": f(answers)}}}),
        (None, "/health" | "/metrics") => {
            json!({"description": "Success", "content": {"text/plain": {"schema": {"type": "string"}}}})
        }
        (None, "/openapi.json") => {
            json!({"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}})
        }
        (None, _) => json!({"description": "Done (no body)"}),
    };
    let mut responses = Map::new();
    responses.insert(r.status.to_string(), ok);
    for (status, description) in ERRORS {
        responses.insert(
            status.to_string(),
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    let security = match r.access {
        Access::Public => json!([]),
        Access::Optional => json!([{"session": []}, {}]),
        Access::Session => json!([{"session": []}]),
    };
    let mut op = json!({"summary": r.summary, "parameters": params, "responses": responses, "security": security});
    if let Some(f) = r.body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": f(requests)}}});
    }
    op
}

/// Request and response definitions in one map, and the names whose two sides differ (a type on both
/// sides, such as a role, must read the same; a clash is a bug a test catches).
fn merge(mut requests: Map<String, Value>, answers: Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let mut clashes = Vec::new();
    for (name, s) in answers {
        match requests.get(&name) {
            Some(existing) if *existing != s => clashes.push(name),
            Some(_) => {}
            None => {
                requests.insert(name, s);
            }
        }
    }
    (requests, clashes)
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let (doc, clashes) = build();
    for name in clashes {
        tracing::error!(name, "OpenAPI: a request and a response schema of one name differ (the request's is kept)");
    }
    doc
}

fn build() -> (Value, Vec<String>) {
    let settings = SchemaSettings::draft2020_12().with(|s| s.definitions_path = "/components/schemas".into());
    let mut requests = settings.clone().for_deserialize().into_generator();
    let mut answers = settings.for_serialize().into_generator();
    let mut paths = Map::new();
    for r in ROUTES {
        let op = operation(r, &mut requests, &mut answers);
        paths.entry(r.path).or_insert_with(|| json!({}))[r.method] = op;
    }
    let (mut schemas, clashes) = merge(requests.take_definitions(true), answers.take_definitions(true));
    schemas.insert("Error".into(), crate::error::schema());
    let doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "shopml reference shop", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer", "description": "opaque session token from /auth/login"}},
            "schemas": schemas
        }
    });
    (doc, clashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_schemas_agree_and_bodies_are_typed() {
        let (doc, clashes) = build();
        assert!(clashes.is_empty(), "request/response schemas differ: {clashes:?}");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in ["CheckoutReq", "OrderView", "ProductRow", "SearchPage", "Credentials", "SignedIn", "Error"] {
            assert!(schemas.contains_key(name), "{name} missing from {:?}", schemas.keys().collect::<Vec<_>>());
        }
        // Fields come from the serde types: a renamed or added field shows up here.
        let order = &schemas["OrderView"]["properties"];
        assert_eq!(order["status"]["enum"].as_array().map(Vec::len), Some(storefront::OrderStatus::ALL.len()));
        assert!(order["lines"]["items"]["$ref"].as_str().is_some_and(|r| r.ends_with("/LineView")));
        let checkout = &doc["paths"]["/checkout"]["post"];
        assert_eq!(
            checkout["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CheckoutReq"
        );
        assert_eq!(schemas["CheckoutReq"]["additionalProperties"], false, "deny_unknown_fields is documented");
        let search: Vec<&str> = doc["paths"]["/products"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(search.contains(&"q") && search.contains(&"per_page") && search.contains(&"mode"), "{search:?}");
        // Every $ref resolves.
        let text = doc.to_string();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &r[..r.find('"').unwrap()];
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
    }
}
