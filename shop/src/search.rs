//! `GET /products`: free text by keyword (FTS5, BM25), by meaning ([`crate::semantic`]) or both fused by
//! reciprocal rank, with filters, sort and pagination, and optional personalised re-ranking for a
//! signed-in customer. The chatbot's product search runs the same [`find`].

use crate::auth::{MaybeUser, Role, User};
use crate::catalog::{ProductRow, PRODUCT_COLS};
use crate::db::Backend;
use crate::error::{ApiError, ApiResult, Query};
use crate::{AppState, Shop};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use storefront::search::{reciprocal_rank_fusion, SearchMode, RRF_K};

/// How many products each of the keyword and semantic lists contributes to a semantic or hybrid search
/// (the fused list is what is filtered, sorted and paged).
pub const CANDIDATES: usize = 200;

/// The FTS5 query for free text: its words, each quoted (so `"`, `*`, `(`, `NEAR`, `-` … are plain
/// text, never syntax), all required, the last one as a prefix. `None` when no word is left.
pub fn fts_query(q: &str) -> Option<String> {
    fts_words(q, " ")
}

/// As [`fts_query`] but any word matches (`OR`; BM25 still ranks products with more of the words first).
/// Not what the shop searches with: hybrid search fused with it scored below hybrid with the all-words
/// list on the Online Retail query set (`examples/search_eval.rs`, NDCG@10 0.788 vs 0.821); kept for that
/// comparison.
pub fn fts_query_any(q: &str) -> Option<String> {
    fts_words(q, " OR ")
}

/// The PostgreSQL `to_tsquery` text for free text: as [`fts_query`] — every word (quoted lexemes) required,
/// the last one as a prefix (`'red' & 'bag':*`).
pub fn tsquery(q: &str) -> Option<String> {
    let words = query_words(q);
    let (last, rest) = words.split_last()?;
    let mut out: Vec<String> = rest.iter().map(|w| format!("'{w}'")).collect();
    out.push(format!("'{last}':*"));
    Some(out.join(" & "))
}

/// The words of free text, lower-cased: runs of letters and digits (at most 12 words of 64 characters).
/// Deliberately not `shopml_text::normalize`: these words must be the database's own tokens (SQLite's
/// `unicode61` and PostgreSQL's parser both split "children's" into "children" and "s", where the shared
/// normalisation joins it into "childrens", which the index does not hold).
fn query_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(12)
        .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
        .collect()
}

fn fts_words(q: &str, sep: &str) -> Option<String> {
    let words = query_words(q);
    let (last, rest) = words.split_last()?;
    let mut out: Vec<String> = rest.iter().map(|w| format!("\"{w}\"")).collect();
    out.push(format!("\"{last}\"*"));
    Some(out.join(sep))
}

pub(crate) fn cents(name: &str, v: f64) -> ApiResult<i64> {
    if !v.is_finite() || !(0.0..=1e9).contains(&v) {
        return Err(ApiError::invalid(format!("{name} must be a price between 0 and 1e9")));
    }
    Ok((v * 100.0).round() as i64)
}

/// The full-text SQL of a backend: SQLite's FTS5 table ranked by BM25, PostgreSQL's `tsvector` column
/// ranked by `ts_rank_cd` (cover density: PostgreSQL has no BM25). `$1` is the text query ([`fts_query`] /
/// [`tsquery`]).
struct Text {
    from: &'static str,
    matches: &'static str,
    rank: &'static str,
}

impl Text {
    fn of(backend: Backend) -> Text {
        match backend {
            Backend::Sqlite => Text {
                from: "products_fts JOIN products p ON p.id = products_fts.rowid",
                matches: " AND products_fts MATCH $1",
                rank: "bm25(products_fts), p.id",
            },
            Backend::Postgres => Text {
                from: "products p",
                matches: " AND p.search @@ to_tsquery('english', $1)",
                rank: "ts_rank_cd(p.search, to_tsquery('english', $1)) DESC, p.id",
            },
        }
    }
}

