//! `shopml chat …`: train, evaluate and use intent classifiers.

use anyhow::{bail, Context, Result};
use chatbot_core::data::{load_clinc150, load_csv, split_validation, Example};
use chatbot_core::dialogue::{Assistant, BotConfig};
use chatbot_core::eval::{evaluate, Report};
use chatbot_core::features::FeatureParams;
use chatbot_core::intent::{Classifier, EncoderIntent, EncoderIntentParams, FastIntent, FastIntentParams, IntentModel};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;
use storefront::Store;

#[derive(Subcommand)]
pub enum ChatCommand {
    /// Train the intent model and score it on a test set (JSON with --json).
    Eval(EvalArgs),
    /// Train the intent model (calibrated on the validation split) and save it.
    Train(TrainArgs),
    /// Classify messages with a saved model (one JSON line each).
    Classify(ClassifyArgs),
    /// Talk to the assistant over the demo store (the shipped Online Retail data), one message per line.
    Repl(ReplArgs),
    /// Print the default assistant configuration (intents → behaviour, reply templates) as JSON, to
    /// edit and pass back with `repl --config`.
    Config,
}

#[derive(Args)]
pub struct ReplArgs {
    /// An intent model from `shopml chat train` (default: train one on the shipped data, ~30 s).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The signed-in customer (an Online Retail CustomerID; none: a guest).
    #[arg(long)]
    customer: Option<String>,
    /// Assistant configuration (JSON, as `shopml chat config` prints).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print each reply as one JSON object (text, intent, confidence, entities, action).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// CSV files with a header (`--train`, `--test`; `--text-col`, `--label-col`).
    Csv,
    /// CLINC150's data_full.json (`--train`): train+oos_train trains, val+oos_val calibrates,
    /// test+oos_test tests.
    Clinc150,
}

#[derive(Args)]
pub struct DataArgs {
    /// Input format.
    #[arg(long, value_enum)]
    format: Format,
    /// Training file (CLINC150: the whole data_full.json).
    #[arg(long)]
    train: PathBuf,
    /// Test file (CSV only).
    #[arg(long)]
    test: Option<PathBuf>,
    /// Validation file for calibration (CSV only; default: every 10th example of each intent of --train).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Text column (CSV).
    #[arg(long, default_value = "utterance")]
    text_col: String,
    /// Label column (CSV).
    #[arg(long, default_value = "intent")]
    label_col: String,
}

#[derive(Args)]
pub struct ModelArgs {
    /// Embedding width.
    #[arg(long, default_value_t = FastIntentParams::default().dim)]
    dim: usize,
    /// Training epochs.
    #[arg(long, default_value_t = FastIntentParams::default().epochs)]
    epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = FastIntentParams::default().learning_rate)]
    lr: f32,
    /// Seed.
    #[arg(long, default_value_t = FastIntentParams::default().seed)]
    seed: u64,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = FastIntentParams::default().batch)]
    batch: usize,
    /// Weight decay of the output layer.
    #[arg(long, default_value_t = FastIntentParams::default().weight_decay)]
    weight_decay: f32,
    /// Share of features dropped per training step.
    #[arg(long, default_value_t = FastIntentParams::default().feature_dropout)]
    dropout: f32,
    /// Label smoothing ε.
    #[arg(long, default_value_t = FastIntentParams::default().label_smoothing)]
    smoothing: f32,
    /// Ensemble members.
    #[arg(long, default_value_t = FastIntentParams::default().ensemble)]
    ensemble: usize,
    /// Keep the epoch with the best validation accuracy (early stopping).
    #[arg(long)]
    early_stop: bool,
    /// Longest character n-gram (0: none).
    #[arg(long, default_value_t = FeatureParams::default().char_max)]
    char_max: usize,
    /// WordPiece vocabulary size (0: no sub-word features).
    #[arg(long, default_value_t = FeatureParams::default().wordpiece_vocab)]
    wordpiece: usize,
    /// Out-of-scope recall the threshold is tuned to reach on the validation split.
    #[arg(long, default_value_t = chatbot_core::intent::DEFAULT_OOS_RECALL)]
    oos_recall: f64,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the out-of-scope trade-off curve (threshold, in-scope accuracy, oos recall) as CSV here.
    #[arg(long)]
    curve: Option<PathBuf>,
    #[command(flatten)]
    kind: KindArgs,
}

/// Which intent model.
#[derive(Args)]
pub struct KindArgs {
    /// `fast` (default: the fast model), `encoder` (a softmax head over the pretrained sentence
    /// encoder's embeddings, its top layers fine-tuned with `--tune-layers`) or `ensemble`
    /// (both, their probabilities averaged with a weight fitted on validation).
    #[arg(long, default_value = "fast", value_parser = ["fast", "encoder", "ensemble"])]
    intent_model: String,
    /// The encoder's model directory (default: $SHOPML_ENCODER_DIR, else scripts/fetch-minilm's).
    #[arg(long)]
    encoder: Option<PathBuf>,
    #[command(flatten)]
    tune: TuneArgs,
}

