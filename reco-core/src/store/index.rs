//! The retrieval index in a model file: each HNSW graph as `u32` tensors (`index.<k>.*`) and a
//! description in the metadata. The vectors are not stored (the model has them); loading checks every
//! graph invariant and puts the index back together without inserting anything.

use super::tensors::{TensorsIn, TensorsOut};
use super::TrainedModel;
use crate::ann::{AnnParams, IndexParts};
use crate::error::Result;
use crate::serve::{Retrieval, StoredGraphs};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// What the metadata says about a saved index.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IndexMeta {
    /// Its parameters (with the current `ef_search`).
    params: AnnParams,
    /// Graph `k` is stored as `index.<k>.*`: the catalogue's first, then category sub-indexes.
    graphs: Vec<GraphMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
struct GraphMeta {
    /// The category of a sub-index (`None`: the whole catalogue).
    category: Option<String>,
    cap0: usize,
    limit0: usize,
    entry: u32,
}

/// Writes the model's index, if it has one.
pub(super) fn put(t: &mut TensorsOut, m: &TrainedModel) -> Option<IndexMeta> {
    let r = m.retrieval.as_ref()?;
    let g = r.graphs();
    let mut parts: Vec<(Option<String>, IndexParts)> = vec![(None, g.main)];
    let mut cats: Vec<(String, IndexParts)> = g.partitions.into_iter().collect();
    cats.sort_by(|a, b| a.0.cmp(&b.0));
    parts.extend(cats.into_iter().map(|(c, p)| (Some(c), p)));
    let mut graphs = Vec::with_capacity(parts.len());
    for (k, (category, p)) in parts.into_iter().enumerate() {
        t.u32(&format!("index.{k}.links0"), &p.links0);
        t.u32(&format!("index.{k}.upper_at"), &p.upper_at);
        t.u32(&format!("index.{k}.upper"), &p.upper);
        t.u32(&format!("index.{k}.levels"), &p.levels.iter().map(|&l| l as u32).collect::<Vec<_>>());
        t.u32(&format!("index.{k}.order"), &p.to_old);
        let removed: Vec<u32> = (0..p.removed.len() as u32).filter(|&r| p.removed[r as usize]).collect();
        t.u32(&format!("index.{k}.removed"), &removed);
        graphs.push(GraphMeta { category, cap0: p.cap0, limit0: p.limit0, entry: p.entry });
    }
    Some(IndexMeta { params: r.params(), graphs })
}

/// Puts a saved index back on the model (every invariant checked: a damaged graph is a typed error).
pub(super) fn get(t: &TensorsIn<'_>, meta: IndexMeta, m: &mut TrainedModel) -> Result<()> {
    let mut main = None;
    let mut partitions = HashMap::new();
    for (k, g) in meta.graphs.into_iter().enumerate() {
        let levels = t.u32(&format!("index.{k}.levels"))?;
        let order = t.u32(&format!("index.{k}.order"))?;
        if levels.iter().any(|&l| l > 15) {
            return Err(t.error(format!("index graph {k}: a level above 15")));
        }
        let mut removed = vec![false; order.len()];
        for r in t.u32(&format!("index.{k}.removed"))? {
            *removed.get_mut(r as usize).ok_or_else(|| t.error(format!("index graph {k}: removed node {r}")))? = true;
        }
        let parts = IndexParts {
            params: meta.params,
            cap0: g.cap0,
            limit0: g.limit0,
            links0: t.u32(&format!("index.{k}.links0"))?,
            upper_at: t.u32(&format!("index.{k}.upper_at"))?,
            upper: t.u32(&format!("index.{k}.upper"))?,
            levels: levels.into_iter().map(|l| l as u8).collect(),
            entry: g.entry,
            to_old: order,
            removed,
        };
        match (g.category, main.is_none()) {
            (None, true) => main = Some(parts),
            (Some(c), false) => {
                if partitions.insert(c.clone(), parts).is_some() {
                    return Err(t.error(format!("index: two sub-indexes for category `{c}`")));
                }
            }
            _ => return Err(t.error("index: the catalogue's graph must come first, and only once")),
        }
    }
    let main = main.ok_or_else(|| t.error("index: no graphs"))?;
    let r = Retrieval::build(m, meta.params, Some(StoredGraphs { main, partitions }))
        .map_err(|e| t.error(format!("index: {e}")))?;
    m.retrieval = Some(Arc::new(r));
    Ok(())
}
