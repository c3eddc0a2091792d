//! A stdio MCP server as a child process: its own process group (so `npx`
//! and `uvx` grandchildren go with it), a bounded tail of its stderr, the
//! non-JSON lines it wrote to stdout, and its exit status.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

use crate::error::McpError;
use crate::pidfile::Registry;
use crate::types::Transport;

/// How long a server may take to exit after SIGTERM before SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(1);
const STDERR_LINES: usize = 20;
const GARBAGE_LINES: usize = 3;
const LINE_CHARS: usize = 300;
/// Shorter configured values are not masked: `1` or `on` hides nothing and
/// would shred every line.
const MIN_HIDDEN_LEN: usize = 4;

/// What a server told us besides protocol messages, for error messages.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    /// The values of the server's configured environment (tokens, keys):
    /// a server that prints them must not put them into our errors and logs.
    hidden: Vec<String>,
    stderr: Mutex<VecDeque<String>>,
    garbage: Mutex<Vec<String>>,
}

impl Diagnostics {
    fn hiding<'a>(values: impl Iterator<Item = &'a String>) -> Diagnostics {
        let mut hidden: Vec<String> = values
            .filter(|v| v.trim().len() >= MIN_HIDDEN_LEN)
            .map(|v| v.trim().to_owned())
            .collect();
        hidden.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Diagnostics {
            hidden,
            ..Diagnostics::default()
        }
    }

    /// `line` with the configured values masked.
    fn masked(&self, line: &str) -> String {
        self.hidden.iter().fold(line.to_owned(), |line, value| {
            line.replace(value.as_str(), "[redacted]")
        })
    }

    fn push_stderr(&self, line: &str) {
        let mut tail = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(clip(line));
    }

    /// A line on stdout that is not JSON-RPC: logged (the first few at warn,
    /// as they are often why a server misbehaves; then at debug) and kept for
    /// an error message.
    fn push_garbage(&self, server: &str, line: &str) {
        let mut garbage = self.garbage.lock().unwrap_or_else(|e| e.into_inner());
        let line = clip(line);
        if garbage.len() < GARBAGE_LINES {
            tracing::warn!(server, line = %line, "MCP server wrote a non-JSON-RPC line to stdout; ignored");
            garbage.push(line);
        } else {
            tracing::debug!(server, line = %line, "MCP server wrote a non-JSON-RPC line to stdout; ignored");
        }
    }

    /// "stdout was not JSON-RPC: `…`; stderr: a | b" (empty when nothing to say).
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        let garbage = self.garbage.lock().unwrap_or_else(|e| e.into_inner());
        if !garbage.is_empty() {
            parts.push(format!(
                "it wrote non-JSON-RPC output to stdout: `{}`",
                garbage.join("` `")
            ));
        }
        let stderr = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if !stderr.is_empty() {
            let lines: Vec<&str> = stderr.iter().map(String::as_str).collect();
            parts.push(format!("stderr: {}", lines.join(" | ")));
        }
        parts.join("; ")
    }
}

fn clip(line: &str) -> String {
    let line = line.trim_end();
    match line.char_indices().nth(LINE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

/// A running stdio server. Dropping it SIGKILLs its process group.
#[derive(Debug)]
pub(crate) struct StdioChild {
    pgid: u32,
    exit: watch::Receiver<Option<ExitStatus>>,
    pub(crate) diagnostics: Arc<Diagnostics>,
}

/// The child and the two ends of its protocol stream.
pub(crate) struct Spawned {
    pub(crate) child: StdioChild,
    /// Its stdout with non-JSON lines taken out (they go to the diagnostics).
    pub(crate) stdout: DuplexStream,
    pub(crate) stdin: ChildStdin,
}

/// The variables a server inherits from us; everything else it needs comes
/// from its config's `env`. Our own environment holds database tokens, model
/// API keys and cloud credentials, which a third-party server must not see
/// (the official MCP SDKs inherit a similar short list for the same reason).
const INHERITED_ENV: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "TERM",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

fn inherited_env() -> impl Iterator<Item = (&'static str, std::ffi::OsString)> {
    INHERITED_ENV
        .iter()
        .filter_map(|name| Some((*name, std::env::var_os(name)?)))
}

/// Starts the server of a stdio transport in a new process group.
pub(crate) fn spawn(
    server: &str,
    transport: &Transport,
    registry: &Arc<Registry>,
) -> Result<Spawned, McpError> {
    let Transport::Stdio {
        command,
        args,
        env,
        cwd,
    } = transport
    else {
        unreachable!("spawn is only called for stdio transports");
    };
    if command.trim().is_empty() {
        return Err(McpError::BadSpec {
            server: server.to_owned(),
            detail: "the command is empty".to_owned(),
        });
    }
    let mut cmd = Command::new(command);
    cmd.args(args)
        .env_clear()
        .envs(inherited_env())
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().map_err(|e| McpError::Start {
        server: server.to_owned(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => format!("command `{command}` not found"),
            std::io::ErrorKind::PermissionDenied => {
                format!("command `{command}` is not executable")
            }
            _ => format!("cannot run `{command}`: {e}"),
        },
    })?;
    let pgid = child.id().expect("a child that was just spawned has a pid");
    registry.register(pgid);

    let diagnostics = Arc::new(Diagnostics::hiding(env.values()));
    let (stdin, stdout, stderr) = (
        child.stdin.take().expect("stdin is piped"),
        child.stdout.take().expect("stdout is piped"),
        child.stderr.take().expect("stderr is piped"),
    );
    let (protocol_end, filter_end) = tokio::io::duplex(64 * 1024);
    tokio::spawn(filter_stdout(
        server.to_owned(),
        stdout,
        filter_end,
        diagnostics.clone(),
    ));
    let name = server.to_owned();
    let tail = diagnostics.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = tail.masked(&line);
            tracing::debug!(server = %name, "stderr: {line}");
            tail.push_stderr(&line);
        }
    });
    let (exit_tx, exit) = watch::channel(None);
    let registry = registry.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        // The leader is gone: whatever it started (npx's node, uvx's python)
        // would be an orphan now, so the rest of its group goes too.
        let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
        registry.forget(pgid);
        let _ =
            exit_tx.send(Some(status.unwrap_or_else(|_| {
                std::os::unix::process::ExitStatusExt::from_raw(-1)
            })));
    });
    Ok(Spawned {
        child: StdioChild {
            pgid,
            exit,
            diagnostics,
        },
        stdout: protocol_end,
        stdin,
    })
}

