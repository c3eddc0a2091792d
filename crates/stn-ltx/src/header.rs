//! The fixed-size ends of an LTX file: the 100-byte header and the 16-byte
//! trailer, both big-endian, with the validation rules of the Go decoder.

use crate::checksum::CHECKSUM_FLAG;
use crate::error::{Error, Result};

/// Size of the encoded [`Header`] in bytes.
pub const HEADER_SIZE: usize = 100;

/// Size of the encoded [`Trailer`] in bytes.
pub const TRAILER_SIZE: usize = 16;

/// Header flag: the file does not track rolling database checksums.
/// Litestream sets it on every file and rejects files without it.
pub const FLAG_NO_CHECKSUM: u32 = 0x2;

/// Largest page size SQLite (and LTX) allows.
pub const MAX_PAGE_SIZE: u32 = 65536;

const MIN_PAGE_SIZE: u32 = 512;

const MAGIC: [u8; 4] = *b"LTX1";

/// SQLite reserves the page holding this byte offset for file locks.
const PENDING_BYTE: u32 = 0x4000_0000;

/// The page that holds SQLite's lock bytes for this page size. It is never
/// stored in an LTX file and restores as zeros.
pub fn lock_pgno(page_size: u32) -> u32 {
    // checked_div only guards the zero page size of an unvalidated header.
    PENDING_BYTE.checked_div(page_size).unwrap_or(0) + 1
}

/// Checks that `page_size` is a power of two from 512 to 65536.
pub(crate) fn check_page_size(page_size: u32) -> Result<()> {
    if page_size.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) {
        Ok(())
    } else {
        Err(Error::InvalidPageSize { page_size })
    }
}

/// The 100-byte header at the start of every LTX file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Header flags; only [`FLAG_NO_CHECKSUM`] is defined.
    pub flags: u32,
    /// Page size in bytes: a power of two from 512 to 65536.
    pub page_size: u32,
    /// Database size in pages after applying this file.
    pub commit: u32,
    /// First TXID covered by the file; 1 makes the file a snapshot.
    pub min_txid: u64,
    /// Last TXID covered by the file.
    pub max_txid: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Rolling database checksum before applying; 0 with NoChecksum.
    pub pre_apply_checksum: u64,
    /// Start of the source WAL range (L0 files); 0 if none.
    pub wal_offset: i64,
    /// Bytes of WAL consumed (L0 files); 0 if none.
    pub wal_size: i64,
    /// Salt-1 of the source WAL header; 0 if none.
    pub wal_salt1: u32,
    /// Salt-2 of the source WAL header; 0 if none.
    pub wal_salt2: u32,
    /// Node that produced the file; Litestream writes 0.
    pub node_id: u64,
}

impl Default for Header {
    /// A NoChecksum header with 4096-byte pages and every other field zero.
    /// The TXIDs must still be set before it validates.
    fn default() -> Self {
        Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: 4096,
            commit: 0,
            min_txid: 0,
            max_txid: 0,
            timestamp: 0,
            pre_apply_checksum: 0,
            wal_offset: 0,
            wal_size: 0,
            wal_salt1: 0,
            wal_salt2: 0,
            node_id: 0,
        }
    }
}

impl Header {
    /// True for a full database image: min TXID 1.
    pub fn is_snapshot(&self) -> bool {
        self.min_txid == 1
    }

    /// True if the file does not track rolling checksums.
    pub fn no_checksum(&self) -> bool {
        self.flags & FLAG_NO_CHECKSUM != 0
    }

    /// The lock page for this header's page size.
    pub fn lock_pgno(&self) -> u32 {
        lock_pgno(self.page_size)
    }

    /// Checks every rule the Go decoder applies to a header.
    pub fn validate(&self) -> Result<()> {
        if self.flags & !FLAG_NO_CHECKSUM != 0 {
            return Err(Error::InvalidFlags { flags: self.flags });
        }
        check_page_size(self.page_size)?;
        if self.min_txid == 0 || self.max_txid == 0 || self.min_txid > self.max_txid {
            return Err(Error::InvalidTxidRange {
                min: self.min_txid,
                max: self.max_txid,
            });
        }
        self.validate_wal_fields()?;
        self.validate_pre_apply_checksum()
    }

    fn validate_wal_fields(&self) -> Result<()> {
        let reason = if self.wal_offset < 0 {
            "WAL offset is negative"
        } else if self.wal_size < 0 {
            "WAL size is negative"
        } else if self.wal_offset == 0 && (self.wal_salt1 != 0 || self.wal_salt2 != 0) {
            "WAL offset required if a salt is set"
        } else if self.wal_offset == 0 && self.wal_size != 0 {
            "WAL offset required if WAL size is set"
        } else {
            return Ok(());
        };
        Err(Error::InvalidWalFields { reason })
    }

