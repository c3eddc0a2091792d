//! A loopback TCP proxy that injects network faults between a client under
//! test and a real service: latency, connection resets, stalls, cuts after
//! N bytes and outages, each switched on and off while traffic flows.
//!
//! Every connection is served by two threads, one per direction. They read
//! with a short timeout so that an idle connection still notices a fault
//! switched on for it within [`POLL`], and so that every thread ends soon
//! after the proxy is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a connection thread blocks in one read or write before it
/// looks at the fault switches again.
const POLL: Duration = Duration::from_millis(20);
/// `cut_after` when no cut is set.
const NO_CUT: u64 = u64::MAX;
/// A request head longer than this is not HTTP as the framer knows it.
const MAX_HEAD: usize = 64 * 1024;

/// Forwards 127.0.0.1:[`FaultProxy::port`] to 127.0.0.1:`target`, with
/// faults switched from the test through `&self` (thread-safe). Dropping it
/// closes every connection and joins every thread.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What went through the proxy since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Connections accepted from clients.
    pub connections: u64,
    /// Connections the proxy ended with a TCP reset (at accept during an
    /// outage or with `reset_new`, by `reset_existing`, by a cut, or passing
    /// on a reset from the other side).
    pub resets: u64,
    /// Connections cut after `cut_after` bytes.
    pub cuts: u64,
    /// Connections that carried bytes while stalled (and were black holes
    /// from then on).
    pub stalled: u64,
    /// HTTP/1.1 request heads forwarded upstream. Bodies are framed by
    /// `Content-Length`; a connection that sends a chunked body is not
    /// counted any further.
    pub requests: u64,
    /// Bytes forwarded client → server.
    pub bytes_up: u64,
    /// Bytes forwarded server → client.
    pub bytes_down: u64,
}

