//! UCI Online Retail: every line item of a UK online shop (2010-12 to 2011-12).

use super::{open_text, parse_datetime, stem};
use crate::data::{Dataset, EventKind};
use crate::error::{RecoError, Result};
use std::io::Read;
use std::path::Path;

/// What the Online Retail loader kept and dropped, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OnlineRetailStats {
    /// Data rows read.
    pub rows: usize,
    /// Purchases kept as interactions.
    pub kept: usize,
    /// Cancellation lines (`InvoiceNo` starting with `C`).
    pub cancellations: usize,
    /// Other lines with quantity ≤ 0 (stock adjustments).
    pub non_positive_quantity: usize,
    /// Postage, fees and manual adjustments (stock codes that do not start with a digit).
    pub non_product: usize,
    /// Purchases by guests (no `CustomerID`): their products enter the catalogue, not the CF data.
    pub guest_rows: usize,
}

const COLUMNS: [&str; 7] =
    ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"];

/// Loads the Online Retail CSV (plain or `.gz`).
///
/// Kept: purchases with quantity > 0 by known customers; the weight is the quantity, the item text its
/// description, the price the last positive unit price seen, the category the description's last word
/// (a heuristic: "WHITE METAL LANTERN" → "LANTERN"; the data has no categories).
/// Dropped, and counted in [`OnlineRetailStats`]: cancellations, adjustments, non-product lines; guest
/// purchases add their products to the catalogue only.
pub fn load_online_retail(path: &Path) -> Result<(Dataset, OnlineRetailStats)> {
    let reader = open_text(path)?;
    load_online_retail_from_reader(reader, path, &stem(path))
}

/// [`load_online_retail`] from any reader; `path` is only used in error messages.
pub fn load_online_retail_from_reader(
    reader: impl Read,
    path: &Path,
    name: &str,
) -> Result<(Dataset, OnlineRetailStats)> {
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let mut idx = [0usize; 7];
    for (k, col) in COLUMNS.iter().enumerate() {
        idx[k] = headers.iter().position(|h| h.trim() == *col).ok_or_else(|| RecoError::MissingColumn {
            path: path.to_path_buf(),
            column: col.to_string(),
            available: headers.iter().collect::<Vec<_>>().join(", "),
        })?;
    }
    let [inv, code, desc, qty, date, price, cust] = idx;
    let mut data = Dataset::new(name);
    let mut stats = OnlineRetailStats::default();
    let mut record = csv::StringRecord::new();
    while rdr.read_record(&mut record).map_err(|e| csv_error(path, e))? {
        stats.rows += 1;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let bad = |reason: String| RecoError::parse(path, line, reason);
        if record[inv].trim_start().starts_with('C') {
            stats.cancellations += 1;
            continue;
        }
        let stock = record[code].trim();
        if !stock.starts_with(|c: char| c.is_ascii_digit()) {
            stats.non_product += 1;
            continue;
        }
        let q: f32 =
            record[qty].trim().parse().map_err(|_| bad(format!("Quantity `{}` is not a number", &record[qty])))?;
        if !q.is_finite() {
            return Err(bad(format!("Quantity `{}` is not finite", &record[qty])));
        }
        if q <= 0.0 {
            stats.non_positive_quantity += 1;
            continue;
        }
        let ts = parse_datetime(&record[date])
            .ok_or_else(|| bad(format!("InvoiceDate `{}` is not a date", &record[date])))?;
        let p: f32 =
            record[price].trim().parse().map_err(|_| bad(format!("UnitPrice `{}` is not a number", &record[price])))?;
        let item = data.item_index(stock);
        let meta = &mut data.item_meta[item as usize];
        let text = record[desc].trim();
        if meta.text.is_none() && !text.is_empty() {
            meta.text = Some(text.to_string());
            meta.category = text.split_whitespace().last().map(str::to_string);
        }
        if p.is_finite() && p > 0.0 {
            meta.price = Some(p);
        }
        let customer = record[cust].trim();
        if customer.is_empty() {
            stats.guest_rows += 1;
            continue;
        }
        let customer = customer.strip_suffix(".0").unwrap_or(customer);
        data.push(customer, stock, ts, EventKind::Purchase, q).map_err(|e| bad(e.to_string()))?;
        stats.kept += 1;
    }
    if data.interactions.is_empty() {
        return Err(RecoError::EmptyData(format!("{}: no purchase by a known customer", path.display())));
    }
    Ok((data, stats))
}

fn csv_error(path: &Path, e: csv::Error) -> RecoError {
    let line = e.position().map_or(0, |p| p.line() as usize);
    match e.kind() {
        csv::ErrorKind::Io(_) => RecoError::parse(path, line, format!("read failed: {e}")),
        csv::ErrorKind::Utf8 { .. } => RecoError::parse(path, line, "not valid UTF-8"),
        _ => RecoError::parse(path, line, e.to_string()),
    }
}