    fn validate_pre_apply_checksum(&self) -> Result<()> {
        let value = self.pre_apply_checksum;
        // A snapshot has no "before"; a NoChecksum file tracks nothing; any
        // other file must carry a well-formed checksum.
        let valid = if self.is_snapshot() || self.no_checksum() {
            value == 0
        } else {
            value & CHECKSUM_FLAG != 0
        };
        if valid {
            Ok(())
        } else {
            Err(Error::InvalidChecksumField {
                field: "pre-apply",
                value,
            })
        }
    }

    /// Encodes the header; the 20 reserved bytes are zero.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        let mut at = 0;
        for field in [
            &MAGIC[..],
            &self.flags.to_be_bytes(),
            &self.page_size.to_be_bytes(),
            &self.commit.to_be_bytes(),
            &self.min_txid.to_be_bytes(),
            &self.max_txid.to_be_bytes(),
            &self.timestamp.to_be_bytes(),
            &self.pre_apply_checksum.to_be_bytes(),
            &self.wal_offset.to_be_bytes(),
            &self.wal_size.to_be_bytes(),
            &self.wal_salt1.to_be_bytes(),
            &self.wal_salt2.to_be_bytes(),
            &self.node_id.to_be_bytes(),
        ] {
            out[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        out
    }

    /// Decodes and validates a header.
    pub fn decode(bytes: &[u8; HEADER_SIZE]) -> Result<Header> {
        let mut fields = Fields(&bytes[..]);
        let magic: [u8; 4] = fields.take();
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let header = Header {
            flags: u32::from_be_bytes(fields.take()),
            page_size: u32::from_be_bytes(fields.take()),
            commit: u32::from_be_bytes(fields.take()),
            min_txid: u64::from_be_bytes(fields.take()),
            max_txid: u64::from_be_bytes(fields.take()),
            timestamp: i64::from_be_bytes(fields.take()),
            pre_apply_checksum: u64::from_be_bytes(fields.take()),
            wal_offset: i64::from_be_bytes(fields.take()),
            wal_size: i64::from_be_bytes(fields.take()),
            wal_salt1: u32::from_be_bytes(fields.take()),
            wal_salt2: u32::from_be_bytes(fields.take()),
            node_id: u64::from_be_bytes(fields.take()),
        };
        header.validate()?;
        Ok(header)
    }
}

/// The 16 bytes at the end of every LTX file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Rolling database checksum after applying; 0 with NoChecksum.
    pub post_apply_checksum: u64,
    /// CRC-64/ISO of the file's logical content, bit 63 set.
    pub file_checksum: u64,
}

impl Trailer {
    /// Encodes the trailer.
    pub fn encode(&self) -> [u8; TRAILER_SIZE] {
        let mut out = [0u8; TRAILER_SIZE];
        out[..8].copy_from_slice(&self.post_apply_checksum.to_be_bytes());
        out[8..].copy_from_slice(&self.file_checksum.to_be_bytes());
        out
    }

    /// Decodes a trailer without validating it.
    pub fn decode(bytes: &[u8; TRAILER_SIZE]) -> Trailer {
        let mut fields = Fields(&bytes[..]);
        Trailer {
            post_apply_checksum: u64::from_be_bytes(fields.take()),
            file_checksum: u64::from_be_bytes(fields.take()),
        }
    }

    /// Checks the checksum fields against the header's flags.
    pub fn validate(&self, header: &Header) -> Result<()> {
        let post = self.post_apply_checksum;
        let post_valid = if header.no_checksum() {
            post == 0
        } else {
            post & CHECKSUM_FLAG != 0
        };
        if !post_valid {
            return Err(Error::InvalidChecksumField {
                field: "post-apply",
                value: post,
            });
        }
        if self.file_checksum & CHECKSUM_FLAG == 0 {
            return Err(Error::InvalidChecksumField {
                field: "file",
                value: self.file_checksum,
            });
        }
        Ok(())
    }
}

