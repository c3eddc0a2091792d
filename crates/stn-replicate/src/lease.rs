//! A single-writer lease on a replica, so two replicators never write the
//! same replica path (their LTX files would interleave and corrupt it).
//!
//! The lease is one object, `<replica prefix>/lease.json`:
//! `{"holder": {"hostname", "pid", "started_at", "id", "scope"}, "expires_at", "generation"}`.
//! Every change is a compare-and-swap on the version last read or written,
//! through [`ReplicaClient::put_if_version`] (conditional PUTs on object
//! stores, a `flock`-guarded swap on the file backend; see
//! `storage/cas.rs`), so of two racing writers exactly one wins.
//!
//! A lease is free when absent, expired (`expires_at` passed; holders'
//! clocks are assumed to agree to well under the TTL), or held by a process
//! of this machine and pid namespace that no longer runs (so a restart after
//! a crash need not wait out the TTL). [`Lease::renew`] costs one request;
//! the replicator renews once per [`LeaseOptions::renew_every`].

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};
use crate::storage::{CasOutcome, ObjectVersion, ReplicaClient};

/// Name of the lease object under the replica prefix.
pub const LEASE_FILE: &str = "lease.json";
/// Rounds of read-and-write when another process changes the lease between
/// our read and our write.
const ACQUIRE_ATTEMPTS: usize = 3;

/// How the lease of each replica is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseOptions {
    /// How long a lease stays valid without renewal: how long a crashed
    /// holder on another machine blocks the replica (3 minutes).
    pub ttl: Duration,
    /// How often the holder renews it, one request each time (60 s). Must be
    /// well under `ttl`, so a slow request does not let the lease lapse.
    pub renew_every: Duration,
    /// Take the lease even when another process holds it (`--takeover`).
    /// That process stops uploading at its next renewal.
    pub takeover: bool,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        LeaseOptions {
            ttl: Duration::from_secs(180),
            renew_every: Duration::from_secs(60),
            takeover: false,
        }
    }
}

/// Who holds a lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's host name.
    pub hostname: String,
    /// The holder's process ID.
    pub pid: u32,
    /// When the holder acquired the lease (RFC 3339).
    pub started_at: String,
    /// Random ID of this acquisition, different for every holder.
    pub id: String,
    /// Boot ID and pid namespace: pids are only comparable within one scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on host {} (started {})",
            self.pid, self.hostname, self.started_at
        )
    }
}

impl Holder {
    /// This process, acquiring now. Retries of one acquisition should use
    /// the same holder: an earlier attempt whose answer was lost is then
    /// recognised as ours.
    pub fn this_process() -> Holder {
        Holder {
            hostname: hostname(),
            pid: std::process::id(),
            started_at: rfc3339(OffsetDateTime::now_utc()),
            id: format!("{:016x}", rand::random::<u64>()),
            scope: process_scope(),
        }
    }

    /// True when the holder is a process of this machine and pid namespace
    /// that no longer runs. Unknown means alive: only the TTL frees it then.
    fn is_gone(&self) -> bool {
        match (&self.scope, process_scope()) {
            (Some(theirs), Some(ours)) if *theirs == ours => {
                !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
            }
            _ => false,
        }
    }
}

/// The content of `lease.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    holder: Holder,
    /// RFC 3339.
    expires_at: String,
    /// Counts every write, for people reading the file.
    generation: u64,
}

impl Record {
    fn parse(bytes: &[u8]) -> std::result::Result<(Record, OffsetDateTime), String> {
        let record: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let expires = OffsetDateTime::parse(&record.expires_at, &Rfc3339)
            .map_err(|e| format!("expires_at `{}`: {e}", record.expires_at))?;
        Ok((record, expires))
    }

    fn to_bytes(&self) -> Bytes {
        // A struct of strings and integers always serializes.
        Bytes::from(serde_json::to_vec_pretty(self).unwrap_or_default())
    }
}

/// A held lease on one replica. Dropping it without [`Lease::release`]
/// leaves it to expire after the TTL.
#[derive(Debug)]
pub struct Lease {
    client: ReplicaClient,
    options: LeaseOptions,
    record: Record,
    version: ObjectVersion,
}

impl Lease {
    /// Takes the replica's lease for this process, or fails with
    /// [`Error::LeaseHeld`] naming the live holder (unless
    /// `options.takeover`). Costs one GET and one PUT.
    pub async fn acquire(client: &ReplicaClient, options: &LeaseOptions) -> Result<Lease> {
        Self::acquire_as(client, options, &Holder::this_process()).await
    }

