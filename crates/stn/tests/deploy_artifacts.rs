//! The files `stn deploy` writes for compose, systemd, Kubernetes and Fly,
//! checked by the real validators (scripts/test-services.sh installs them),
//! and `--apply` for Fly through a recording stand-in for flyctl on PATH.

mod common;
mod deploy_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Stn;
use deploy_support::{VARIABLE, deploy_args, env_file, environment};

const TOKEN: &str = "secret-token-that-must-not-leak";
/// A config dir with the `default` environment and a deploy into `out`.
fn deploy(target: &str, persistence: &[&str], extra: &[&str]) -> (Stn, tempfile::TempDir) {
    let stn = Stn::local();
    environment(&stn);
    let out = tempfile::tempdir().unwrap();
    let out_text = out.path().to_string_lossy().into_owned();
    let mut args = deploy_args(target, "acme", &["-o", &out_text]);
    args.extend(persistence);
    args.extend(extra);
    let output = stn
        .command(&args)
        .env("DATABASE_AUTH_TOKEN", TOKEN)
        .env("AWS_SECRET_ACCESS_KEY", TOKEN)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (stn, out)
}

/// Runs a validator; prints and returns its output, asserting success.
fn validate(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("$ {program} {}\n{text}", args.join(" "));
    assert!(output.status.success(), "{program} rejected it:\n{text}");
    text
}

/// The generated admin key in the env file.
fn bootstrap_key(env_file_path: &Path) -> String {
    env_file(env_file_path)
        .remove("STN_BOOTSTRAP_API_KEY")
        .expect("the env file holds the bootstrap key")
}

/// No file but the 0600 env file holds the token, the variable's value and
/// the admin key (the bundle, gzip'd, is unpacked to look inside).
fn assert_secret_only_in_env_file(out: &Path, env_file: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let key = bootstrap_key(&out.join(env_file));
    assert!(key.starts_with("stn_") && key.len() >= 32, "{key}");
    for entry in std::fs::read_dir(out).unwrap().flatten() {
        let bytes = if entry.file_name() == "station-bundle.tar.gz" {
            let mut text = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(entry.path()).unwrap()),
                &mut text,
            )
            .unwrap();
            text
        } else {
            std::fs::read(entry.path()).unwrap()
        };
        let text = String::from_utf8_lossy(&bytes);
        if entry.file_name() == env_file {
            assert!(text.contains(TOKEN));
            assert!(text.contains(&format!("FILES_TOKEN={VARIABLE}")), "{text}");
            let mode = entry.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{env_file} is not 0600");
        } else {
            for secret in [TOKEN, VARIABLE, &key] {
                assert!(
                    !text.contains(secret),
                    "a secret is in {:?}",
                    entry.file_name()
                );
            }
        }
    }
}

/// The bundle beside the artifacts is the environment's, read by `stn bundle inspect`.
fn assert_bundle_of_default(stn: &Stn, out: &Path) {
    let bundle = out.join("station-bundle.tar.gz");
    let text = stn.ok(&["bundle", "inspect", &bundle.to_string_lossy(), "--json"]);
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(manifest["bundle"]["name"], "default");
    assert_eq!(manifest["agents"][0]["name"], "helper", "{manifest}");
    assert_eq!(manifest["required_variables"][0]["name"], "FILES_TOKEN");
}

#[test]
fn compose_file_passes_the_compose_spec_schema() {
    let Some(check) = stn_testkit::service("STN_TEST_CHECK_JSONSCHEMA") else {
        return;
    };
    for persistence in [
        ["--database", "libsql://acme.turso.io"],
        ["--replica", "s3://bucket/acme"],
    ] {
        let (stn, out) = deploy("compose", &persistence, &[]);
        let file = out.path().join("compose.yaml");
        let text = validate(
            &check,
            &[
                "--builtin-schema",
                "vendor.compose-spec",
                &file.to_string_lossy(),
            ],
        );
        assert!(text.contains("ok -- validation done"), "{text}");
        let compose: serde_json::Value =
            yaml_serde::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let service = &compose["services"]["station"];
        assert_eq!(
            service["volumes"],
            serde_json::json!([
                {"type": "volume", "source": "station-data", "target": "/data"},
                {"type": "bind", "source": "./station-bundle.tar.gz",
                 "target": "/etc/station/bundle/station-bundle.tar.gz", "read_only": true},
            ]),
            "a named volume holds the data, the bundle is mounted read-only"
        );
        let env = &service["environment"];
        assert_eq!(
            env["STN_BUNDLE"],
            "/etc/station/bundle/station-bundle.tar.gz"
        );
        assert_eq!(env["STN_BUNDLE_ENV"], "default");
        assert_eq!(env["STN_BUNDLE_REPLACE"], "true");
        assert_eq!(env["STN_ADDR"], "0.0.0.0:8585");
        assert_eq!(
            service["healthcheck"]["test"][3],
            "http://127.0.0.1:8585/health"
        );
        assert_secret_only_in_env_file(out.path(), "station.env");
        assert_bundle_of_default(&stn, out.path());
    }
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = stn_testkit::service("STN_TEST_SYSTEMD_ANALYZE") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_stn");
    let (stn, out) = deploy(
        "systemd",
        &["--database", "libsql://acme.turso.io"],
        &["--stn-binary", bin],
    );
    let unit = out.path().join("station-acme.service");
    validate(&analyze, &["verify", "--man=no", &unit.to_string_lossy()]);
    let text = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "EnvironmentFile=/etc/station/acme.env",
        "StateDirectory=station-acme",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "Environment=\"STN_BUNDLE=/etc/station/acme/station-bundle.tar.gz\"",
        "Environment=\"STN_BUNDLE_REPLACE=true\"",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    let install = std::fs::read_to_string(out.path().join("install.sh")).unwrap();
    assert!(install.contains("install -m 0600 acme.env /etc/station/acme.env"));
    assert!(
        install.contains(
            "install -m 0644 station-bundle.tar.gz /etc/station/acme/station-bundle.tar.gz"
        )
    );
    validate(
        "sh",
        &["-n", &out.path().join("install.sh").to_string_lossy()],
    );
    assert_secret_only_in_env_file(out.path(), "acme.env");
    assert_bundle_of_default(&stn, out.path());
}

