//! NCF layers in candle-nn style: a struct, `new`, a free constructor, and `Module::forward`.
//! Every forward takes a `(batch, 2)` u32 tensor of `(user, item)` pairs.

use candle_core::{DType, Device, IndexOp, Result, Tensor, Var, D};
use candle_nn::{Embedding, Linear, Module};
use rand::rngs::SmallRng;
use rand::Rng;

/// Seeded initialisation of trainable tensors (candle's own CPU initialisers cannot be seeded).
#[derive(Debug)]
pub struct Init<'a> {
    rng: &'a mut SmallRng,
    vars: &'a mut Vec<(String, Var)>,
    prefix: String,
}

impl<'a> Init<'a> {
    /// Records every variable it creates in `vars`, named with `prefix`.
    pub fn new(rng: &'a mut SmallRng, vars: &'a mut Vec<(String, Var)>) -> Self {
        Init { rng, vars, prefix: String::new() }
    }

    /// A sub-builder whose variables are named `prefix.name`.
    pub fn pp(&mut self, name: &str) -> Init<'_> {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        Init { rng: self.rng, vars: self.vars, prefix }
    }

    fn var(&mut self, name: &str, shape: (usize, usize), sample: impl Fn(&mut SmallRng) -> f32) -> Result<Tensor> {
        let data: Vec<f32> = (0..shape.0 * shape.1).map(|_| sample(self.rng)).collect();
        let t = Tensor::from_vec(data, shape, &Device::Cpu)?;
        let v = Var::from_tensor(&t)?;
        let full = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        self.vars.push((full, v.clone()));
        Ok(v.as_tensor().clone())
    }

    /// `N(0, std²)` (approximated by the sum of 12 uniforms).
    pub fn normal(&mut self, name: &str, shape: (usize, usize), std: f32) -> Result<Tensor> {
        self.var(name, shape, |r| ((0..12).map(|_| r.random::<f32>()).sum::<f32>() - 6.0) * std)
    }

    /// Glorot-uniform.
    pub fn glorot(&mut self, name: &str, shape: (usize, usize)) -> Result<Tensor> {
        let a = (6.0 / (shape.0 + shape.1) as f32).sqrt();
        self.var(name, shape, move |r| (r.random::<f32>() * 2.0 - 1.0) * a)
    }

    /// Zeros.
    pub fn zeros(&mut self, name: &str, shape: (usize, usize)) -> Result<Tensor> {
        self.var(name, shape, |_| 0.0)
    }
}

fn embedding(n: usize, dim: usize, init: &mut Init<'_>) -> Result<Embedding> {
    Ok(Embedding::new(init.normal("weight", (n, dim), 0.01)?, dim))
}

fn linear(inp: usize, out: usize, init: &mut Init<'_>) -> Result<Linear> {
    let w = init.glorot("weight", (out, inp))?;
    let b = init.zeros("bias", (1, out))?.squeeze(0)?;
    Ok(Linear::new(w, Some(b)))
}

fn split(pairs: &Tensor) -> Result<(Tensor, Tensor)> {
    Ok((pairs.i((.., 0))?.contiguous()?, pairs.i((.., 1))?.contiguous()?))
}

/// Generalised matrix factorisation: `p_u ⊙ q_i`.
#[derive(Debug, Clone)]
pub struct Gmf {
    /// User embeddings.
    pub user: Embedding,
    /// Item embeddings.
    pub item: Embedding,
}

impl Gmf {
    /// From embeddings.
    pub fn new(user: Embedding, item: Embedding) -> Self {
        Gmf { user, item }
    }
}

/// A GMF part with `factors` dimensions.
pub fn gmf(n_users: usize, n_items: usize, factors: usize, init: &mut Init<'_>) -> Result<Gmf> {
    Ok(Gmf::new(embedding(n_users, factors, &mut init.pp("user"))?, embedding(n_items, factors, &mut init.pp("item"))?))
}

impl Module for Gmf {
    fn forward(&self, pairs: &Tensor) -> Result<Tensor> {
        let (u, i) = split(pairs)?;
        self.user.forward(&u)?.mul(&self.item.forward(&i)?)
    }
}

/// The MLP tower: `[p_u; q_i]` through ReLU layers.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// User embeddings.
    pub user: Embedding,
    /// Item embeddings.
    pub item: Embedding,
    /// Hidden layers (ReLU after each).
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// From parts.
    pub fn new(user: Embedding, item: Embedding, layers: Vec<Linear>) -> Self {
        Mlp { user, item, layers }
    }
}

