//! The page-sequence rules shared by writing, reading and applying: strictly
//! ascending, within the commit size, never the lock page, and for
//! snapshots every page from 1 to commit.

use crate::error::{Error, Result};
use crate::header::Header;

#[derive(Clone, Debug)]
pub(crate) struct PageOrder {
    commit: u32,
    lock_pgno: u32,
    snapshot: bool,
    /// Last accepted page, 0 before the first.
    last: u32,
}

impl PageOrder {
    pub(crate) fn new(header: &Header) -> Self {
        PageOrder {
            commit: header.commit,
            lock_pgno: header.lock_pgno(),
            snapshot: header.is_snapshot(),
            last: 0,
        }
    }

    /// Accepts `pgno` as the next page or says which rule it breaks.
    pub(crate) fn check(&mut self, pgno: u32) -> Result<()> {
        if pgno == 0 {
            return Err(Error::PageNumberZero);
        }
        if pgno <= self.last {
            return Err(Error::PageOutOfOrder {
                previous: self.last,
                pgno,
            });
        }
        if pgno > self.commit {
            return Err(Error::PageBeyondCommit {
                pgno,
                commit: self.commit,
            });
        }
        if pgno == self.lock_pgno {
            return Err(Error::LockPage { pgno });
        }
        let expected = self.next_snapshot_page();
        if self.snapshot && pgno != expected {
            return Err(Error::SnapshotMissingPage { pgno: expected });
        }
        self.last = pgno;
        Ok(())
    }

    /// Checks that a snapshot got all its pages once the sequence ends.
    pub(crate) fn finish(&self) -> Result<()> {
        let expected = self.next_snapshot_page();
        if self.snapshot && expected <= self.commit {
            return Err(Error::SnapshotMissingPage { pgno: expected });
        }
        Ok(())
    }

    /// The page a snapshot must contain next. `last` never exceeds
    /// `commit` (a u32), so the additions stay within u64.
    fn next_snapshot_page(&self) -> u32 {
        let next = u64::from(self.last) + 1;
        let next = if next == u64::from(self.lock_pgno) {
            next + 1
        } else {
            next
        };
        u32::try_from(next).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(min_txid: u64, commit: u32, page_size: u32) -> PageOrder {
        PageOrder::new(&Header {
            page_size,
            commit,
            min_txid,
            max_txid: min_txid,
            ..Header::default()
        })
    }

    #[test]
    fn incremental_accepts_gaps_but_not_disorder() {
        let mut o = order(2, 10, 4096);
        o.check(3).unwrap();
        o.check(7).unwrap();
        assert!(matches!(
            o.check(7),
            Err(Error::PageOutOfOrder {
                previous: 7,
                pgno: 7
            })
        ));
        assert!(matches!(o.check(11), Err(Error::PageBeyondCommit { .. })));
        assert!(matches!(o.check(0), Err(Error::PageNumberZero)));
        o.finish().unwrap();
    }

    #[test]
    fn snapshot_must_be_complete() {
        let mut o = order(1, 3, 4096);
        o.check(1).unwrap();
        assert!(matches!(
            o.check(3),
            Err(Error::SnapshotMissingPage { pgno: 2 })
        ));
        o.check(2).unwrap();
        assert!(matches!(
            o.finish(),
            Err(Error::SnapshotMissingPage { pgno: 3 })
        ));
        o.check(3).unwrap();
        o.finish().unwrap();
    }

    #[test]
    fn snapshot_skips_lock_page() {
        // With 65536-byte pages the lock page is 16385.
        let lock = 16385;
        let mut o = order(1, lock + 1, 65536);
        o.last = lock - 1;
        assert!(matches!(o.check(lock), Err(Error::LockPage { pgno }) if pgno == lock));
        o.check(lock + 1).unwrap();
        o.finish().unwrap();
    }

    #[test]
    fn snapshot_ending_just_before_lock_page_is_complete() {
        let lock = 16385;
        let mut o = order(1, lock, 65536);
        o.last = lock - 1;
        o.finish().unwrap();
    }

    #[test]
    fn empty_snapshot_of_empty_database_is_complete() {
        order(1, 0, 4096).finish().unwrap();
    }
}
