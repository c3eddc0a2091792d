//! `stn deploy --target local` end to end, as a user runs it: deploy, use
//! the API, redeploy (another binary path, changed files), crash the server,
//! destroy — and nothing of it may be left running.

mod common;
mod deploy_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Stn;
use deploy_support::{agent_names, create_agent, deploy_args};

/// A deployment as `stn deploy status --json` shows it.
fn status(stn: &Stn, name: &str) -> serde_json::Value {
    let all = stn.json(&["deploy", "status", "--json"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in {all}"))
}

fn dep_dir(stn: &Stn, name: &str) -> PathBuf {
    stn.config_dir().join("deployments").join(name)
}

/// Every process whose command line mentions `needle` (ours excluded).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

fn pid_alive(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
}

async fn run_tasks(http: &reqwest::Client, base: &str) -> Vec<String> {
    let runs: serde_json::Value = http
        .get(format!("{base}/api/v1/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    runs.as_array()
        .unwrap()
        .iter()
        .map(|r| r["task"].as_str().unwrap().to_owned())
        .collect()
}

/// A run record written into the deployment's database the way a finished
/// run is stored (there is no route that creates one without a model).
fn record_run(db: &Path, agent: &str, task: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute(
        "INSERT INTO agent_runs (agent_id, task, status, final_response, steps_taken, completed_at) \
         SELECT id, ?2, 'completed', 'done', 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM agents WHERE name = ?1",
        rusqlite::params![agent, task],
    )
    .unwrap();
}

/// The whole life of a local deployment; `persistence` are the deploy flags.
async fn life_cycle(
    stn: &Stn,
    name: &str,
    persistence: &[&str],
    env: &[(&str, &str)],
    db_file: Option<&Path>,
) {
    stn.ok(&["init"]);
    stn.ok(&[
        "agent",
        "create",
        "from-files",
        "-p",
        "Summarise.",
        "-d",
        "written before deploying",
    ]);
    let http = reqwest::Client::new();

    let mut args = vec!["deploy", "default", "--target", "local", "--name", name];
    args.extend(persistence);
    let out = run(stn, &args, env);
    println!("$ stn {}\n{out}", args.join(" "));
    assert!(out.contains(&format!("deployed {name}")), "{out}");
    let first = status(stn, name);
    assert_eq!(first["status"], "running", "{first}");
    let base = first["url"].as_str().unwrap().to_owned();
    assert_eq!(
        agent_names(&base, None).await,
        ["from-files"],
        "the environment's agents are served"
    );

    create_agent(&base, None, "via-api").await;
    if let Some(db) = db_file {
        record_run(db, "via-api", "first task");
    }

    // Redeploy with another binary path and a changed environment.
    let copy = stn.config_dir().join("stn-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_stn"), &copy).unwrap();
    stn.ok(&[
        "agent",
        "create",
        "added-later",
        "-p",
        "Later.",
        "-d",
        "written after the first deploy",
    ]);
    let copy_text = copy.to_string_lossy().into_owned();
    let mut again = args.clone();
    again.extend(["--stn-binary", &copy_text]);
    let out = run(stn, &again, env);
    println!("$ stn {}\n{out}", again.join(" "));
    assert!(out.contains(&format!("redeployed {name}")), "{out}");
    let second = status(stn, name);
    assert_eq!(second["url"], first["url"], "the port is kept");
    assert_ne!(second["server_pid"], first["server_pid"]);
    let server = second["server_pid"].as_u64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{server}/exe")).unwrap();
    assert_eq!(exe, copy, "the new binary serves");
    assert_eq!(
        agent_names(&base, None).await,
        ["added-later", "from-files", "via-api"],
        "every agent kept, the new file synced"
    );
    if db_file.is_some() {
        assert_eq!(
            run_tasks(&http, &base).await,
            ["first task"],
            "the run is kept"
        );
    }

    // A crash: the supervisor starts the server again.
    let supervisor = second["supervisor_pid"].as_u64().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &server.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        stn_testkit::wait_until(Duration::from_secs(30), || {
            let s = status(stn, name);
            s["status"] == "running" && s["server_pid"].as_u64().is_some_and(|p| p != server)
        }),
        "the supervisor did not restart the killed server: {}",
        status(stn, name)
    );
    assert_eq!(agent_names(&base, None).await.len(), 3);
    let logs = stn.ok(&["deploy", "logs", name]);
    assert!(
        logs.contains("listening") || logs.contains("database"),
        "{logs}"
    );

    let out = stn.ok(&["deploy", "destroy", name]);
    println!("$ stn deploy destroy {name}\n{out}");
    assert!(!pid_alive(supervisor), "supervisor {supervisor} still runs");
    let dir = dep_dir(stn, name).to_string_lossy().into_owned();
    assert_eq!(
        processes_mentioning(&dir),
        Vec::<String>::new(),
        "processes left after destroy"
    );
    assert_eq!(
        processes_mentioning(&copy_text),
        Vec::<String>::new(),
        "servers left after destroy"
    );
    assert!(!dep_dir(stn, name).exists());
    assert!(!stn_testkit::wait_for_http_ok(
        base.rsplit(':').next().unwrap().parse().unwrap(),
        "/health",
        Duration::from_millis(200)
    ));
}

fn run(stn: &Stn, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = stn
        .command(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "stn {args:?} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn local_deploy_with_a_file_replica_keeps_agents_and_runs() {
    let stn = Stn::local();
    let replica = tempfile::tempdir().unwrap();
    let url = format!("file://{}", replica.path().display());
    let name = "replicated";
    let db = dep_dir(&stn, name).join("data/station.db");
    life_cycle(&stn, name, &["--replica", &url], &[], Some(&db)).await;
    // The replica outlives the deployment: a new one restores from it.
    let out = run(&stn, &deploy_args("local", name, &["--replica", &url]), &[]);
    assert!(out.contains("deployed"), "{out}");
    let base = status(&stn, name)["url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    assert_eq!(
        agent_names(&base, None).await,
        ["added-later", "from-files", "via-api"]
    );
    assert_eq!(
        run_tasks(&http, &base).await,
        ["first task"],
        "restored on start"
    );
    stn.ok(&["deploy", "destroy", name]);
}

#[tokio::test(flavor = "multi_thread")]
async fn local_deploy_on_sqld_keeps_agents_and_the_token_secret() {
    let Some(sqld) = stn_testkit::Sqld::start(stn_testkit::SqldOptions {
        jwt: true,
        namespaces: false,
    }) else {
        return;
    };
    let token = stn_testkit::mint_jwt(&serde_json::json!({}));
    let stn = Stn::local();
    let name = "on-sqld";
    let url = sqld.url();
    life_cycle(
        &stn,
        name,
        &["--database", &url],
        &[("DATABASE_AUTH_TOKEN", &token)],
        None,
    )
    .await;

    // Deployed again and checked where the token may and may not be.
    let deploy = deploy_args("local", name, &["--database", &url]);
    run(&stn, &deploy, &[("DATABASE_AUTH_TOKEN", &token)]);
    let dir = dep_dir(&stn, name);
    let secrets = dir.join("secrets.env");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&secrets).unwrap().contains(&token));
    for file in ["state.json", "serve.log", "supervisor.log"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(!text.contains(&token), "the token is in {file}");
    }
    let status_text = stn.ok(&["deploy", "status", "--json"]) + &stn.ok(&["deploy", "status"]);
    assert!(!status_text.contains(&token));
    // A redeploy from a shell without the token keeps the one it had.
    run(&stn, &deploy, &[]);
    assert_eq!(status(&stn, name)["status"], "running");
    stn.ok(&["deploy", "destroy", name]);
}

#[test]
fn deploy_without_a_persistence_choice_is_refused() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let err = stn.fails(&["deploy", "default", "--target", "local"], 2);
    assert!(
        err.contains("without a persistence choice") && err.contains("hint:"),
        "{err}"
    );
    let err = stn.fails(
        &[
            "deploy",
            "default",
            "--target",
            "local",
            "--ephemeral",
            "--replica",
            "file:///tmp/x",
        ],
        2,
    );
    assert!(err.contains("cannot be used with"), "{err}");
    assert!(
        !stn.config_dir().join("deployments").exists(),
        "nothing written"
    );
}

