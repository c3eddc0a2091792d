//! Database URLs: where the database is, and the token that opens it.
//!
//! A path or `file:` URL is a local SQLite file; `libsql://` (TLS), `https://`
//! and `http://` are a remote libSQL server. The token may come in the URL as
//! `?authToken=`; it is split off at once and never printed.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::DbError;

/// A secret bearer token. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    /// Wraps a token; empty strings mean "no token".
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        let token = token.trim();
        (!token.is_empty()).then(|| Self(token.to_owned()))
    }

    /// The token itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// Where a database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local SQLite file.
    Local(PathBuf),
    /// A libSQL server reached over HTTP(S); the URL has no path, query or token.
    Remote(url::Url),
}

/// A parsed database URL plus its token. `Display` is the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    location: Location,
    token: Option<AuthToken>,
}

impl DatabaseUrl {
    /// Parses a path, `file:` URL, `libsql://`, `https://` or `http://` URL.
    pub fn parse(input: &str) -> Result<Self, DbError> {
        let input = input.trim();
        let invalid = |reason: &str| DbError::InvalidUrl {
            url: redact_raw(input),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }
        if input == ":memory:" {
            return Err(invalid(
                "in-memory databases are not supported: Station's state must survive restarts",
            ));
        }
        let Some((scheme, _)) = input
            .split_once("://")
            .or_else(|| input.strip_prefix("file:").map(|_| ("file", "")))
        else {
            return Ok(Self::local(PathBuf::from(input)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => parse_file_url(input)
                .map(Self::local)
                .map_err(|r| invalid(&r)),
            "libsql" | "https" | "http" => parse_remote(input).map_err(|r| invalid(&r)),
            "ws" | "wss" => Err(invalid(
                "WebSocket URLs are not supported; use libsql://, https:// or http://",
            )),
            other => Err(invalid(&format!(
                "unsupported scheme `{other}`; use a path, file:, libsql://, https:// or http://"
            ))),
        }
    }

    fn local(path: PathBuf) -> Self {
        Self {
            location: Location::Local(path),
            token: None,
        }
    }

    /// Uses `token` unless the URL already carried one (the URL wins).
    pub fn with_fallback_token(mut self, token: Option<AuthToken>) -> Self {
        if self.token.is_none() && self.is_remote() {
            self.token = token;
        }
        self
    }

    /// Where the database lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// True for a libSQL server, false for a local file.
    pub fn is_remote(&self) -> bool {
        matches!(self.location, Location::Remote(_))
    }

    /// The file of a local database.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.location {
            Location::Local(path) => Some(path),
            Location::Remote(_) => None,
        }
    }

    /// The token, if one was given.
    pub fn token(&self) -> Option<&AuthToken> {
        self.token.as_ref()
    }

    /// The URL for people to read: the token, if any, shown as `<redacted>`.
    pub fn redacted(&self) -> String {
        match &self.location {
            Location::Local(path) => path.display().to_string(),
            Location::Remote(url) => {
                let base = url.as_str().trim_end_matches('/');
                match self.token {
                    Some(_) => format!("{base}?authToken=<redacted>"),
                    None => base.to_owned(),
                }
            }
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

fn parse_file_url(input: &str) -> Result<PathBuf, String> {
    let rest = &input["file:".len()..];
    if rest.contains('?') {
        return Err("file: URLs take no parameters".to_owned());
    }
    // file:///abs/path and file://localhost/abs/path are absolute; file:rel/path is relative.
    let path = match rest.strip_prefix("//") {
        Some(after) => {
            let slash = after.find('/').ok_or("file:// URL has no path")?;
            let host = &after[..slash];
            if !host.is_empty() && host != "localhost" {
                return Err(format!(
                    "file URL names host `{host}`; only local files work"
                ));
            }
            &after[slash..]
        }
        None => rest,
    };
    if path.is_empty() {
        return Err("file: URL has no path".to_owned());
    }
    Ok(PathBuf::from(path))
}

fn parse_remote(input: &str) -> Result<DatabaseUrl, String> {
    let mut url = url::Url::parse(input).map_err(|e| e.to_string())?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_owned());
    }
    let mut token = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "authToken" | "auth_token" => token = AuthToken::new(value.into_owned()),
            other => {
                return Err(format!(
                    "unknown URL parameter `{other}` (only authToken is understood)"
                ));
            }
        }
    }
    if !matches!(url.path(), "" | "/") {
        return Err(format!(
            "a libSQL URL has no path, but this one has `{}`",
            url.path()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "credentials belong in authToken, not in the URL's user:password part".to_owned(),
        );
    }
    url.set_query(None);
    url.set_fragment(None);
    // libsql:// is the Turso spelling of "Hrana over HTTPS".
    if url.scheme() == "libsql" {
        let https = url.as_str().replacen("libsql://", "https://", 1);
        url = url::Url::parse(&https).map_err(|e| e.to_string())?;
    }
    Ok(DatabaseUrl {
        location: Location::Remote(url),
        token,
    })
}

