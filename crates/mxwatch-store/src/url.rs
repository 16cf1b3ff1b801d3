//! Which store, as a URL: `sqlite://PATH`, a bare path (SQLite), or `postgres://…`.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, kept whole (`postgres://user@host/db`).
    Postgres(String),
}

impl StoreUrl {
    /// `sqlite://relative/path`, `sqlite:///absolute/path`, `sqlite:path`, a bare path, or
    /// `postgres://…` / `postgresql://…`. Any other `scheme://` is an error, not a file name.
    pub fn parse(text: &str) -> Result<StoreUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the database is empty: give a path or sqlite://PATH".into());
        }
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(format!("{text:?}: no file after sqlite://"));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "{scheme:?}: unknown database scheme (use sqlite://PATH, a file path, or postgres://…)"
            ));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(text)))
    }

    /// The lock file that keeps a second watcher off the same store (SQLite: beside the file).
    pub fn lock_path(&self) -> Option<PathBuf> {
        match self {
            StoreUrl::Sqlite(path) => Some(path.with_extension("lock")),
            StoreUrl::Postgres(_) => None,
        }
    }
}

impl fmt::Display for StoreUrl {
    /// The path for SQLite; for PostgreSQL the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "{}", path.display()),
            StoreUrl::Postgres(url) => match (url.split_once("://"), url.rfind('@')) {
                (Some((scheme, rest)), Some(_)) => {
                    let (credentials, host) = rest.rsplit_once('@').unwrap_or(("", rest));
                    let user = credentials.split(':').next().unwrap_or_default();
                    write!(f, "{scheme}://{user}@{host}")
                }
                _ => f.write_str(url),
            },
        }
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            StoreUrl::parse("mxwatch.db").unwrap(),
            StoreUrl::Sqlite("mxwatch.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite://data/mx.db").unwrap(),
            StoreUrl::Sqlite("data/mx.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/mx.db?mode=rwc").unwrap(),
            StoreUrl::Sqlite("/var/lib/mx.db".into())
        );
        assert!(matches!(
            StoreUrl::parse("postgres://u:pw@db.example/mx").unwrap(),
            StoreUrl::Postgres(_)
        ));
        assert!(StoreUrl::parse("mysql://x").unwrap_err().contains("mysql"));
        assert!(StoreUrl::parse("sqlite://").is_err());
        assert!(StoreUrl::parse(" ").is_err());
    }

    #[test]
    fn display_hides_the_password() {
        let url = StoreUrl::parse("postgres://mx:secret@db.example:5432/mx").unwrap();
        assert_eq!(url.to_string(), "postgres://mx@db.example:5432/mx");
        assert!(!url.to_string().contains("secret"));
    }
}
