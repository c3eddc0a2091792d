//! `stn deploy`: an environment deployed with its database kept — a remote
//! libSQL server (`--database`), a replicated local file (`--replica`), or a
//! database provisioned for the deployment (`--provision`) — to a local
//! supervised server or as compose, systemd, Kubernetes or Fly artifacts.
//! Every deployment has a directory under `<config dir>/deployments/`
//! (docs/decisions/0013-deploy.md).

mod artifacts;
mod bundle;
mod destroy;
mod fly;
mod local;
mod lock;
mod process;
mod provision;
mod state;
mod status;
mod supervise;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use stn_core::Layout;
use stn_core::config::{AUTH_TOKEN_VARS, Overrides, Settings};
use stn_db::DatabaseUrl;

use crate::cli::{DeployAction, DeployArgs, DeployCommand, DeployTarget};
use crate::commands::serve::BOOTSTRAP_KEY_VAR;
use state::{Deployment, LocalRun, Persistence, State};

/// Keys of replica credentials carried into a deployment's secrets.
const REPLICA_SECRET_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "LITESTREAM_AZURE_ACCOUNT_KEY",
];

pub async fn run(
    settings: &Settings,
    database_flag: Option<String>,
    cmd: DeployCommand,
) -> Result<ExitCode> {
    match cmd.action {
        Some(DeployAction::Status { json }) => status::status(settings, json.json),
        Some(DeployAction::Logs {
            name,
            follow,
            lines,
        }) => status::logs(settings, name, follow, lines).await,
        Some(DeployAction::Destroy { name, keep_data }) => {
            destroy::destroy(settings, &name, keep_data).await
        }
        Some(DeployAction::Supervise { dir }) => supervise::run(dir).await,
        None => deploy(settings, database_flag, cmd.deploy).await,
    }
}

/// A usage error: message and hint on stderr, exit code 2.
fn usage(message: &str, hint: &str) -> ExitCode {
    eprintln!("error: {message}");
    eprintln!("hint: {hint}");
    ExitCode::from(2)
}

/// What the flags chose for the database.
enum Choice {
    Database { url: String, token: Option<String> },
    Replica { url: String },
    Provision(provision::Spec),
    Ephemeral,
}

fn choice(database_flag: Option<String>, args: &DeployArgs) -> Result<Option<Choice>> {
    let p = &args.persistence;
    let given = [
        database_flag.is_some(),
        p.replica.is_some(),
        p.provision.is_some(),
        p.ephemeral,
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        bail!("--database, --replica, --provision and --ephemeral exclude each other: choose one");
    }
    if let Some(text) = database_flag {
        // The token leaves the URL here and lives only in secrets.env.
        let url = DatabaseUrl::parse(&text)?;
        if !url.is_remote() {
            bail!(
                "--database {} is a local file; a deployment needs a server (libsql://, https://, http://)\nhint: for a local file kept by a replica use --replica URL",
                url.redacted()
            );
        }
        let token = url.token().map(|t| t.expose().to_owned()).or_else(|| {
            AUTH_TOKEN_VARS
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|t| !t.is_empty()))
        });
        return Ok(Some(Choice::Database {
            url: strip_token(&text),
            token,
        }));
    }
    if let Some(url) = &p.replica {
        // Parsed now, so a typo fails before anything is written; credentials
        // may exist only where the deployment runs, so no client is built.
        stn_replicate::ReplicaConfig::from_url(url)?;
        return Ok(Some(Choice::Replica { url: url.clone() }));
    }
    if let Some(spec) = &p.provision {
        return Ok(Some(Choice::Provision(provision::Spec::parse(spec)?)));
    }
    Ok(p.ephemeral.then_some(Choice::Ephemeral))
}

