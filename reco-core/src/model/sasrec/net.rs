//! The SASRec network (Kang & McAuley, ICDM 2018) in candle: item and learned position embeddings,
//! pre-LayerNorm causal self-attention blocks with a GELU feed-forward, and the item embedding table
//! shared as the output layer. Dropout masks come from a seeded generator (candle's CPU sampler cannot
//! be seeded), so training is reproducible.

use candle_core::{DType, Device, Result, Tensor, Var, D};
use rand::rngs::SmallRng;
use rand::Rng;

/// Seeded creation of named trainable tensors.
pub(crate) struct Params<'a> {
    rng: &'a mut SmallRng,
    vars: &'a mut Vec<(String, Var)>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(rng: &'a mut SmallRng, vars: &'a mut Vec<(String, Var)>) -> Self {
        Params { rng, vars }
    }

    fn var(&mut self, name: String, shape: &[usize], sample: impl Fn(&mut SmallRng) -> f32) -> Result<Tensor> {
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| sample(self.rng)).collect();
        let v = Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu)?)?;
        self.vars.push((name, v.clone()));
        Ok(v.as_tensor().clone())
    }

    /// Truncated-normal-like `N(0, std²)` (sum of 12 uniforms, clipped at 2 std), as BERT-style inits.
    fn normal(&mut self, name: String, shape: &[usize], std: f32) -> Result<Tensor> {
        self.var(name, shape, |r| (((0..12).map(|_| r.random::<f32>()).sum::<f32>() - 6.0).clamp(-2.0, 2.0)) * std)
    }

    fn constant(&mut self, name: String, shape: &[usize], c: f32) -> Result<Tensor> {
        self.var(name, shape, |_| c)
    }
}

/// Layer normalisation over the last dimension.
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    w: Tensor,
    b: Tensor,
}

impl LayerNorm {
    fn new(p: &mut Params<'_>, name: &str, d: usize) -> Result<Self> {
        Ok(LayerNorm {
            w: p.constant(format!("{name}.weight"), &[d], 1.0)?,
            b: p.constant(format!("{name}.bias"), &[d], 0.0)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        xc.broadcast_div(&(var + 1e-12)?.sqrt()?)?.broadcast_mul(&self.w)?.broadcast_add(&self.b)
    }
}

/// A dense layer `x Wᵀ + b` on the last dimension of a 3-D input.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    w: Tensor,
    b: Tensor,
}

impl Dense {
    fn new(p: &mut Params<'_>, name: &str, inp: usize, out: usize) -> Result<Self> {
        Ok(Dense {
            w: p.normal(format!("{name}.weight"), &[out, inp], 0.02)?,
            b: p.constant(format!("{name}.bias"), &[out], 0.0)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // One (b·l, in) × (in, out) product rather than b small batched ones.
        let (b, l, d) = x.dims3()?;
        let out = self.w.dim(0)?;
        x.reshape((b * l, d))?.matmul(&self.w.t()?)?.broadcast_add(&self.b)?.reshape((b, l, out))
    }
}

/// One block: `x + Drop(MHA(LN(x)))`, then `x + Drop(FFN(LN(x)))`.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    ln1: LayerNorm,
    q: Dense,
    k: Dense,
    v: Dense,
    o: Dense,
    ln2: LayerNorm,
    ff1: Dense,
    ff2: Dense,
}

/// Dropout with a seeded mask (identity when not training or `p == 0`).
pub(crate) struct Dropout<'a> {
    pub(crate) p: f32,
    pub(crate) rng: Option<&'a mut SmallRng>,
}

impl Dropout<'_> {
    fn apply(&mut self, x: &Tensor) -> Result<Tensor> {
        let (p, Some(rng)) = (self.p, self.rng.as_deref_mut()) else { return Ok(x.clone()) };
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 / (1.0 - p);
        let mask: Vec<f32> = (0..x.elem_count()).map(|_| if rng.random::<f32>() < p { 0.0 } else { keep }).collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }
}

impl Block {
    fn new(p: &mut Params<'_>, name: &str, d: usize, inner: usize) -> Result<Self> {
        Ok(Block {
            ln1: LayerNorm::new(p, &format!("{name}.ln1"), d)?,
            q: Dense::new(p, &format!("{name}.q"), d, d)?,
            k: Dense::new(p, &format!("{name}.k"), d, d)?,
            v: Dense::new(p, &format!("{name}.v"), d, d)?,
            o: Dense::new(p, &format!("{name}.o"), d, d)?,
            ln2: LayerNorm::new(p, &format!("{name}.ln2"), d)?,
            ff1: Dense::new(p, &format!("{name}.ff1"), d, inner)?,
            ff2: Dense::new(p, &format!("{name}.ff2"), inner, d)?,
        })
    }

