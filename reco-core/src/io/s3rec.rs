//! S3-Rec sequence files: one user per line, `user item1 item2 ...` in time order.

use super::{for_each_line, sibling, stem};
use crate::data::{Dataset, EventKind};
use crate::error::{RecoError, Result};
use std::collections::HashMap;
use std::path::Path;

/// Loads an S3-Rec file (`Beauty.txt`, `LastFM.txt`). The timestamp of an event is its position in the
/// line. Attributes come from `<stem>_item2attributes.json` beside the file when it exists (a malformed
/// one is an error). Blank lines are skipped.
pub fn load_s3rec(path: &Path) -> Result<Dataset> {
    let name = stem(path);
    let mut data = Dataset::new(&name);
    for_each_line(path, |line_no, line| {
        let mut tokens = line.split_whitespace();
        let Some(user) = tokens.next() else { return Ok(()) };
        for (pos, item) in tokens.enumerate() {
            data.push(user, item, pos as i64, EventKind::Purchase, 1.0)
                .map_err(|e| RecoError::parse(path, line_no, e.to_string()))?;
        }
        Ok(())
    })?;
    if data.interactions.is_empty() {
        return Err(RecoError::EmptyData(format!("{}: no `user item ...` line", path.display())));
    }
    let attr_path = sibling(path, &format!("{name}_item2attributes.json"));
    if attr_path.exists() {
        let text = std::fs::read_to_string(&attr_path).map_err(|e| RecoError::io(&attr_path, e))?;
        let attrs: HashMap<String, Vec<u32>> = serde_json::from_str(&text)
            .map_err(|e| RecoError::parse(&attr_path, e.line(), format!("expected {{item: [attribute ids]}}: {e}")))?;
        for (item, a) in attrs {
            if let Some(i) = data.items.get(&item) {
                data.item_meta[i as usize].attributes = a;
            }
        }
    }
    Ok(data)
}
