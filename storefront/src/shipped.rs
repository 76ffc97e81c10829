//! Where the repository's shipped data lives, for every surface (CLI, Python, Node, shop).

use std::path::{Path, PathBuf};

/// A file every shipped `datasets/` folder has.
const MARKER: &str = "online-retail/online_retail.csv.gz";

fn is_datasets(d: &Path) -> bool {
    d.join(MARKER).is_file()
}

/// The shipped `datasets/` folder: `given` if it is one, else `$SHOPML_DATASETS`, else a `datasets/`
/// beside the working directory or one of its parents, else the one of the source tree this was built
/// from. The error says what was tried.
pub fn datasets_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(d) = given {
        return match is_datasets(d) {
            true => Ok(d.to_path_buf()),
            false => Err(format!("{}: not shopml's datasets folder (no {MARKER})", d.display())),
        };
    }
    if let Some(d) = std::env::var_os("SHOPML_DATASETS").map(PathBuf::from) {
        return match is_datasets(&d) {
            true => Ok(d),
            false => Err(format!("$SHOPML_DATASETS={}: not shopml's datasets folder (no {MARKER})", d.display())),
        };
    }
    let cwd = std::env::current_dir().ok();
    let from_cwd = cwd.iter().flat_map(|c| c.ancestors()).map(|a| a.join("datasets"));
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    from_cwd.chain(std::iter::once(built)).find(|d| is_datasets(d)).ok_or_else(|| {
        "no shopml datasets/ folder found from the working directory upwards: run from the repository, \
         pass its path, or set SHOPML_DATASETS"
            .to_string()
    })
}

/// The shipped Online Retail file inside a `datasets/` folder (what [`datasets_dir`] finds).
pub fn online_retail(datasets: &Path) -> PathBuf {
    datasets.join(MARKER)
}

/// A demo product's stock: 10 + a number from 0 to 89 derived from its id (stable across runs; the
/// in-memory demo store and the reference shop's seed agree).
pub fn demo_stock(id: &str) -> u32 {
    10 + (id.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) % 90)
}

/// The in-memory demo store over the shipped Online Retail data of `datasets` (an error names the file).
pub fn demo_store(datasets: &Path) -> std::io::Result<crate::MemoryStore> {
    let path = online_retail(datasets);
    crate::MemoryStore::from_online_retail(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
