//! The whole leave-one-out experiment in one call: split, fit, evaluate, time.

use super::{evaluate, EvalReport, Protocol};
use crate::data::split::{cold_item_split, leave_one_out, sequences_of, user_sequences};
use crate::data::{interaction_matrix, weigh, Dataset, InteractionMatrix, KindWeights};
use crate::error::{RecoError, Result};
use crate::model::{AnyParams, FitInput, Progress};
use std::time::Instant;

/// Which held-out item a leave-one-out run scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Fit on everything but each user's last item; score the last item (the reported numbers).
    Test,
    /// Fit on everything but each user's last two items; score the second-to-last (for tuning).
    Valid,
}

impl std::str::FromStr for Target {
    type Err = RecoError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "test" => Ok(Target::Test),
            "valid" | "validation" => Ok(Target::Valid),
            o => Err(RecoError::param("split", format!("`{o}` is not one of test, valid"))),
        }
    }
}

/// A leave-one-out run's report plus its timings.
#[derive(Debug, Clone)]
pub struct LooRun {
    /// What was measured.
    pub report: EvalReport,
    /// Wall-clock seconds of `fit`.
    pub fit_seconds: f64,
    /// Wall-clock seconds of the evaluation.
    pub eval_seconds: f64,
    /// What each user had held out: `last item`, `last purchase` (the data mixes kinds) or `cold items`.
    pub held_out: &'static str,
}

/// Splits `data` leave-one-out, fits `params` on the training events weighted by `kind_weights`
/// ([`KindWeights::EQUAL`]: as given) and evaluates it with `protocol` at cut-off `k`.
#[allow(clippy::too_many_arguments)]
pub fn run_loo(
    data: &Dataset,
    kind_weights: &KindWeights,
    params: &AnyParams,
    protocol: Protocol,
    k: usize,
    seed: u64,
    target: Target,
    progress: Progress<'_>,
) -> Result<LooRun> {
    crate::model::check_k(k)?;
    // Split the events as given, then weigh them: the held-out items are the same whatever the weights.
    let split = leave_one_out(data)?.weighted(kind_weights)?;
    let held_out = if data.mixes_kinds() { "last purchase" } else { "last item" };
    let weighted = data.weighted_view(kind_weights)?;
    let data = &*weighted;
    let (train, held) = match target {
        Target::Test => (&split.train, &split.test),
        Target::Valid => (&split.valid_train, &split.valid),
    };
    if held.is_empty() {
        return Err(RecoError::EmptyData("no user has enough distinct items for this split".into()));
    }
    let (nu, ni) = (data.n_users(), data.n_items());
    // Sequential models read the same events in order: each matrix comes with its own sequences.
    let train_seqs = sequences_of(train, nu, ni);
    let train = interaction_matrix(train, nu, ni);
    let full = data.matrix();
    // Tuning (the hybrid's weight) sees the validation split only when the test split is scored.
    let valid_train = interaction_matrix(&split.valid_train, nu, ni);
    let validation = (target == Target::Test).then_some((&valid_train, split.valid.as_slice()));
    let valid_seqs = validation.is_some().then(|| sequences_of(&split.valid_train, nu, ni));
    let full_seqs;
    let (fit_on, fit_seqs) = if params.fits_on_held_out() {
        full_seqs = user_sequences(data);
        (&full, &full_seqs)
    } else {
        (&train, &train_seqs)
    };
    let input = FitInput {
        train: fit_on,
        items: &data.item_meta,
        validation,
        sequences: Some(fit_seqs),
        validation_sequences: valid_seqs.as_deref(),
    };
    let run = fit_and_evaluate(params, &input, &train, &full, held, protocol, k, seed, progress)?;
    Ok(LooRun { held_out, ..run })
}

/// Fits on `input`, then evaluates on `held` with `train`'s items excluded; both timed.
#[allow(clippy::too_many_arguments)]
fn fit_and_evaluate(
    params: &AnyParams,
    input: &FitInput<'_>,
    train: &InteractionMatrix,
    full: &InteractionMatrix,
    held: &[(u32, u32)],
    protocol: Protocol,
    k: usize,
    seed: u64,
    progress: Progress<'_>,
) -> Result<LooRun> {
    let start = Instant::now();
    let model = params.fit(input, progress)?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let report = evaluate(&model, train, full, held, protocol, k, seed)?;
    Ok(LooRun { report, fit_seconds, eval_seconds: start.elapsed().as_secs_f64(), held_out: "last item" })
}

/// Cold start: hold out `fraction` of the items entirely (seeded), fit on the rest, and rank each affected
/// user's first held-out item against all items (their training items excluded). Models that tune
/// themselves (the hybrid) tune on a second cold split drawn from the training data. Training events are
/// weighted by `kind_weights` after the split.
pub fn run_cold_start(
    data: &Dataset,
    kind_weights: &KindWeights,
    params: &AnyParams,
    fraction: f64,
    k: usize,
    seed: u64,
    progress: Progress<'_>,
) -> Result<LooRun> {
    crate::model::check_k(k)?;
    let mut split = cold_item_split(data, fraction, seed)?;
    split.train = weigh(split.train, kind_weights)?;
    let weighted = data.weighted_view(kind_weights)?;
    let data = &*weighted;
    let (nu, ni) = (data.n_users(), data.n_items());
    let train = interaction_matrix(&split.train, nu, ni);
    let train_seqs = sequences_of(&split.train, nu, ni);
    let inner = Dataset { interactions: split.train.clone(), ..data.clone() };
    let inner_split = cold_item_split(&inner, fraction, seed ^ 0x5EED).ok();
    let inner_train =
        inner_split.as_ref().map(|s| (interaction_matrix(&s.train, nu, ni), sequences_of(&s.train, nu, ni)));
    let (validation, validation_sequences) = match (&inner_split, &inner_train) {
        (Some(s), Some((t, q))) => (Some((t, s.test.as_slice())), Some(q.as_slice())),
        _ => (None, None),
    };
    let input = FitInput {
        train: &train,
        items: &data.item_meta,
        validation,
        sequences: Some(&train_seqs),
        validation_sequences,
    };
    let mut run =
        fit_and_evaluate(params, &input, &train, &data.matrix(), &split.test, Protocol::LooFull, k, seed, progress)?;
    run.report.protocol = "cold-items";
    run.held_out = "cold items";
    Ok(run)
}
