//! Evaluation of a [`Classifier`] on labelled messages: accuracy, in-scope accuracy, out-of-scope recall
//! and precision, macro-F1, the misclassified messages, single-thread latency and the threshold curve.

use crate::data::{Example, OOS};
use crate::error::Result;
use crate::intent::{decide, tune_threshold, Classifier, IntentModel, ThresholdPoint};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// One misclassified message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Miss {
    /// The message.
    pub text: String,
    /// Its label.
    pub gold: String,
    /// What the classifier said (`oos` when it judged the message out of scope).
    pub predicted: String,
    /// The classifier's confidence in its best in-scope label.
    pub confidence: f32,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Share of messages labelled correctly (out-of-scope ones correct when judged out of scope).
    pub accuracy: f64,
    /// Share of in-scope messages given their intent.
    pub in_scope_accuracy: f64,
    /// Share of out-of-scope messages judged so (`null` when the test set has none).
    pub oos_recall: Option<f64>,
    /// Share of out-of-scope judgements that were right (`null` when the test set has no oos messages).
    pub oos_precision: Option<f64>,
    /// Mean F1 over the labels of the test set (with `oos` as one label).
    pub macro_f1: f64,
    /// Test messages.
    pub n: usize,
    /// Softmax temperature used.
    pub temperature: f32,
    /// Out-of-scope threshold used.
    pub threshold: f32,
    /// Time to classify one message, single thread (normalisation and features included).
    pub latency_us: Latency,
    /// The misclassified messages.
    pub errors: Vec<Miss>,
    /// In-scope accuracy / out-of-scope recall at each threshold on the test set (for the trade-off plot).
    pub curve: Vec<ThresholdPoint>,
}

/// Classifies every message of `test` one by one (timed) and scores the decisions.
pub fn evaluate<M: IntentModel>(c: &Classifier<M>, test: &[Example]) -> Result<Report> {
    let labels = c.model.labels();
    let mut times = Vec::with_capacity(test.len());
    let mut probs = Vec::with_capacity(test.len());
    let mut errors = Vec::new();
    let mut pairs = Vec::with_capacity(test.len());
    for e in test {
        let t = Instant::now();
        let p = c.probabilities(&e.text)?;
        let d = decide(&p, labels, c.threshold);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        let predicted = if d.in_scope { d.label.clone() } else { OOS.to_string() };
        if predicted != e.label {
            errors.push(Miss {
                text: e.text.clone(),
                gold: e.label.clone(),
                predicted: predicted.clone(),
                confidence: d.confidence,
            });
        }
        pairs.push((e.label.as_str(), predicted));
        probs.push(p);
    }
    times.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        times.get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1))).copied().unwrap_or(0.0)
    };
    let n = test.len().max(1) as f64;
    let correct = pairs.iter().filter(|(g, p)| *g == p).count();
    let in_scope: Vec<_> = pairs.iter().filter(|(g, _)| *g != OOS).collect();
    let out: Vec<_> = pairs.iter().filter(|(g, _)| *g == OOS).collect();
    let flagged = pairs.iter().filter(|(_, p)| p == OOS).count();
    let caught = out.iter().filter(|(_, p)| p == OOS).count();
    let gold: Vec<Option<usize>> = test.iter().map(|e| labels.iter().position(|l| *l == e.label)).collect();
    let is_oos: Vec<bool> = test.iter().map(|e| e.label == OOS).collect();
    let oos_index = labels.iter().position(|l| l == OOS);
    Ok(Report {
        accuracy: correct as f64 / n,
        in_scope_accuracy: in_scope.iter().filter(|(g, p)| *g == p).count() as f64 / in_scope.len().max(1) as f64,
        oos_recall: (!out.is_empty()).then(|| caught as f64 / out.len() as f64),
        oos_precision: (!out.is_empty()).then(|| if flagged == 0 { 0.0 } else { caught as f64 / flagged as f64 }),
        macro_f1: macro_f1(pairs.iter().map(|(g, p)| (*g, p.as_str()))),
        n: test.len(),
        temperature: c.temperature,
        threshold: c.threshold,
        latency_us: Latency { p50: pct(0.5), p99: pct(0.99) },
        errors,
        curve: if out.is_empty() { Vec::new() } else { tune_threshold(&probs, &gold, &is_oos, oos_index) },
    })
}

/// Mean over the gold labels of F1 = 2·P·R / (P + R) for `(gold, predicted)` pairs.
pub fn macro_f1<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> f64 {
    let mut tp: BTreeMap<&str, f64> = BTreeMap::new();
    let mut fp: BTreeMap<&str, f64> = BTreeMap::new();
    let mut fneg: BTreeMap<&str, f64> = BTreeMap::new();
    let mut gold_labels = BTreeSet::new();
    for (g, p) in pairs {
        gold_labels.insert(g);
        if g == p {
            *tp.entry(g).or_default() += 1.0;
        } else {
            *fp.entry(p).or_default() += 1.0;
            *fneg.entry(g).or_default() += 1.0;
        }
    }
    if gold_labels.is_empty() {
        return 0.0;
    }
    let f1 = |l: &str| {
        let (t, p, n) =
            (tp.get(l).copied().unwrap_or(0.0), fp.get(l).copied().unwrap_or(0.0), fneg.get(l).copied().unwrap_or(0.0));
        if t == 0.0 {
            0.0
        } else {
            2.0 * t / (2.0 * t + p + n)
        }
    };
    gold_labels.iter().map(|l| f1(l)).sum::<f64>() / gold_labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_by_hand() {
        // a: tp 1, fn 1 (→ b); b: tp 1, fp 1 → F1(a) = 2/3, F1(b) = 2/3
        let pairs = [("a", "a"), ("a", "b"), ("b", "b")];
        assert!((macro_f1(pairs.into_iter()) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(macro_f1([("a", "a")].into_iter()), 1.0);
    }
}
