//! `--provision`: a real sqld (admin API, namespaces, Ed25519 JWTs) on
//! loopback, and the Turso Platform API answered by a local stand-in with
//! its documented shapes (the API cannot be reached from these machines).

mod common;
mod deploy_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::Stn;
use deploy_support::{agent_names, create_agent, deploy_args, env_file};

/// One Hrana pipeline request to namespace `ns` (by Host header, as sqld routes).
async fn pipeline(port: u16, ns: &str, token: &str, sql: &str) -> (u16, String) {
    let host = format!("{ns}.db.test");
    let http = reqwest::Client::builder()
        .resolve(&host, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .unwrap();
    let response = http
        .post(format!("http://{host}:{port}/v2/pipeline"))
        .bearer_auth(token)
        .json(&serde_json::json!({"requests": [
            {"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}
        ]}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn state(stn: &Stn, name: &str) -> serde_json::Value {
    let path = stn
        .config_dir()
        .join("deployments")
        .join(name)
        .join("state.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A real sqld with JWTs and namespaces, the operator's private key file
/// and the admin API's URL.
fn namespaced_sqld() -> Option<(stn_testkit::Sqld, String, String)> {
    let sqld = stn_testkit::Sqld::start(stn_testkit::SqldOptions {
        jwt: true,
        namespaces: true,
    })?;
    let key = stn_testkit::service("STN_TEST_JWT_PRIVATE_KEY").unwrap();
    let admin = sqld.admin_url().unwrap();
    Some((sqld, key, admin))
}

#[tokio::test(flavor = "multi_thread")]
async fn sqld_namespaces_per_deployment_with_scoped_tokens() {
    let Some((sqld, key, admin)) = namespaced_sqld() else {
        return;
    };
    let stn = Stn::local();
    stn.ok(&["init"]);
    let out_dir = tempfile::tempdir().unwrap();
    let sqld_url = format!("http://db.test:{}", sqld.port());
    let deploy = |name: &str| {
        let out = out_dir.path().join(name);
        let out_text = out.to_string_lossy().into_owned();
        let spec = format!("sqld={admin}");
        let text = stn.ok(&deploy_args(
            "compose",
            name,
            &[
                "-o",
                &out_text,
                "--provision",
                &spec,
                "--jwt-key",
                &key,
                "--sqld-url",
                &sqld_url,
            ],
        ));
        println!("$ stn deploy default --target compose --name {name} --provision sqld=… \n{text}");
        env_file(&out.join("station.env"))
    };
    let a = deploy("team-a");
    let b = deploy("team-b");
    let compose = std::fs::read_to_string(out_dir.path().join("team-a/compose.yaml")).unwrap();
    assert!(
        compose.contains(&format!("http://team-a.db.test:{}", sqld.port())),
        "{compose}"
    );
    assert_eq!(state(&stn, "team-a")["provisioned"]["step"], "ready");

    let port = sqld.port();
    let (a_rw, a_ro) = (&a["DATABASE_AUTH_TOKEN"], &a["STN_READONLY_DATABASE_TOKEN"]);
    let (b_rw, b_ro) = (&b["DATABASE_AUTH_TOKEN"], &b["STN_READONLY_DATABASE_TOKEN"]);
    for (ns, token) in [("team-a", a_rw), ("team-b", b_rw)] {
        let (status, body) = pipeline(port, ns, token, "CREATE TABLE t (x TEXT)").await;
        assert_eq!(status, 200, "{ns}: {body}");
        let insert = format!("INSERT INTO t VALUES ('{ns}')");
        assert_eq!(pipeline(port, ns, token, &insert).await.0, 200);
    }
    // A's tokens cannot reach B (sqld hides the namespace: 404), and back.
    let (status, body) = pipeline(port, "team-b", a_rw, "SELECT x FROM t").await;
    println!("A's token on B: {status} {body}");
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        pipeline(port, "team-a", b_ro, "SELECT x FROM t").await.0,
        404
    );
    // The read-only token reads and cannot write.
    let (status, body) = pipeline(port, "team-a", a_ro, "SELECT x FROM t").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("team-a") && !body.contains("team-b"),
        "{body}"
    );
    let (status, body) = pipeline(port, "team-a", a_ro, "INSERT INTO t VALUES ('no')").await;
    println!("read-only token writing: {status} {body}");
    assert_eq!(status, 403, "{body}");

    // A second deploy reuses the namespace and its data.
    let again = deploy("team-a");
    let (status, body) = pipeline(
        port,
        "team-a",
        &again["DATABASE_AUTH_TOKEN"],
        "SELECT x FROM t",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("team-a"), "{body}");

    // destroy deletes A's namespace; --keep-data keeps B's.
    stn.ok(&["deploy", "destroy", "team-a"]);
    assert_eq!(pipeline(port, "team-a", a_rw, "SELECT 1").await.0, 404);
    stn.ok(&["deploy", "destroy", "team-b", "--keep-data"]);
    let (status, body) = pipeline(port, "team-b", b_rw, "SELECT x FROM t").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("team-b"));
}

/// A real `stn serve` (the `local` target) on a provisioned namespace,
/// reached as `http://NS.db.localhost:PORT` (stn-db maps `*.localhost` to
/// loopback): what is made through its API is in that namespace only.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_deployment_serves_from_its_provisioned_namespace() {
    let Some((sqld, key, admin)) = namespaced_sqld() else {
        return;
    };
    let port = sqld.port();
    let spec = format!("sqld={admin}");
    let sqld_url = format!("http://db.localhost:{port}");
    let stn = Stn::local();
    stn.ok(&["init"]);
    stn.ok(&[
        "agent",
        "create",
        "helper",
        "-p",
        "Help.",
        "-d",
        "from the bundle",
    ]);
    let provision = [
        "--provision",
        &spec,
        "--jwt-key",
        &key,
        "--sqld-url",
        &sqld_url,
    ];

    let mut args = vec!["deploy", "default", "--target", "local", "--name", "ns-a"];
    args.extend(provision);
    let text = stn.ok(&args);
    println!("$ stn {}\n{text}", args.join(" "));
    let status = stn.json(&["deploy", "status", "--json"]);
    let base = status[0]["url"].as_str().unwrap().to_owned();
    create_agent(&base, None, "via-api").await;
    assert_eq!(agent_names(&base, None).await, ["helper", "via-api"]);

    // B: another deployment on the same sqld (artifacts only).
    let out = tempfile::tempdir().unwrap();
    let out_text = out.path().to_string_lossy().into_owned();
    let mut args = deploy_args("compose", "ns-b", &["-o", &out_text]);
    args.extend(provision);
    stn.ok(&args);

    let a = env_file(&stn.config_dir().join("deployments/ns-a/secrets.env"));
    let b = env_file(&out.path().join("station.env"));
    let query = "SELECT name FROM agents ORDER BY name";
    let (code, body) = pipeline(port, "ns-a", &a["DATABASE_AUTH_TOKEN"], query).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("via-api") && body.contains("helper"),
        "{body}"
    );
    let (code, body) = pipeline(port, "ns-a", &b["DATABASE_AUTH_TOKEN"], query).await;
    println!("B's token on A's namespace: {code} {body}");
    assert_eq!(code, 404, "{body}");
    let (_, body) = pipeline(port, "ns-b", &b["DATABASE_AUTH_TOKEN"], query).await;
    assert!(
        !body.contains("via-api"),
        "B's namespace holds nothing of A: {body}"
    );

    // A redeploy serves the same namespace: the agent made through the API stays.
    let mut args = vec!["deploy", "default", "--target", "local", "--name", "ns-a"];
    args.extend(provision);
    stn.ok(&args);
    assert_eq!(agent_names(&base, None).await, ["helper", "via-api"]);

    stn.ok(&["deploy", "destroy", "ns-a"]);
    stn.ok(&["deploy", "destroy", "ns-b"]);
    let (code, _) = pipeline(port, "ns-a", &a["DATABASE_AUTH_TOKEN"], "SELECT 1").await;
    assert_eq!(code, 404, "destroy deleted A's namespace");
}

/// sqld's admin API behind `--admin-auth-key`: refused with a hint
/// without `LIBSQL_ADMIN_AUTH_KEY`, provisioned and deleted with it.
#[tokio::test(flavor = "multi_thread")]
async fn sqld_admin_api_with_an_auth_key() {
    const ADMIN_KEY: &str = "admin-key-that-must-not-leak";
    let options = stn_testkit::SqldOptions {
        jwt: true,
        namespaces: true,
    };
    let Some(sqld) = stn_testkit::Sqld::start_with_admin_auth_key(options, ADMIN_KEY) else {
        return;
    };
    let key = stn_testkit::service("STN_TEST_JWT_PRIVATE_KEY").unwrap();
    let spec = format!("sqld={}", sqld.admin_url().unwrap());
    let sqld_url = format!("http://db.localhost:{}", sqld.port());
    let stn = Stn::local();
    stn.ok(&["init"]);
    let out = tempfile::tempdir().unwrap();
    let out_text = out.path().to_string_lossy().into_owned();
    let args = deploy_args(
        "compose",
        "guarded",
        &[
            "-o",
            &out_text,
            "--provision",
            &spec,
            "--jwt-key",
            &key,
            "--sqld-url",
            &sqld_url,
        ],
    );
    let err = stn.fails(&args, 1);
    assert!(
        err.contains("sqld refused to create namespace guarded")
            && err.contains("hint:")
            && err.contains("LIBSQL_ADMIN_AUTH_KEY"),
        "{err}"
    );

    let output = stn
        .command(&args)
        .env("LIBSQL_ADMIN_AUTH_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(
        !text.contains(ADMIN_KEY),
        "the admin key is printed: {text}"
    );
    let token = env_file(&out.path().join("station.env"))["DATABASE_AUTH_TOKEN"].clone();
    let (code, body) = pipeline(sqld.port(), "guarded", &token, "SELECT 1").await;
    assert_eq!(code, 200, "{body}");

    let err = stn.fails(&["deploy", "destroy", "guarded"], 1);
    assert!(err.contains("LIBSQL_ADMIN_AUTH_KEY"), "{err}");
    stn.command(&["deploy", "destroy", "guarded"])
        .env("LIBSQL_ADMIN_AUTH_KEY", ADMIN_KEY)
        .status()
        .unwrap()
        .success()
        .then_some(())
        .expect("destroy with the admin key");
    let (code, _) = pipeline(sqld.port(), "guarded", &token, "SELECT 1").await;
    assert_eq!(code, 404, "destroy deleted the namespace");
}

#[test]
fn sqld_provisioning_without_a_key_creates_nothing() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let err = stn.fails(
        &[
            "deploy",
            "default",
            "--target",
            "compose",
            "--provision",
            "sqld=http://127.0.0.1:9",
            "--sqld-url",
            "http://db.test:8080",
        ],
        1,
    );
    assert!(err.contains("--jwt-key"), "{err}");
}

/// The Turso Platform API as documented (capitalised database keys, 409 on
/// an existing name, `{jwt}` tokens, `{"error": …}` failures).
#[derive(Default)]
struct Turso {
    databases: BTreeMap<String, String>,
    requests: Vec<String>,
    fail_next_token: bool,
    tokens: u32,
}

async fn turso_stand_in(turso: Arc<Mutex<Turso>>) -> String {
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    type Shared = State<Arc<Mutex<Turso>>>;
    fn authorized(headers: &HeaderMap) -> bool {
        headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer platform-token")
    }
    let app = Router::new()
        .route(
            "/v1/organizations/{org}/databases",
            post(|State(t): Shared, Path(org): Path<String>, headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
                let mut t = t.lock().unwrap();
                t.requests.push(format!("POST /organizations/{org}/databases {body}"));
                if !authorized(&headers) {
                    return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "bad token"})));
                }
                let name = body["name"].as_str().unwrap().to_owned();
                if t.databases.contains_key(&name) {
                    return (StatusCode::CONFLICT, Json(serde_json::json!({"error": format!("database {name} already exists")})));
                }
                let host = format!("{name}-{org}.turso.io");
                t.databases.insert(name.clone(), host.clone());
                (StatusCode::OK, Json(serde_json::json!({"database": {"DbId": "id-1", "Hostname": host, "Name": name}})))
            }),
        )
        .route(
            "/v1/organizations/{org}/databases/{name}",
            get(|State(t): Shared, Path((org, name)): Path<(String, String)>| async move {
                let mut t = t.lock().unwrap();
                t.requests.push(format!("GET /organizations/{org}/databases/{name}"));
                match t.databases.get(&name) {
                    Some(host) => (StatusCode::OK, Json(serde_json::json!({"database": {"DbId": "id-1", "Hostname": host, "Name": name}}))),
                    None => (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "not found"}))),
                }
            })
            .delete(|State(t): Shared, Path((org, name)): Path<(String, String)>| async move {
                let mut t = t.lock().unwrap();
                t.requests.push(format!("DELETE /organizations/{org}/databases/{name}"));
                match t.databases.remove(&name) {
                    Some(_) => (StatusCode::OK, Json(serde_json::json!({"database": name}))),
                    None => (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "not found"}))),
                }
            }),
        )
        .route(
            "/v1/organizations/{org}/databases/{name}/auth/tokens",
            post(|State(t): Shared, Path((org, name)): Path<(String, String)>, Query(q): Query<BTreeMap<String, String>>| async move {
                let mut t = t.lock().unwrap();
                t.requests.push(format!(
                    "POST /organizations/{org}/databases/{name}/auth/tokens?expiration={}&authorization={}",
                    q["expiration"], q["authorization"]
                ));
                if std::mem::take(&mut t.fail_next_token) {
                    return (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({"error": "token service down"})));
                }
                t.tokens += 1;
                (StatusCode::OK, Json(serde_json::json!({"jwt": format!("jwt-{name}-{}-{}", q["authorization"], t.tokens)})))
            }),
        )
        .with_state(turso);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread")]