/// A tower with sizes `tower` (e.g. `[64, 32, 16, 8]`: two 32-d embeddings, then 32, 16, 8).
pub fn mlp(n_users: usize, n_items: usize, tower: &[usize], init: &mut Init<'_>) -> Result<Mlp> {
    let d = tower[0] / 2;
    let user = embedding(n_users, d, &mut init.pp("user"))?;
    let item = embedding(n_items, d, &mut init.pp("item"))?;
    let layers = tower
        .windows(2)
        .enumerate()
        .map(|(k, w)| linear(w[0], w[1], &mut init.pp(&format!("layer{k}"))))
        .collect::<Result<_>>()?;
    Ok(Mlp::new(user, item, layers))
}

impl Module for Mlp {
    fn forward(&self, pairs: &Tensor) -> Result<Tensor> {
        let (u, i) = split(pairs)?;
        let mut h = Tensor::cat(&[self.user.forward(&u)?, self.item.forward(&i)?], D::Minus1)?;
        for l in &self.layers {
            h = l.forward(&h)?.relu()?;
        }
        Ok(h)
    }
}

/// GMF, MLP or NeuMF (both, fused): a linear prediction layer on the concatenated parts → one logit.
#[derive(Debug, Clone)]
pub struct NeuMf {
    /// The GMF part, if any.
    pub gmf: Option<Gmf>,
    /// The MLP part, if any.
    pub mlp: Option<Mlp>,
    /// Prediction layer.
    pub out: Linear,
}

impl NeuMf {
    /// From parts.
    pub fn new(gmf: Option<Gmf>, mlp: Option<Mlp>, out: Linear) -> Self {
        NeuMf { gmf, mlp, out }
    }
}

/// A network with a GMF part of `factors` (0: none) and an MLP `tower` (empty: none).
pub fn neumf(n_users: usize, n_items: usize, factors: usize, tower: &[usize], init: &mut Init<'_>) -> Result<NeuMf> {
    let gmf_part = if factors > 0 { Some(gmf(n_users, n_items, factors, &mut init.pp("gmf"))?) } else { None };
    let mlp_part = if tower.len() >= 2 { Some(mlp(n_users, n_items, tower, &mut init.pp("mlp"))?) } else { None };
    let width = factors + if tower.len() >= 2 { tower[tower.len() - 1] } else { 0 };
    let out = linear(width, 1, &mut init.pp("out"))?;
    Ok(NeuMf::new(gmf_part, mlp_part, out))
}

impl NeuMf {
    /// The logits from per-sample embedding rows already looked up: `(user rows, item rows)` of the GMF
    /// part and of the MLP part (each `batch × dim`; `None` where the network has no such part). Training
    /// looks rows up from small per-batch tables so that only touched rows get gradients.
    pub fn forward_rows(&self, gmf: Option<(&Tensor, &Tensor)>, mlp: Option<(&Tensor, &Tensor)>) -> Result<Tensor> {
        let mut parts = Vec::with_capacity(2);
        if let Some((u, i)) = gmf {
            parts.push(u.mul(i)?);
        }
        if let (Some(m), Some((u, i))) = (&self.mlp, mlp) {
            let mut h = Tensor::cat(&[u, i], D::Minus1)?;
            for l in &m.layers {
                h = l.forward(&h)?.relu()?;
            }
            parts.push(h);
        }
        let h = if parts.len() == 1 { parts.pop().expect("one part") } else { Tensor::cat(&parts, D::Minus1)? };
        self.out.forward(&h)?.squeeze(D::Minus1)?.to_dtype(DType::F32)
    }
}

impl Module for NeuMf {
    fn forward(&self, pairs: &Tensor) -> Result<Tensor> {
        let (u, i) = split(pairs)?;
        let g = match &self.gmf {
            Some(g) => Some((g.user.forward(&u)?, g.item.forward(&i)?)),
            None => None,
        };
        let m = match &self.mlp {
            Some(m) => Some((m.user.forward(&u)?, m.item.forward(&i)?)),
            None => None,
        };
        self.forward_rows(g.as_ref().map(|(a, b)| (a, b)), m.as_ref().map(|(a, b)| (a, b)))
    }
}
