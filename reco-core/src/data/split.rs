//! Train / validation / test splits. All are deterministic: the same data (and seed) give the same split.

use super::{Dataset, Interaction};
use crate::error::{RecoError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// A leave-one-out split (the protocol of NCF, SASRec and S3-Rec).
///
/// Per user, events are ordered by (timestamp, position in the input) and repeated items are reduced to
/// their *first* occurrence, so the held-out items are the last two *new* items the user touched:
/// `test` is the last, `valid` the one before. Users with one distinct item are kept in training only;
/// users with two have a test item but no validation item.
///
/// When the data mixes purchases with other kinds ([`Dataset::mixes_kinds`]), the held-out items are
/// purchases instead: the item whose first purchase came last is `test`, and the user's training events
/// are those before that purchase minus the item's own (see `kinds::leave_purchases_out`).
#[derive(Debug, Clone)]
pub struct LeaveOneOut {
    /// Every event except those of the test items: train on this for the reported test numbers.
    pub train: Vec<Interaction>,
    /// Every event except those of the test and validation items: train on this to tune on `valid`.
    pub valid_train: Vec<Interaction>,
    /// `(user, item)`: the held-out last item per user.
    pub test: Vec<(u32, u32)>,
    /// `(user, item)`: the held-out second-to-last item per user.
    pub valid: Vec<(u32, u32)>,
}

/// Each user's distinct items in order of first occurrence (ties by input position).
pub fn user_sequences(data: &Dataset) -> Vec<Vec<u32>> {
    sequences_of(&data.interactions, data.n_users(), data.n_items())
}

/// [`user_sequences`] of some of a dataset's events (a split's training events, say): one sequence per
/// user index below `n_users`, each user's distinct items in order of first occurrence (ties by position
/// in `interactions`). What sequential models are fitted on, beside the matrix of the same events.
///
/// # Panics
/// When an interaction's user or item index is outside `n_users` × `n_items`.
pub fn sequences_of(interactions: &[Interaction], n_users: usize, n_items: usize) -> Vec<Vec<u32>> {
    let mut order: Vec<usize> = (0..interactions.len()).collect();
    // Stable sort: equal timestamps keep input order.
    order.sort_by_key(|&k| (interactions[k].user, interactions[k].timestamp));
    let mut seqs = vec![Vec::new(); n_users];
    let mut seen = vec![u32::MAX; n_items];
    for k in order {
        let it = interactions[k];
        if seen[it.item as usize] != it.user {
            seen[it.item as usize] = it.user;
            seqs[it.user as usize].push(it.item);
        }
    }
    seqs
}

/// Splits `data` leave-one-out (see [`LeaveOneOut`]).
pub fn leave_one_out(data: &Dataset) -> Result<LeaveOneOut> {
    data.ensure_not_empty()?;
    if data.mixes_kinds() {
        let split = super::kinds::leave_purchases_out(data);
        if split.test.is_empty() {
            return Err(RecoError::EmptyData(
                "leave-one-out needs a user who bought an item after touching another".into(),
            ));
        }
        return Ok(split);
    }
    let seqs = user_sequences(data);
    let mut test = Vec::new();
    let mut valid = Vec::new();
    // held[u] = (test item, valid item), u32::MAX when none.
    let mut held = vec![(u32::MAX, u32::MAX); data.n_users()];
    for (u, seq) in seqs.iter().enumerate() {
        let n = seq.len();
        if n >= 2 {
            test.push((u as u32, seq[n - 1]));
            held[u].0 = seq[n - 1];
        }
        if n >= 3 {
            valid.push((u as u32, seq[n - 2]));
            held[u].1 = seq[n - 2];
        }
    }
    if test.is_empty() {
        return Err(RecoError::EmptyData("leave-one-out needs at least one user with two distinct items".into()));
    }
    let train: Vec<Interaction> =
        data.interactions.iter().filter(|it| held[it.user as usize].0 != it.item).copied().collect();
    let valid_train = train.iter().filter(|it| held[it.user as usize].1 != it.item).copied().collect();
    Ok(LeaveOneOut { train, valid_train, test, valid })
}

/// A split of events into train and test sets.
#[derive(Debug, Clone)]
pub struct Holdout {
    /// Training events.
    pub train: Vec<Interaction>,
    /// Test events.
    pub test: Vec<Interaction>,
}

/// Global temporal split: the latest `test_fraction` of events (by timestamp, ties by input position) are
/// the test set.
pub fn temporal_split(data: &Dataset, test_fraction: f64) -> Result<Holdout> {
    check_fraction(test_fraction)?;
    data.ensure_not_empty()?;
    let mut events = data.interactions.clone();
    events.sort_by_key(|it| it.timestamp);
    let n_test = ((events.len() as f64) * test_fraction).round() as usize;
    let test = events.split_off(events.len() - n_test);
    Ok(Holdout { train: events, test })
}

/// Random holdout of `test_fraction` of the events, seeded.
pub fn random_split(data: &Dataset, test_fraction: f64, seed: u64) -> Result<Holdout> {
    check_fraction(test_fraction)?;
    data.ensure_not_empty()?;
    let mut events = data.interactions.clone();
    events.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
    let n_test = ((events.len() as f64) * test_fraction).round() as usize;
    let test = events.split_off(events.len() - n_test);
    Ok(Holdout { train: events, test })
}

/// A cold-start split: a share of the items is removed from training entirely.
#[derive(Debug, Clone)]
pub struct ColdItems {
    /// Every event that does not involve a cold item.
    pub train: Vec<Interaction>,
    /// `(user, item)`: for each user with training data who touched a cold item, the first cold item.
    pub test: Vec<(u32, u32)>,
    /// The cold items.
    pub cold: Vec<u32>,
}

/// Holds out `fraction` of the items that have interactions (seeded), with all their events.
pub fn cold_item_split(data: &Dataset, fraction: f64, seed: u64) -> Result<ColdItems> {
    check_fraction(fraction)?;
    data.ensure_not_empty()?;
    let mut active: Vec<u32> = {
        let mut seen = vec![false; data.n_items()];
        data.interactions.iter().for_each(|it| seen[it.item as usize] = true);
        (0..data.n_items() as u32).filter(|&i| seen[i as usize]).collect()
    };
    active.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
    let n_cold = ((active.len() as f64) * fraction).round().max(1.0) as usize;
    let mut cold = active[..n_cold.min(active.len())].to_vec();
    cold.sort_unstable();
    let mut is_cold = vec![false; data.n_items()];
    cold.iter().for_each(|&i| is_cold[i as usize] = true);
    let train: Vec<Interaction> = data.interactions.iter().filter(|it| !is_cold[it.item as usize]).copied().collect();
    let mut has_train = vec![false; data.n_users()];
    train.iter().for_each(|it| has_train[it.user as usize] = true);
    let mut test = Vec::new();
    for (u, seq) in user_sequences(data).iter().enumerate() {
        if has_train[u] {
            if let Some(&i) = seq.iter().find(|&&i| is_cold[i as usize]) {
                test.push((u as u32, i));
            }
        }
    }
    if test.is_empty() {
        return Err(RecoError::EmptyData("no user with training data touched a held-out item".into()));
    }
    Ok(ColdItems { train, test, cold })
}

fn check_fraction(f: f64) -> Result<()> {
    if !(f > 0.0 && f < 1.0) {
        return Err(RecoError::param("test_fraction", format!("must be in (0, 1), got {f}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::EventKind;

    fn data(rows: &[(&str, &str, i64)]) -> Dataset {
        let mut d = Dataset::new("t");
        for &(u, i, t) in rows {
            d.push(u, i, t, EventKind::Purchase, 1.0).unwrap();
        }
        d
    }

    #[test]
    fn loo_holds_out_last_two_new_items() {
        // user a: x(1) y(2) x(3) z(4) w(4): w ties z at t=4 but comes later in the input.
        let d = data(&[("a", "x", 1), ("a", "y", 2), ("a", "x", 3), ("a", "w", 4), ("b", "x", 1)]);
        let mut d = d;
        d.interactions.insert(
            3,
            Interaction {
                user: 0,
                item: d.items.get_or_insert("z"),
                timestamp: 4,
                kind: EventKind::Purchase,
                weight: 1.0,
            },
        );
        d.item_meta.resize(d.items.len(), Default::default());
        let s = leave_one_out(&d).unwrap();
        let (x, y, z, w) = (0, 1, 3, 2);
        assert_eq!(d.items.id(w), "w");
        assert_eq!(s.test, vec![(0, w)]);
        assert_eq!(s.valid, vec![(0, z)]);
        let items = |v: &[Interaction]| v.iter().filter(|i| i.user == 0).map(|i| i.item).collect::<Vec<_>>();
        assert_eq!(items(&s.train), vec![x, y, x, z]);
        assert_eq!(items(&s.valid_train), vec![x, y, x]);
        // user b with one item stays in training, is not evaluated
        assert!(s.train.iter().any(|i| i.user == 1));
        assert!(s.test.iter().all(|&(u, _)| u == 0));
    }

    #[test]
    fn loo_rejects_data_with_no_evaluable_user() {
        let d = data(&[("a", "x", 1), ("b", "y", 1), ("a", "x", 2)]);
        assert!(matches!(leave_one_out(&d), Err(RecoError::EmptyData(_))));
        assert!(matches!(leave_one_out(&Dataset::new("e")), Err(RecoError::EmptyData(_))));
    }

    #[test]
    fn cold_items_leave_training_entirely() {
        let d = data(&[
            ("a", "x", 1),
            ("a", "y", 2),
            ("b", "y", 1),
            ("b", "z", 2),
            ("c", "z", 1),
            ("c", "x", 2),
            ("a", "z", 3),
        ]);
        let s = cold_item_split(&d, 0.34, 3).unwrap();
        assert_eq!(s.cold.len(), 1);
        let c = s.cold[0];
        assert!(s.train.iter().all(|it| it.item != c));
        assert!(s.test.iter().all(|&(_, i)| i == c));
        assert_eq!(s.test.len(), 2, "two users touched each item");
        assert!(cold_item_split(&d, 0.0, 1).is_err());
    }

    #[test]
    fn temporal_and_random_splits() {
        let d = data(&[("a", "x", 5), ("a", "y", 1), ("b", "x", 3), ("b", "z", 4)]);
        let t = temporal_split(&d, 0.5).unwrap();
        assert_eq!(t.test.iter().map(|i| i.timestamp).collect::<Vec<_>>(), vec![4, 5]);
        let r1 = random_split(&d, 0.25, 7).unwrap();
        let r2 = random_split(&d, 0.25, 7).unwrap();
        assert_eq!(r1.test, r2.test);
        assert_eq!((r1.train.len(), r1.test.len()), (3, 1));
        assert!(temporal_split(&d, 1.0).is_err() && random_split(&d, f64::NAN, 1).is_err());
    }
}