/// Redacts a token from a URL that could not even be parsed.
fn redact_raw(input: &str) -> String {
    match input
        .find("authToken=")
        .or_else(|| input.find("auth_token="))
    {
        Some(at) => {
            let value_start = at + input[at..].find('=').map_or(0, |i| i + 1);
            let value_end = input[value_start..]
                .find('&')
                .map_or(input.len(), |i| value_start + i);
            format!("{}<redacted>{}", &input[..value_start], &input[value_end..])
        }
        None => input.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_file_urls_are_local() {
        for (input, path) in [
            ("station.db", "station.db"),
            ("/var/lib/stn/station.db", "/var/lib/stn/station.db"),
            ("file:///var/lib/stn/x.db", "/var/lib/stn/x.db"),
            ("file://localhost/tmp/x.db", "/tmp/x.db"),
            ("file:rel/x.db", "rel/x.db"),
        ] {
            let url = DatabaseUrl::parse(input).unwrap();
            assert_eq!(url.local_path(), Some(Path::new(path)), "{input}");
        }
    }

    #[test]
    fn libsql_becomes_https_and_token_is_split_off() {
        let url = DatabaseUrl::parse("libsql://db-org.turso.io?authToken=sekrit").unwrap();
        assert_eq!(
            url.location(),
            &Location::Remote(url::Url::parse("https://db-org.turso.io").unwrap())
        );
        assert_eq!(url.token().map(AuthToken::expose), Some("sekrit"));
        let shown = format!("{url} {url:?} {:?}", url.token());
        assert!(!shown.contains("sekrit"), "{shown}");
        assert_eq!(
            url.redacted(),
            "https://db-org.turso.io?authToken=<redacted>"
        );
    }

    #[test]
    fn url_token_wins_over_fallback() {
        let url = DatabaseUrl::parse("http://127.0.0.1:8080?authToken=a")
            .unwrap()
            .with_fallback_token(AuthToken::new("b"));
        assert_eq!(url.token().map(AuthToken::expose), Some("a"));
        let url = DatabaseUrl::parse("http://127.0.0.1:8080")
            .unwrap()
            .with_fallback_token(AuthToken::new("b"));
        assert_eq!(url.token().map(AuthToken::expose), Some("b"));
    }

    #[test]
    fn malformed_urls_are_named_and_redacted() {
        for input in [
            "",
            ":memory:",
            "postgres://x/y",
            "ws://h:1",
            "libsql://",
            "http://h:1/path?authToken=sekrit",
            "http://h:1?authToken=sekrit&mode=rw",
            "http://user:pw@h:1",
            "file:x.db?mode=ro",
        ] {
            let err = DatabaseUrl::parse(input).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, DbError::InvalidUrl { .. }), "{input}: {text}");
            assert!(!text.contains("sekrit"), "{text}");
        }
    }
}
