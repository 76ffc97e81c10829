//! Loaders: S3-Rec sequence files, MovieLens, Online Retail and (feature `polars`) any CSV/Parquet table.
//!
//! Every loader validates rows and reports the file and line of the first bad one; an input with no usable
//! interaction is [`RecoError::EmptyData`](crate::RecoError::EmptyData).

mod movielens;
mod online_retail;
mod s3rec;
#[cfg(feature = "polars")]
mod table;

pub use movielens::load_movielens;
pub use online_retail::{load_online_retail, load_online_retail_from_reader, OnlineRetailStats};
pub use s3rec::load_s3rec;
#[cfg(feature = "polars")]
pub use table::load_table;

use crate::data::Dataset;
use crate::error::{RecoError, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The input formats `shopml reco eval --format` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// S3-Rec sequences: `user item item ...` per line, `<stem>_item2attributes.json` beside.
    S3Rec,
    /// MovieLens 100K `u.data` (tab separated), `u.item` beside.
    MovieLens,
    /// UCI Online Retail CSV (optionally gzip-compressed).
    OnlineRetail,
    /// Any CSV or Parquet table with mapped columns (needs the `polars` feature).
    Table,
}

impl std::str::FromStr for Format {
    type Err = RecoError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "s3rec" => Ok(Format::S3Rec),
            "movielens" => Ok(Format::MovieLens),
            "online-retail" => Ok(Format::OnlineRetail),
            "csv" | "parquet" | "table" => Ok(Format::Table),
            other => Err(RecoError::UnsupportedFormat(format!(
                "`{other}` (known: s3rec, movielens, online-retail, csv, parquet)"
            ))),
        }
    }
}

/// Column names for [`Format::Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// User id column (any type; read as text).
    pub user: String,
    /// Item id column (any type; read as text).
    pub item: String,
    /// Optional time column: integer (epoch seconds), or date/datetime text.
    pub time: Option<String>,
    /// Optional weight column (numeric, finite, > 0).
    pub weight: Option<String>,
    /// Optional event-kind column (`view`, `search-click`, `add-to-cart`, `purchase`).
    pub kind: Option<String>,
}

impl Default for Columns {
    fn default() -> Self {
        Columns { user: "user".into(), item: "item".into(), time: None, weight: None, kind: None }
    }
}

/// Loads `path` in `format`. Side files are found beside `path`.
pub fn load(path: &Path, format: Format, columns: &Columns) -> Result<Dataset> {
    match format {
        Format::S3Rec => load_s3rec(path),
        Format::MovieLens => load_movielens(path),
        Format::OnlineRetail => load_online_retail(path).map(|(d, _)| d),
        #[cfg(feature = "polars")]
        Format::Table => load_table(path, columns),
        #[cfg(not(feature = "polars"))]
        Format::Table => {
            let _ = columns;
            Err(RecoError::UnsupportedFormat(
                "csv/parquet tables need reco-core's `polars` feature (the shopml CLI has it)".into(),
            ))
        }
    }
}

/// Opens a text file, transparently decompressing `.gz`.
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| RecoError::io(path, e))?;
    let inner: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, inner)))
}

/// Iterates the lines of a text file as UTF-8, with 1-based line numbers; invalid UTF-8 is a parse error.
pub(crate) fn for_each_line(path: &Path, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let mut reader = open_text(path)?;
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| RecoError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let line = std::str::from_utf8(&buf)
            .map_err(|e| RecoError::parse(path, line_no, format!("not valid UTF-8 (byte {})", e.valid_up_to())))?;
        f(line_no, line.trim_end_matches(['\n', '\r']))?;
    }
}

/// `dir/name` next to `path`.
pub(crate) fn sibling(path: &Path, name: &str) -> PathBuf {
    path.parent().unwrap_or(Path::new(".")).join(name)
}

/// File stem for dataset names.
pub(crate) fn stem(path: &Path) -> String {
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    name.split('.').next().unwrap_or_default().to_string()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD[ HH:MM[:SS]]` (also `T` separated) or `M/D/YYYY[ H:MM]` into epoch seconds.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let (y, m, d) = if date.contains('-') {
        let mut p = date.split('-');
        (p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next()?.parse().ok()?)
    } else {
        let mut p = date.split('/');
        let (m, d) = (p.next()?.parse().ok()?, p.next()?.parse().ok()?);
        (p.next()?.parse().ok()?, m, d)
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = 0i64;
    if let Some(t) = time {
        let t = t.trim_end_matches('Z');
        let mut p = t.split(':');
        let h: i64 = p.next()?.parse().ok()?;
        let mi: i64 = p.next().unwrap_or("0").parse().ok()?;
        let sec: f64 = p.next().unwrap_or("0").parse().ok()?;
        if !(0..24).contains(&h) || !(0..60).contains(&mi) {
            return None;
        }
        secs = h * 3600 + mi * 60 + sec as i64;
    }
    Some(days_from_civil(y, m, d) * 86_400 + secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
        assert_eq!(parse_datetime("2010-12-01 08:26:00"), Some(1_291_191_960));
        assert_eq!(parse_datetime("12/1/2010 8:26"), Some(1_291_191_960));
        assert_eq!(parse_datetime("2000-03-01T00:00:01Z"), Some(951_868_801));
        assert_eq!(parse_datetime("2010-13-01"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn format_names() {
        assert_eq!("s3rec".parse::<Format>().unwrap(), Format::S3Rec);
        assert_eq!("csv".parse::<Format>().unwrap(), Format::Table);
        assert!(matches!("xlsx".parse::<Format>(), Err(RecoError::UnsupportedFormat(_))));
    }
}
