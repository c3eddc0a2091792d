//! The LTX file format of Litestream v0.5 ("ltx version 3", magic `LTX1`).
//!
//! Owns the byte layout and every rule of it: the 100-byte [`Header`], page
//! frames (LZ4 block with size prefix; legacy LZ4-frame pages are read
//! too), the [`PageIndex`], the [`Trailer`] with its CRC-64/ISO file
//! checksum, and file names ([`file_name`], [`parse_file_name`]). On top of
//! that: a [`Writer`], a streaming and fully verifying [`Reader`], a k-way
//! merging [`compact`], and [`write_database`] to turn a chain of files
//! into a SQLite database image.
//!
//! Does not own storage, WAL reading or scheduling: all I/O goes through
//! `std::io::Read` and `Write`, and nothing here touches a file system.
//! Output is byte-compatible with Litestream 0.5.17, which restores it.
//!
//! ```
//! use stn_ltx::{Header, Reader, Writer};
//!
//! let header = Header { page_size: 512, commit: 1, min_txid: 1, max_txid: 1, ..Header::default() };
//! let mut file = Vec::new();
//! let mut writer = Writer::new(&mut file, header)?;
//! writer.write_page(1, &[0u8; 512])?;
//! writer.finish()?;
//!
//! let mut reader = Reader::new(&file[..])?;
//! assert_eq!(reader.next_page()?, Some((1, vec![0u8; 512])));
//! assert_eq!(reader.next_page()?, None); // whole file verified
//! # Ok::<(), stn_ltx::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod apply;
mod checksum;
mod compactor;
mod error;
mod header;
mod index;
mod input;
mod legacy;
mod merge;
mod name;
mod order;
mod page;
mod reader;
mod writer;

pub use apply::write_database;
pub use compactor::compact;
pub use error::{Error, Result};
pub use header::{
    FLAG_NO_CHECKSUM, HEADER_SIZE, Header, MAX_PAGE_SIZE, TRAILER_SIZE, Trailer, lock_pgno,
};
pub use index::{IndexEntry, PageIndex};
pub use name::{file_name, parse_file_name};
pub use page::decode_frame;
pub use reader::Reader;
pub use writer::{WriteSummary, Writer};