/// Copies JSON-RPC lines from the server's stdout to the protocol stream and
/// takes the others out (a banner, a log line, JSON that is not JSON-RPC):
/// rmcp's stdio transport would fail the session on them.
async fn filter_stdout(
    server: String,
    stdout: ChildStdout,
    mut out: DuplexStream,
    diagnostics: Arc<Diagnostics>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if is_json_rpc(&line) {
            if out.write_all(&line).await.is_err() {
                break;
            }
        } else {
            diagnostics.push_garbage(
                &server,
                &diagnostics.masked(&String::from_utf8_lossy(&line)),
            );
        }
    }
    let _ = out.shutdown().await;
}

/// A JSON-RPC 2.0 message or batch: `{"jsonrpc": "2.0", …}` or a list of them.
fn is_json_rpc(line: &[u8]) -> bool {
    let is_message =
        |v: &serde_json::Value| v.get("jsonrpc").and_then(|v| v.as_str()) == Some("2.0");
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Array(items)) => !items.is_empty() && items.iter().all(is_message),
        Ok(value) => is_message(&value),
        Err(_) => false,
    }
}

impl StdioChild {
    /// The exit status once the server has exited.
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    /// Resolves with the exit status when the server exits.
    pub(crate) async fn exited(&self) -> ExitStatus {
        let mut exit = self.exit.clone();
        // Copied out at once: the borrow guard is not Send and must not live
        // across the await below (callers run in spawned tasks).
        let status = exit.wait_for(Option::is_some).await.map(|s| *s);
        match status {
            Ok(status) => status.expect("waited for Some"),
            // The waiter task is gone only when the runtime shuts down.
            Err(_) => std::future::pending().await,
        }
    }

    /// Why the server is not usable: exit status and what it printed.
    pub(crate) async fn reason(&self) -> String {
        let status = match self.exit_status() {
            Some(status) => Some(status),
            // Give a server that is exiting a moment, so its status and last
            // stderr lines are part of the message.
            None => tokio::time::timeout(Duration::from_millis(200), self.exited())
                .await
                .ok(),
        };
        if status.is_some() {
            // The stderr reader may still be draining the pipe.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut parts = Vec::new();
        if let Some(status) = status {
            parts.push(describe_status(status));
        }
        let diag = self.diagnostics.describe();
        if !diag.is_empty() {
            parts.push(diag);
        }
        if parts.is_empty() {
            "no output".to_owned()
        } else {
            parts.join("; ")
        }
    }

    /// SIGTERM to the group, [`KILL_GRACE`] to exit, then SIGKILL to the group.
    pub(crate) async fn terminate(&self) {
        if self.exit_status().is_some() {
            return;
        }
        let group = Pid::from_raw(self.pgid as i32);
        let _ = killpg(group, Signal::SIGTERM);
        if tokio::time::timeout(KILL_GRACE, self.exited())
            .await
            .is_err()
        {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = tokio::time::timeout(KILL_GRACE, self.exited()).await;
        }
    }
}

impl Drop for StdioChild {
    fn drop(&mut self) {
        if self.exit_status().is_none() {
            // No await in drop: no grace, but nothing of the group survives.
            let _ = killpg(Pid::from_raw(self.pgid as i32), Signal::SIGKILL);
        }
    }
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(signal)) => format!("it was killed by signal {signal}"),
        _ => format!("it exited ({status})"),
    }
}