    /// [`Lease::acquire`] for `holder`: a lease that already names it (an
    /// earlier attempt landed, its answer lost) is taken as ours.
    pub async fn acquire_as(
        client: &ReplicaClient,
        options: &LeaseOptions,
        holder: &Holder,
    ) -> Result<Lease> {
        let mut blocking = None;
        for _ in 0..ACQUIRE_ATTEMPTS {
            let current = client.read_versioned(LEASE_FILE).await?;
            let (generation, expected) = match current {
                None => (1, None),
                Some((bytes, version)) => match Record::parse(&bytes) {
                    Ok((record, expires)) => {
                        let ours = record.holder.id == holder.id;
                        let live = expires > OffsetDateTime::now_utc()
                            && !record.holder.is_gone()
                            && !ours;
                        if live && !options.takeover {
                            return Err(held(client, &record));
                        }
                        if live {
                            tracing::warn!(replica = client.url(), holder = %record.holder, "taking over the replica's lease");
                        }
                        let generation = record.generation + 1;
                        blocking = Some(record);
                        (generation, Some(version))
                    }
                    Err(_) if options.takeover => (1, Some(version)),
                    Err(detail) => {
                        return Err(Error::CorruptFile {
                            file: client.object_name(LEASE_FILE),
                            detail: format!(
                                "{detail}; it is the replica's lease: pass --takeover to replace it"
                            ),
                        });
                    }
                },
            };
            let record = Record {
                holder: holder.clone(),
                expires_at: rfc3339(OffsetDateTime::now_utc() + options.ttl),
                generation,
            };
            let written = client
                .put_if_version(LEASE_FILE, record.to_bytes(), expected.as_ref())
                .await?;
            if let CasOutcome::Written(version) = written {
                return Ok(Lease {
                    client: client.clone(),
                    options: options.clone(),
                    record,
                    version,
                });
            }
            // Someone else wrote it between our read and our write: look again.
        }
        Err(match blocking {
            Some(record) => held(client, &record),
            None => Error::LeaseLost {
                url: client.url().to_owned(),
                detail: "other processes kept changing it while acquiring".to_owned(),
            },
        })
    }

    /// Who holds this lease (this process).
    pub fn holder(&self) -> &Holder {
        &self.record.holder
    }

    /// Extends the lease by the TTL from now; one conditional PUT. Fails
    /// with [`Error::LeaseLost`] naming the new holder when someone else
    /// changed it; other errors leave the lease as it was, to retry.
    pub async fn renew(&mut self) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        self.write(now + self.options.ttl).await
    }

    /// Ends the lease (sets it to expire now), so the next replicator need
    /// not wait. A lease someone else took meanwhile is left alone.
    pub async fn release(mut self) -> Result<()> {
        match self.write(OffsetDateTime::now_utc()).await {
            Err(Error::LeaseLost { .. }) => Ok(()),
            other => other,
        }
    }

    async fn write(&mut self, expires: OffsetDateTime) -> Result<()> {
        let record = Record {
            holder: self.record.holder.clone(),
            expires_at: rfc3339(expires),
            generation: self.record.generation + 1,
        };
        match self
            .client
            .put_if_version(LEASE_FILE, record.to_bytes(), Some(&self.version))
            .await?
        {
            CasOutcome::Written(version) => {
                self.record = record;
                self.version = version;
                Ok(())
            }
            CasOutcome::Conflict => {
                // An earlier write of ours may have landed with its answer
                // lost (a reset, a timeout): the lease then still names us,
                // at a version we never saw. Write again on top of it.
                if let Some((bytes, version)) = self.client.read_versioned(LEASE_FILE).await?
                    && let Ok((current, _)) = Record::parse(&bytes)
                    && current.holder.id == self.record.holder.id
                {
                    let record = Record {
                        generation: current.generation + 1,
                        ..record
                    };
                    if let CasOutcome::Written(version) = self
                        .client
                        .put_if_version(LEASE_FILE, record.to_bytes(), Some(&version))
                        .await?
                    {
                        self.record = record;
                        self.version = version;
                        return Ok(());
                    }
                }
                Err(self.lost().await)
            }
        }
    }

    /// The error for a lease someone else changed, naming them if possible.
    async fn lost(&self) -> Error {
        let now_held_by = match self.client.read_versioned(LEASE_FILE).await {
            Ok(Some((bytes, _))) => match Record::parse(&bytes) {
                Ok((record, _)) => format!("taken over by {}", record.holder),
                Err(detail) => format!("overwritten with an unreadable lease ({detail})"),
            },
            Ok(None) => "deleted by someone else".to_owned(),
            Err(e) => format!("changed by someone else (cannot read it: {e})"),
        };
        Error::LeaseLost {
            url: self.client.url().to_owned(),
            detail: now_held_by,
        }
    }
}

fn held(client: &ReplicaClient, record: &Record) -> Error {
    Error::LeaseHeld {
        url: client.url().to_owned(),
        holder: record.holder.to_string(),
        expires: record.expires_at.clone(),
    }
}

/// RFC 3339 in UTC; a date `time` cannot format (beyond year 9999) falls
/// back to the far future, which reads as "not expired".
fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| "9999-12-31T23:59:59Z".to_owned())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The boot ID and pid namespace of this process (Linux), within which a
/// pid names one process.
fn process_scope() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), namespace.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_of_this_scope_is_not_gone() {
        let mut holder = Holder::this_process();
        assert!(!holder.is_gone());
        // A pid that cannot exist (above Linux's pid_max limit).
        holder.pid = u32::MAX;
        assert_eq!(holder.is_gone(), process_scope().is_some());
        holder.scope = Some("another machine".to_owned());
        assert!(!holder.is_gone());
    }

    #[test]
    fn record_round_trips_and_rejects_bad_dates() {
        let record = Record {
            holder: Holder::this_process(),
            expires_at: rfc3339(OffsetDateTime::UNIX_EPOCH),
            generation: 7,
        };
        let (parsed, expires) = Record::parse(&record.to_bytes()).unwrap();
        assert_eq!(parsed.holder, record.holder);
        assert_eq!(expires, OffsetDateTime::UNIX_EPOCH);
        let bad = record.to_bytes().to_vec();
        let bad = String::from_utf8(bad)
            .unwrap()
            .replace("1970-01-01T00:00:00Z", "soon");
        assert!(Record::parse(bad.as_bytes()).is_err());
        assert!(Record::parse(b"{").is_err());
    }
}
