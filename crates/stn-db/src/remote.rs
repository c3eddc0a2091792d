//! The remote engine: a libSQL server (Turso, sqld) over Hrana v3 HTTP.
//!
//! Every operation is exactly one `POST /v3/pipeline` that opens a stream and
//! closes it again (`baton: null` in, a trailing `close` request). No stream
//! outlives a call, so the server's 10 s idle-stream expiry (`STREAM_EXPIRED`)
//! can never surface, and one `reqwest::Client` keeps TLS connections warm
//! across calls. Writes are one `batch` whose steps turn foreign keys on,
//! `BEGIN IMMEDIATE`, run the statements each guarded on the previous one, then
//! `COMMIT`, with a `ROLLBACK` that runs only if the commit did not: atomic,
//! with the same cascades as a local file, in one round trip.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value as Json, json};

use crate::RemoteTimeouts;
use crate::error::DbError;
use crate::url::AuthToken;
use crate::value::{ResultSet, Row, Statement, Value};

/// Connection attempts for a request that never reached the server.
const CONNECT_ATTEMPTS: u32 = 3;

pub(crate) struct RemoteDb {
    http: reqwest::Client,
    pipeline_url: url::Url,
    token: Option<AuthToken>,
    /// The server as shown to people: scheme, host and port only.
    shown: String,
    timeouts: RemoteTimeouts,
}

