//! MovieLens 100K: `u.data` (`user item rating timestamp`, tab separated) and `u.item` beside it.

use super::{for_each_line, sibling, stem};
use crate::data::{Dataset, EventKind};
use crate::error::{RecoError, Result};
use std::path::Path;

const GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// Loads MovieLens `u.data`. Every rating is an implicit positive (weight 1.0), as in the NCF paper; the
/// rating itself must still be a number. Titles (item text), genre flags (attributes 0..19) and the first
/// genre (category) come from `u.item` beside the file when it exists. Trailing whitespace is tolerated.
pub fn load_movielens(path: &Path) -> Result<Dataset> {
    let mut data = Dataset::new(stem(path));
    for_each_line(path, |line_no, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 4 {
            return Err(RecoError::parse(
                path,
                line_no,
                format!("expected 4 fields `user item rating timestamp`, got {}", f.len()),
            ));
        }
        let rating: f32 =
            f[2].parse().map_err(|_| RecoError::parse(path, line_no, format!("rating `{}` is not a number", f[2])))?;
        if !rating.is_finite() {
            return Err(RecoError::parse(path, line_no, format!("rating `{}` is not finite", f[2])));
        }
        let ts: i64 = f[3]
            .parse()
            .map_err(|_| RecoError::parse(path, line_no, format!("timestamp `{}` is not an integer", f[3])))?;
        data.push(f[0], f[1], ts, EventKind::Purchase, 1.0).map_err(|e| RecoError::parse(path, line_no, e.to_string()))
    })?;
    if data.interactions.is_empty() {
        return Err(RecoError::EmptyData(format!("{}: no ratings", path.display())));
    }
    let item_path = sibling(path, "u.item");
    if item_path.exists() {
        load_u_item(&item_path, &mut data)?;
    }
    Ok(data)
}

fn load_u_item(path: &Path, data: &mut Dataset) -> Result<()> {
    // u.item is Latin-1: decode bytes one to one rather than failing on non-UTF-8 titles.
    let bytes = std::fs::read(path).map_err(|e| RecoError::io(path, e))?;
    let text: String = bytes.iter().map(|&b| b as char).collect();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 5 + GENRES.len() {
            if line.trim().is_empty() {
                continue;
            }
            return Err(RecoError::parse(
                path,
                n + 1,
                format!("expected {} `|` fields, got {}", 5 + GENRES.len(), f.len()),
            ));
        }
        let Some(i) = data.items.get(f[0]) else { continue };
        let meta = &mut data.item_meta[i as usize];
        meta.text = Some(f[1].to_string());
        meta.attributes = (0..GENRES.len()).filter(|&g| f[5 + g].trim() == "1").map(|g| g as u32).collect();
        meta.category = meta.attributes.first().map(|&g| GENRES[g as usize].to_string());
    }
    Ok(())
}
