//! The files `stn deploy` writes for compose, systemd, Kubernetes and Fly.
//! Secrets never appear in them: they stay in an env file created 0600
//! (compose `env_file`, systemd `EnvironmentFile=`, kustomize
//! `secretGenerator`) or go to `flyctl secrets import` on stdin.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};
use stn_core::files::write_atomic;

use super::bundle::{self, EnvBundle};
use super::state::{Persistence, write_env_file};
use crate::cli::DeployTarget;

/// The port `stn serve` listens on inside a container or unit.
pub const PORT: u16 = 8585;
/// Data inside a container (the image's volume).
const DATA: &str = "/data";
/// Where a container finds the bundle (read-only).
const BUNDLE_DIR: &str = "/etc/station/bundle";
/// What a Kubernetes ConfigMap may hold (etcd's object limit), less room
/// for its metadata.
const CONFIG_MAP_MAX: usize = 1024 * 1024 - 16 * 1024;

/// What every artifact needs.
pub struct Spec<'a> {
    pub name: &'a str,
    pub environment: &'a str,
    pub image: &'a str,
    pub persistence: &'a Persistence,
    pub region: &'a str,
    pub namespace: &'a str,
    /// ExecStart's binary (systemd).
    pub stn_binary: &'a Path,
    pub port: u16,
    /// The environment's bundle, already written into the output directory.
    pub bundle: &'a EnvBundle,
}

/// Writes the target's files into `out` and returns their paths.
pub fn write(
    target: DeployTarget,
    spec: &Spec,
    out: &Path,
    secrets: &[(String, String)],
) -> Result<Vec<PathBuf>> {
    let files: Vec<(String, String)> = match target {
        DeployTarget::Compose => vec![("compose.yaml".into(), compose(spec)?)],
        DeployTarget::Systemd => vec![
            (unit_name(spec.name), systemd_unit(spec)),
            ("install.sh".into(), systemd_install(spec)),
        ],
        DeployTarget::Kubernetes => kubernetes(spec)?,
        DeployTarget::Fly => vec![("fly.toml".into(), fly_toml(spec))],
        DeployTarget::Local => Vec::new(),
    };
    let mut written = vec![spec.bundle.path.clone()];
    for (file, text) in files {
        let path = out.join(&file);
        write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    if let Some(env_file) = env_file_name(target, spec.name) {
        let path = out.join(env_file);
        write_env_file(&path, secrets)?;
        written.push(path);
    }
    #[cfg(unix)]
    if target == DeployTarget::Systemd {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            out.join("install.sh"),
            std::fs::Permissions::from_mode(0o755),
        )?;
    }
    Ok(written)
}

/// The env file of secrets beside the artifacts (Fly takes them on stdin instead).
pub fn env_file_name(target: DeployTarget, name: &str) -> Option<String> {
    match target {
        DeployTarget::Compose | DeployTarget::Kubernetes => Some("station.env".into()),
        DeployTarget::Systemd => Some(format!("{name}.env")),
        DeployTarget::Fly | DeployTarget::Local => None,
    }
}

fn unit_name(name: &str) -> String {
    format!("station-{name}.service")
}

/// How `stn serve` installs the bundle at `path`: on the first start, and
/// again whenever a redeploy brings a different one.
fn bundle_env(spec: &Spec, path: &str) -> [(&'static str, String); 3] {
    [
        ("STN_BUNDLE", path.to_owned()),
        ("STN_BUNDLE_ENV", spec.environment.to_owned()),
        ("STN_BUNDLE_REPLACE", "true".to_owned()),
    ]
}

/// Variables that are not secret: where the database and the config dir
/// are, how to serve, which bundle to install.
fn container_env(spec: &Spec) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("STN_ADDR", format!("0.0.0.0:{}", spec.port)),
        // On the volume, so the installed environment outlives the container.
        ("STATION_CONFIG_DIR", format!("{DATA}/config")),
    ];
    env.extend(bundle_env(
        spec,
        &format!("{BUNDLE_DIR}/{}", bundle::FILE_NAME),
    ));
    match spec.persistence {
        Persistence::Database { url } => env.push(("DATABASE_URL", url.clone())),
        Persistence::Replica { url } => {
            env.push(("DATABASE_URL", format!("{DATA}/station.db")));
            env.push(("STN_REPLICA_URL", url.clone()));
        }
        Persistence::Ephemeral => env.push(("DATABASE_URL", format!("{DATA}/station.db"))),
    }
    env
}

fn labels(spec: &Spec) -> Value {
    json!({"app.kubernetes.io/name": "station", "app.kubernetes.io/instance": spec.name})
}

fn health_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/health")
}

