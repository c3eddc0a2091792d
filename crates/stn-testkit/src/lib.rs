//! Test support shared by Station's crates. Dev-dependency only.
//!
//! Real services come from `scripts/test-services.sh up`, which prints the
//! `STN_TEST_*` variables read here. Locally a test whose service is missing
//! is skipped with a message; under CI (`CI=true`) it fails, so a green CI
//! always means every real-service test ran.

mod fault_proxy;
mod http;
mod proxy;
pub mod scripted_model;
mod sqld;
pub mod sqlite;

pub use fault_proxy::{FaultProxy, FaultStats};
pub use http::{get_json, send_json};
pub use proxy::CountingProxy;
pub use sqld::{Sqld, SqldOptions, mint_jwt};

/// The value of a `STN_TEST_*` variable naming a service, or `None` (test
/// skipped) when it is unset outside CI. Panics under CI.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "{var} is not set: under CI every real-service test must run (run `scripts/test-services.sh up` and export what it prints)"
            )
        }
        _ => {
            eprintln!(
                "skipped: {var} is not set (run `scripts/test-services.sh up` and export what it prints)"
            );
            None
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for the caller).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

/// A loopback listener that never answers: connections complete (the kernel
/// accepts them from the backlog) but nothing is ever read or written, like a
/// hung server. The port stays taken while the listener lives.
pub fn silent_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a silent listener on 127.0.0.1")
}

/// Waits until `GET path` on 127.0.0.1:`port` answers with status 200.
pub fn wait_for_http_ok(port: u16, path: &str, timeout: std::time::Duration) -> bool {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut head = [0u8; 12];
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_exact(&mut head).is_ok()
                && head.ends_with(b" 200")
            {
                return true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Polls `probe` every 20 ms until it returns true or `timeout` passes (then
/// asks once more, so a probe that just became true is not missed).
pub fn wait_until(timeout: std::time::Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if probe() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    probe()
}

/// A variable lookup over `pairs`, for code that reads the environment
/// through a function (settings, provider configs) rather than the process's.
pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}