/// `stn deploy logs -f` that ends with the test, whatever happens.
struct Follower(std::process::Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Destroys the deployment when the test ends, also when it fails: its
/// supervisor is detached and would outlive the test.
struct Destroy<'a>(&'a Stn, &'a str);

impl Drop for Destroy<'_> {
    fn drop(&mut self) {
        let _ = self.0.output(&["deploy", "destroy", self.1]);
    }
}

#[test]
fn deploy_logs_follow_prints_what_the_next_server_logs() {
    use std::io::BufRead as _;
    let stn = Stn::local();
    stn.ok(&["init"]);
    let name = "followed";
    let deploy = deploy_args("local", name, &["--ephemeral"]);
    stn.ok(&deploy);
    let _destroy = Destroy(&stn, name);
    let mut follower = Follower(
        stn.command(&["deploy", "logs", name, "-f", "-n", "1"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = follower.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // The redeploy stops the first server (which logs it) and starts
    // another: lines written after `logs -f` began.
    stn.ok(&deploy);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let started_again = |seen: &[String]| {
        let stop = seen
            .iter()
            .position(|l| l.contains("shutdown signal received"));
        stop.is_some_and(|i| seen[i..].iter().any(|l| l.contains("serving the HTTP API")))
    };
    while !started_again(&seen) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("the new server's log did not show up:\n{}", seen.join("\n")),
        }
    }
    // Interrupted, it ends cleanly.
    std::process::Command::new("kill")
        .args(["-INT", &follower.0.id().to_string()])
        .status()
        .unwrap();
    assert!(
        stn_testkit::wait_until(Duration::from_secs(10), || {
            follower.0.try_wait().unwrap().is_some_and(|s| s.success())
        }),
        "`stn deploy logs -f` did not end with exit 0 on SIGINT"
    );
}

/// Every file under `dir` with its mode.
fn files_with_modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_with_modes(&path));
        } else if kind.is_file() {
            out.push((path, entry.metadata().unwrap().permissions().mode() & 0o777));
        }
    }
    out
}