impl RemoteDb {
    pub(crate) fn new(
        base: &url::Url,
        token: Option<AuthToken>,
        timeouts: RemoteTimeouts,
    ) -> Result<Self, DbError> {
        let shown = base.as_str().trim_end_matches('/').to_owned();
        let pipeline_url = base.join("v3/pipeline").map_err(|e| DbError::InvalidUrl {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(host) = base.host_str().filter(|h| is_localhost_name(h)) {
            // `*.localhost` is loopback (RFC 6761) but glibc does not resolve
            // subdomains of it. sqld picks the namespace from the first label
            // of the Host header, so `http://NS.db.localhost:PORT` reaches
            // namespace NS of a local sqld; the port comes from the URL.
            builder = builder.resolve_to_addrs(
                host,
                &[
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
                ],
            );
        }
        let http = builder
            .build()
            .map_err(|e| DbError::Internal(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            pipeline_url,
            token,
            shown,
            timeouts,
        })
    }

    pub(crate) async fn query(&self, stmt: Statement) -> Result<ResultSet, DbError> {
        let response = self
            .request_then_close(json!({"type": "execute", "stmt": encode_stmt(&stmt)}))
            .await?;
        self.decode_result(&response["result"])
    }

    pub(crate) async fn batch(&self, stmts: Vec<Statement>) -> Result<Vec<ResultSet>, DbError> {
        let n = stmts.len();
        let mut steps = vec![
            // foreign_keys is a no-op inside a transaction, so it comes first.
            json!({"stmt": encode_stmt(&Statement::plain("PRAGMA foreign_keys=ON"))}),
            json!({"stmt": encode_stmt(&Statement::plain("BEGIN IMMEDIATE")), "condition": ok(0)}),
        ];
        for (i, stmt) in stmts.iter().enumerate() {
            steps.push(json!({"stmt": encode_stmt(stmt), "condition": ok(i + 1)}));
        }
        let commit = n + 2;
        steps.push(
            json!({"stmt": encode_stmt(&Statement::plain("COMMIT")), "condition": ok(commit - 1)}),
        );
        steps.push(json!({
            "stmt": encode_stmt(&Statement::plain("ROLLBACK")),
            "condition": {"type": "not", "cond": ok(commit)},
        }));
        let response = self
            .request_then_close(json!({"type": "batch", "batch": {"steps": steps}}))
            .await?;
        let result = &response["result"];
        let errors = result["step_errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // The first failing step before the rollback explains the failure.
        if let Some(error) = errors.iter().take(commit + 1).find(|e| !e.is_null()) {
            return Err(sql_error(error));
        }
        let step_results = result["step_results"]
            .as_array()
            .ok_or_else(|| self.protocol("batch result without step_results"))?;
        if step_results.get(commit).is_none_or(Json::is_null) {
            return Err(self.protocol("the batch did not commit"));
        }
        step_results
            .iter()
            .skip(2)
            .take(n)
            .map(|r| self.decode_result(r))
            .collect()
    }

    /// Sends `request` on a fresh stream that is closed in the same HTTP
    /// request, and returns the request's response.
    async fn request_then_close(&self, request: Json) -> Result<Json, DbError> {
        let results = self.pipeline(json!([request, {"type": "close"}])).await?;
        let first = results
            .into_iter()
            .next()
            .ok_or_else(|| self.protocol("empty results"))?;
        self.ok_response(first)
    }

    /// Sends one pipeline request and returns its per-request results.
    async fn pipeline(&self, requests: Json) -> Result<Vec<Json>, DbError> {
        let body = json!({"baton": null, "requests": requests});
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let mut request = self.http.post(self.pipeline_url.clone()).json(&body);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token.expose());
            }
            match request.send().await {
                Ok(response) => break response,
                // A failed connect never reached the server, so retrying cannot apply anything twice.
                Err(e) if e.is_connect() && attempt < CONNECT_ATTEMPTS => {
                    tracing::debug!(server = %self.shown, attempt, "connect failed, retrying");
                    tokio::time::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1))).await;
                }
                Err(e) => return Err(self.transport_error(&e)),
            }
        };
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if !status.is_success() {
            return Err(self.status_error(status.as_u16(), &text));
        }
        let mut parsed: Json = serde_json::from_str(&text)
            .map_err(|e| self.protocol(&format!("response is not JSON: {e}")))?;
        match parsed["results"].take() {
            Json::Array(results) => Ok(results),
            _ => Err(self.protocol("response has no results")),
        }
    }

    fn ok_response(&self, mut result: Json) -> Result<Json, DbError> {
        match result["type"].as_str() {
            Some("ok") => Ok(result["response"].take()),
            Some("error") => Err(sql_error(&result["error"])),
            _ => Err(self.protocol("result is neither ok nor error")),
        }
    }

    fn decode_result(&self, result: &Json) -> Result<ResultSet, DbError> {
        let columns: std::sync::Arc<[String]> = result["cols"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let rows = result["rows"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|row| {
                let values = row
                    .as_array()
                    .ok_or_else(|| self.protocol("row is not an array"))?
                    .iter()
                    .map(|v| decode_value(v).ok_or_else(|| self.protocol("malformed value")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Row::new(std::sync::Arc::clone(&columns), values))
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(ResultSet {
            columns: columns.to_vec(),
            rows,
            rows_affected: result["affected_row_count"].as_u64().unwrap_or(0),
            last_insert_rowid: result["last_insert_rowid"]
                .as_str()
                .and_then(|s| s.parse().ok()),
        })
    }

    fn status_error(&self, status: u16, body: &str) -> DbError {
        let detail = server_message(body);
        let url = self.shown.clone();
        match status {
            401 => DbError::Unauthorized { url, detail },
            403 => DbError::Forbidden { url, detail },
            404 => DbError::NotFound { url, detail },
            _ => DbError::Server {
                url,
                status,
                detail,
            },
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> DbError {
        let detail = error_chain(e);
        let url = self.shown.clone();
        if e.is_timeout() {
            // A connect that timed out is also a timeout to reqwest; the
            // limit that applied tells the user which knob to turn.
            let (seconds, limit) = if e.is_connect() {
                (
                    self.timeouts.connect,
                    "connect timeout; set STN_DB_CONNECT_TIMEOUT=SECONDS to change it",
                )
            } else {
                (
                    self.timeouts.request,
                    "request timeout; set STN_DB_TIMEOUT=SECONDS to change it",
                )
            };
            return DbError::Timeout {
                url,
                seconds: seconds.as_secs_f64(),
                limit,
            };
        }
        let tls = self.pipeline_url.scheme() == "https"
            && [
                "InvalidContentType",
                "corrupt message",
                "tls handshake",
                "TLS",
            ]
            .iter()
            .any(|needle| detail.contains(needle));
        if tls {
            DbError::TlsMismatch { url, detail }
        } else {
            DbError::Unreachable { url, detail }
        }
    }

    fn protocol(&self, detail: &str) -> DbError {
        DbError::Protocol {
            url: self.shown.clone(),
            detail: detail.to_owned(),
        }
    }
}

fn ok(step: usize) -> Json {
    json!({"type": "ok", "step": step})
}

fn encode_stmt(stmt: &Statement) -> Json {
    let args: Vec<Json> = stmt.params.iter().map(encode_value).collect();
    json!({"sql": stmt.sql, "args": args, "want_rows": true})
}

fn encode_value(value: &Value) -> Json {
    match value {
        Value::Null => json!({"type": "null"}),
        Value::Integer(v) => json!({"type": "integer", "value": v.to_string()}),
        Value::Real(v) => json!({"type": "float", "value": v}),
        Value::Text(v) => json!({"type": "text", "value": v}),
        Value::Blob(v) => json!({"type": "blob", "base64": BASE64.encode(v)}),
    }
}

fn decode_value(value: &Json) -> Option<Value> {
    Some(match value["type"].as_str()? {
        "null" => Value::Null,
        "integer" => Value::Integer(match &value["value"] {
            Json::String(s) => s.parse().ok()?,
            other => other.as_i64()?,
        }),
        "float" => Value::Real(value["value"].as_f64()?),
        "text" => Value::Text(value["value"].as_str()?.to_owned()),
        "blob" => Value::Blob(BASE64.decode(value["base64"].as_str()?).ok()?),
        _ => return None,
    })
}

/// Standard alphabet; the server may or may not pad.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn sql_error(error: &Json) -> DbError {
    let message = error["message"]
        .as_str()
        .unwrap_or("unknown error")
        .to_owned();
    let code = error["code"].as_str().map(str::to_owned);
    match code.as_deref() {
        Some(c) if c.starts_with("SQLITE_CONSTRAINT") => DbError::Constraint { message },
        Some(c) if c.starts_with("SQLITE_BUSY") => DbError::Busy { message },
        _ => DbError::Sql { code, message },
    }
}

/// The server's explanation from an error body: JSON `{"error": …}` or plain text.
fn server_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Json>(body).ok().and_then(|j| {
        j["error"]
            .as_str()
            .or_else(|| j["message"].as_str())
            .map(str::to_owned)
    });
    let mut text = from_json.unwrap_or_else(|| body.trim().to_owned());
    if text.is_empty() {
        text = "no details".to_owned();
    }
    if text.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// `localhost` or a name under it, which always means this machine.
fn is_localhost_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::is_localhost_name;

    #[test]
    fn names_under_localhost_are_loopback() {
        assert!(is_localhost_name("localhost"));
        assert!(is_localhost_name("team-a.db.localhost"));
        assert!(is_localhost_name("NS.LocalHost."));
        assert!(!is_localhost_name("localhost.example.com"));
        assert!(!is_localhost_name("notlocalhost"));
    }
}
