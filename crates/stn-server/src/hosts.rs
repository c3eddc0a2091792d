//! The `Host` check against DNS rebinding.
//!
//! A web page on `evil.example` can re-point its name at 127.0.0.1 and have
//! the browser send requests to a keyless loopback server. The browser still
//! sends `Host: evil.example`, so only requests naming a loopback host, the
//! bind address or a host the operator allowed get through; the others get
//! 421 before any route runs (also `/health` and `/metrics`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;

/// The hosts requests may name in `Host`, besides loopback ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// Lowercase host names or IP addresses, without port.
    names: Vec<String>,
    /// Every host is allowed (a listener the user exposed on purpose).
    any: bool,
}

impl AllowedHosts {
    /// No check at all: for a listener that serves nothing a rebinding page
    /// could abuse and that the user exposed on purpose.
    pub fn any() -> AllowedHosts {
        AllowedHosts {
            names: Vec::new(),
            any: true,
        }
    }

    /// `configured` (from `--allowed-host`, `STN_ALLOWED_HOSTS` or
    /// `allowed_hosts` in config.yaml) plus the bind address itself when it
    /// names one interface (not `0.0.0.0` / `::`).
    pub fn new(configured: &[String], bind: SocketAddr) -> AllowedHosts {
        let mut names: Vec<String> = configured
            .iter()
            .map(|host| host.trim())
            .filter(|host| !host.is_empty())
            .map(|host| normalize(strip_port(host)))
            .collect();
        if !bind.ip().is_unspecified() {
            names.push(bind.ip().to_string());
        }
        AllowedHosts { names, any: false }
    }

    /// Whether a `Host` header value (with or without port) may be served.
    pub fn allows(&self, host: &str) -> bool {
        let name = normalize(strip_port(host.trim()));
        if self.any || name == "localhost" {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            if ip.is_loopback() {
                return true;
            }
            return self.names.iter().any(|allowed| {
                allowed
                    .parse::<IpAddr>()
                    .is_ok_and(|allowed_ip| allowed_ip == ip)
            });
        }
        self.names.contains(&name)
    }
}

/// `host:port`, `[v6]:port`, `[v6]` or `host` → the host part, brackets removed.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(inside, _)| inside);
    }
    match host.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// Names compare case-insensitively and without a trailing dot (`localhost.`).
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Middleware: 421 for a request whose `Host` is not allowed.
pub async fn check_host(
    State(allowed): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // HTTP/1.1 requires `Host`; absolute-form targets carry it in the URI.
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if !allowed.allows(host) {
        tracing::warn!(host, "refused a request for a host that is not allowed");
        return Err(ApiError::HostNotAllowed(host.to_owned()));
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(configured: &[&str], bind: &str) -> AllowedHosts {
        let configured: Vec<String> = configured.iter().map(|h| h.to_string()).collect();
        AllowedHosts::new(&configured, bind.parse().unwrap())
    }

    #[test]
    fn loopback_names_are_always_allowed() {
        let allowed = hosts(&[], "127.0.0.1:8585");
        for host in [
            "localhost",
            "LocalHost:8585",
            "localhost.",
            "127.0.0.1",
            "127.0.0.1:1",
            "127.9.9.9:8585",
            "[::1]",
            "[::1]:8585",
            "::1",
        ] {
            assert!(allowed.allows(host), "{host}");
        }
    }

    #[test]
    fn other_hosts_need_configuring() {
        let allowed = hosts(&["Station.Example", "10.0.0.7:443"], "0.0.0.0:8585");
        for host in ["station.example", "station.example:8585", "10.0.0.7:8585"] {
            assert!(allowed.allows(host), "{host}");
        }
        for host in [
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "0.0.0.0:8585",
            "10.0.0.8",
            "",
            "[::2]:8585",
        ] {
            assert!(!allowed.allows(host), "{host}");
        }
    }

    #[test]
    fn a_specific_bind_address_is_allowed() {
        assert!(hosts(&[], "192.168.1.5:8585").allows("192.168.1.5:8585"));
        assert!(hosts(&[], "[fd00::5]:8585").allows("[fd00::5]:8585"));
        assert!(!hosts(&[], "[::]:8585").allows("[::]:8585"));
    }
}
