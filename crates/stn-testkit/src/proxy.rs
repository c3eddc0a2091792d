//! A loopback TCP proxy that counts the HTTP requests passing through it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Forwards 127.0.0.1:`port()` to a target and counts HTTP/1.x request lines.
pub struct CountingProxy {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// Starts forwarding to `127.0.0.1:target_port`. Threads end with the test process.
    pub fn start(target_port: u16) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let counter = Arc::clone(&counter);
                let (client2, server2) = match (client.try_clone(), server.try_clone()) {
                    (Ok(c), Ok(s)) => (c, s),
                    _ => continue,
                };
                std::thread::spawn(move || pump(client, server, Some(counter)));
                std::thread::spawn(move || pump(server2, client2, None));
            }
        });
        CountingProxy { port, requests }
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// HTTP requests seen so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Copies bytes one way; when counting, counts request lines (`POST /`, `GET /`)
/// that start the stream or follow a blank line's end of headers and body.
fn pump(mut from: TcpStream, mut to: TcpStream, counter: Option<Arc<AtomicUsize>>) {
    let mut buf = [0u8; 16 * 1024];
    // Keeps the tail of the previous read so a request line split across reads is seen once.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(counter) = &counter {
            let mut window = std::mem::take(&mut carry);
            let start = window.len();
            window.extend_from_slice(&buf[..n]);
            let found = count_request_lines(&window, start);
            counter.fetch_add(found, Ordering::SeqCst);
            let keep = window.len().saturating_sub(16);
            carry = window[keep..].to_vec();
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Request lines in `window` whose method ends at or after `new_from` (so
/// carried-over bytes are not counted twice).
fn count_request_lines(window: &[u8], new_from: usize) -> usize {
    const METHODS: [&[u8]; 5] = [b"POST /", b"GET /", b"PUT /", b"DELETE /", b"HEAD /"];
    (0..window.len())
        .filter(|&i| i == 0 || window[..i].ends_with(b"\n") || window[..i].ends_with(b"}"))
        .filter(|&i| {
            METHODS
                .iter()
                .any(|m| window[i..].starts_with(m) && i + m.len() > new_from)
        })
        .count()
}
