//! What a container made from `stn deploy --target compose` does on start,
//! played on loopback: a fresh config dir (the container's), the compose
//! file's environment with the bundle where the bind mount puts it, and the
//! secrets of `station.env`. The instance installs the bundle and stores the
//! hash of the bootstrap admin key, so it could listen off loopback.

mod common;
mod deploy_support;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Server, Stn};
use deploy_support::{
    VARIABLE, agent_names, create_agent, deploy_args, env_file, environment, get_agents,
};

/// The deploying side: `default` with an agent and an MCP config using a
/// variable, deployed as compose files into `out`.
fn deploy_compose(out: &Path) {
    let stn = Stn::local();
    environment(&stn);
    let printed = stn.ok(&deploy_args(
        "compose",
        "acme",
        &["--ephemeral", "-o", &out.to_string_lossy()],
    ));
    assert!(
        printed.contains(&format!(
            "admin API key: STN_BOOTSTRAP_API_KEY in {}",
            out.join("station.env").display()
        )),
        "the deploying user is told where the key is: {printed}"
    );
}

/// The container's variables: compose `environment` (the bundle path mapped
/// to the file the bind mount shows) and `station.env`.
fn container_env(out: &Path) -> BTreeMap<String, String> {
    let compose: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap()).unwrap();
    let mut env: BTreeMap<String, String> = compose["services"]["station"]["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let mount = &compose["services"]["station"]["volumes"][0];
    assert_eq!(
        mount["target"].as_str(),
        env.get("STN_BUNDLE").map(String::as_str)
    );
    let source = out.join(mount["source"].as_str().unwrap());
    env.insert("STN_BUNDLE".into(), source.to_string_lossy().into_owned());
    // The container's paths (/data) do not exist here: its config dir and
    // database are the test's.
    for var in ["STATION_CONFIG_DIR", "DATABASE_URL", "STN_ADDR"] {
        env.remove(var);
    }
    env.extend(env_file(&out.join("station.env")));
    env
}

#[tokio::test]
async fn a_compose_instance_starts_with_the_bundle_and_the_bootstrap_key() {
    let out = tempfile::tempdir().unwrap();
    deploy_compose(out.path());
    let env = container_env(out.path());
    let key = env["STN_BOOTSTRAP_API_KEY"].clone();
    let pairs: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("STN_LOG", "debug")])
        .collect();

    let container = Stn::local();
    let log = container.config_dir().join("serve.log");
    let mut server = Server::start(&container, &[], &pairs, &log);
    let base = format!("http://127.0.0.1:{}", server.port);

    assert_eq!(
        get_agents(&base, None).await.status(),
        401,
        "with a key stored, no request goes without one"
    );
    assert_eq!(
        agent_names(&base, Some(&key)).await,
        ["helper"],
        "the bundle's agent is served"
    );
    // Creating is for admins only.
    create_agent(&base, Some(&key), "via-api").await;

    // A restart stores nothing twice and the key still works.
    server.stop();
    let mut server = Server::start(&container, &[], &pairs, &log);
    let base = format!("http://127.0.0.1:{}", server.port);
    assert_eq!(get_agents(&base, Some(&key)).await.status(), 200);
    server.stop();

    let db = container.config_dir().join("station.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, String, bool)> = conn
        .prepare(
            "SELECT u.username, k.key_hash, u.is_admin FROM api_keys k JOIN users u ON u.id = k.user_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1, "one key after two starts: {rows:?}");
    assert_eq!(rows[0].0, "admin");
    assert!(rows[0].2, "the bootstrap user is an admin");
    assert_ne!(rows[0].1, key);
    drop(conn);
    for file in std::fs::read_dir(container.config_dir()).unwrap().flatten() {
        if file.file_type().unwrap().is_file() {
            let bytes = std::fs::read(file.path()).unwrap();
            for secret in [key.as_str(), VARIABLE] {
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(secret),
                    "a secret is in {}",
                    file.path().display()
                );
            }
        }
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("stored the hash of the bootstrap API key"),
        "{logged}"
    );
}
