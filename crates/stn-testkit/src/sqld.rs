//! A real sqld (libsql-server) per test, on its own port and data directory.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;

use crate::{free_port, service, wait_for_http_ok};

/// How to start sqld.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqldOptions {
    /// Require Ed25519 JWTs (the key pair from `scripts/test-services.sh`).
    pub jwt: bool,
    /// Turn namespaces on: the database is picked by the first Host label, so
    /// `http://127.0.0.1` asks for namespace `127`, which does not exist.
    pub namespaces: bool,
}

/// A running sqld, stopped (by PID) when dropped.
pub struct Sqld {
    child: Child,
    port: u16,
    admin_port: Option<u16>,
    _dir: tempfile::TempDir,
}

impl Sqld {
    /// Starts sqld, or returns `None` when `STN_TEST_SQLD_BIN` is unset outside CI.
    pub fn start(options: SqldOptions) -> Option<Sqld> {
        Self::launch(options, None)
    }

    /// Like [`Sqld::start`], with the admin API behind `--admin-auth-key KEY`
    /// (clients send `Authorization: basic KEY`).
    pub fn start_with_admin_auth_key(options: SqldOptions, key: &str) -> Option<Sqld> {
        Self::launch(options, Some(key))
    }

    fn launch(options: SqldOptions, admin_auth_key: Option<&str>) -> Option<Sqld> {
        let bin = service("STN_TEST_SQLD_BIN")?;
        let dir = tempfile::tempdir().expect("temp dir for sqld");
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg("--db-path")
                .arg(dir.path().join("data"))
                .args(["--http-listen-addr", &format!("127.0.0.1:{port}")])
                .arg("--no-welcome")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if options.jwt {
                let key = service("STN_TEST_JWT_PUBLIC_KEY")?;
                cmd.args(["--auth-jwt-key-file", &key]);
            }
            let admin_port = options.namespaces.then(free_port);
            if let Some(admin) = admin_port {
                cmd.args([
                    "--enable-namespaces",
                    "--admin-listen-addr",
                    &format!("127.0.0.1:{admin}"),
                ]);
            }
            if let Some(key) = admin_auth_key {
                cmd.args(["--admin-auth-key", key]);
            }
            let mut child = cmd.spawn().expect("start sqld");
            if wait_for_http_ok(port, "/health", Duration::from_secs(15)) {
                return Some(Sqld {
                    child,
                    port,
                    admin_port,
                    _dir: dir,
                });
            }
            // Most likely the port was taken between probe and bind: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sqld did not become healthy on 127.0.0.1 after 3 attempts");
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin API's `http://127.0.0.1:PORT` (with `namespaces` only).
    pub fn admin_url(&self) -> Option<String> {
        self.admin_port.map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Sqld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs an EdDSA JWT with the test private key. `claims` as sqld reads them:
/// `{"a": "ro"}` for read-only, `{"exp": …}` to expire.
pub fn mint_jwt(claims: &serde_json::Value) -> String {
    let path = service("STN_TEST_JWT_PRIVATE_KEY").expect("STN_TEST_JWT_PRIVATE_KEY");
    let pem = std::fs::read_to_string(&path).expect("read the JWT private key");
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).expect("Ed25519 PKCS#8 PEM key");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let payload = b64.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = b64.encode(key.sign(signing_input.as_bytes()).to_bytes());
    format!("{signing_input}.{signature}")
}
