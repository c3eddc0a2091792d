//! `/health` answers within its own deadline even when the database hangs.

use std::time::{Duration, Instant};

use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};
use stn_server::{ServeOptions, serve};

#[tokio::test]
async fn health_answers_503_within_two_seconds_when_the_remote_database_hangs() {
    let hung = stn_testkit::silent_listener();
    let port = hung.local_addr().unwrap().port();
    let url = DatabaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let db = Database::open(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let station = Station::new(db, Layout::new(dir.path()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        station,
        listener,
        ServeOptions {
            allow_keyless: true,
            ..ServeOptions::default()
        },
        async {
            let _ = stopped.await;
        },
    ));

    let started = Instant::now();
    // The client waits longer than the deadline under test, so a hang shows as
    // a slow answer rather than as a client error.
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::get(format!("{base}/health")),
    )
    .await
    .expect("/health answered within 10 s")
    .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        elapsed < Duration::from_millis(2500),
        "/health took {elapsed:?}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