/// Search parameters of `GET /products`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Free text (name, description, category).
    pub q: Option<String>,
    /// Exact category.
    pub category: Option<String>,
    /// Lowest price (currency units).
    pub min_price: Option<f64>,
    /// Highest price.
    pub max_price: Option<f64>,
    /// Only products in stock.
    pub in_stock: Option<bool>,
    /// Only this store's products.
    pub store_id: Option<i64>,
    /// `relevance` (default; popularity without `q`), `price_asc`, `price_desc`, `popularity`, `newest`.
    #[schemars(extend("enum" = ["relevance", "price_asc", "price_desc", "popularity", "newest"]))]
    pub sort: Option<String>,
    /// 1-based page (default 1).
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Page size 1..=100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub per_page: Option<u32>,
    /// Re-rank the first results with the recommender for the signed-in customer.
    pub personalize: Option<bool>,
    /// How `q` is matched: `keyword`, `semantic` or `hybrid` (default: the shop's `search_mode`).
    #[schemars(extend("enum" = ["keyword", "semantic", "hybrid"]))]
    pub mode: Option<String>,
}

/// A page of results.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SearchPage {
    /// The products.
    pub items: Vec<ProductRow>,
    /// Page number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// Matching products in all.
    pub total: i64,
    /// Whether the order was personalised.
    pub personalized: bool,
    /// How `q` was matched (`keyword` when there was no `q`).
    pub mode: &'static str,
    /// Categories of the matches, ignoring the `category` filter (so a shopper sees the other choices),
    /// most matches first, at most 12. With a semantic or hybrid `q`: over its candidates.
    pub categories: Vec<Facet>,
}

/// A category and how many matches it has.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Facet {
    /// Category.
    pub category: String,
    /// Matching products in it.
    pub count: i64,
}

/// Most facets a page lists.
const FACETS: usize = 12;

/// Facets counted in memory (the semantic path's candidates).
fn count_facets<'a>(categories: impl Iterator<Item = Option<&'a str>>) -> Vec<Facet> {
    let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    categories.flatten().for_each(|c| *counts.entry(c).or_default() += 1);
    let mut out: Vec<Facet> = counts.into_iter().map(|(c, count)| Facet { category: c.to_string(), count }).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.category.cmp(&b.category)));
    out.truncate(FACETS);
    out
}

/// `GET /products`.
/// Answers that do not depend on who asks (not personalised) are kept a moment ([`crate::search_cache`]).
pub(crate) async fn search(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(p): Query<SearchParams>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let body = find_json(&state, user, p).await?;
    Ok(([("content-type", "application/json")], body).into_response())
}

/// [`find`]'s answer as JSON, through the answer cache when it does not depend on who asks (what
/// `GET /products` and the search page serve: the same parameters share an entry).
pub async fn find_json(state: &Shop, user: Option<User>, p: SearchParams) -> ApiResult<bytes::Bytes> {
    let key = (!p.personalize.unwrap_or(false)).then(|| format!("{p:?}"));
    if let Some(body) = key.as_deref().and_then(|k| state.search_cache.get(k)) {
        return Ok(body);
    }
    let generation = state.search_cache.generation();
    let page = find(state, user, p).await?;
    let body = bytes::Bytes::from(serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.to_string()))?);
    if let Some(k) = key {
        state.search_cache.put(k, generation, body.clone());
    }
    Ok(body)
}