/// A compose file: one service, a named volume for the data (unless
/// ephemeral), the health check on the served port, secrets from `station.env`.
pub fn compose(spec: &Spec) -> Result<String> {
    let env: serde_json::Map<String, Value> = container_env(spec)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect();
    let mut service = json!({
        "image": spec.image,
        "command": ["serve"],
        "restart": "unless-stopped",
        "ports": [format!("{0}:{0}", spec.port)],
        "environment": env,
        "env_file": [{"path": "station.env", "required": true}],
        "healthcheck": {
            "test": ["CMD", "curl", "-fsS", health_url(spec.port)],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
            "start_period": "30s",
        },
        // SIGTERM lets serve finish requests and make its final replica sync.
        "stop_grace_period": "45s",
    });
    let mut file = json!({ "name": spec.name, "services": {} });
    let bundle_mount = json!({
        "type": "bind",
        "source": format!("./{}", bundle::FILE_NAME),
        "target": format!("{BUNDLE_DIR}/{}", bundle::FILE_NAME),
        "read_only": true,
    });
    service["volumes"] = json!([bundle_mount]);
    if !matches!(spec.persistence, Persistence::Ephemeral) {
        service["volumes"] = json!([
            {"type": "volume", "source": "station-data", "target": DATA},
            bundle_mount,
        ]);
        file["volumes"] = json!({ "station-data": {} });
    }
    file["services"]["station"] = service;
    let header = format!(
        "# Station deployment {} (environment {}), written by `stn deploy --target compose`.\n# Secrets are in station.env (0600); the environment is the bundle {} beside this file. Start: docker compose up -d\n",
        spec.name,
        spec.environment,
        bundle::FILE_NAME
    );
    Ok(header + &yaml_serde::to_string(&file)?)
}

/// systemd quotes: a value in double quotes, `%` doubled (specifiers).
fn systemd_quote(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    format!("\"{escaped}\"")
}

/// A hardened unit with a state directory and secrets from a root-only env file.
pub fn systemd_unit(spec: &Spec) -> String {
    let state_dir = format!("/var/lib/station-{}", spec.name);
    let mut env = vec![("STATION_CONFIG_DIR", format!("{state_dir}/config"))];
    env.extend(bundle_env(spec, &systemd_bundle_path(spec.name)));
    match spec.persistence {
        Persistence::Database { url } => env.push(("DATABASE_URL", url.clone())),
        Persistence::Replica { url } => {
            env.push(("DATABASE_URL", format!("{state_dir}/station.db")));
            env.push(("STN_REPLICA_URL", url.clone()));
        }
        Persistence::Ephemeral => env.push(("DATABASE_URL", format!("{state_dir}/station.db"))),
    }
    let env_lines: String = env
        .iter()
        .map(|(k, v)| format!("Environment={}\n", systemd_quote(&format!("{k}={v}"))))
        .collect();
    format!(
        "# Station deployment {name} (environment {environment}), written by `stn deploy --target systemd`.
# Install with ./install.sh (as root): secrets go to /etc/station/{name}.env (0600).
[Unit]
Description=Station deployment {name}
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
DynamicUser=yes
StateDirectory=station-{name}
StateDirectoryMode=0700
{env_lines}EnvironmentFile=/etc/station/{name}.env
ExecStart={bin} serve --addr 127.0.0.1:{port}
# SIGTERM lets serve finish requests and make its final replica sync.
KillSignal=SIGTERM
TimeoutStopSec=45
Restart=on-failure
RestartSec=2
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
",
        name = spec.name,
        environment = spec.environment,
        bin = spec.stn_binary.display(),
        port = spec.port,
    )
}

/// Where the install script puts the bundle (readable by the unit's dynamic user).
fn systemd_bundle_path(name: &str) -> String {
    format!("/etc/station/{name}/{}", bundle::FILE_NAME)
}

/// Installs (or updates) the unit, its secrets and its bundle; safe to run again.
pub fn systemd_install(spec: &Spec) -> String {
    let unit = unit_name(spec.name);
    format!(
        "#!/bin/sh
# Installs Station deployment {name} as a systemd service. Run as root; running it again updates it.
set -eu
cd \"$(dirname \"$0\")\"
install -d -m 0755 /etc/station
install -m 0600 {name}.env /etc/station/{name}.env
install -d -m 0755 /etc/station/{name}
install -m 0644 {bundle} {bundle_path}
install -m 0644 {unit} /etc/systemd/system/{unit}
systemctl daemon-reload
systemctl enable {unit}
systemctl restart {unit}
systemctl --no-pager status {unit}
",
        name = spec.name,
        bundle = bundle::FILE_NAME,
        bundle_path = systemd_bundle_path(spec.name),
    )
}

/// The bundle as a ConfigMap's binaryData; refused when it cannot fit.
fn bundle_config_map(spec: &Spec, name: &str) -> Result<Value> {
    use base64::Engine as _;
    let bytes = std::fs::read(&spec.bundle.path)
        .with_context(|| format!("cannot read {}", spec.bundle.path.display()))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    if encoded.len() > CONFIG_MAP_MAX {
        anyhow::bail!(
            "the bundle of environment {} is {} KiB ({} KiB in base64), more than a Kubernetes ConfigMap holds (1 MiB)\nhint: move large files out of environments/{} (a bundle carries every file in it), or use --target compose, systemd or fly, which ship the bundle as a file",
            spec.environment,
            bytes.len() / 1024,
            encoded.len() / 1024,
            spec.environment
        );
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels(spec)},
        "binaryData": {bundle::FILE_NAME: encoded},
    }))
}