fn kubernetes_validate(validator: &str, files: &[PathBuf]) {
    let mut args: Vec<String> = vec!["--strict".into()];
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    validate(validator, &args);
}

#[test]
fn kubernetes_manifests_pass_kubernetes_validate() {
    let Some(validator) = stn_testkit::service("STN_TEST_KUBERNETES_VALIDATE") else {
        return;
    };
    // A replica: a StatefulSet whose claim keeps the file between restarts.
    let (_stn, out) = deploy(
        "kubernetes",
        &["--replica", "s3://bucket/acme"],
        &["--namespace", "agents"],
    );
    let set = out.path().join("statefulset.yaml");
    let config_map = out.path().join("bundle-configmap.yaml");
    kubernetes_validate(
        &validator,
        &[
            set.clone(),
            out.path().join("service.yaml"),
            config_map.clone(),
        ],
    );
    // The ConfigMap carries the very bundle, mounted where STN_BUNDLE points.
    let map: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&config_map).unwrap()).unwrap();
    use base64::Engine as _;
    let carried = base64::engine::general_purpose::STANDARD
        .decode(map["binaryData"]["station-bundle.tar.gz"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        carried,
        std::fs::read(out.path().join("station-bundle.tar.gz")).unwrap()
    );
    let text = std::fs::read_to_string(&set).unwrap();
    assert!(
        text.contains("volumeClaimTemplates") && text.contains("path: /health"),
        "{text}"
    );
    assert!(text.contains("livenessProbe") && text.contains("readinessProbe"));
    let set: serde_json::Value = yaml_serde::from_str(&text).unwrap();
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"],
        serde_json::json!([{"name": "bundle", "configMap": {"name": "acme-bundle"}}])
    );
    assert_eq!(
        pod["containers"][0]["volumeMounts"][1],
        serde_json::json!({"name": "bundle", "mountPath": "/etc/station/bundle", "readOnly": true})
    );
    // A remote database: a Deployment.
    let (_stn, out) = deploy("kubernetes", &["--database", "libsql://acme.turso.io"], &[]);
    kubernetes_validate(
        &validator,
        &[
            out.path().join("deployment.yaml"),
            out.path().join("service.yaml"),
            out.path().join("bundle-configmap.yaml"),
        ],
    );
    assert_secret_only_in_env_file(out.path(), "station.env");
    // kustomize renders the Secret from the env file; validate all of it.
    if let Ok(kubectl) = which("kubectl") {
        let rendered = Command::new(kubectl)
            .args(["kustomize"])
            .arg(out.path())
            .output()
            .unwrap();
        assert!(
            rendered.status.success(),
            "{}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let all = out.path().join("rendered.yaml");
        std::fs::write(&all, &rendered.stdout).unwrap();
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(
            text.contains("kind: Secret") && text.contains("name: acme-secrets"),
            "{text}"
        );
        assert!(text.contains("kind: ConfigMap") && text.contains("name: acme-bundle"));
        kubernetes_validate(&validator, &[all]);
    }
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

/// `fly.toml` parsed by Python's tomllib, as JSON.
fn parse_toml(python: &str, file: &Path) -> serde_json::Value {
    let script = "import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],'rb'))))";
    let text = validate(python, &["-c", script, &file.to_string_lossy()]);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn fly_toml_mounts_the_volume_and_checks_health() {
    let Some(python) = stn_testkit::service("STN_TEST_PYTHON") else {
        return;
    };
    let (_stn, out) = deploy(
        "fly",
        &["--replica", "s3://bucket/acme"],
        &["--region", "fra"],
    );
    let fly = parse_toml(&python, &out.path().join("fly.toml"));
    assert_eq!(fly["app"], "acme");
    assert_eq!(fly["primary_region"], "fra");
    assert_eq!(fly["http_service"]["internal_port"], 8585);
    assert_eq!(fly["http_service"]["checks"][0]["path"], "/health");
    assert_eq!(fly["mounts"][0]["source"], "station_data");
    assert_eq!(fly["mounts"][0]["destination"], "/data");
    assert_eq!(fly["env"]["DATABASE_URL"], "/data/station.db");
    assert_eq!(fly["env"]["STN_REPLICA_URL"], "s3://bucket/acme");
    assert_eq!(fly["env"]["STN_ADDR"], "0.0.0.0:8585");
    assert_eq!(
        fly["env"]["STN_BUNDLE"],
        "/etc/station/bundle/station-bundle.tar.gz"
    );
    assert_eq!(
        fly["files"][0],
        serde_json::json!({
            "guest_path": "/etc/station/bundle/station-bundle.tar.gz",
            "local_path": "station-bundle.tar.gz",
        })
    );
    assert!(out.path().join("station-bundle.tar.gz").is_file());
}

#[test]
fn kubernetes_refuses_a_bundle_a_config_map_cannot_hold() {
    let stn = Stn::local();
    environment(&stn);
    // Random digits compress to about half: a prompt of 2.2 MB of them
    // keeps the bundle above 1 MiB (a bundle holds only what Station reads).
    let mut big = vec![0u8; 1100 * 1024];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut big);
    let hex: String = big.iter().map(|b| format!("{b:02x}")).collect();
    let env = stn.config_dir().join("environments/default");
    std::fs::write(
        env.join("agents/big.prompt"),
        format!("---\nmetadata:\n  description: big\n---\n\n{hex}\n"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let out_text = out.path().to_string_lossy().into_owned();
    let output = stn
        .command(&deploy_args(
            "kubernetes",
            "acme",
            &["-o", &out_text, "--database", "libsql://acme.turso.io"],
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("more than a Kubernetes ConfigMap holds (1 MiB)")
            && stderr.contains("hint: move large files out of environments/default"),
        "{stderr}"
    );
    assert!(!out.path().join("bundle-configmap.yaml").exists());
}

#[test]
fn fly_apply_runs_flyctl_with_secrets_on_stdin() {
    let Some(python) = stn_testkit::service("STN_TEST_PYTHON") else {
        return;
    };
    // The recording stand-in: argv and stdin into a log; no app, no volume yet.
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("flyctl.log");
    let script = format!(
        "#!/bin/sh\necho \"ARGV $*\" >> '{log}'\ncase \"$1 $2\" in\n  'status --app') exit 1 ;;\n  'secrets import') echo STDIN >> '{log}'; cat >> '{log}' ;;\n  'volumes list') echo '[]' ;;\n  'deploy --app') echo \"CWD $PWD\" >> '{log}' ;;\nesac\nexit 0\n",
        log = log.display()
    );
    let flyctl = bin.path().join("flyctl");
    std::fs::write(&flyctl, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&flyctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );

    let stn = Stn::local();
    environment(&stn);
    let out = tempfile::tempdir().unwrap();
    let out_text = out.path().to_string_lossy().into_owned();
    let output = stn
        .command(&deploy_args(
            "fly",
            "acme",
            &[
                "-o",
                &out_text,
                "--database",
                "libsql://acme.turso.io",
                "--apply",
                "--region",
                "fra",
            ],
        ))
        .env("DATABASE_AUTH_TOKEN", TOKEN)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    println!("{calls}");
    let fly_toml = out.path().join("fly.toml");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "ARGV status --app acme".to_owned(),
            "ARGV apps create acme --org personal".to_owned(),
            "ARGV secrets import --app acme --stage".to_owned(),
            "STDIN".to_owned(),
            format!("DATABASE_AUTH_TOKEN={TOKEN}"),
            format!("FILES_TOKEN={VARIABLE}"),
            format!(
                "STN_BOOTSTRAP_API_KEY={}",
                bootstrap_key(&stn.config_dir().join("deployments/acme/secrets.env"))
            ),
            "ARGV volumes list --app acme --json".to_owned(),
            "ARGV volumes create station_data --app acme --region fra --size 3 --yes".to_owned(),
            format!(
                "ARGV deploy --app acme --config {} --ha=false",
                fly_toml.display()
            ),
            // Where `[[files]] local_path` (the bundle) is found.
            format!("CWD {}", out.path().display()),
        ]
    );
    let fly = parse_toml(&python, &fly_toml);
    assert_eq!(fly["env"]["DATABASE_URL"], "libsql://acme.turso.io");
    assert!(!std::fs::read_to_string(&fly_toml).unwrap().contains(TOKEN));
}

#[test]
fn a_redeploy_keeps_the_bootstrap_key() {
    let (stn, out) = deploy("compose", &["--ephemeral"], &[]);
    let first = bootstrap_key(&out.path().join("station.env"));
    let out_text = out.path().to_string_lossy().into_owned();
    stn.ok(&deploy_args(
        "compose",
        "acme",
        &["-o", &out_text, "--ephemeral"],
    ));
    assert_eq!(
        bootstrap_key(&out.path().join("station.env")),
        first,
        "the instance stored the first key's hash: a new key would lock the user out"
    );
}
