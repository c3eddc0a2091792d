//! Reading exact byte counts from a `Read`, reporting a short read as a
//! truncated file rather than a bare I/O error.

use std::io::{ErrorKind, Read};

use crate::error::{Error, Result};

/// Fills `buf` completely; `what` names the structure being read.
pub(crate) fn read_exact<R: Read>(r: &mut R, buf: &mut [u8], what: &'static str) -> Result<()> {
    r.read_exact(buf).map_err(|err| match err.kind() {
        ErrorKind::UnexpectedEof => Error::Truncated { what },
        _ => Error::Io(err),
    })
}

/// Reads an `N`-byte array.
pub(crate) fn read_array<const N: usize, R: Read>(
    r: &mut R,
    what: &'static str,
) -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    read_exact(r, &mut buf, what)?;
    Ok(buf)
}

/// Replaces `buf`'s contents with exactly `len` bytes from `r`. The caller
/// bounds `len`, so a hostile length cannot force a large allocation.
pub(crate) fn read_vec<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    len: usize,
    what: &'static str,
) -> Result<()> {
    buf.clear();
    buf.resize(len, 0);
    read_exact(r, buf, what)
}

/// Fails unless `r` has no bytes left.
pub(crate) fn expect_end<R: Read>(r: &mut R, what: &'static str) -> Result<()> {
    let mut probe = [0u8; 1];
    loop {
        match r.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(Error::TrailingData { what }),
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::Io(err)),
        }
    }
}

/// A reader that knows how many bytes it has handed out, so frame offsets
/// can be checked against the page index.
#[derive(Debug)]
pub(crate) struct CountingReader<R> {
    inner: R,
    position: u64,
}

impl<R> CountingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        CountingReader { inner, position: 0 }
    }

    pub(crate) fn position(&self) -> u64 {
        self.position
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_read_is_truncation() {
        let mut r: &[u8] = &[1, 2, 3];
        let err = read_array::<4, _>(&mut r, "thing").unwrap_err();
        assert!(matches!(err, Error::Truncated { what: "thing" }));
    }

    #[test]
    fn counting_reader_counts() {
        let mut r = CountingReader::new(&[0u8; 10][..]);
        read_array::<7, _>(&mut r, "x").unwrap();
        assert_eq!(r.position(), 7);
        read_array::<3, _>(&mut r, "x").unwrap();
        assert_eq!(r.position(), 10);
        expect_end(&mut r, "x").unwrap();
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut r: &[u8] = &[0];
        assert!(matches!(
            expect_end(&mut r, "x"),
            Err(Error::TrailingData { what: "x" })
        ));
    }

    #[test]
    fn end_is_detected() {
        let mut r: &[u8] = &[];
        expect_end(&mut r, "x").unwrap();
    }
}
