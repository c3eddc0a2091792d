//! LTX file names: `<min TXID %016x>-<max TXID %016x>.ltx`, lower-case hex.

use crate::error::{Error, Result};

/// The file name for a TXID range, e.g. `0000000000000001-0000000000000007.ltx`.
pub fn file_name(min_txid: u64, max_txid: u64) -> String {
    format!("{min_txid:016x}-{max_txid:016x}.ltx")
}

/// Parses a name made by [`file_name`] into `(min TXID, max TXID)`.
/// Accepts exactly that form, as Litestream does: 16 lower-case hex digits
/// each, no path, no other suffix.
pub fn parse_file_name(name: &str) -> Result<(u64, u64)> {
    let invalid = || Error::InvalidFileName {
        name: name.to_owned(),
    };
    let stem = name.strip_suffix(".ltx").ok_or_else(invalid)?;
    let (min, max) = stem.split_once('-').ok_or_else(invalid)?;
    Ok((
        parse_txid(min).ok_or_else(invalid)?,
        parse_txid(max).ok_or_else(invalid)?,
    ))
}

fn parse_txid(hex: &str) -> Option<u64> {
    let well_formed = hex.len() == 16
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if well_formed {
        u64::from_str_radix(hex, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_litestream() {
        assert_eq!(file_name(1, 7), "0000000000000001-0000000000000007.ltx");
        assert_eq!(
            file_name(u64::MAX, 0xab),
            "ffffffffffffffff-00000000000000ab.ltx"
        );
    }

    #[test]
    fn parses_what_it_formats() {
        for (min, max) in [(1, 1), (5, 0x19), (u64::MAX, u64::MAX)] {
            assert_eq!(parse_file_name(&file_name(min, max)).unwrap(), (min, max));
        }
    }

    #[test]
    fn rejects_other_forms() {
        for name in [
            "",
            "0000000000000001-0000000000000007",
            "0000000000000001-0000000000000007.ltx.tmp",
            "000000000000001-0000000000000007.ltx",
            "0000000000000001-000000000000000A.ltx",
            "0000000000000001_0000000000000007.ltx",
            "+000000000000001-0000000000000007.ltx",
            "ltx/0/0000000000000001-0000000000000007.ltx",
        ] {
            assert!(
                matches!(parse_file_name(name), Err(Error::InvalidFileName { .. })),
                "{name:?}"
            );
        }
    }
}
