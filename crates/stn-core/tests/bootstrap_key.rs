//! The bootstrap API key `stn deploy` hands a fresh instance: stored once,
//! as a hash, for an admin; a revoked one stays revoked; bad keys refused
//! without being shown.

use stn_core::store::{BOOTSTRAP_USER, new_api_key};
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};

async fn station(dir: &tempfile::TempDir) -> Station {
    let url = DatabaseUrl::parse(dir.path().join("s.db").to_str().unwrap()).unwrap();
    let station = Station::new(Database::open(&url).await.unwrap(), Layout::new(dir.path()));
    station.migrate().await.unwrap();
    station
}

#[tokio::test]
async fn stored_once_for_an_admin_and_a_revoked_key_stays_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    let key = new_api_key();
    let record = store.ensure_bootstrap_api_key(&key).await.unwrap().unwrap();
    assert_eq!(record.username, BOOTSTRAP_USER);
    assert!(store.authenticate(&key).await.unwrap().unwrap().is_admin);
    assert!(
        store
            .ensure_bootstrap_api_key(&key)
            .await
            .unwrap()
            .is_none()
    );

    store.revoke_api_key(&record.prefix).await.unwrap();
    assert!(
        store
            .ensure_bootstrap_api_key(&key)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store.authenticate(&key).await.unwrap().is_none(),
        "a restart must not bring a revoked key back"
    );
    // Another key (a new deployment secret) is added beside it.
    let other = new_api_key();
    assert!(
        store
            .ensure_bootstrap_api_key(&other)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn weak_keys_and_a_non_admin_user_are_refused_without_the_key_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    let short = "stn_short-secret";
    let err = store
        .ensure_bootstrap_api_key(short)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at least 32 characters") && !err.contains(short),
        "{err}"
    );

    store.create_user(BOOTSTRAP_USER, false).await.unwrap();
    let key = new_api_key();
    let err = store
        .ensure_bootstrap_api_key(&key)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an admin") && !err.contains(&key), "{err}");
    assert!(!store.has_api_keys().await.unwrap());
}