/// Fine-tuning of the encoder intent model.
#[derive(Args)]
pub struct TuneArgs {
    /// Top encoder layers fine-tuned with the head (0: frozen encoder).
    #[arg(long, default_value_t = EncoderIntentParams::default().tune_layers)]
    tune_layers: usize,
    /// Fine-tuning epochs.
    #[arg(long, default_value_t = EncoderIntentParams::default().epochs)]
    tune_epochs: usize,
    /// Peak learning rate of the fine-tuned layers.
    #[arg(long, default_value_t = EncoderIntentParams::default().tune_learning_rate)]
    tune_lr: f64,
    /// Messages per fine-tuning step.
    #[arg(long, default_value_t = EncoderIntentParams::default().batch)]
    tune_batch: usize,
    /// Embedding-space out-of-scope gate: a message less similar to its nearest in-scope training
    /// message than this share of in-scope validation messages are is out of scope (1: no gate; needs
    /// an `oos` label).
    #[arg(long, default_value_t = 1.0)]
    gate_keep: f64,
}

impl TuneArgs {
    fn params(&self) -> EncoderIntentParams {
        EncoderIntentParams {
            tune_layers: self.tune_layers,
            epochs: self.tune_epochs,
            tune_learning_rate: self.tune_lr,
            batch: self.tune_batch,
            ..Default::default()
        }
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Where to write the model file.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    kind: KindArgs,
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// A model file written by `shopml chat train` (fast, encoder or ensemble).
    #[arg(long)]
    model: PathBuf,
    /// The encoder's model directory, for an encoder model file (default: $SHOPML_ENCODER_DIR, else
    /// scripts/fetch-minilm's).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// The message(s) to classify.
    #[arg(required = true)]
    text: Vec<String>,
}

pub fn run(cmd: ChatCommand) -> Result<()> {
    match cmd {
        ChatCommand::Eval(a) => eval(a),
        ChatCommand::Train(a) => train(a),
        ChatCommand::Classify(a) => classify(a),
        ChatCommand::Repl(a) => repl(a),
        ChatCommand::Config => {
            println!("{}", serde_json::to_string_pretty(&BotConfig::default())?);
            Ok(())
        }
    }
}

/// `(train, validation, test)` per the data arguments; the test split only when `need_test`.
fn load(a: &DataArgs, need_test: bool) -> Result<(Vec<Example>, Vec<Example>, Vec<Example>)> {
    match a.format {
        Format::Clinc150 => {
            if a.test.is_some() || a.val.is_some() {
                bail!("--format clinc150 takes its splits from --train (data_full.json); drop --test/--val");
            }
            let c = load_clinc150(&a.train)?;
            Ok((c.train, c.val, c.test))
        }
        Format::Csv => {
            let test = match (&a.test, need_test) {
                (Some(t), _) => load_csv(t, &a.text_col, &a.label_col)?,
                (None, true) => bail!("--format csv needs --test FILE"),
                (None, false) => Vec::new(),
            };
            let train = load_csv(&a.train, &a.text_col, &a.label_col)?;
            let (train, val) = match &a.val {
                Some(v) => (train, load_csv(v, &a.text_col, &a.label_col)?),
                None => split_validation(train, 10),
            };
            Ok((train, val, test))
        }
    }
}

/// Trains and calibrates per the model arguments.
fn fit(m: &ModelArgs, train: &[Example], val: &[Example]) -> Result<Classifier<FastIntent>> {
    let params = FastIntentParams {
        dim: m.dim,
        epochs: m.epochs,
        learning_rate: m.lr,
        seed: m.seed,
        batch: m.batch,
        weight_decay: m.weight_decay,
        feature_dropout: m.dropout,
        label_smoothing: m.smoothing,
        ensemble: m.ensemble,
        features: FeatureParams {
            char_max: m.char_max,
            char_min: if m.char_max == 0 { 0 } else { FeatureParams::default().char_min.min(m.char_max) },
            wordpiece_vocab: m.wordpiece,
            ..FeatureParams::default()
        },
    };
    let model = if m.early_stop { params.fit_validated(train, val)? } else { params.fit(train)? };
    let mut clf = Classifier::new(model);
    clf.calibrate(val, m.oos_recall)?;
    Ok(clf)
}

fn train(a: TrainArgs) -> Result<()> {
    let (train, val, _) = load(&a.data, false)?;
    let t = Instant::now();
    let (labels, threshold) = match a.kind.intent_model.as_str() {
        "fast" => {
            let clf = fit(&a.model, &train, &val)?;
            clf.save(&a.out)?;
            (clf.model().labels().len(), clf.threshold())
        }
        "encoder" => {
            let clf = fit_encoder(&a.kind, &a.model, &train, &val)?;
            clf.save(&a.out)?;
            (clf.model().labels().len(), clf.threshold())
        }
        "ensemble" => {
            let clf = fit_ensemble(&a.kind, &a.model, &train, &val)?;
            clf.save(&a.out)?;
            (clf.model().labels().len(), clf.threshold())
        }
        other => bail!("chat train writes fast, encoder or ensemble models, not `{other}`"),
    };
    eprintln!(
        "trained on {} messages ({labels} intents) in {:.1} s; threshold {threshold:.3}; saved {}",
        train.len(),
        t.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

fn load_encoder(dir: Option<&std::path::Path>) -> Result<std::sync::Arc<shopml_encoder::Encoder>> {
    Ok(std::sync::Arc::new(shopml_encoder::Encoder::load(&shopml_encoder::model_dir(dir))?))
}

/// The encoder model per the arguments: head, fine-tuning, gate; `val` embedded for what follows.
fn encoder_model(k: &KindArgs, train: &[Example], val: &[Example]) -> Result<EncoderIntent> {
    let t = Instant::now();
    let mut model = k.tune.params().fit_observed(load_encoder(k.encoder.as_deref())?, train, &mut |epoch, loss| {
        eprintln!("fine-tuning epoch {epoch}: loss {loss:.4} ({:.0} s)", t.elapsed().as_secs_f64())
    })?;
    model.fit_gate(train, val, k.tune.gate_keep)?;
    model.warm(&val.iter().map(|e| e.text.as_str()).collect::<Vec<_>>())?;
    Ok(model)
}

/// [`encoder_model`], calibrated on `val`.
fn fit_encoder(k: &KindArgs, m: &ModelArgs, train: &[Example], val: &[Example]) -> Result<Classifier<EncoderIntent>> {
    let mut clf = Classifier::new(encoder_model(k, train, val)?);
    clf.calibrate(val, m.oos_recall)?;
    Ok(clf)
}

/// The fast model and [`encoder_model`] joined ([`Ensemble::fit`](chatbot_core::intent::Ensemble::fit):
/// member temperatures and weight on `val`), calibrated on `val`.
fn fit_ensemble(
    k: &KindArgs,
    m: &ModelArgs,
    train: &[Example],
    val: &[Example],
) -> Result<Classifier<chatbot_core::intent::FastEncoderEnsemble>> {
    let encoder = encoder_model(k, train, val)?;
    let ens = chatbot_core::intent::Ensemble::fit(fit(m, train, val)?.into_model(), encoder, val)?;
    eprintln!("ensemble: weight of the fast model {:.2}, temperatures {:?}", ens.weight, ens.temperatures);
    let mut clf = Classifier::new(ens);
    clf.calibrate(val, m.oos_recall)?;
    Ok(clf)
}

/// The intent model trained on the shipped data with default parameters.
fn shipped_model() -> Result<Classifier<FastIntent>> {
    Ok(chatbot_core::intent::train_shop_assistant(&crate::reco::shipped_datasets()?)?)
}

fn demo_store() -> Result<Store> {
    let store = storefront::shipped::demo_store(&crate::reco::shipped_datasets()?)?;
    Ok(Store::from_one(store))
}

/// The README demo's chat part: a short conversation with customer `customer` over the demo store.
pub fn demo_chat(customer: &str) -> Result<()> {
    let t = Instant::now();
    let clf = shipped_model()?;
    let store = demo_store()?;
    println!(
        "\nchat: intent model trained on the shipped data in {:.1} s ({} intents)",
        t.elapsed().as_secs_f64(),
        clf.model().labels().len()
    );
    let newest = store.orders.orders(customer).ok().and_then(|o| o.first().map(|o| o.id.clone()));
    let bot = Assistant::new(clf, store, BotConfig::default())?;
    let mut script = vec!["hi!".to_string(), "where is my order?".to_string()];
    script.extend(newest);
    script.push("do you have a hart shaped t-light holder under 5 pounds?".into());
    for text in &script {
        let r = bot.reply("demo", Some(customer), text)?;
        println!("customer {customer}: {text}\nassistant: {}", r.text);
    }
    Ok(())
}

fn repl(a: ReplArgs) -> Result<()> {
    use std::io::BufRead;
    let clf = match &a.model {
        Some(p) => Classifier::<FastIntent>::load(p)?,
        None => {
            eprintln!("training the intent model on the shipped data (pass --model FILE to skip) …");
            shipped_model()?
        }
    };
    let config = match &a.config {
        Some(p) => BotConfig::load(p)?,
        None => BotConfig::default(),
    };
    let bot = Assistant::new(clf, demo_store()?, config)?;
    let who = a.customer.as_deref().unwrap_or("guest");
    eprintln!("talking as customer {who}; an empty line or Ctrl-D ends");
    let stdin = std::io::stdin();
    for line in stdin.lock().split(b'\n') {
        let line = line?;
        // invalid UTF-8 from a pipe is shown, not fatal
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            break;
        }
        let r = bot.reply("repl", a.customer.as_deref(), &text)?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!("{}", r.text);
            eprintln!("  [{} {:.2} {:?}]", r.intent.as_deref().unwrap_or("-"), r.confidence, r.action);
        }
    }
    Ok(())
}

/// One loaded classifier of either kind.
type ClassifyFn = dyn Fn(&str) -> chatbot_core::Result<chatbot_core::intent::Intent>;

fn classify(a: ClassifyArgs) -> Result<()> {
    let bytes = std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let clf: Box<ClassifyFn> = if bytes.starts_with(chatbot_core::intent::ENCODER_MAGIC) {
        let c = Classifier::<EncoderIntent>::from_bytes(&bytes, &a.model, load_encoder(a.encoder.as_deref())?)?;
        Box::new(move |t| c.classify(t))
    } else if bytes.starts_with(chatbot_core::intent::ENSEMBLE_MAGIC) {
        let encoder = load_encoder(a.encoder.as_deref())?;
        let c = Classifier::<chatbot_core::intent::FastEncoderEnsemble>::from_bytes(&bytes, &a.model, encoder)?;
        Box::new(move |t| c.classify(t))
    } else {
        let c = Classifier::<FastIntent>::from_bytes(&bytes, &a.model)?;
        Box::new(move |t| c.classify(t))
    };
    for text in &a.text {
        let i = clf(text)?;
        let v =
            serde_json::json!({"text": text, "intent": i.label, "confidence": i.confidence, "in_scope": i.in_scope});
        println!("{v}");
    }
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    let (train, val, test) = load(&a.data, true)?;
    if a.kind.intent_model != "fast" {
        return eval_encoder(&a, &train, &val, &test);
    }
    let t = Instant::now();
    let clf = fit(&a.model, &train, &val)?;
    let train_seconds = t.elapsed().as_secs_f64();
    let report = evaluate(&clf, &test)?;
    finish(&a, &report, train_seconds, clf.model().features())
}

/// `chat eval --intent-model encoder|ensemble`: embeds the training and validation messages in batches, fits the
/// head, calibrates; the test messages are then classified one by one (timed, each encoded then).
fn eval_encoder(a: &EvalArgs, train: &[Example], val: &[Example], test: &[Example]) -> Result<()> {
    let t = Instant::now();
    if a.kind.intent_model == "ensemble" {
        let clf = fit_ensemble(&a.kind, &a.model, train, val)?;
        let train_seconds = t.elapsed().as_secs_f64();
        return finish(a, &evaluate(&clf, test)?, train_seconds, clf.model().b.encoder().dim());
    }
    let clf = fit_encoder(&a.kind, &a.model, train, val)?;
    let train_seconds = t.elapsed().as_secs_f64();
    finish(a, &evaluate(&clf, test)?, train_seconds, clf.model().encoder().dim())
}

fn finish(a: &EvalArgs, report: &Report, train_seconds: f64, features: usize) -> Result<()> {
    if let Some(path) = &a.curve {
        let mut out = String::from("threshold,in_scope_accuracy,oos_recall,oos_precision\n");
        for p in &report.curve {
            out += &format!("{},{},{},{}\n", p.threshold, p.in_scope_accuracy, p.oos_recall, p.oos_precision);
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
    }
    print(report, train_seconds, features, a.json)
}

fn print(r: &Report, train_seconds: f64, features: usize, json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(r)?;
        let o = v.as_object_mut().expect("object");
        o.remove("curve");
        o.insert("train_seconds".into(), train_seconds.into());
        o.insert("features".into(), features.into());
        println!("{v}");
        return Ok(());
    }
    println!("test messages      {}", r.n);
    println!("accuracy           {:.4}", r.accuracy);
    println!("in-scope accuracy  {:.4}", r.in_scope_accuracy);
    if let (Some(rec), Some(prec)) = (r.oos_recall, r.oos_precision) {
        println!("oos recall         {rec:.4}   precision {prec:.4}   (threshold {:.3})", r.threshold);
    }
    println!("macro-F1           {:.4}", r.macro_f1);
    println!("train              {train_seconds:.1} s ({features} features, temperature {:.3})", r.temperature);
    println!("latency            p50 {:.1} µs, p99 {:.1} µs", r.latency_us.p50, r.latency_us.p99);
    println!("errors             {}", r.errors.len());
    for m in r.errors.iter().take(20) {
        println!("  {:?}: {} → {} ({:.2})", m.text, m.gold, m.predicted, m.confidence);
    }
    Ok(())
}
