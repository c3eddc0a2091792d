//! No orphans: stdio servers die with their whole process group on
//! shutdown, close and drop, and `reap_orphans` kills what a SIGKILLed
//! owner left behind.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use stn_mcp::{Pool, PoolOptions, ServerSpec, reap_orphans};

/// server-everything started through `npx`, which runs it as a grandchild.
fn through_npx() -> Option<ServerSpec> {
    common::service("STN_TEST_MCP_EVERYTHING")?;
    let prefix = common::service("STN_TEST_MCP_NPM_PREFIX")?;
    Some(ServerSpec::stdio(
        "npx-everything",
        "npx",
        &["--prefix", &prefix, "--no-install", "mcp-server-everything"],
    ))
}

async fn connected_through_npx(pool: &Pool) -> Option<u32> {
    let spec = through_npx()?;
    pool.tools("env", &[spec]).await.unwrap();
    let pgid = pool.child_pids()[0];
    let members = common::group_members(pgid);
    println!("npx process group {pgid}: {members:?}");
    assert!(
        members.len() >= 2,
        "npx should run the server as a grandchild: {members:?}"
    );
    Some(pgid)
}

#[tokio::test]
async fn shutdown_kills_npx_grandchildren() {
    let pool = Pool::new();
    let Some(pgid) = connected_through_npx(&pool).await else {
        return;
    };
    pool.shutdown().await;
    assert!(
        common::group_members(pgid).is_empty(),
        "left: {:?}",
        common::group_members(pgid)
    );
    assert!(pool.child_pids().is_empty());
}

#[tokio::test]
async fn close_of_a_key_kills_its_servers_only() {
    let Some(bin) = common::service("STN_TEST_MCP_EVERYTHING") else {
        return;
    };
    let pool = Pool::new();
    let spec = ServerSpec::stdio("everything", &bin, &[]);
    pool.tools("a", std::slice::from_ref(&spec)).await.unwrap();
    let a = pool.child_pids();
    pool.tools("b", std::slice::from_ref(&spec)).await.unwrap();
    let both = pool.child_pids();
    assert_eq!(both.len(), 2);
    pool.close("a").await;
    assert!(common::group_members(a[0]).is_empty());
    let left = pool.child_pids();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], a[0]);
    pool.shutdown().await;
}

#[tokio::test]
async fn dropping_the_pool_kills_npx_grandchildren() {
    let pool = Pool::new();
    let Some(pgid) = connected_through_npx(&pool).await else {
        return;
    };
    let clone = pool.clone();
    drop(pool);
    assert!(
        !common::group_members(pgid).is_empty(),
        "a clone still holds the pool"
    );
    drop(clone);
    let gone = common::wait_until(Duration::from_secs(2), || {
        common::group_members(pgid).is_empty()
    });
    assert!(gone, "left: {:?}", common::group_members(pgid));
}

fn pid_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn the_pid_dir_holds_the_running_groups() {
    let Some(bin) = common::service("STN_TEST_MCP_EVERYTHING") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::with_options(PoolOptions {
        pid_dir: Some(dir.path().to_owned()),
        ..PoolOptions::default()
    });
    pool.tools("env", &[ServerSpec::stdio("everything", &bin, &[])])
        .await
        .unwrap();
    let pgid = pool.child_pids()[0];
    assert_eq!(pid_files(dir.path()), [format!("mcp-{pgid}.pid")]);
    // A live owner's groups are not touched.
    assert_eq!(reap_orphans(dir.path()).unwrap(), Vec::<u32>::new());
    assert!(!common::group_members(pgid).is_empty());
    pool.shutdown().await;
    assert!(pid_files(dir.path()).is_empty());
}

#[tokio::test]
async fn reap_orphans_kills_what_a_sigkilled_owner_left() {
    let dir = tempfile::tempdir().unwrap();
    // A "server" that ignores SIGTERM and stdin, with a grandchild: the
    // worst case an owner's sudden death can leave behind.
    let script = "trap '' TERM; sleep 300 & exec sleep 301";
    let mut holder = tokio::process::Command::new(common::example("pool_holder"))
        .arg(dir.path())
        .args(["sh", "-c", script])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let recorded = common::wait_until(Duration::from_secs(10), || {
        !pid_files(dir.path()).is_empty()
    });
    assert!(recorded, "the pool did not record its server");
    let file = pid_files(dir.path()).remove(0);
    let pgid: u32 = file
        .trim_start_matches("mcp-")
        .trim_end_matches(".pid")
        .parse()
        .unwrap();
    assert!(common::wait_until(
        Duration::from_secs(5),
        || common::group_members(pgid).len() == 2
    ));

    holder.start_kill().unwrap(); // SIGKILL: no destructor runs
    holder.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let orphans = common::group_members(pgid);
    assert_eq!(
        orphans.len(),
        2,
        "the simulated crash should leave the group running"
    );

    let killed = reap_orphans(dir.path()).unwrap();
    assert_eq!(killed, [pgid]);
    let gone = common::wait_until(Duration::from_secs(2), || {
        common::group_members(pgid).is_empty()
    });
    assert!(gone, "left: {:?}", common::group_members(pgid));
    assert!(pid_files(dir.path()).is_empty());
    // Nothing left to do the second time.
    assert!(reap_orphans(dir.path()).unwrap().is_empty());
}