/// Walks a byte array front to back, one fixed-size field at a time.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    /// Takes the next `M` bytes. Callers decode fixed-size arrays whose
    /// length covers every field they take, so the zero fallback for a
    /// too-short array is never reached.
    fn take<const M: usize>(&mut self) -> [u8; M] {
        match self.0.split_first_chunk::<M>() {
            Some((head, rest)) => {
                self.0 = rest;
                *head
            }
            None => [0u8; M],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Header {
        Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: 4096,
            commit: 10,
            min_txid: 2,
            max_txid: 3,
            timestamp: 1_700_000_000_123,
            pre_apply_checksum: 0,
            wal_offset: 32,
            wal_size: 8272,
            wal_salt1: 0x1234,
            wal_salt2: 0x5678,
            node_id: 0,
        }
    }

    #[test]
    fn round_trips_with_exact_layout() {
        let header = valid();
        let bytes = header.encode();
        assert_eq!(&bytes[0..4], b"LTX1");
        assert_eq!(&bytes[4..8], &[0, 0, 0, 2]);
        assert_eq!(&bytes[8..12], &4096u32.to_be_bytes());
        assert_eq!(&bytes[16..24], &2u64.to_be_bytes());
        assert_eq!(&bytes[48..56], &32u64.to_be_bytes());
        assert_eq!(&bytes[64..68], &0x1234u32.to_be_bytes());
        assert_eq!(&bytes[80..], &[0u8; 20]);
        assert_eq!(Header::decode(&bytes).unwrap(), header);
    }

    #[test]
    fn bad_magic_is_reported() {
        let mut bytes = valid().encode();
        bytes[3] = b'2';
        assert!(matches!(
            Header::decode(&bytes),
            Err(Error::BadMagic { found }) if &found == b"LTX2"
        ));
    }

    fn check(change: impl FnOnce(&mut Header)) -> Result<()> {
        let mut header = valid();
        change(&mut header);
        header.validate()
    }

    #[test]
    fn validation_rules() {
        assert!(check(|_| {}).is_ok());
        assert!(matches!(
            check(|h| h.flags = 1),
            Err(Error::InvalidFlags { flags: 1 })
        ));
        assert!(matches!(
            check(|h| h.flags = 6),
            Err(Error::InvalidFlags { .. })
        ));
        for page_size in [0, 256, 1000, 131072] {
            assert!(
                matches!(
                    check(|h| h.page_size = page_size),
                    Err(Error::InvalidPageSize { .. })
                ),
                "{page_size}"
            );
        }
        for page_size in [512, 1024, 65536] {
            assert!(check(|h| h.page_size = page_size).is_ok());
        }
        assert!(matches!(
            check(|h| h.min_txid = 0),
            Err(Error::InvalidTxidRange { .. })
        ));
        assert!(matches!(
            check(|h| h.min_txid = 4),
            Err(Error::InvalidTxidRange { .. })
        ));
        assert!(matches!(
            check(|h| h.wal_offset = 0),
            Err(Error::InvalidWalFields { .. })
        ));
        assert!(
            check(|h| {
                h.wal_offset = 0;
                h.wal_size = 0;
                h.wal_salt1 = 0;
                h.wal_salt2 = 0;
            })
            .is_ok()
        );
        assert!(matches!(
            check(|h| h.wal_size = -1),
            Err(Error::InvalidWalFields { .. })
        ));
    }

    #[test]
    fn pre_apply_checksum_rules() {
        // Must be 0 with NoChecksum.
        assert!(matches!(
            check(|h| h.pre_apply_checksum = CHECKSUM_FLAG | 1),
            Err(Error::InvalidChecksumField {
                field: "pre-apply",
                ..
            })
        ));
        // Required and flagged when tracking, except on snapshots.
        assert!(check(|h| h.flags = 0).is_err());
        assert!(
            check(|h| {
                h.flags = 0;
                h.pre_apply_checksum = 1;
            })
            .is_err()
        );
        assert!(
            check(|h| {
                h.flags = 0;
                h.pre_apply_checksum = CHECKSUM_FLAG | 1;
            })
            .is_ok()
        );
        assert!(
            check(|h| {
                h.flags = 0;
                h.min_txid = 1;
            })
            .is_ok()
        );
    }

    #[test]
    fn trailer_round_trips_and_validates() {
        let trailer = Trailer {
            post_apply_checksum: 0,
            file_checksum: CHECKSUM_FLAG | 42,
        };
        assert_eq!(Trailer::decode(&trailer.encode()), trailer);
        trailer.validate(&valid()).unwrap();
        let unflagged = Trailer {
            file_checksum: 42,
            ..trailer
        };
        assert!(unflagged.validate(&valid()).is_err());
        let with_post = Trailer {
            post_apply_checksum: CHECKSUM_FLAG,
            ..trailer
        };
        assert!(with_post.validate(&valid()).is_err());
    }

    #[test]
    fn lock_page_numbers() {
        assert_eq!(lock_pgno(4096), 262145);
        assert_eq!(lock_pgno(65536), 16385);
        assert_eq!(lock_pgno(512), 2097153);
    }
}
