//! The UCI Online Retail CSV (every line item of a UK online shop, 2010-12 to 2011-12), read row by row.
//!
//! One reader for the recommender's loader (`reco_core::io::load_online_retail`) and the demo store
//! (`storefront::MemoryStore::from_online_retail`): both see the same rows classified the same way, and
//! an unreadable number is an error naming its line in both, never a silent 0.
//!
//! ```
//! use shopml_text::online_retail::{Reader, Row};
//!
//! let csv = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\
//!            536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n\
//!            C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n";
//! let rows: Vec<Row> = Reader::new(csv.as_bytes())?.collect::<Result<_, _>>()?;
//! let Row::Line(line) = &rows[0] else { panic!() };
//! assert_eq!((line.quantity, line.unit_price, line.customer.as_deref()), (6.0, 2.55, Some("17850")));
//! assert_eq!(rows[1], Row::Cancellation);
//! # Ok::<(), shopml_text::online_retail::Error>(())
//! ```

use std::io::Read;

/// Why the file could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// A column the reader needs is not in the header.
    #[error("no column `{column}` (the file has: {available})")]
    MissingColumn {
        /// The missing column.
        column: &'static str,
        /// The header's columns, comma-separated.
        available: String,
    },
    /// A line that cannot be read: bad CSV, not UTF-8, or an unreadable number.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line in the file (0 when unknown).
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// A row of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A cancellation (`InvoiceNo` starting with `C`).
    Cancellation,
    /// Postage, fees, manual adjustments: stock codes that do not start with a digit.
    NonProduct,
    /// A product line (quantity may still be ≤ 0: stock adjustments).
    Line(Line),
}

/// A product line of an invoice, fields trimmed.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based line in the file.
    pub line: u64,
    /// Invoice number: one order.
    pub invoice: String,
    /// Stock code: the product.
    pub stock_code: String,
    /// Product description (may be empty).
    pub description: String,
    /// Units (finite; ≤ 0 for stock adjustments).
    pub quantity: f64,
    /// The invoice's date and time as written (`12/1/2010 8:26`).
    pub invoice_date: String,
    /// Unit price in pounds (finite; 0 or less on some adjustments).
    pub unit_price: f64,
    /// The customer, without the `.0` some exports add; `None` for guests.
    pub customer: Option<String>,
    /// The customer's country, when the file has the column.
    pub country: Option<String>,
}

const COLUMNS: [&str; 7] =
    ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"];

/// Rows of an Online Retail CSV from any reader (decompress `.gz` first).
#[derive(Debug)]
pub struct Reader<R> {
    rdr: csv::Reader<R>,
    columns: [usize; 7],
    country: Option<usize>,
    record: csv::StringRecord,
}

impl<R: Read> Reader<R> {
    /// Reads the header; every column of [`Line`] but `Country` must be there.
    pub fn new(reader: R) -> Result<Self, Error> {
        let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
        let headers = rdr.headers().map_err(csv_error)?.clone();
        let find = |name: &str| headers.iter().position(|h| h.trim() == name);
        let mut columns = [0; 7];
        for (slot, name) in columns.iter_mut().zip(COLUMNS) {
            *slot = find(name).ok_or_else(|| Error::MissingColumn {
                column: name,
                available: headers.iter().collect::<Vec<_>>().join(", "),
            })?;
        }
        Ok(Reader { rdr, columns, country: find("Country"), record: csv::StringRecord::new() })
    }

    fn row(&self) -> Result<Row, Error> {
        let r = &self.record;
        let [inv, code, desc, qty, date, price, cust] = self.columns.map(|c| r[c].trim());
        if inv.starts_with('C') {
            return Ok(Row::Cancellation);
        }
        if !code.starts_with(|c: char| c.is_ascii_digit()) {
            return Ok(Row::NonProduct);
        }
        let line = r.position().map_or(0, |p| p.line());
        let number = |v: &str, what: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Error::Line { line, reason: format!("{what} `{v}` is not a number") })
        };
        let customer = cust.strip_suffix(".0").unwrap_or(cust);
        Ok(Row::Line(Line {
            line,
            invoice: inv.to_string(),
            stock_code: code.to_string(),
            description: desc.to_string(),
            quantity: number(qty, "Quantity")?,
            invoice_date: date.to_string(),
            unit_price: number(price, "UnitPrice")?,
            customer: (!customer.is_empty()).then(|| customer.to_string()),
            country: self.country.map(|c| r[c].trim().to_string()),
        }))
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Row, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rdr.read_record(&mut self.record) {
            Ok(true) => Some(self.row()),
            Ok(false) => None,
            Err(e) => Some(Err(csv_error(e))),
        }
    }
}

fn csv_error(e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let reason = match e.kind() {
        csv::ErrorKind::Io(_) => format!("read failed: {e}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        _ => e.to_string(),
    };
    Error::Line { line, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID\n";

    fn rows(body: &str) -> Result<Vec<Row>, Error> {
        Reader::new(format!("{HEAD}{body}").as_bytes())?.collect()
    }

    #[test]
    fn classifies_rows_and_trims_fields() {
        let got = rows("536365, 85123A ,HEART HOLDER ,6,12/1/2010 8:26,2.55,\nC1,22,x,-1,d,1,5\n536366,POST,Postage,1,d,18,5\n536367,22,x,-3,d,0,\n").unwrap();
        let Row::Line(l) = &got[0] else { panic!("{got:?}") };
        assert_eq!((l.line, l.stock_code.as_str(), l.description.as_str()), (2, "85123A", "HEART HOLDER"));
        assert_eq!((l.customer.clone(), l.country.clone()), (None, None));
        assert_eq!(got[1..3], [Row::Cancellation, Row::NonProduct]);
        assert!(matches!(&got[3], Row::Line(l) if l.quantity == -3.0 && l.unit_price == 0.0));
    }

    #[test]
    fn bad_files_name_the_column_or_line() {
        let e = Reader::new("InvoiceNo,StockCode\n1,2\n".as_bytes()).unwrap_err();
        assert!(
            matches!(&e, Error::MissingColumn { column: "Description", available } if available == "InvoiceNo, StockCode")
        );
        assert_eq!(
            rows("1,22,x,6,d,2.5,1\n2,22,x,six,d,2.5,1\n").unwrap_err(),
            Error::Line { line: 3, reason: "Quantity `six` is not a number".into() }
        );
        assert!(
            matches!(rows("1,22,x,1,d,NaN,1\n").unwrap_err(), Error::Line { line: 2, reason } if reason.contains("UnitPrice"))
        );
        assert!(matches!(rows("1,22,x\n").unwrap_err(), Error::Line { line: 2, .. }));
    }
}
