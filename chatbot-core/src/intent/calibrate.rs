//! Calibration on validation data: softmax temperature (Guo et al. 2017: one scalar minimising the
//! negative log-likelihood — confidence then means what it says) and the out-of-scope threshold's
//! trade-off curve.

use super::{argmax, softmax};

/// The temperature `t` (searched over 0.02..50 on a log scale, golden section) minimising the mean
/// negative log-likelihood of the gold labels under `softmax(logits / t)`. Examples without a gold
/// index are ignored; 1 when none has one.
pub fn fit_temperature(logits: &[Vec<f32>], gold: &[Option<usize>]) -> f32 {
    let pairs: Vec<(&Vec<f32>, usize)> = logits.iter().zip(gold).filter_map(|(l, g)| g.map(|g| (l, g))).collect();
    if pairs.is_empty() {
        return 1.0;
    }
    let nll = |log_t: f64| -> f64 {
        let t = log_t.exp() as f32;
        pairs.iter().map(|(l, g)| -(softmax(l, t)[*g].max(1e-30) as f64).ln()).sum::<f64>() / pairs.len() as f64
    };
    let (mut a, mut b) = (0.02f64.ln(), 50f64.ln());
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - r * (b - a), a + r * (b - a));
    let (mut fc, mut fd) = (nll(c), nll(d));
    for _ in 0..40 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - r * (b - a);
            fc = nll(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + r * (b - a);
            fd = nll(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// One point of the out-of-scope trade-off.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ThresholdPoint {
    /// Messages whose best in-scope probability is below this are out of scope.
    pub threshold: f32,
    /// Share of in-scope messages given their correct intent (and not judged out of scope).
    pub in_scope_accuracy: f64,
    /// Share of out-of-scope messages judged out of scope.
    pub oos_recall: f64,
    /// Share of messages judged out of scope that are (1 when none is judged so).
    pub oos_precision: f64,
}

/// The trade-off at every distinct confidence level (at most ~200 points, plus threshold 0):
/// `probs` per example, `gold` its label index, `is_oos` whether it is out of scope, `oos` the index of
/// an `oos` label if the model has one (predicting it marks out-of-scope at any threshold).
pub fn tune_threshold(
    probs: &[Vec<f32>],
    gold: &[Option<usize>],
    is_oos: &[bool],
    oos: Option<usize>,
) -> Vec<ThresholdPoint> {
    let tops: Vec<(usize, f32)> = probs.iter().map(|p| (argmax(p), p[argmax(p)])).collect();
    let mut levels: Vec<f32> = tops.iter().map(|t| t.1).collect();
    levels.sort_by(f32::total_cmp);
    levels.dedup();
    let step = levels.len().div_ceil(200).max(1);
    let mut grid: Vec<f32> = std::iter::once(0.0).chain(levels.iter().step_by(step).copied()).collect();
    grid.dedup();
    let in_scope = is_oos.iter().filter(|o| !**o).count().max(1) as f64;
    let out = is_oos.iter().filter(|o| **o).count().max(1) as f64;
    grid.into_iter()
        .map(|t| {
            let (mut correct, mut caught, mut flagged) = (0usize, 0usize, 0usize);
            for ((&(top, p), g), &o) in tops.iter().zip(gold).zip(is_oos) {
                let judged_oos = Some(top) == oos || p < t;
                flagged += judged_oos as usize;
                if o {
                    caught += judged_oos as usize;
                } else if !judged_oos && *g == Some(top) {
                    correct += 1;
                }
            }
            ThresholdPoint {
                threshold: t,
                in_scope_accuracy: correct as f64 / in_scope,
                oos_recall: caught as f64 / out,
                oos_precision: if flagged == 0 { 1.0 } else { caught as f64 / flagged as f64 },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over-confident logits (the right answer 70% of the time, logit gap 10) get a temperature > 1.
    #[test]
    fn temperature_softens_overconfidence() {
        let logits: Vec<Vec<f32>> = (0..10).map(|_| vec![10.0, 0.0]).collect();
        let gold: Vec<Option<usize>> = (0..10).map(|i| Some(if i < 7 { 0 } else { 1 })).collect();
        let t = fit_temperature(&logits, &gold);
        let p = softmax(&logits[0], t)[0];
        assert!((p - 0.7).abs() < 0.01, "t {t} gives {p}");
    }

    #[test]
    fn threshold_curve_counts_by_hand() {
        // labels: 0, 1, 2 = oos
        let probs = vec![vec![0.9, 0.05, 0.05], vec![0.4, 0.35, 0.25], vec![0.2, 0.2, 0.6], vec![0.5, 0.3, 0.2]];
        let gold = vec![Some(0), Some(0), Some(2), Some(2)];
        let is_oos = vec![false, false, true, true];
        let curve = tune_threshold(&probs, &gold, &is_oos, Some(2));
        let at = |t: f32| curve.iter().find(|p| p.threshold == t).copied().unwrap();
        let p0 = at(0.0);
        assert_eq!((p0.in_scope_accuracy, p0.oos_recall, p0.oos_precision), (1.0, 0.5, 1.0));
        let p = at(0.5);
        assert_eq!((p.in_scope_accuracy, p.oos_recall), (0.5, 0.5));
        let p = at(0.6);
        assert_eq!((p.in_scope_accuracy, p.oos_recall), (0.5, 1.0));
    }
}