/// Issue 15, defects 1, 3 and 16: two deploys of one name at once. One
/// deploys, the other is refused at once naming the first one's PID (before,
/// both ran and a supervisor outlived `destroy`); `destroy` stops every
/// process and says the replica was kept. A backup of `variables.yml` is in
/// neither the bundle nor the deployment, and no file holding a secret there
/// is readable by others.
#[test]
fn two_deploys_of_one_name_exclude_each_other_and_destroy_stops_everything() {
    let stn = Stn::local();
    deploy_support::environment(&stn);
    let env = stn.config_dir().join("environments/default");
    std::fs::write(
        env.join("variables.yml~"),
        format!("FILES_TOKEN: {}\n", deploy_support::VARIABLE),
    )
    .unwrap();
    let replica = tempfile::tempdir().unwrap();
    let url = format!("file://{}", replica.path().display());
    let name = "twin";
    let _destroy = Destroy(&stn, name);
    let args = deploy_args("local", name, &["--replica", &url]);
    let children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            stn.command(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let outputs: Vec<(bool, String)> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        })
        .collect();
    println!("{outputs:#?}");
    let winners: Vec<usize> = (0..2).filter(|i| outputs[*i].0).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one deploy succeeds: {outputs:#?}"
    );
    let (winner, loser) = (winners[0], 1 - winners[0]);
    assert!(outputs[winner].1.contains("deployed twin"), "{outputs:#?}");
    assert!(
        outputs[loser]
            .1
            .contains("is being deployed or destroyed by")
            && outputs[loser]
                .1
                .contains(&format!("process {}", pids[winner])),
        "the refused deploy names the other one's PID: {outputs:#?}"
    );
    assert_eq!(status(&stn, name)["status"], "running");

    let dir = dep_dir(&stn, name);
    let bundle = std::fs::read(dir.join("station-bundle.tar.gz")).unwrap();
    let gz = flate2::read::GzDecoder::new(&bundle[..]);
    let mut archive = tar::Archive::new(gz);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("variables")), "{names:?}");
    for (path, mode) in files_with_modes(&dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(
            !path.to_string_lossy().contains("variables.yml~"),
            "{} was deployed",
            path.display()
        );
        if text.contains(deploy_support::VARIABLE) {
            assert_eq!(
                mode & 0o077,
                0,
                "{} holds the secret, mode {mode:o}",
                path.display()
            );
        }
    }

    let out = stn.ok(&["deploy", "destroy", name]);
    println!("$ stn deploy destroy {name}\n{out}");
    assert!(
        out.contains(&format!("kept the replica at {url}")),
        "destroy says where the data is kept: {out}"
    );
    let dir_text = dir.to_string_lossy().into_owned();
    assert_eq!(
        processes_mentioning(&dir_text),
        Vec::<String>::new(),
        "processes left after destroy"
    );
    assert!(!dir.exists());
}

/// Issue 15, defect 11: a first deploy that fails leaves no secrets.env
/// behind, and a half-made deployment directory is listed and destroyable.
#[test]
fn a_failed_deploy_leaves_no_secrets_and_half_made_deployments_are_seen() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}");
    let out = stn
        .command(&deploy_args("local", "unreachable", &["--database", &url]))
        .env("DATABASE_AUTH_TOKEN", "token-of-a-failed-deploy")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !dep_dir(&stn, "unreachable").exists(),
        "a failed first deploy left {}",
        dep_dir(&stn, "unreachable").display()
    );

    // A directory an older version left half-made: seen and removed.
    let half = dep_dir(&stn, "half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("secrets.env"), "DATABASE_AUTH_TOKEN=t\n").unwrap();
    assert_eq!(status(&stn, "half")["status"], "half-made");
    assert!(stn.ok(&["deploy", "status"]).contains("half-made"));
    let out = stn.ok(&["deploy", "destroy", "half"]);
    assert!(
        out.contains("removed the half-made deployment half") && out.contains("secrets.env"),
        "{out}"
    );
    assert!(!half.exists());
}