    /// `x`: `(b, l, d)`; `mask`: additive `(b, 1, l, l)` (0 or −1e9).
    fn forward(&self, x: &Tensor, mask: &Tensor, heads: usize, drop: &mut Dropout<'_>) -> Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let dh = d / heads;
        let h = self.ln1.forward(x)?;
        let split = |t: Tensor| t.reshape((b, l, heads, dh))?.transpose(1, 2)?.contiguous();
        let (q, k, v) = (split(self.q.forward(&h)?)?, split(self.k.forward(&h)?)?, split(self.v.forward(&h)?)?);
        let scores = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?.broadcast_add(mask)?;
        let att = drop.apply(&candle_nn::ops::softmax_last_dim(&scores)?)?;
        let ctx = att.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
        let x = (x + drop.apply(&self.o.forward(&ctx)?)?)?;
        let h = self.ln2.forward(&x)?;
        let f = self.ff2.forward(&self.ff1.forward(&h)?.gelu_erf()?)?;
        x + drop.apply(&f)?
    }
}

/// The whole network.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    /// `(n_items + 1, d)`; row 0 is padding, row `i + 1` is item `i`.
    pub(crate) items: Tensor,
    pos: Tensor,
    blocks: Vec<Block>,
    ln: LayerNorm,
    pub(crate) heads: usize,
    pub(crate) max_len: usize,
}

impl Net {
    pub(crate) fn new(
        p: &mut Params<'_>,
        n_items: usize,
        d: usize,
        layers: usize,
        heads: usize,
        max_len: usize,
    ) -> Result<Self> {
        let items = p.normal("items".into(), &[n_items + 1, d], 0.02)?;
        let pos = p.normal("positions".into(), &[max_len, d], 0.02)?;
        let blocks = (0..layers).map(|k| Block::new(p, &format!("block{k}"), d, 4 * d)).collect::<Result<_>>()?;
        let ln = LayerNorm::new(p, "ln", d)?;
        Ok(Net { items, pos, blocks, ln, heads, max_len })
    }

    /// Rebuilds the network from tensors by name (as [`Params`] named them): `layers` blocks of `heads`
    /// heads. The names of the tensors it read are pushed to `used`.
    pub(crate) fn from_named(
        layers: usize,
        heads: usize,
        get: &mut dyn FnMut(&str) -> Option<Tensor>,
    ) -> std::result::Result<Self, String> {
        let mut t = |n: String| get(&n).ok_or_else(|| format!("missing tensor `{n}`"));
        let items = t("items".into())?;
        let pos = t("positions".into())?;
        let mut blocks = Vec::new();
        for k in 0..layers {
            let mut ln = |n: &str| {
                Ok::<_, String>(LayerNorm {
                    w: t(format!("block{k}.{n}.weight"))?,
                    b: t(format!("block{k}.{n}.bias"))?,
                })
            };
            let (ln1, ln2) = (ln("ln1")?, ln("ln2")?);
            let mut dense = |n: &str| {
                Ok::<_, String>(Dense { w: t(format!("block{k}.{n}.weight"))?, b: t(format!("block{k}.{n}.bias"))? })
            };
            blocks.push(Block {
                ln1,
                q: dense("q")?,
                k: dense("k")?,
                v: dense("v")?,
                o: dense("o")?,
                ln2,
                ff1: dense("ff1")?,
                ff2: dense("ff2")?,
            });
        }
        let ln = LayerNorm { w: t("ln.weight".into())?, b: t("ln.bias".into())? };
        let max_len = pos.dim(0).map_err(|e| e.to_string())?;
        Ok(Net { items, pos, blocks, ln, heads, max_len })
    }

    /// Hidden states `(b, l, d)` of left-padded item rows `ids` (`(b, l)`, 0 = padding, item `i` as
    /// `i + 1`). Each sequence's last position always takes the last learned position.
    pub(crate) fn forward(&self, ids: &Tensor, drop: &mut Dropout<'_>) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let d = self.items.dim(1)?;
        let ids_v: Vec<u32> = ids.flatten_all()?.to_vec1()?;
        let real: Vec<f32> = ids_v.iter().map(|&i| (i != 0) as u8 as f32).collect();
        let keep = Tensor::from_vec(real.clone(), (b, l, 1), ids.device())?;
        let x = self.items.index_select(&ids.flatten_all()?, 0)?.reshape((b, l, d))?;
        let pos = self.pos.narrow(0, self.max_len - l, l)?;
        let mut x = drop.apply(&(x * (d as f64).sqrt())?.broadcast_add(&pos)?)?.broadcast_mul(&keep)?;
        // Causal, and padded keys hidden (a position always sees itself, so no row is all −inf).
        let mut mask = vec![0f32; b * l * l];
        for s in 0..b {
            for i in 0..l {
                for j in 0..l {
                    if j > i || (j != i && real[s * l + j] == 0.0) {
                        mask[(s * l + i) * l + j] = -1e9;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(mask, (b, 1, l, l), ids.device())?;
        for block in &self.blocks {
            x = block.forward(&x, &mask, self.heads, drop)?.broadcast_mul(&keep)?;
        }
        self.ln.forward(&x)
    }

    /// Scores of every item (`(n, n_items)`) for hidden states `h` (`(n, d)`).
    pub(crate) fn logits(&self, h: &Tensor) -> Result<Tensor> {
        let n = self.items.dim(0)? - 1;
        h.matmul(&self.items.narrow(0, 1, n)?.t()?)
    }

    /// Whether every weight is finite.
    pub(crate) fn finite(vars: &[(String, Var)]) -> Result<bool> {
        for (_, v) in vars {
            let s = v.as_tensor().sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            if !s.is_finite() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
