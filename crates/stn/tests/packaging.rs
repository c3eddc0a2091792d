//! The container and service files: checked statically, and the start-up
//! they rely on (`stn serve` configured only from the image's environment plus
//! the LITESTREAM_S3_* variables) run for real outside a container.

mod common;

use common::Stn;

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `KEY=VALUE` pairs of the Dockerfile's ENV instructions.
fn dockerfile_env(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ENV "))
        .flat_map(|rest| {
            rest.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_checks_the_real_port() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains(" AS build"), "a build stage");
    assert!(
        dockerfile.contains("COPY --from=build"),
        "the runtime stage copies only the binary"
    );
    assert!(
        dockerfile.lines().any(|l| l.trim() == "USER station"),
        "runs as a non-root user"
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"stn\"]") && dockerfile.contains("CMD [\"serve\"]"));
    let env = dockerfile_env(&dockerfile);
    let addr = &env
        .iter()
        .find(|(k, _)| k == "STN_ADDR")
        .expect("STN_ADDR")
        .1;
    let port = addr.rsplit(':').next().unwrap();
    let healthcheck = dockerfile.replace("\\\n", " ");
    let healthcheck = healthcheck
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("HEALTHCHECK");
    // The shell form reads the port from STN_ADDR when it runs, so a
    // container started with another STN_ADDR is checked on its port.
    assert!(
        healthcheck.contains("http://127.0.0.1:${STN_ADDR##*:}/health"),
        "health check on the served port: {healthcheck}"
    );
    assert!(dockerfile.contains(&format!("EXPOSE {port}")));
    assert_eq!(
        env.iter().find(|(k, _)| k == "DATABASE_URL").unwrap().1,
        "/data/station.db"
    );
}

#[test]
fn compose_files_and_unit_are_well_formed() {
    for path in ["deploy/compose/s3.yml", "deploy/compose/turso.yml"] {
        let doc: yaml_serde::Value =
            yaml_serde::from_str(&repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let env = &doc["services"]["station"]["environment"];
        assert!(env.is_mapping(), "{path}: station.environment");
        // Off loopback `stn serve` refuses to start without an API key.
        assert!(
            env["STN_BOOTSTRAP_API_KEY"]
                .as_str()
                .is_some_and(|v| v.starts_with("${STN_BOOTSTRAP_API_KEY:?")),
            "{path} requires the bootstrap key"
        );
    }
    let s3: yaml_serde::Value = yaml_serde::from_str(&repo_file("deploy/compose/s3.yml")).unwrap();
    for var in [
        "LITESTREAM_S3_BUCKET",
        "LITESTREAM_S3_ACCESS_KEY_ID",
        "LITESTREAM_S3_SECRET_ACCESS_KEY",
        "LITESTREAM_S3_REGION",
    ] {
        assert!(
            !s3["services"]["station"]["environment"][var].is_null(),
            "s3.yml sets {var}"
        );
    }
    let unit = repo_file("deploy/systemd/station.service");
    for needle in [
        "[Unit]",
        "[Service]",
        "[Install]",
        "ExecStart=/usr/local/bin/stn serve",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.contains(needle), "station.service lacks {needle}");
    }
}

/// `stn serve` with the image's environment on `port`, as the container runs it.
fn serve(stn: &Stn, env: &[(String, String)], port: u16) -> common::Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    common::Server::start_on(port, stn, &[], &env, &stn.config_dir().join("serve.log"))
}

#[tokio::test(flavor = "multi_thread")]
async fn image_start_up_restores_an_empty_volume_from_litestream_s3_variables() {
    let (Some(endpoint), Some(bucket)) = (
        stn_testkit::service("STN_TEST_S3_ENDPOINT"),
        stn_testkit::service("STN_TEST_BUCKET"),
    ) else {
        return;
    };
    let volume = tempfile::tempdir().unwrap();
    let stn = Stn::local();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut env: Vec<(String, String)> = dockerfile_env(&repo_file("Dockerfile"))
        .into_iter()
        .filter(|(k, _)| k != "STN_ADDR" && k != "STATION_CONFIG_DIR")
        .map(|(k, v)| (k, v.replace("/data", &volume.path().display().to_string())))
        .collect();
    env.extend([
        ("LITESTREAM_S3_BUCKET".to_owned(), bucket),
        ("LITESTREAM_S3_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        (
            "LITESTREAM_S3_SECRET_ACCESS_KEY".to_owned(),
            "test".to_owned(),
        ),
        ("LITESTREAM_S3_REGION".to_owned(), "us-east-1".to_owned()),
        ("LITESTREAM_S3_ENDPOINT".to_owned(), endpoint),
        ("LITESTREAM_S3_PATH".to_owned(), format!("image-{nanos}")),
    ]);
    let port = stn_testkit::free_port();
    let mut server = serve(&stn, &env, port);
    let http = reqwest::Client::new();
    for name in ["planner", "coder", "reviewer"] {
        let r = http
            .post(format!("http://127.0.0.1:{port}/api/v1/agents"))
            .json(&serde_json::json!({"name": name, "prompt": "p", "description": "d"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    server.stop(); // final sync
    std::fs::remove_dir_all(volume.path()).unwrap();
    std::fs::create_dir_all(volume.path()).unwrap(); // a new, empty volume

    let mut server = serve(&stn, &env, port);
    let agents = stn_testkit::get_json(&format!("{}/api/v1/agents", server.base())).await;
    assert_eq!(
        agents.as_array().unwrap().len(),
        3,
        "restored on start: {agents}"
    );
    server.stop();
}