/// The URL without its `authToken` / `auth_token` query parameter.
fn strip_token(text: &str) -> String {
    let Some((base, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !matches!(pair.split('=').next(), Some("authToken" | "auth_token")))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// A name usable as an app, service, Kubernetes object and sqld namespace.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn target_name(target: DeployTarget) -> &'static str {
    match target {
        DeployTarget::Local => "local",
        DeployTarget::Compose => "compose",
        DeployTarget::Systemd => "systemd",
        DeployTarget::Kubernetes => "kubernetes",
        DeployTarget::Fly => "fly",
    }
}

async fn deploy(
    settings: &Settings,
    database_flag: Option<String>,
    args: DeployArgs,
) -> Result<ExitCode> {
    let Some(environment) = args.environment.clone() else {
        return Ok(usage(
            "stn deploy needs an environment",
            "stn deploy ENV --target local|compose|systemd|kubernetes|fly --replica URL (or --database, --provision, --ephemeral)",
        ));
    };
    let Some(target) = args.target else {
        return Ok(usage(
            "stn deploy needs --target",
            "--target local (runs here), compose, systemd, kubernetes or fly",
        ));
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("station-{environment}"));
    if !valid_name(&name) {
        return Ok(usage(
            &format!("deployment name `{name}` is not usable as an app, service and database name"),
            "use lowercase letters, digits and `-` (at most 63), e.g. --name team-a",
        ));
    }
    let database_flag_given = database_flag.is_some();
    let Some(choice) = choice(database_flag, &args)? else {
        return Ok(usage(
            &format!(
                "refusing to deploy {environment} without a persistence choice: every redeploy would start from an empty database"
            ),
            "pass --database URL (Turso/sqld), --replica URL (file://, s3://, …), --provision sqld=ADMIN_URL|turso, or --ephemeral to accept losing the data",
        ));
    };
    if args.apply && target != DeployTarget::Fly {
        return Ok(usage(
            "--apply is for --target fly",
            "compose, systemd and kubernetes print the command that applies their files",
        ));
    }
    if args.dry_run && matches!(choice, Choice::Provision(_)) {
        return Ok(usage(
            "--dry-run provisions nothing, so there is no database URL or token to write",
            "drop --dry-run and pass -o DIR: the database is provisioned and the artifacts written, nothing applied",
        ));
    }
    let layout = Layout::new(&settings.config_dir);
    if !layout.env_dir(&environment).is_dir() {
        bail!(
            "environment {environment} has no directory {}\nhint: `stn env create {environment}` or `stn env list`",
            layout.env_dir(&environment).display()
        );
    }

    let dep = Deployment::new(&settings.config_dir, &name);
    let fresh = !dep.dir.exists();
    std::fs::create_dir_all(&dep.dir)
        .with_context(|| format!("cannot create {}", dep.dir.display()))?;
    let _lock = lock::acquire(&dep, &name)?;
    let plan = Plan {
        name,
        environment,
        target,
        choice,
        database_flag_given,
    };
    let result = deploy_locked(settings, &args, &dep, plan).await;
    if result.is_err() && fresh {
        forget_failed(&dep);
    }
    result
}

/// A first deploy that failed leaves no directory behind (no secrets.env
/// nothing lists), unless a database was provisioned for it: its tokens stay
/// for `stn deploy destroy` to delete it.
fn forget_failed(dep: &Deployment) {
    if let Err(e) = local::stop(dep) {
        eprintln!("warning: {e:#}");
        return;
    }
    if dep
        .load()
        .ok()
        .flatten()
        .is_some_and(|s| s.provisioned.is_some())
    {
        eprintln!(
            "kept {}: it holds the tokens of the database provisioned for it; `stn deploy destroy {}` deletes both",
            dep.dir.display(),
            dep.dir.file_name().unwrap_or_default().to_string_lossy()
        );
        return;
    }
    if let Err(e) = std::fs::remove_dir_all(&dep.dir) {
        eprintln!("warning: cannot remove {}: {e}", dep.dir.display());
    }
}

/// What the checked flags ask for.
struct Plan {
    name: String,
    environment: String,
    target: DeployTarget,
    choice: Choice,
    database_flag_given: bool,
}

/// The deploy proper, under the deployment's lock.
async fn deploy_locked(
    settings: &Settings,
    args: &DeployArgs,
    dep: &Deployment,
    plan: Plan,
) -> Result<ExitCode> {
    let Plan {
        name,
        environment,
        target,
        choice,
        database_flag_given,
    } = plan;
    let previous = dep.load()?;
    if let Some(prev) = &previous
        && prev.environment != environment
    {
        bail!(
            "deployment {name} deploys environment {}, not {environment}\nhint: pass --name for another deployment, or `stn deploy destroy {name}` first",
            prev.environment
        );
    }
    let mut state = State {
        name: name.clone(),
        environment: environment.clone(),
        target: target_name(target).to_owned(),
        persistence: Persistence::Ephemeral,
        provisioned: previous.as_ref().and_then(|p| p.provisioned.clone()),
        local: None,
        output_dir: None,
        updated_at: state::now(),
    };
    let previous_secrets = dep.secrets()?;

    // A redeploy onto the same database keeps the secrets it had (a shell
    // without the token must not leave the instance without it); values given
    // now replace them. Another database starts from none.
    let same = |p: &Persistence| previous.as_ref().is_some_and(|prev| &prev.persistence == p);
    let mut secrets = Vec::new();
    state.persistence = match choice {
        Choice::Database { url, token } => {
            let persistence = Persistence::Database { url };
            if same(&persistence) {
                secrets = dep.secrets()?;
            }
            if let Some(token) = token {
                set(&mut secrets, provision::TOKEN_VAR, token);
            }
            persistence
        }
        Choice::Replica { url } => {
            let persistence = Persistence::Replica { url };
            if same(&persistence) {
                secrets = dep.secrets()?;
            }
            for var in REPLICA_SECRET_VARS {
                if let Ok(value) = std::env::var(var) {
                    set(&mut secrets, var, value);
                }
            }
            persistence
        }
        Choice::Ephemeral => Persistence::Ephemeral,
        Choice::Provision(spec) => {
            let options = provision::Options {
                jwt_key: args.jwt_key.clone(),
                sqld_url: args.sqld_url.clone(),
                org: args.org.clone(),
                group: args.group.clone(),
                token_expiration: args.token_expiration.clone(),
            };
            let db = provision::ensure(dep, &mut state, &spec, &options).await?;
            set(&mut secrets, provision::TOKEN_VAR, db.token);
            set(
                &mut secrets,
                provision::READONLY_TOKEN_VAR,
                db.readonly_token,
            );
            // Written before anything else can fail: the tokens are never lost.
            dep.write_secrets(&secrets)?;
            eprintln!(
                "provisioned {} (tokens in {})",
                db.url,
                dep.secrets_path().display()
            );
            Persistence::Database { url: db.url }
        }
    };
    dep.write_secrets(&secrets)?;

    let out = match (&args.output_dir, target) {
        (_, DeployTarget::Local) => dep.dir.clone(),
        (Some(dir), _) => std::path::absolute(dir)?,
        (None, _) => dep.dir.join(target_name(target)),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let own = own_settings(settings, database_flag_given)?;
    let env_bundle = bundle::create(&own, &environment, &out.join(bundle::FILE_NAME)).await?;
    bundle::warn_missing(&environment, &env_bundle);
    for (key, value) in &env_bundle.variables {
        set(&mut secrets, key, value.clone());
    }
    if target != DeployTarget::Local {
        set(
            &mut secrets,
            BOOTSTRAP_KEY_VAR,
            bootstrap_key(&previous_secrets),
        );
    }
    dep.write_secrets(&secrets)?;

    if target == DeployTarget::Local {
        deploy_local(dep, &mut state, args, previous.as_ref())?;
    } else {
        deploy_artifacts(dep, &mut state, target, args, &out, &env_bundle, &secrets)?;
        let key_file = artifacts::env_file_name(target, &name)
            .map(|file| out.join(file))
            .unwrap_or_else(|| dep.secrets_path());
        println!(
            "admin API key: {BOOTSTRAP_KEY_VAR} in {} (0600; shown nowhere else), sent as `Authorization: Bearer KEY`",
            key_file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The deploying config dir's settings: with the global `--database`
/// naming the deployment's database, resolved again without it.
fn own_settings(settings: &Settings, database_flag_given: bool) -> Result<Settings> {
    if !database_flag_given {
        return Ok(settings.clone());
    }
    let overrides = Overrides {
        config_dir: Some(settings.config_dir.clone()),
        database: None,
    };
    Ok(Settings::resolve(&overrides, &|var| {
        std::env::var(var).ok()
    })?)
}

/// The admin key an instance off loopback needs (`stn serve` stores its
/// hash on first start): the one deployed before, else a new one.
fn bootstrap_key(previous_secrets: &[(String, String)]) -> String {
    previous_secrets
        .iter()
        .find(|(k, _)| k == BOOTSTRAP_KEY_VAR)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(stn_core::store::new_api_key)
}

/// Sets `key` in `secrets`, replacing an earlier value.
fn set(secrets: &mut Vec<(String, String)>, key: &str, value: String) {
    secrets.retain(|(k, _)| k != key);
    secrets.push((key.to_owned(), value));
}

fn deploy_local(
    dep: &Deployment,
    state: &mut State,
    args: &DeployArgs,
    previous: Option<&State>,
) -> Result<()> {
    let previous_run = previous.and_then(|p| p.local.as_ref());
    state.local = Some(LocalRun {
        port: local::choose_port(args.port, previous_run)?,
        stn_binary: local::choose_binary(args.stn_binary.clone())?,
    });
    dep.save(state)?;
    let port = state.local.as_ref().map(|l| l.port).unwrap_or_default();
    if args.dry_run {
        println!("wrote {} (not started: --dry-run)", dep.dir.display());
        return Ok(());
    }
    let down = local::replace(dep, state)?;
    let verb = if previous_run.is_some() {
        "redeployed"
    } else {
        "deployed"
    };
    println!(
        "{verb} {} (environment {}, {}) at http://127.0.0.1:{port}",
        state.name,
        state.environment,
        state.persistence.kind()
    );
    if let Some(down) = down {
        println!("no server for {} ms while replacing", down.as_millis());
    }
    Ok(())
}

fn deploy_artifacts(
    dep: &Deployment,
    state: &mut State,
    target: DeployTarget,
    args: &DeployArgs,
    out: &std::path::Path,
    env_bundle: &bundle::EnvBundle,
    secrets: &[(String, String)],
) -> Result<()> {
    let stn_binary = args
        .stn_binary
        .clone()
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/stn"));
    let spec = artifacts::Spec {
        name: &state.name,
        environment: &state.environment,
        image: &args.image,
        persistence: &state.persistence,
        region: &args.region,
        namespace: &args.namespace,
        stn_binary: &stn_binary,
        port: args.port.unwrap_or(artifacts::PORT),
        bundle: env_bundle,
    };
    let written = artifacts::write(target, &spec, out, secrets)?;
    state.output_dir = Some(out.to_path_buf());
    dep.save(state)?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    match target {
        DeployTarget::Fly if args.apply && !args.dry_run => {
            fly::apply(&fly::Apply {
                app: &state.name,
                org: &args.fly_org,
                region: &args.region,
                config: &out.join("fly.toml"),
                secrets,
                needs_volume: !matches!(state.persistence, Persistence::Ephemeral),
            })?;
            println!(
                "deployed {} to Fly: https://{}.fly.dev",
                state.name, state.name
            );
        }
        DeployTarget::Fly => println!(
            "apply: stn deploy {} --target fly --apply (runs flyctl)",
            state.environment
        ),
        DeployTarget::Compose => println!(
            "apply: docker compose -f {} up -d",
            out.join("compose.yaml").display()
        ),
        DeployTarget::Systemd => println!("apply: sudo {}", out.join("install.sh").display()),
        DeployTarget::Kubernetes => println!("apply: kubectl apply -k {}", out.display()),
        DeployTarget::Local => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_leaves_the_url() {
        assert_eq!(
            strip_token("libsql://db.turso.io?authToken=abc"),
            "libsql://db.turso.io"
        );
        assert_eq!(
            strip_token("http://h:8080?tls=0&auth_token=abc"),
            "http://h:8080?tls=0"
        );
    }

    #[test]
    fn names_are_dns_labels() {
        assert!(valid_name("station-default"));
        assert!(!valid_name("Station"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name("-a"));
        assert!(!valid_name(&"a".repeat(64)));
    }
}
