//! The one error type of the crate.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can be wrong with an LTX file or with how the API is used.
///
/// Variants name the broken rule; the message says where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The input ended in the middle of a structure.
    #[error("file is truncated: it ends inside the {what}")]
    Truncated {
        /// The structure that was cut short.
        what: &'static str,
    },

    /// The first four bytes are not `LTX1`.
    #[error("bad magic {found:02x?}, expected \"LTX1\"")]
    BadMagic {
        /// The bytes found instead.
        found: [u8; 4],
    },

    /// Header flags other than NoChecksum (0x2) are set.
    #[error("invalid header flags {flags:#010x}: only 0x2 (NoChecksum) is defined")]
    InvalidFlags {
        /// The flags found.
        flags: u32,
    },

    /// The page size is not a power of two in 512..=65536.
    #[error("invalid page size {page_size}: must be a power of two from 512 to 65536")]
    InvalidPageSize {
        /// The page size found.
        page_size: u32,
    },

    /// A TXID is zero or min > max.
    #[error("invalid TXID range {min}..={max}: both must be non-zero and min <= max")]
    InvalidTxidRange {
        /// Minimum TXID of the header.
        min: u64,
        /// Maximum TXID of the header.
        max: u64,
    },

    /// The WAL offset, size and salts of the header do not fit together.
    #[error("invalid WAL fields in header: {reason}")]
    InvalidWalFields {
        /// Which rule is broken.
        reason: &'static str,
    },

    /// A pre- or post-apply checksum is present where it must be zero, or
    /// missing or malformed where it is required.
    #[error("invalid {field} checksum {value:#018x} for this file")]
    InvalidChecksumField {
        /// `"pre-apply"` or `"post-apply"`.
        field: &'static str,
        /// The stored value.
        value: u64,
    },

    /// The writer only produces NoChecksum files, as Litestream requires.
    #[error("checksum tracking is not supported when writing: set flags to NoChecksum (0x2)")]
    ChecksumTrackingUnsupported,

    /// A page frame names page 0.
    #[error("page frame with page number 0")]
    PageNumberZero,

    /// Page frame flags other than 0x0001 (block) or 0 (legacy frame).
    #[error("page {pgno}: invalid frame flags {flags:#06x}")]
    InvalidPageFlags {
        /// Page number of the frame.
        pgno: u32,
        /// The flags found.
        flags: u16,
    },

    /// Pages must be strictly ascending.
    #[error("page {pgno} comes after page {previous}: pages must be strictly ascending")]
    PageOutOfOrder {
        /// The page before.
        previous: u32,
        /// The offending page.
        pgno: u32,
    },

    /// A page lies past the database size after the transaction.
    #[error("page {pgno} is beyond the commit size of {commit} pages")]
    PageBeyondCommit {
        /// The offending page.
        pgno: u32,
        /// Database size in pages.
        commit: u32,
    },

    /// The SQLite lock page is never stored.
    #[error("page {pgno} is the lock page and must not be stored")]
    LockPage {
        /// The lock page number.
        pgno: u32,
    },

    /// A snapshot (min TXID 1) must hold every page up to its commit size.
    #[error("snapshot is missing page {pgno}")]
    SnapshotMissingPage {
        /// The first page that is missing.
        pgno: u32,
    },

    /// A page does not have exactly the header's page size.
    #[error("page {pgno} has {actual} bytes, expected {expected}")]
    PageSizeMismatch {
        /// Page number.
        pgno: u32,
        /// The header's page size.
        expected: usize,
        /// What was found or given.
        actual: usize,
    },

    /// A compressed page is larger than any LZ4 encoding of a page can be.
    #[error("page {pgno}: compressed size {size} exceeds the limit for this page size")]
    CompressedSizeTooLarge {
        /// Page number.
        pgno: u32,
        /// Stored compressed size.
        size: u64,
    },

    /// The LZ4 data of a page cannot be decoded.
    #[error("page {pgno}: corrupt compressed data: {reason}")]
    CorruptPage {
        /// Page number.
        pgno: u32,
        /// What the decoder found wrong.
        reason: String,
    },

    /// A stored checksum differs from the one computed over the content.
    #[error("{what} checksum mismatch: stored {expected:#018x}, computed {actual:#018x}")]
    ChecksumMismatch {
        /// Which checksum: `"file"`, `"post-apply"`, …
        what: &'static str,
        /// The stored value.
        expected: u64,
        /// The computed value.
        actual: u64,
    },

    /// The page index does not describe the page frames of the file.
    #[error("page index does not match the page frames of the file")]
    IndexMismatch,

    /// A page index read from a file tail is malformed.
    #[error("invalid page index: {reason}")]
    InvalidIndex {
        /// Which rule is broken.
        reason: &'static str,
    },

    /// The tail given to [`crate::PageIndex::parse_tail`] does not reach
    /// back to the start of the index.
    #[error("file tail too short: the index needs the last {needed} bytes")]
    TailTooShort {
        /// How many bytes from the end of the file are needed.
        needed: u64,
    },

    /// Bytes follow the end of the structure.
    #[error("unexpected data after the end of the {what}")]
    TrailingData {
        /// The structure that should have been last.
        what: &'static str,
    },

    /// A file name is not `<min %016x>-<max %016x>.ltx`.
    #[error("invalid LTX file name {name:?}")]
    InvalidFileName {
        /// The name given.
        name: String,
    },

    /// Merge inputs must continue each other: min TXID = previous max + 1.
    #[error("non-contiguous inputs: TXID {next_min} does not follow {previous_max}")]
    NonContiguous {
        /// Max TXID of the earlier input.
        previous_max: u64,
        /// Min TXID of the next input.
        next_min: u64,
    },

    /// Merge inputs must share one page size.
    #[error("inputs have different page sizes: {first} and {other}")]
    PageSizesDiffer {
        /// Page size of the first input.
        first: u32,
        /// The differing page size.
        other: u32,
    },

    /// A merge needs at least one input.
    #[error("no input files given")]
    NoInputs,

    /// Building a database image needs a chain that starts with a snapshot.
    #[error("input chain starts at TXID {min_txid}, not with a snapshot (TXID 1)")]
    NotSnapshot {
        /// Min TXID of the first input.
        min_txid: u64,
    },

    /// The reader returned an error before and cannot continue.
    #[error("reader already failed; the file cannot be read further")]
    ReaderFailed,
}