async fn turso_provisioning_resumes_after_a_failure_and_destroy_deletes() {
    let turso = Arc::new(Mutex::new(Turso {
        fail_next_token: true,
        ..Turso::default()
    }));
    let api = turso_stand_in(Arc::clone(&turso)).await;
    let stn = Stn::local();
    stn.ok(&["init"]);
    let out = tempfile::tempdir().unwrap();
    let out_text = out.path().to_string_lossy().into_owned();
    let args = deploy_args(
        "kubernetes",
        "team-t",
        &[
            "-o",
            &out_text,
            "--provision",
            "turso",
            "--org",
            "acme",
            "--group",
            "eu",
        ],
    );
    let run = |args: &[&str]| {
        stn.command(args)
            .env("TURSO_API_URL", &api)
            .env("TURSO_API_TOKEN", "platform-token")
            .output()
            .unwrap()
    };

    // The token call fails after the database was created: the state says so.
    let first = tokio::task::block_in_place(|| run(&args));
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{err}");
    assert!(
        err.contains("token service down") && err.contains("run the deploy again"),
        "{err}"
    );
    let recorded = state(&stn, "team-t");
    assert_eq!(recorded["provisioned"]["step"], "created", "{recorded}");
    assert_eq!(
        recorded["provisioned"]["url"],
        "libsql://team-t-acme.turso.io"
    );
    assert!(!err.contains("platform-token"));

    // Deploying again reuses the database (409) and finishes.
    let second = tokio::task::block_in_place(|| run(&args));
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(state(&stn, "team-t")["provisioned"]["step"], "ready");
    let secrets = env_file(&out.path().join("station.env"));
    assert!(secrets["DATABASE_AUTH_TOKEN"].starts_with("jwt-team-t-full-access"));
    assert!(secrets["STN_READONLY_DATABASE_TOKEN"].starts_with("jwt-team-t-read-only"));
    let deployment = std::fs::read_to_string(out.path().join("deployment.yaml")).unwrap();
    assert!(deployment.contains("libsql://team-t-acme.turso.io"));
    assert!(!deployment.contains("jwt-"), "no token in the manifest");

    let destroyed = tokio::task::block_in_place(|| run(&["deploy", "destroy", "team-t"]));
    assert!(
        destroyed.status.success(),
        "{}",
        String::from_utf8_lossy(&destroyed.stderr)
    );
    let t = turso.lock().unwrap();
    assert!(t.databases.is_empty(), "deleted");
    println!("{}", t.requests.join("\n"));
    assert_eq!(
        t.requests,
        [
            r#"POST /organizations/acme/databases {"group":"eu","name":"team-t"}"#,
            "POST /organizations/acme/databases/team-t/auth/tokens?expiration=90d&authorization=full-access",
            r#"POST /organizations/acme/databases {"group":"eu","name":"team-t"}"#,
            "GET /organizations/acme/databases/team-t",
            "POST /organizations/acme/databases/team-t/auth/tokens?expiration=90d&authorization=full-access",
            "POST /organizations/acme/databases/team-t/auth/tokens?expiration=90d&authorization=read-only",
            "DELETE /organizations/acme/databases/team-t",
        ]
    );
}