/// Kubernetes: a StatefulSet with a volume claim when the data is a local
/// file kept by a replica, else a Deployment (remote database, or ephemeral);
/// a Service; the Secret generated by kustomize from `station.env`; the
/// bundle in a ConfigMap mounted read-only.
pub fn kubernetes(spec: &Spec) -> Result<Vec<(String, String)>> {
    let bundle_map = format!("{}-bundle", spec.name);
    let config_map = bundle_config_map(spec, &bundle_map)?;
    let env: Vec<Value> = container_env(spec)
        .into_iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let probe = |period: u32| json!({"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": period});
    let secret = format!("{}-secrets", spec.name);
    let container = json!({
        "name": "station",
        "image": spec.image,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": spec.port}],
        "env": env,
        "envFrom": [{"secretRef": {"name": secret}}],
        "volumeMounts": [
            {"name": "data", "mountPath": DATA},
            {"name": "bundle", "mountPath": BUNDLE_DIR, "readOnly": true},
        ],
        "livenessProbe": probe(10),
        "readinessProbe": probe(5),
        "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2, "failureThreshold": 60},
    });
    let metadata = json!({"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)});
    let mut pod = json!({
        "metadata": {"labels": labels(spec)},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "fsGroup": 10001},
            // Time for the final replica sync after SIGTERM.
            "terminationGracePeriodSeconds": 45,
            "containers": [container],
            "volumes": [{"name": "bundle", "configMap": {"name": bundle_map}}],
        },
    });
    let (file, workload) = if matches!(spec.persistence, Persistence::Replica { .. }) {
        let claim = json!({
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
        });
        (
            "statefulset.yaml",
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": metadata,
                "spec": {
                    "serviceName": spec.name,
                    "replicas": 1,
                    "selector": {"matchLabels": labels(spec)},
                    "template": pod,
                    "volumeClaimTemplates": [claim],
                },
            }),
        )
    } else {
        pod["spec"]["volumes"] = json!([
            {"name": "data", "emptyDir": {}},
            {"name": "bundle", "configMap": {"name": bundle_map}},
        ]);
        (
            "deployment.yaml",
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                // One writer at a time: the old pod stops before the new one starts.
                "spec": {
                    "replicas": 1,
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": labels(spec)},
                    "template": pod,
                },
            }),
        )
    };
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)},
        "spec": {
            "selector": labels(spec),
            "ports": [{"name": "http", "port": spec.port, "targetPort": "http"}],
        },
    });
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": spec.namespace,
        "resources": [file, "service.yaml", "bundle-configmap.yaml"],
        "secretGenerator": [{"name": secret, "envs": ["station.env"]}],
        "generatorOptions": {"disableNameSuffixHash": true},
    });
    Ok(vec![
        (file.to_owned(), yaml_serde::to_string(&workload)?),
        ("service.yaml".to_owned(), yaml_serde::to_string(&service)?),
        (
            "bundle-configmap.yaml".to_owned(),
            yaml_serde::to_string(&config_map)?,
        ),
        (
            "kustomization.yaml".to_owned(),
            yaml_serde::to_string(&kustomization)?,
        ),
    ])
}

/// A TOML string (a JSON string is a valid TOML basic string).
fn toml_str(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// `fly.toml` with the volume mounted (the Go original created it but never
/// mounted it, so every boot started from an empty database) and the health
/// check on the served port.
pub fn fly_toml(spec: &Spec) -> String {
    let env: String = container_env(spec)
        .iter()
        .map(|(k, v)| format!("  {k} = {}\n", toml_str(v)))
        .collect();
    let mounts = if matches!(spec.persistence, Persistence::Ephemeral) {
        String::new()
    } else {
        format!("\n[[mounts]]\n  source = \"station_data\"\n  destination = \"{DATA}\"\n")
    };
    format!(
        "# Station deployment {name} (environment {environment}), written by `stn deploy --target fly`.
# Secrets are set with `flyctl secrets import` (stn deploy --apply), never here.
app = {app}
primary_region = {region}
kill_signal = \"SIGTERM\"
kill_timeout = \"45s\"

[build]
  image = {image}

[env]
{env}
[http_service]
  internal_port = {port}
  force_https = true
  auto_stop_machines = \"off\"
  auto_start_machines = true
  min_machines_running = 1

  [[http_service.checks]]
    grace_period = \"30s\"
    interval = \"15s\"
    timeout = \"5s\"
    method = \"GET\"
    path = \"/health\"
{mounts}
# The environment: the bundle beside this file, installed by `stn serve` on start.
[[files]]
  guest_path = {bundle_guest}
  local_path = {bundle_local}

[[vm]]
  size = \"shared-cpu-1x\"
  memory = \"1gb\"
",
        name = spec.name,
        environment = spec.environment,
        app = toml_str(spec.name),
        region = toml_str(spec.region),
        image = toml_str(spec.image),
        port = spec.port,
        bundle_guest = toml_str(&format!("{BUNDLE_DIR}/{}", bundle::FILE_NAME)),
        bundle_local = toml_str(bundle::FILE_NAME),
    )
}
