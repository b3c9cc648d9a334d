//! Where creditops' stores live: a SQLite file each (the default), or one PostgreSQL database
//! that several proxies and consoles share (`[store] url`, a profile's `ledger`, `--ledger`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use creditops_core::secret::Secret;

/// Where a store lives: a SQLite file, or a PostgreSQL database (`postgres://…`).
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// The URL may carry a password: shown only through [`Location::display`].
    Postgres(Secret),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is a server; anything else is a SQLite file path.
    pub fn parse(s: &str) -> Location {
        if is_postgres_url(s) {
            Location::Postgres(Secret::new(s))
        } else {
            Location::Sqlite(PathBuf::from(s))
        }
    }

    /// What may be logged or shown: the path, or the URL without user, password or query.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(u) => creditops_core::secret::url_for_display(u.expose()),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// The SQLite file, when it is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::Sqlite(p.to_path_buf())
    }
}
impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::Sqlite(p)
    }
}
impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::Sqlite(p.clone())
    }
}
impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

/// What a proxy does when its PostgreSQL store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Refuse calls before forwarding them (503 LEDGER_UNAVAILABLE): nothing unrecorded is spent.
    #[default]
    Refuse,
    /// Record into a local SQLite spool and replay it, exactly once, when the database is back.
    Spool,
}

/// `[store]` in config.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `postgres://user:password@host:port/database`: the ledger, the event store and the
    /// metadata cache of every profile, in one database (kept only in the 0600 config).
    pub url: Option<Secret>,
    pub on_unavailable: OnUnavailable,
}

impl StoreSettings {
    /// A problem with the settings, for `config check` and startup.
    pub fn problem(&self) -> Option<String> {
        let url = self.url.as_ref()?;
        if !is_postgres_url(url.expose()) {
            return Some(
                "[store] url must be a postgres:// URL (SQLite stores need no url)".into(),
            );
        }
        None
    }
}

/// Refuses a PostgreSQL URL that carries a password where process arguments would show it.
pub fn check_argument(s: &str) -> Result<(), String> {
    if is_postgres_url(s) {
        let has_password = s
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .is_some_and(|(auth, _)| auth.contains(':'));
        if has_password {
            return Err("a password in a postgres:// URL on the command line is visible to every user of this machine (ps); put the URL in config.toml's [store] url or a profile's ledger (the file is kept 0600), or give the password in PGPASSWORD".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        let pg = Location::parse("postgres://ops:pw@db.internal:5432/creditops");
        assert!(pg.is_shared());
        assert_eq!(pg.display(), "postgres://db.internal:5432/creditops");
        assert!(!format!("{pg:?}").contains("pw"));
        assert_eq!(
            Location::parse("/tmp/l.sqlite"),
            Location::Sqlite("/tmp/l.sqlite".into())
        );
        assert!(check_argument("postgres://ops:pw@h/db").is_err());
        assert!(check_argument("postgres://ops@h/db").is_ok());
        assert!(check_argument("/tmp/x.sqlite").is_ok());
    }
}
