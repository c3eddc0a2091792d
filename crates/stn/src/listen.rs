//! Addresses the servers listen on (`serve --addr`, `replicate --metrics-addr`).

use std::net::SocketAddr;

/// An address to listen on: an IP address and port, or `localhost:PORT`,
/// which means the IPv4 loopback (never a name resolved to something else).
pub fn listen_addr(text: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    match text.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => {
            format!("127.0.0.1:{port}").parse()
        }
        _ => text.parse(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_is_the_ipv4_loopback() {
        assert_eq!(
            listen_addr("localhost:9090").unwrap(),
            "127.0.0.1:9090".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            listen_addr("[::1]:80").unwrap(),
            "[::1]:80".parse::<SocketAddr>().unwrap()
        );
        assert!(listen_addr("example.com:80").is_err());
        assert!(listen_addr("localhost").is_err());
    }
}
