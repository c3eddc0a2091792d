//! The web UI over HTTP, without a browser: security headers, sign-in with a
//! key, the session cookie and its end, CSRF and `Origin` checks. The browser
//! scenarios are in crates/stn/tests/ui_browser.rs.

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};
use stn_server::{ServeOptions, serve};
use tokio::sync::oneshot;

struct Ui {
    base: String,
    host: String,
    station: Station,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
}

async fn start() -> Ui {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(dir.path().join("s.db").to_str().unwrap()).unwrap();
    let station = Station::new(Database::open(&url).await.unwrap(), Layout::new(dir.path()));
    station.migrate().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (shutdown, signal) = oneshot::channel::<()>();
    let options = ServeOptions {
        allow_keyless: true,
        ..ServeOptions::default()
    };
    tokio::spawn(serve(station.clone(), listener, options, async move {
        let _ = signal.await;
    }));
    Ui {
        base: format!("http://{host}"),
        host,
        station,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
        _shutdown: shutdown,
    }
}

/// The value of cookie `name` among the response's `Set-Cookie` headers, with its attributes.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn value(cookie: &str) -> &str {
    cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// `a=1&b=2`, percent-encoded as a browser sends a form.
fn encode_form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Ui {
    /// A page's answer and the CSRF cookie it set.
    async fn csrf(&self) -> String {
        let response = self
            .client
            .get(format!("{}/signin", self.base))
            .send()
            .await
            .unwrap();
        value(&set_cookie(response.headers(), "stn_csrf").expect("a CSRF cookie")).to_owned()
    }

    async fn get_with(&self, path: &str, cookies: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, cookies)
            .send()
            .await
            .unwrap()
    }

    async fn post_form(
        &self,
        path: &str,
        cookies: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, cookies)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encode_form(form));
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        request.send().await.unwrap()
    }
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_assets_are_compiled_in() {
    let ui = start().await;
    let response = ui.client.get(format!("{}/", ui.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key(header::REFERRER_POLICY));
    let html = response.text().await.unwrap();
    // No inline script or style: the policy would block them anyway.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    let js = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let asset = ui
        .client
        .get(format!("{}{js}", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.text().await.unwrap().contains("EventSource"));
}

#[tokio::test]
async fn sign_in_takes_a_key_and_revoking_the_key_ends_the_session() {
    let ui = start().await;
    let store = ui.station.store();
    store.create_user("alice", true).await.unwrap();
    let (record, key) = store.create_api_key("alice", "laptop").await.unwrap();
    // With a key in the database, pages need a sign-in.
    let page = ui
        .client
        .get(format!("{}/runs", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[header::LOCATION], "/signin");

    let csrf = ui.csrf().await;
    let cookies = format!("stn_csrf={csrf}");
    let origin = format!("http://{}", ui.host);
    let wrong = ui
        .post_form(
            "/signin",
            &cookies,
            Some(&origin),
            &[("csrf", &csrf), ("key", "stn_wrong")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(wrong.headers(), "stn_session").is_none());

    let signed = ui
        .post_form(
            "/signin",
            &cookies,
            Some(&origin),
            &[("csrf", &csrf), ("key", &key)],
        )
        .await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(signed.headers(), "stn_session").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    // Plain HTTP and no trusted proxy: not `Secure`, or the browser would drop it.
    assert!(!session.contains("Secure"), "{session}");
    let token = value(&session).to_owned();
    assert!(!token.contains(&key), "the cookie must not be the key");
    let with_session = format!("stn_csrf={csrf}; stn_session={token}");
    let page = ui.get_with("/runs", &with_session).await;
    assert_eq!(page.status(), StatusCode::OK);
    // The API takes the cookie too (the page's EventSource sends no key).
    let api = ui.get_with("/api/v1/runs", &with_session).await;
    assert_eq!(api.status(), StatusCode::OK);

    // Another key stays, so the server still needs one (with none left, a
    // loopback server is keyless again, as for the API).
    store.create_api_key("alice", "other").await.unwrap();
    store.revoke_api_key(&record.prefix).await.unwrap();
    let page = ui.get_with("/runs", &with_session).await;
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "a revoked key's session still works"
    );
}

#[tokio::test]
async fn forms_need_their_token_and_our_origin() {
    let ui = start().await;
    let csrf = ui.csrf().await;
    let cookies = format!("stn_csrf={csrf}");
    let origin = format!("http://{}", ui.host);
    let form = [("csrf", csrf.as_str()), ("user", "console"), ("name", "k")];
    // Another loopback port is the same "site" but another origin.
    let other_port = ui
        .post_form("/keys", &cookies, Some("http://127.0.0.1:1"), &form)
        .await;
    assert_eq!(other_port.status(), StatusCode::FORBIDDEN);
    let no_origin = ui.post_form("/keys", &cookies, None, &form).await;
    assert_eq!(no_origin.status(), StatusCode::FORBIDDEN);
    let wrong_token = ui
        .post_form(
            "/keys",
            &cookies,
            Some(&origin),
            &[("csrf", "stn_guess"), ("user", "console"), ("name", "k")],
        )
        .await;
    assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);
    assert!(ui.station.store().list_api_keys().await.unwrap().is_empty());
    // A keyless API write from a foreign page is refused too.
    let api = ui
        .client
        .post(format!("{}/api/v1/environments", ui.base))
        .header(header::ORIGIN, "http://127.0.0.1:1")
        .json(&serde_json::json!({"name": "evil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    // The same form from our own page creates the key and shows it once.
    let made = ui.post_form("/keys", &cookies, Some(&origin), &form).await;
    assert_eq!(made.status(), StatusCode::OK);
    let html = made.text().await.unwrap();
    assert!(html.contains("data-new-key"), "{html}");
    assert_eq!(ui.station.store().list_api_keys().await.unwrap().len(), 1);
}
