//! UCI Online Retail: every line item of a UK online shop (2010-12 to 2011-12).

use super::{open_text, parse_datetime, stem};
use crate::data::{Dataset, EventKind};
use crate::error::{RecoError, Result};
use shopml_text::online_retail::{self, Reader, Row};
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
    let rows = Reader::new(reader).map_err(|e| match e {
        online_retail::Error::MissingColumn { column, available } => {
            RecoError::MissingColumn { path: path.to_path_buf(), column: column.to_string(), available }
        }
        online_retail::Error::Line { line, reason } => RecoError::parse(path, line as usize, reason),
    })?;
    let mut data = Dataset::new(name);
    let mut stats = OnlineRetailStats::default();
    for row in rows {
        stats.rows += 1;
        let r = match row {
            Ok(Row::Cancellation) => {
                stats.cancellations += 1;
                continue;
            }
            Ok(Row::NonProduct) => {
                stats.non_product += 1;
                continue;
            }
            Ok(Row::Line(r)) => r,
            Err(online_retail::Error::Line { line, reason }) => {
                return Err(RecoError::parse(path, line as usize, reason))
            }
            Err(e) => return Err(RecoError::parse(path, 0, e.to_string())),
        };
        let bad = |reason: String| RecoError::parse(path, r.line as usize, reason);
        if r.quantity <= 0.0 {
            stats.non_positive_quantity += 1;
            continue;
        }
        let ts = parse_datetime(&r.invoice_date)
            .ok_or_else(|| bad(format!("InvoiceDate `{}` is not a date", r.invoice_date)))?;
        let item = data.item_index(&r.stock_code);
        let meta = &mut data.item_meta_mut()[item as usize];
        if meta.text.is_none() && !r.description.is_empty() {
            meta.category = r.description.split_whitespace().last().map(str::to_string);
            meta.text = Some(r.description);
        }
        if r.unit_price > 0.0 {
            meta.price = Some(r.unit_price as f32);
        }
        let Some(customer) = r.customer else {
            stats.guest_rows += 1;
            continue;
        };
        data.push(&customer, &r.stock_code, ts, EventKind::Purchase, r.quantity as f32)
            .map_err(|e| bad(e.to_string()))?;
        stats.kept += 1;
    }
    if data.interactions.is_empty() {
        return Err(RecoError::EmptyData(format!("{}: no purchase by a known customer", path.display())));
    }
    Ok((data, stats))
}