/// The fault switches and counters, shared by the test and every thread.
struct Shared {
    target: u16,
    latency_micros: AtomicU64,
    reset_new: AtomicBool,
    outage: AtomicBool,
    stall: AtomicBool,
    stall_responses: AtomicBool,
    cut_after: AtomicU64,
    /// Bumped by `reset_existing`: connections from an older epoch die.
    epoch: AtomicU64,
    shutdown: AtomicBool,
    connections: AtomicU64,
    resets: AtomicU64,
    cuts: AtomicU64,
    stalled: AtomicU64,
    requests: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

/// One proxied connection, shared by its two threads.
struct Conn {
    /// The proxy's epoch when it was accepted.
    epoch: u64,
    killed: AtomicBool,
    stalled: AtomicBool,
    /// Bytes forwarded client → server so far.
    up: AtomicU64,
}

impl FaultProxy {
    /// Starts forwarding to `127.0.0.1:target_port`, with no fault on.
    pub fn start(target_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        let port = listener.local_addr().expect("fault proxy addr").port();
        let shared = Arc::new(Shared {
            target: target_port,
            latency_micros: AtomicU64::new(0),
            reset_new: AtomicBool::new(false),
            outage: AtomicBool::new(false),
            stall: AtomicBool::new(false),
            stall_responses: AtomicBool::new(false),
            cut_after: AtomicU64::new(NO_CUT),
            epoch: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(&listener, &shared))
        };
        FaultProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Delays every chunk forwarded, in both directions, by `delay` (zero:
    /// none). A request and its response each pay it at least once.
    pub fn set_latency(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.latency_micros.store(micros, Ordering::SeqCst);
    }

    /// Resets (TCP RST) every open connection, within [`POLL`].
    pub fn reset_existing(&self) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// While on, every new connection is reset right after it is accepted.
    pub fn set_reset_new(&self, on: bool) {
        self.shared.reset_new.store(on, Ordering::SeqCst);
    }

    /// While on, a connection that carries bytes in either direction
    /// becomes a black hole for good: it swallows what it is sent, forwards
    /// nothing and stays open until the client gives up.
    pub fn set_stall(&self, on: bool) {
        self.shared.stall.store(on, Ordering::SeqCst);
    }

    /// While on, a connection that carries bytes from the server becomes a
    /// black hole as with [`FaultProxy::set_stall`]: requests still reach
    /// the server, which acts on them, but their answers are lost.
    pub fn set_stall_responses(&self, on: bool) {
        self.shared.stall_responses.store(on, Ordering::SeqCst);
    }

    /// While `Some(n)`, each connection forwards at most `n` bytes client →
    /// server (counted from its start) and is then reset on both sides.
    pub fn set_cut_after(&self, bytes: Option<u64>) {
        let limit = bytes.unwrap_or(NO_CUT);
        self.shared.cut_after.store(limit, Ordering::SeqCst);
    }

    /// While on, the service is unreachable: open connections are reset
    /// (within [`POLL`]) and new ones are reset as soon as they are accepted.
    pub fn set_outage(&self, on: bool) {
        self.shared.outage.store(on, Ordering::SeqCst);
    }

    /// The counters so far.
    pub fn stats(&self) -> FaultStats {
        let s = &self.shared;
        let get = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        FaultStats {
            connections: get(&s.connections),
            resets: get(&s.resets),
            cuts: get(&s.cuts),
            stalled: get(&s.stalled),
            requests: get(&s.requests),
            bytes_up: get(&s.bytes_up),
            bytes_down: get(&s.bytes_down),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // The acceptor blocks in `accept`; one more connection wakes it. It
        // cannot fail while the listener is open (the kernel completes the
        // handshake from the backlog), so the join below is bounded.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Accepts until shutdown, then joins every connection thread (each ends
/// within about [`POLL`] plus any latency it is sleeping).
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    for client in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        if shared.outage.load(Ordering::SeqCst) || shared.reset_new.load(Ordering::SeqCst) {
            reset(&client);
            shared.resets.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let Ok(server) = TcpStream::connect(("127.0.0.1", shared.target)) else {
            reset(&client);
            shared.resets.fetch_add(1, Ordering::SeqCst);
            continue;
        };
        let Some([client_read, client_write, server_read, server_write]) = prepare(client, server)
        else {
            continue;
        };
        let conn = Arc::new(Conn {
            epoch: shared.epoch.load(Ordering::SeqCst),
            killed: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            up: AtomicU64::new(0),
        });
        threads.retain(|thread| !thread.is_finished());
        for (from, to, up) in [
            (client_read, server_write, true),
            (server_read, client_write, false),
        ] {
            let shared = Arc::clone(shared);
            let conn = Arc::clone(&conn);
            threads.push(std::thread::spawn(move || {
                pump(&shared, &conn, from, to, up);
            }));
        }
    }
    for thread in threads {
        let _ = thread.join();
    }
}

/// Sets both sockets up for polling and forwarding without delay, and
/// returns a handle per direction and end.
fn prepare(client: TcpStream, server: TcpStream) -> Option<[TcpStream; 4]> {
    for socket in [&client, &server] {
        // Nagle would add delays the test did not ask for.
        socket.set_nodelay(true).ok()?;
        socket.set_read_timeout(Some(POLL)).ok()?;
        socket.set_write_timeout(Some(POLL)).ok()?;
    }
    let client_write = client.try_clone().ok()?;
    let server_write = server.try_clone().ok()?;
    Some([client, client_write, server, server_write])
}

/// Makes the socket's last close send a TCP reset instead of a FIN. The
/// reset goes out when every handle of it is dropped.
fn reset(socket: &TcpStream) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
}

/// Forwards one direction of `conn` until either end closes or a fault
/// kills it.
fn pump(shared: &Shared, conn: &Conn, mut from: TcpStream, mut to: TcpStream, up: bool) {
    let mut buf = [0u8; 16 * 1024];
    let mut framer = RequestFramer::default();
    loop {
        if shared.dooms(conn) {
            kill(shared, conn, &from, &to);
            return;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => {
                // An orderly close: pass it on and let the other direction finish.
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => {
                // Reset (or worse) by one end: the other end sees a reset too.
                kill(shared, conn, &from, &to);
                return;
            }
        };
        let stall = shared.stall.load(Ordering::SeqCst)
            || (!up && shared.stall_responses.load(Ordering::SeqCst));
        if stall || conn.stalled.load(Ordering::SeqCst) {
            if !conn.stalled.swap(true, Ordering::SeqCst) {
                shared.stalled.fetch_add(1, Ordering::SeqCst);
            }
            continue;
        }
        let latency = Duration::from_micros(shared.latency_micros.load(Ordering::SeqCst));
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let mut chunk = &buf[..n];
        let mut cut = false;
        if up {
            let limit = shared.cut_after.load(Ordering::SeqCst);
            let before = conn.up.fetch_add(n as u64, Ordering::SeqCst);
            if limit != NO_CUT && before + n as u64 > limit {
                let allowed = usize::try_from(limit.saturating_sub(before)).unwrap_or(n);
                chunk = &chunk[..allowed.min(n)];
                cut = true;
            }
            shared
                .requests
                .fetch_add(framer.feed(chunk), Ordering::SeqCst);
        }
        if !forward(shared, conn, &mut to, chunk) {
            kill(shared, conn, &from, &to);
            return;
        }
        let forwarded = if up {
            &shared.bytes_up
        } else {
            &shared.bytes_down
        };
        forwarded.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        if cut {
            shared.cuts.fetch_add(1, Ordering::SeqCst);
            kill(shared, conn, &from, &to);
            return;
        }
    }
}

/// Writes all of `data` to `to`, unless the connection is doomed first.
fn forward(shared: &Shared, conn: &Conn, to: &mut TcpStream, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        if shared.dooms(conn) {
            return false;
        }
        match to.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Ends the connection with a reset on both sides. The other direction's
/// thread sees `killed` within [`POLL`] and drops its handles, which sends
/// the resets.
fn kill(shared: &Shared, conn: &Conn, a: &TcpStream, b: &TcpStream) {
    reset(a);
    reset(b);
    if !conn.killed.swap(true, Ordering::SeqCst) {
        shared.resets.fetch_add(1, Ordering::SeqCst);
    }
}

impl Shared {
    /// Whether a fault (or the proxy's end) means `conn` must die now.
    fn dooms(&self, conn: &Conn) -> bool {
        conn.killed.load(Ordering::SeqCst)
            || self.outage.load(Ordering::SeqCst)
            || self.shutdown.load(Ordering::SeqCst)
            || self.epoch.load(Ordering::SeqCst) > conn.epoch
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Finds the request heads in one connection's client → server bytes.
#[derive(Default)]
struct RequestFramer {
    /// The current request head so far.
    head: Vec<u8>,
    /// Body bytes of the current request still to come.
    body_left: u64,
    /// Framing is unknown from here on (chunked body, or not HTTP).
    lost: bool,
}

impl RequestFramer {
    /// Request heads completed by `chunk`.
    fn feed(&mut self, chunk: &[u8]) -> u64 {
        let mut found = 0;
        let mut at = 0;
        while at < chunk.len() && !self.lost {
            if self.body_left > 0 {
                let rest = (chunk.len() - at) as u64;
                let skip = rest.min(self.body_left);
                at += skip as usize;
                self.body_left -= skip;
                continue;
            }
            self.head.push(chunk[at]);
            at += 1;
            if self.head.ends_with(b"\r\n\r\n") {
                found += 1;
                match body_length(&self.head) {
                    Some(length) => self.body_left = length,
                    None => self.lost = true,
                }
                self.head.clear();
            } else if self.head.len() > MAX_HEAD {
                self.lost = true;
            }
        }
        found
    }
}

/// The body length a request head announces: its `Content-Length`, zero
/// without one, `None` for a chunked body.
fn body_length(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    let mut length = 0;
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
    }
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback echo server for a few connections (its threads end with
    /// the test process).
    fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    fn is_reset(err: &std::io::Error) -> bool {
        matches!(
            err.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        )
    }

    fn connect(proxy: &FaultProxy) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    fn round_trip(stream: &mut TcpStream, data: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(data)?;
        let mut back = vec![0u8; data.len()];
        stream.read_exact(&mut back)?;
        Ok(back)
    }

    #[test]
    fn forwards_and_counts_requests() {
        let port = echo_server();
        let proxy = FaultProxy::start(port);
        let mut stream = connect(&proxy);
        // The body looks like a request line; only the two heads count.
        let requests = b"PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /GET /c HTTP/1.1\r\n\r\n";
        assert_eq!(round_trip(&mut stream, requests).unwrap(), requests);
        let len = requests.len() as u64;
        // Counted just after the write the client has already read.
        assert!(crate::wait_until(Duration::from_secs(5), || proxy
            .stats()
            .bytes_down
            == len));
        let stats = proxy.stats();
        assert_eq!(stats.requests, 2, "{stats:?}");
        assert_eq!(stats.bytes_up, len);
    }

    #[test]
    fn resets_existing_and_new_connections() {
        let port = echo_server();
        let proxy = FaultProxy::start(port);
        let mut stream = connect(&proxy);
        round_trip(&mut stream, b"hello").unwrap();
        proxy.reset_existing();
        std::thread::sleep(POLL * 5);
        let err = round_trip(&mut stream, b"again").unwrap_err();
        assert!(is_reset(&err), "{err}");

        proxy.set_outage(true);
        let mut stream = connect(&proxy);
        let err = round_trip(&mut stream, b"down").unwrap_err();
        assert!(is_reset(&err), "{err}");
        proxy.set_outage(false);
        let mut stream = connect(&proxy);
        assert_eq!(round_trip(&mut stream, b"up").unwrap(), b"up");
        assert_eq!(proxy.stats().resets, 2);
    }

    #[test]
    fn cuts_after_n_bytes_upstream() {
        let port = echo_server();
        let proxy = FaultProxy::start(port);
        proxy.set_cut_after(Some(3));
        let mut stream = connect(&proxy);
        stream.write_all(b"abcdef").unwrap();
        let mut back = Vec::new();
        let err = stream.read_to_end(&mut back).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        assert!(b"abc".starts_with(&back), "{back:?}");
        let stats = proxy.stats();
        assert_eq!((stats.cuts, stats.bytes_up), (1, 3), "{stats:?}");
    }

    #[test]
    fn a_stalled_connection_stays_silent_and_open() {
        let port = echo_server();
        let proxy = FaultProxy::start(port);
        let mut stream = connect(&proxy);
        proxy.set_stall(true);
        stream.write_all(b"held").unwrap();
        stream.set_read_timeout(Some(POLL * 10)).unwrap();
        let mut buf = [0u8; 4];
        let err = stream.read(&mut buf).unwrap_err();
        assert!(is_timeout(&err), "{err}");
        proxy.set_stall(false);
        let err = stream.read(&mut buf).unwrap_err();
        assert!(
            is_timeout(&err),
            "a stalled connection stays stalled: {err}"
        );
        let mut fresh = connect(&proxy);
        assert_eq!(round_trip(&mut fresh, b"ok").unwrap(), b"ok");
        assert_eq!(proxy.stats().stalled, 1);
    }

    #[test]
    fn stalled_responses_still_deliver_requests() {
        let port = echo_server();
        let proxy = FaultProxy::start(port);
        let mut stream = connect(&proxy);
        proxy.set_stall_responses(true);
        stream.write_all(b"req").unwrap();
        stream.set_read_timeout(Some(POLL * 10)).unwrap();
        let mut buf = [0u8; 3];
        let err = stream.read(&mut buf).unwrap_err();
        assert!(is_timeout(&err), "{err}");
        let stats = proxy.stats();
        let seen = (stats.bytes_up, stats.bytes_down, stats.stalled);
        assert_eq!(seen, (3, 0, 1), "{stats:?}");
    }

    #[test]
    fn adds_latency_per_chunk() {
        let port = echo_server();
        let proxy = FaultProxy::start(port);
        proxy.set_latency(Duration::from_millis(100));
        let mut stream = connect(&proxy);
        let started = std::time::Instant::now();
        round_trip(&mut stream, b"slow").unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