/// The search behind `GET /products` and the chatbot's product search (`user`: who asks, for
/// `personalize`).
pub async fn find(state: &Shop, user: Option<User>, p: SearchParams) -> ApiResult<SearchPage> {
    let page = p.page.unwrap_or(1);
    let per_page = p.per_page.unwrap_or(20);
    if page == 0 || page > 10_000 {
        return Err(ApiError::invalid("page must be within 1..=10000"));
    }
    if per_page == 0 || per_page > 100 {
        return Err(ApiError::invalid("per_page must be within 1..=100"));
    }
    let min = p.min_price.map(|v| cents("min_price", v)).transpose()?;
    let max = p.max_price.map(|v| cents("max_price", v)).transpose()?;
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            return Err(ApiError::invalid("min_price is above max_price"));
        }
    }
    let mode = match p.mode.as_deref() {
        Some(m) => m.parse::<SearchMode>().map_err(ApiError::invalid)?,
        None => state.config.default_search_mode(),
    };
    if mode.needs_encoder() && state.semantic.is_none() {
        return Err(ApiError::invalid(format!(
            "mode={} needs a shop started with a sentence encoder (config key encoder, SHOP_ENCODER); use mode=keyword",
            mode.name()
        )));
    }
    let backend = Backend::of(&state.db);
    let fts = match backend {
        Backend::Sqlite => p.q.as_deref().and_then(fts_query),
        Backend::Postgres => p.q.as_deref().and_then(tsquery),
    };
    let text = Text::of(backend);
    let order = match (p.sort.as_deref().unwrap_or("relevance"), fts.is_some()) {
        ("relevance", true) => text.rank,
        ("relevance", false) | ("popularity", _) => "p.popularity DESC, p.id",
        ("price_asc", _) => "p.price_cents ASC, p.id",
        ("price_desc", _) => "p.price_cents DESC, p.id",
        ("newest", _) => "p.id DESC",
        (other, _) => {
            return Err(ApiError::invalid(format!(
                "sort {other:?}: use relevance, price_asc, price_desc, popularity or newest"
            )))
        }
    };
    let from = match fts {
        Some(_) => text.from,
        None => "products p",
    };
    let mut filter = String::from("p.active = 1");
    if fts.is_some() {
        filter.push_str(text.matches);
    }
    filter.push_str(" AND ($2 IS NULL OR p.category = $2) AND ($3 IS NULL OR p.price_cents >= $3) AND ($4 IS NULL OR p.price_cents <= $4)");
    filter.push_str(" AND ($5 = 0 OR p.stock > 0) AND ($6 IS NULL OR p.store_id = $6)");
    fn typed<F: for<'q> Fn(&'q str) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>>(f: F) -> F {
        f
    }
    type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;
    fn typed_in<F: for<'q> Fn(&'q str, Option<String>) -> AnyQuery<'q>>(f: F) -> F {
        f
    }
    // `$2`, the category, given apart: facets count every category of the matches.
    let bind_in = typed_in(|q, category| {
        sqlx::query(q)
            .bind(fts.clone().unwrap_or_default())
            .bind(category)
            .bind(min)
            .bind(max)
            .bind(p.in_stock.unwrap_or(false) as i64)
            .bind(p.store_id)
    });
    let bind = typed(|q| bind_in(q, p.category.clone()));
    let personalize = p.personalize.unwrap_or(false);
    let signed_in = user.is_some();
    let customer = user.filter(|u| u.role == Role::Customer);
    if personalize && customer.is_none() {
        return Err(match signed_in {
            false => ApiError::Unauthorized,
            true => ApiError::invalid("personalize is for customers (dealers and admins have no purchase history)"),
        });
    }
    if let (Some(semantic), Some(q), true) = (&state.semantic, p.q.as_deref(), fts.is_some() && mode.needs_encoder()) {
        let to_rows = |rows: Vec<sqlx::any::AnyRow>| -> ApiResult<Vec<ProductRow>> {
            Ok(rows.iter().map(<ProductRow as sqlx::FromRow<_>>::from_row).collect::<Result<_, _>>()?)
        };
        // The keyword candidates (hybrid only), in BM25 order, filtered.
        let keyword_rows = match mode {
            SearchMode::Hybrid => to_rows(
                bind(&format!(
                    "SELECT {PRODUCT_COLS} FROM {from} WHERE {filter} ORDER BY {} LIMIT {CANDIDATES}",
                    text.rank
                ))
                .fetch_all(&state.db)
                .await?,
            )?,
            _ => Vec::new(),
        };
        let near: Vec<i64> = semantic.nearest(&state.db, q, CANDIDATES).await?.into_iter().map(|h| h.0).collect();
        // The same filters on the semantic candidates (`$1` is bound to the text query: never NULL).
        let plain = filter.replace(text.matches, "");
        let filtered = to_rows(
            bind(&format!(
                "SELECT {PRODUCT_COLS} FROM products p WHERE {plain} AND $1 IS NOT NULL AND p.id IN ({})",
                backend.json_ids("$7")
            ))
            .bind(serde_json::to_string(&near).map_err(|e| ApiError::Internal(e.to_string()))?)
            .fetch_all(&state.db)
            .await?,
        )?;
        let keyword: Vec<i64> = keyword_rows.iter().map(|r| r.id).collect();
        // Facets ignore the category filter: with one chosen, count over the candidates without it.
        let categories = match p.category {
            None => None,
            Some(_) => {
                let mut ids = near.clone();
                if mode == SearchMode::Hybrid {
                    let sql =
                        format!("SELECT p.id FROM {from} WHERE {filter} ORDER BY {} LIMIT {CANDIDATES}", text.rank);
                    let any_category = bind_in(&sql, None).fetch_all(&state.db).await?;
                    ids.extend(any_category.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<Vec<_>, _>>()?);
                }
                let sql = format!(
                    "SELECT p.category FROM products p WHERE {plain} AND $1 IS NOT NULL AND p.id IN ({})",
                    backend.json_ids("$7")
                );
                let json = serde_json::to_string(&ids).map_err(|e| ApiError::Internal(e.to_string()))?;
                let found = bind_in(&sql, None).bind(json).fetch_all(&state.db).await?;
                let cats = found.iter().map(|r| r.try_get::<Option<String>, _>(0)).collect::<Result<Vec<_>, _>>()?;
                Some(count_facets(cats.iter().map(Option::as_deref)))
            }
        };
        let mut rows: std::collections::HashMap<i64, ProductRow> =
            keyword_rows.into_iter().chain(filtered).map(|r| (r.id, r)).collect();
        let near: Vec<i64> = near.into_iter().filter(|id| rows.contains_key(id)).collect();
        let fused = reciprocal_rank_fusion(&[&keyword, &near], RRF_K);
        let mut items: Vec<ProductRow> = fused.iter().filter_map(|(id, _)| rows.remove(id)).collect();
        let total = items.len() as i64;
        let categories = categories.unwrap_or_else(|| count_facets(items.iter().map(|r| r.category.as_deref())));
        match p.sort.as_deref().unwrap_or("relevance") {
            "price_asc" => items.sort_by_key(|r| (r.price_cents, r.id)),
            "price_desc" => items.sort_by_key(|r| (std::cmp::Reverse(r.price_cents), r.id)),
            "popularity" => items.sort_by(|a, b| b.popularity.total_cmp(&a.popularity).then(a.id.cmp(&b.id))),
            "newest" => items.sort_by_key(|r| std::cmp::Reverse(r.id)),
            _ => {}
        }
        let items = rerank_and_page(state, customer.as_ref().filter(|_| personalize), items, page, per_page);
        return Ok(SearchPage {
            items,
            page,
            per_page,
            total,
            personalized: personalize,
            mode: mode.name(),
            categories,
        });
    }
    let total: i64 = bind(&format!("SELECT count(*) FROM {from} WHERE {filter}")).fetch_one(&state.db).await?.get(0);
    // Personalised: re-rank the first 200 matches (or the page's window if deeper), then cut the page.
    let (limit, offset) = match personalize {
        true => (((page * per_page) as i64).max(200), 0i64),
        false => (per_page as i64, ((page - 1) * per_page) as i64),
    };
    let rows = bind(&format!(
        "SELECT {PRODUCT_COLS} FROM {from} WHERE {filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    ))
    .fetch_all(&state.db)
    .await?;
    let items = rows.iter().map(<ProductRow as sqlx::FromRow<_>>::from_row).collect::<Result<Vec<_>, _>>()?;
    let facet_sql = format!(
        "SELECT p.category, count(*) FROM {from} WHERE {filter} AND p.category IS NOT NULL GROUP BY p.category ORDER BY count(*) DESC, p.category LIMIT {FACETS}"
    );
    let categories = bind_in(&facet_sql, None)
        .fetch_all(&state.db)
        .await?
        .iter()
        .map(|r| Ok(Facet { category: r.try_get(0)?, count: r.try_get(1)? }))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let items = match (personalize, customer) {
        (true, Some(u)) => rerank_and_page(state, Some(&u), items, page, per_page),
        _ => items, // the SQL already cut the page
    };
    Ok(SearchPage {
        items,
        page,
        per_page,
        total,
        personalized: personalize,
        mode: SearchMode::Keyword.name(),
        categories,
    })
}

/// `items` in search order, re-ranked for `customer` when given (stable: what the recommender ranks comes
/// first by its rank, the rest keep the search order), then cut to page `page`.
fn rerank_and_page(
    state: &Shop,
    customer: Option<&User>,
    mut items: Vec<ProductRow>,
    page: u32,
    per_page: u32,
) -> Vec<ProductRow> {
    if let Some(u) = customer {
        let ranks = state.reco.ranks(u, 1000);
        items.sort_by_key(|r| ranks.get(&r.id).copied().unwrap_or(usize::MAX));
    }
    items.into_iter().skip(((page - 1) * per_page) as usize).take(per_page as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn fts_metacharacters_become_plain_words() {
        assert_eq!(fts_query("red \"bag* OR (x) NEAR-y").unwrap(), "\"red\" \"bag\" \"or\" \"x\" \"near\" \"y\"*");
        assert_eq!(fts_query("'; DROP TABLE products; --"), Some("\"drop\" \"table\" \"products\"*".into()));
        assert_eq!(fts_query("  *** "), None);
        assert_eq!(super::fts_query_any("tea, cosy").unwrap(), "\"tea\" OR \"cosy\"*");
    }
}
