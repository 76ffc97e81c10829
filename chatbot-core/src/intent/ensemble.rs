//! Two intent models as one: the weighted average of their calibrated probabilities, the members'
//! temperatures and the weight fitted on validation data. Typically the fast n-gram model and the
//! encoder model, whose errors differ (words seen in training vs meaning).

use super::{argmax, fit_temperature, softmax, IntentModel};
use crate::data::Example;
use crate::error::{ChatError, Result};

/// `ln(w · softmax(a / ta) + (1 − w) · softmax(b / tb))` as logits.
#[derive(Debug)]
pub struct Ensemble<A: IntentModel, B: IntentModel> {
    /// The first member.
    pub a: A,
    /// The second member.
    pub b: B,
    /// The members' temperatures.
    pub temperatures: (f32, f32),
    /// Weight of `a` in [0, 1].
    pub weight: f32,
}

impl<A: IntentModel, B: IntentModel> Ensemble<A, B> {
    /// Joins two models trained on the same labels: each member's temperature minimises its negative
    /// log-likelihood on `val`, then the weight (0, 0.05, …, 1) maximises validation accuracy (ties: the
    /// lower negative log-likelihood).
    pub fn fit(a: A, b: B, val: &[Example]) -> Result<Self> {
        if a.labels() != b.labels() {
            return Err(ChatError::Data("the ensemble's members were trained on different labels".into()));
        }
        if val.is_empty() {
            return Err(ChatError::Data("empty validation set".into()));
        }
        let gold: Vec<Option<usize>> = val.iter().map(|e| a.labels().iter().position(|l| *l == e.label)).collect();
        let la = val.iter().map(|e| a.logits(&e.text)).collect::<Result<Vec<_>>>()?;
        let lb = val.iter().map(|e| b.logits(&e.text)).collect::<Result<Vec<_>>>()?;
        let temperatures = (fit_temperature(&la, &gold), fit_temperature(&lb, &gold));
        let pa: Vec<Vec<f32>> = la.iter().map(|l| softmax(l, temperatures.0)).collect();
        let pb: Vec<Vec<f32>> = lb.iter().map(|l| softmax(l, temperatures.1)).collect();
        let mut best = (f64::NEG_INFINITY, f64::INFINITY, 0.5f32);
        for step in 0..=20 {
            let w = step as f32 / 20.0;
            let (mut correct, mut nll) = (0usize, 0f64);
            for ((x, y), g) in pa.iter().zip(&pb).zip(&gold) {
                let p = mix(x, y, w);
                if let Some(g) = *g {
                    correct += usize::from(argmax(&p) == g);
                    nll -= (p[g].max(1e-30) as f64).ln();
                }
            }
            let acc = correct as f64 / val.len() as f64;
            if acc > best.0 || (acc == best.0 && nll < best.1) {
                best = (acc, nll, w);
            }
        }
        Ok(Ensemble { a, b, temperatures, weight: best.2 })
    }
}

fn mix(x: &[f32], y: &[f32], w: f32) -> Vec<f32> {
    x.iter().zip(y).map(|(p, q)| w * p + (1.0 - w) * q).collect()
}

impl<A: IntentModel, B: IntentModel> IntentModel for Ensemble<A, B> {
    fn labels(&self) -> &[String] {
        self.a.labels()
    }

    fn logits(&self, text: &str) -> Result<Vec<f32>> {
        let pa = softmax(&self.a.logits(text)?, self.temperatures.0);
        let pb = softmax(&self.b.logits(text)?, self.temperatures.1);
        Ok(mix(&pa, &pb, self.weight).into_iter().map(|p| p.max(1e-30).ln()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits from a table: each model is sure about one text and knows nothing of the others.
    #[derive(Debug)]
    struct Table(Vec<String>, &'static str, usize);

    impl IntentModel for Table {
        fn labels(&self) -> &[String] {
            &self.0
        }
        fn logits(&self, text: &str) -> Result<Vec<f32>> {
            let mut l = vec![0.0; self.0.len()];
            if text == self.1 {
                l[self.2] = 5.0;
            }
            Ok(l)
        }
    }

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("l{i}")).collect()
    }

    fn ex(text: &str, label: &str) -> Example {
        Example { text: text.into(), label: label.into() }
    }

    #[test]
    fn the_ensemble_is_right_where_either_member_is_sure() {
        let val = [ex("x", "l0"), ex("y", "l1"), ex("x", "l0"), ex("y", "l1")];
        let e = Ensemble::fit(Table(labels(3), "x", 0), Table(labels(3), "y", 1), &val).unwrap();
        assert!(e.weight > 0.0 && e.weight < 1.0, "weight {}", e.weight);
        assert_eq!(argmax(&e.logits("x").unwrap()), 0);
        assert_eq!(argmax(&e.logits("y").unwrap()), 1);
        // each member alone gets only its own text right
        assert_ne!(argmax(&Table(labels(3), "x", 0).logits("y").unwrap()), 1);
    }

    #[test]
    fn members_with_different_labels_or_no_validation_data_are_errors() {
        let val = [ex("x", "l0")];
        assert!(Ensemble::fit(Table(labels(3), "x", 0), Table(labels(4), "y", 1), &val).is_err());
        assert!(Ensemble::fit(Table(labels(3), "x", 0), Table(labels(3), "y", 1), &[]).is_err());
    }
}
