//! Labelled utterances and their loaders: CSV with named columns (e.g. Bitext's
//! `flags,utterance,category,intent`) and CLINC150's `data_full.json`.

use crate::error::{ChatError, Result};
use std::path::Path;

/// The label of out-of-scope utterances (CLINC150's name for them).
pub const OOS: &str = "oos";

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// What the customer wrote.
    pub text: String,
    /// The intent (or [`OOS`]).
    pub label: String,
}

impl Example {
    /// An example from anything string-like.
    pub fn new(text: impl Into<String>, label: impl Into<String>) -> Self {
        Example { text: text.into(), label: label.into() }
    }
}

/// Reads a CSV file (`.gz` too) with a header, taking the text and the label from the named columns.
/// Rows with an empty text or label are errors (with their row number), as is text that is not UTF-8.
pub fn load_csv(path: &Path, text_col: &str, label_col: &str) -> Result<Vec<Example>> {
    let io = |source| ChatError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let file: Box<dyn std::io::Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(file);
    let parse = |line: usize, reason: String| ChatError::Parse { path: path.to_path_buf(), line, reason };
    let headers = r.headers().map_err(|e| parse(1, e.to_string()))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| ChatError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: headers.iter().collect::<Vec<_>>().join(", "),
        })
    };
    let (ti, li) = (col(text_col)?, col(label_col)?);
    let mut out = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let line = n + 2;
        let rec = rec.map_err(|e| parse(line, e.to_string()))?;
        let (text, label) = (rec.get(ti).unwrap_or(""), rec.get(li).unwrap_or("").trim());
        if text.trim().is_empty() || label.is_empty() {
            return Err(parse(line, format!("empty `{text_col}` or `{label_col}`")));
        }
        out.push(Example::new(text, label));
    }
    if out.is_empty() {
        return Err(ChatError::Data(format!("{}: no rows", path.display())));
    }
    Ok(out)
}

/// Splits labelled examples into `(train, validation)`: every `every`-th example of each label (in the
/// given order) validates, the rest trains — so every label is validated in proportion, and the split
/// is the same on every run. `every` below 2 keeps everything for training.
pub fn split_validation(all: Vec<Example>, every: usize) -> (Vec<Example>, Vec<Example>) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for e in all {
        let n = seen.entry(e.label.clone()).or_default();
        *n += 1;
        if every >= 2 && *n % every == 0 {
            val.push(e)
        } else {
            train.push(e)
        }
    }
    (train, val)
}

/// The shop assistant's training data as the repository ships it under `datasets/`: Bitext's
/// customer-support intents (`bitext-customer-support/train.csv.gz`), `search_product` / `recommend` /
/// `greeting` (`shop-intents/extra.csv`) and CLINC150's out-of-scope utterances as `oos`
/// (`clinc150-oos/oos.csv`). Returns `(train, validation)`: every 10th in-scope example (in file order,
/// across intents — the split the shipped model and the golden conversations were tuned with) and the
/// `oos_val` utterances validate (calibration and the out-of-scope threshold).
pub fn load_shop_intents(datasets: &Path) -> Result<(Vec<Example>, Vec<Example>)> {
    let bitext = load_csv(&datasets.join("bitext-customer-support/train.csv.gz"), "utterance", "intent")?;
    let extra = load_csv(&datasets.join("shop-intents/extra.csv"), "utterance", "intent")?;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, e) in bitext.into_iter().chain(extra).enumerate() {
        if i % 10 == 0 {
            val.push(e)
        } else {
            train.push(e)
        }
    }
    let oos_path = datasets.join("clinc150-oos/oos.csv");
    let oos = load_csv(&oos_path, "utterance", "split")?;
    for e in oos {
        let into = if e.label == "oos_val" { &mut val } else { &mut train };
        into.push(Example { text: e.text, label: OOS.into() });
    }
    Ok((train, val))
}

/// CLINC150 (`data_full.json`): each split with its out-of-scope part appended, labelled [`OOS`].
#[derive(Debug, Clone)]
pub struct Clinc150 {
    /// `train` + `oos_train`.
    pub train: Vec<Example>,
    /// `val` + `oos_val` (calibration and thresholds).
    pub val: Vec<Example>,
    /// `test` + `oos_test`.
    pub test: Vec<Example>,
}

/// Reads CLINC150's `data_full.json` (or any file with the same splits).
pub fn load_clinc150(path: &Path) -> Result<Clinc150> {
    let bytes = crate::file::read(path)?;
    let parse = |reason: String| ChatError::Parse { path: path.to_path_buf(), line: 0, reason };
    let mut doc: std::collections::HashMap<String, Vec<(String, String)>> =
        serde_json::from_slice(&bytes).map_err(|e| parse(format!("not CLINC150 JSON: {e}")))?;
    let mut split = |name: &str| -> Result<Vec<Example>> {
        let mut rows = doc.remove(name).ok_or_else(|| parse(format!("no split `{name}`")))?;
        rows.extend(doc.remove(&format!("oos_{name}")).unwrap_or_default().into_iter().map(|(t, _)| (t, OOS.into())));
        Ok(rows.into_iter().map(|(text, label)| Example { text, label }).collect())
    };
    Ok(Clinc150 { train: split("train")?, val: split("val")?, test: split("test")? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn csv_columns_rows_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "flags,utterance,intent\nB,where is my order,track_order\nB,\"cancel it, now\",cancel\n")
            .unwrap();
        let rows = load_csv(&p, "utterance", "intent").unwrap();
        assert_eq!(rows[1], Example::new("cancel it, now", "cancel"));
        let err = load_csv(&p, "text", "intent").unwrap_err().to_string();
        assert!(err.contains("no column `text`") && err.contains("utterance"), "{err}");
        std::fs::write(&p, "utterance,intent\nhello,\n").unwrap();
        assert!(load_csv(&p, "utterance", "intent").unwrap_err().to_string().contains(":2:"));
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"utterance,intent\nbad \xff bytes,x\n").unwrap();
        assert!(matches!(load_csv(&p, "utterance", "intent"), Err(ChatError::Parse { line: 2, .. })));
    }

    #[test]
    fn clinc_splits_get_their_oos_part() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        let doc = r#"{"train":[["hi","greet"]],"oos_train":[["weather on mars","oos"]],
            "val":[["hey","greet"]],"oos_val":[],"test":[["yo","greet"]],"oos_test":[["x","oos"]]}"#;
        std::fs::write(&p, doc).unwrap();
        let c = load_clinc150(&p).unwrap();
        assert_eq!(c.train.len(), 2);
        assert_eq!(c.train[1].label, OOS);
        std::fs::write(&p, "[1,2]").unwrap();
        assert!(load_clinc150(&p).is_err());
    }
}
