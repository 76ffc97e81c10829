//! Any CSV or Parquet table, with column mapping, through polars (feature `polars`).

use super::{parse_datetime, stem, Columns};
use crate::data::{Dataset, EventKind};
use crate::error::{RecoError, Result};
use polars::prelude::*;
use std::path::Path;

/// Loads a `.csv` (header required, comma separated) or `.parquet` file. User and item columns may be of
/// any type (read as text). The optional time column may be an integer (epoch seconds) or a date /
/// datetime (typed or text); rows without one get their row number as order key. Errors name the column
/// and the row (1-based data row; the CSV line is one more, for the header).
pub fn load_table(path: &Path, columns: &Columns) -> Result<Dataset> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let polars_err = |e: PolarsError| RecoError::parse(path, 0, e.to_string());
    let df = match ext.as_str() {
        "parquet" | "pq" => {
            let file = std::fs::File::open(path).map_err(|e| RecoError::io(path, e))?;
            ParquetReader::new(file).finish().map_err(polars_err)?
        }
        "csv" | "tsv" | "txt" => {
            let meta = std::fs::metadata(path).map_err(|e| RecoError::io(path, e))?;
            if meta.len() == 0 {
                return Err(RecoError::EmptyData(format!("{} is an empty file", path.display())));
            }
            let sep = if ext == "tsv" { b'\t' } else { b',' };
            CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(10_000))
                .map_parse_options(|o| o.with_separator(sep))
                .try_into_reader_with_file_path(Some(path.to_path_buf()))
                .map_err(polars_err)?
                .finish()
                .map_err(polars_err)?
        }
        other => {
            return Err(RecoError::UnsupportedFormat(format!(
                "{}: extension `{other}` (tables are .csv, .tsv or .parquet)",
                path.display()
            )))
        }
    };
    if df.height() == 0 {
        return Err(RecoError::EmptyData(format!("{} has no data rows", path.display())));
    }
    let get = |name: &str| -> Result<&Column> {
        df.column(name).map_err(|_| RecoError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: df.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
        })
    };
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        let c = get(name)?.cast(&DataType::String).map_err(polars_err)?;
        Ok(c.str().map_err(polars_err)?.iter().map(|v| v.map(str::to_string)).collect())
    };
    let users = text(&columns.user)?;
    let items = text(&columns.item)?;
    let weights: Option<Vec<Option<f64>>> = match &columns.weight {
        Some(w) => {
            let c = get(w)?.cast(&DataType::Float64).map_err(polars_err)?;
            Some(c.f64().map_err(polars_err)?.iter().collect())
        }
        None => None,
    };
    let times: Option<Vec<Option<i64>>> = match &columns.time {
        Some(t) => {
            let col = get(t)?;
            if col.dtype().is_integer() {
                let c = col.cast(&DataType::Int64).map_err(polars_err)?;
                Some(c.i64().map_err(polars_err)?.iter().collect())
            } else {
                let raw = text(t)?;
                let mut out = Vec::with_capacity(raw.len());
                for (row, v) in raw.iter().enumerate() {
                    out.push(match v {
                        None => None,
                        Some(s) => Some(parse_datetime(s).ok_or_else(|| {
                            RecoError::parse(
                                path,
                                row + 1,
                                format!("column `{t}`: `{s}` is not a date or epoch seconds"),
                            )
                        })?),
                    });
                }
                Some(out)
            }
        }
        None => None,
    };
    let kinds = match &columns.kind {
        Some(k) => Some(text(k)?),
        None => None,
    };
    let mut data = Dataset::new(stem(path));
    for row in 0..df.height() {
        let bad = |reason: String| RecoError::parse(path, row + 1, reason);
        let user = users[row].as_deref().ok_or_else(|| bad(format!("column `{}` is empty", columns.user)))?;
        let item = items[row].as_deref().ok_or_else(|| bad(format!("column `{}` is empty", columns.item)))?;
        let weight = match &weights {
            Some(w) => w[row].ok_or_else(|| bad("weight is empty".into()))? as f32,
            None => 1.0,
        };
        let ts = match &times {
            Some(t) => t[row].ok_or_else(|| bad("time is empty".into()))?,
            None => row as i64,
        };
        let kind = match &kinds {
            Some(k) => match k[row].as_deref() {
                Some(s) => EventKind::parse(s).ok_or_else(|| {
                    bad(format!("event kind `{s}` is not view, search-click, add-to-cart or purchase"))
                })?,
                None => EventKind::Purchase,
            },
            None => EventKind::Purchase,
        };
        data.push(user.trim(), item.trim(), ts, kind, weight).map_err(|e| bad(e.to_string()))?;
    }
    Ok(data)
}
