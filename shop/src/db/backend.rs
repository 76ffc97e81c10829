//! [`Backend`]: which database the pool talks to and the few places their SQL differs; [`Flag`] columns;
//! database settings (SQLite paths and URLs, redacted PostgreSQL URLs); the clock.

use super::Db;
use sqlx::AnyConnection;

/// Which database a [`Db`] talks to. The SQL the shop sends is common to both except where a function
/// asks this (full-text search, cart line order, scalar `min`, the write lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a `database` setting names: a `postgres://` / `postgresql://` URL, else a SQLite file.
    pub fn of_setting(database: &str) -> Backend {
        if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The backend of an open pool.
    pub fn of(db: &Db) -> Backend {
        Backend::of_setting(db.connect_options().database_url.as_str())
    }

    /// The backend of a connection.
    pub fn of_conn(conn: &AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// A subquery of the integers of the JSON array bound as `param` (`$N`): `x IN (…)` with any number of ids
    /// in one bound value.
    pub fn json_ids(self, param: &str) -> String {
        match self {
            Backend::Sqlite => format!("SELECT value FROM json_each({param})"),
            Backend::Postgres => format!("SELECT value::bigint FROM json_array_elements_text({param}::json)"),
        }
    }

    /// The smaller of two SQL expressions (SQLite's scalar `min`, PostgreSQL's `LEAST`).
    pub fn least(self, a: &str, b: &str) -> String {
        match self {
            Backend::Sqlite => format!("min({a}, {b})"),
            Backend::Postgres => format!("LEAST({a}, {b})"),
        }
    }
}

/// A 0/1 flag column (`active`) read as a bool: both schemas store flags as integers, since sqlx's `Any`
/// driver hands SQLite values over as integers, never booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl sqlx::Type<sqlx::Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<sqlx::Any>>::type_info()
    }
    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<sqlx::Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Flag(<i64 as sqlx::Decode<sqlx::Any>>::decode(value)? != 0))
    }
}

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

/// `database` for logs and errors: a PostgreSQL URL's password replaced by `***`.
pub fn redact(database: &str) -> String {
    match url::Url::parse(database) {
        Ok(mut u) if Backend::of_setting(database) == Backend::Postgres && u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => database.to_string(),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The file of a SQLite setting: a path, or a `sqlite://PATH` / `sqlite:PATH` URL (its `?options` dropped:
/// the shop sets its own).
pub(super) fn sqlite_path(database: &str) -> &str {
    let path = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:"));
    path.map_or(database, |p| p.split('?').next().unwrap_or(p))
}

/// The `sqlite://` URL of a file path (created if missing).
pub(super) fn sqlite_url(path: &str) -> String {
    const SAFE: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'.').remove(b'-').remove(b'_');
    format!("sqlite://{}?mode=rwc", percent_encoding::utf8_percent_encode(path, SAFE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_settings_are_paths_or_sqlite_urls() {
        assert_eq!(sqlite_path("data/shop.db"), "data/shop.db");
        assert_eq!(sqlite_path("sqlite:///tmp/shop.db"), "/tmp/shop.db");
        assert_eq!(sqlite_path("sqlite://shop.db?mode=rwc"), "shop.db");
        assert_eq!(sqlite_path("sqlite:shop.db"), "shop.db");
        assert_eq!(Backend::of_setting("sqlite:///tmp/shop.db"), Backend::Sqlite);
        assert_eq!(Backend::of_setting("postgresql://u@h/db"), Backend::Postgres);
        assert_eq!(sqlite_url("/tmp/a b.db"), "sqlite:///tmp/a%20b.db?mode=rwc");
    }
}
