//! The checks a model file passes on load — the same ones building a model applies — so a file that
//! passes its checksum but is inconsistent (crafted, or written by a buggy tool) is a typed
//! [`RecoError::ModelFile`](crate::error::RecoError::ModelFile), never a panic or a silently wrong answer.
//! Each returns the reason; the caller names the file.

use crate::data::{IdMap, InteractionMatrix, ItemMeta};

/// `ids` as an [`IdMap`] of exactly `n` distinct, non-empty ids (a duplicate would shift every later id
/// onto the wrong row).
pub(super) fn ids(what: &str, ids: Vec<String>, n: usize) -> Result<IdMap, String> {
    if ids.len() != n {
        return Err(format!("{} {what} ids for a model of {n} {what}s", ids.len()));
    }
    if let Some(i) = ids.iter().position(|id| id.trim().is_empty()) {
        return Err(format!("{what} id #{i} is empty"));
    }
    let map: IdMap = ids.iter().cloned().collect();
    if map.len() != n {
        let mut seen = std::collections::HashSet::new();
        let dup = ids.iter().find(|id| !seen.insert(id.as_str())).map_or("?", String::as_str);
        return Err(format!("{what} id {dup:?} appears more than once"));
    }
    Ok(map)
}

/// Every value finite.
pub(super) fn finite(name: &str, values: &[f32]) -> Result<(), String> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(format!("tensor `{name}` holds a non-finite value ({} at {i})", values[i])),
        None => Ok(()),
    }
}

/// Every value finite and ≥ 0.
pub(super) fn non_negative(name: &str, values: &[f32]) -> Result<(), String> {
    finite(name, values)?;
    match values.iter().position(|v| *v < 0.0) {
        Some(i) => Err(format!("tensor `{name}` holds a negative value ({} at {i})", values[i])),
        None => Ok(()),
    }
}

/// Interaction weights as building accepts them: finite and > 0.
pub(super) fn history(h: &InteractionMatrix) -> Result<(), String> {
    match h.user_items().data().iter().position(|w| !w.is_finite() || *w <= 0.0) {
        Some(i) => Err(format!("history weight #{i} is {} (weights are finite and > 0)", h.user_items().data()[i])),
        None => Ok(()),
    }
}

/// Prices as building accepts them: finite and ≥ 0.
pub(super) fn item_meta(meta: &[ItemMeta]) -> Result<(), String> {
    match meta.iter().position(|m| m.price.is_some_and(|p| !p.is_finite() || p < 0.0)) {
        Some(i) => Err(format!("item #{i} has price {:?} (prices are finite and ≥ 0)", meta[i].price)),
        None => Ok(()),
    }
}

/// A blend weight within 0..=1.
pub(super) fn weight(name: &str, w: f32) -> Result<f32, String> {
    match (0.0..=1.0).contains(&w) {
        true => Ok(w),
        false => Err(format!("{name} weight {w} is not within 0..=1")),
    }
}
