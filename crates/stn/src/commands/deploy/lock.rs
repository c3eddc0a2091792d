//! One `stn deploy` or `stn deploy destroy` of a deployment at a time: an
//! exclusive `flock` on `<deployment dir>/deploy.lock`, held until the
//! command ends (the kernel drops it when the process exits, also on
//! `kill -9`, so a crashed deploy never leaves a stale lock). The holder
//! writes its PID into the file so the one refused can name it
//! (docs/decisions/0022-deploy-lock.md).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};

use anyhow::{Context as _, Result, bail};

use super::state::Deployment;

/// Held for as long as this value lives.
#[derive(Debug)]
pub struct DeployLock {
    _file: File,
}

/// Takes the deployment's lock, or fails at once naming the process that holds it.
pub fn acquire(dep: &Deployment, name: &str) -> Result<DeployLock> {
    let path = dep.lock_path();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_owned(),
                pid => format!("process {pid}"),
            };
            bail!(
                "deployment {name} is being deployed or destroyed by {holder} (it holds {})\n\
                 hint: wait for that `stn deploy` to finish, then run this again; deploys of one name run one at a time",
                path.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(DeployLock { _file: file })
}
