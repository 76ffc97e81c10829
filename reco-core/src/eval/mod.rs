//! Evaluation: ranking metrics, the leave-one-out protocols and the one-call experiment.

mod metrics;
mod pipeline;
mod protocol;
mod tune;

pub use metrics::{rank_of, top_k, Metrics};
pub use pipeline::{run_cold_start, run_loo, LooRun, Target};
pub use protocol::{evaluate, EvalReport, Protocol};
pub use tune::{tune_hybrid_weight, tune_weight};
