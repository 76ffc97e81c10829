//! The tensor shapes of a stored NCF network, checked before it serves: a file that passes its checksum but
//! whose layers do not fit together is a typed error, not a panic at the first forward pass.

use super::NcfKind;
use crate::error::{RecoError, Result};

/// The shapes [`Ncf::from_named`] read, checked against the network they must form.
pub(super) fn check(
    kind: NcfKind,
    n_users: usize,
    n_items: usize,
    shapes: &std::collections::HashMap<String, Vec<usize>>,
) -> Result<()> {
    let bad = |m: String| RecoError::Backend(m);
    let two = |n: &str| -> Result<[usize; 2]> {
        match shapes.get(n).map(Vec::as_slice) {
            Some(&[a, b]) => Ok([a, b]),
            Some(s) => Err(bad(format!("tensor `{n}` has shape {s:?}, expected two dimensions"))),
            None => Err(bad(format!("missing tensor `{n}`"))),
        }
    };
    let len = |n: &str| shapes.get(n).map_or(0, |s| s.iter().product::<usize>());
    let embeddings = |part: &str| -> Result<(usize, usize)> {
        let [u, du] = two(&format!("{part}.user.weight"))?;
        let [i, di] = two(&format!("{part}.item.weight"))?;
        if u != n_users || i != n_items {
            return Err(bad(format!(
                "{part} embeddings for {u} users × {i} items, the model has {n_users} × {n_items}"
            )));
        }
        Ok((du, di))
    };
    let has = |part: &str| shapes.contains_key(&format!("{part}.user.weight"));
    let (with_gmf, with_mlp) = (has("gmf"), has("mlp"));
    let want = match kind {
        NcfKind::Gmf => (true, false),
        NcfKind::Mlp => (false, true),
        NcfKind::NeuMf => (true, true),
    };
    if (with_gmf, with_mlp) != want {
        return Err(bad(format!("a {kind:?} network with gmf: {with_gmf}, mlp: {with_mlp}")));
    }
    let mut width = 0;
    if with_gmf {
        let (du, di) = embeddings("gmf")?;
        if du != di {
            return Err(bad(format!("gmf user embeddings of {du} and item embeddings of {di} dimensions")));
        }
        width += du;
    }
    if with_mlp {
        let (du, di) = embeddings("mlp")?;
        let mut h = du + di;
        let mut k = 0;
        while shapes.contains_key(&format!("mlp.layer{k}.weight")) {
            let [out, input] = two(&format!("mlp.layer{k}.weight"))?;
            if input != h || len(&format!("mlp.layer{k}.bias")) != out {
                return Err(bad(format!(
                    "mlp layer {k} maps {input} → {out} after a layer of {h} (bias {})",
                    len(&format!("mlp.layer{k}.bias"))
                )));
            }
            h = out;
            k += 1;
        }
        if k == 0 {
            return Err(bad("the mlp tower has no layer".into()));
        }
        width += h;
    }
    if two("out.weight")? != [1, width] || len("out.bias") != 1 {
        return Err(bad(format!(
            "the output layer is {:?} (+{} bias), expected [1, {width}] (+1)",
            two("out.weight")?,
            len("out.bias")
        )));
    }
    Ok(())
}
