//! Where LTX files live in a replica: the object key layout of Litestream
//! v0.5, which differs by backend.
//!
//! | backend | key |
//! |---|---|
//! | s3 | `<path>/<level %04x>/<min %016x>-<max %016x>.ltx`, e.g. `db/0009/…` |
//! | file, gs, abs | `<path>/ltx/<level decimal>/<min %016x>-<max %016x>.ltx`, e.g. `db/ltx/9/…` |
//!
//! Litestream's docs say `ltx/` everywhere; its S3 client has never used it,
//! so S3 replicas written by either tool only interoperate with this layout.

use object_store::path::Path;

/// Level of full database snapshots (files named `0000000000000001-<max>.ltx`).
pub const SNAPSHOT_LEVEL: u8 = 9;

/// The directory that holds the level directories in the [`KeyLayout::Ltx`] layout.
const LTX_DIR: &str = "ltx";

/// How LTX object keys are built under a replica's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyLayout {
    /// `<prefix>/<level %04x>/<name>`: Litestream's S3 (and OSS) client.
    S3,
    /// `<prefix>/ltx/<level>/<name>`: Litestream's file, GCS and Azure clients.
    Ltx,
}

impl KeyLayout {
    /// The directory holding one level's files.
    pub fn level_dir(self, prefix: &Path, level: u8) -> Path {
        match self {
            KeyLayout::S3 => prefix.clone().join(format!("{level:04x}")),
            KeyLayout::Ltx => prefix.clone().join(LTX_DIR).join(level.to_string()),
        }
    }

    /// The key of the LTX file covering `min_txid..=max_txid` at `level`.
    pub fn file_key(self, prefix: &Path, level: u8, min_txid: u64, max_txid: u64) -> Path {
        self.level_dir(prefix, level)
            .join(stn_ltx::file_name(min_txid, max_txid))
    }

    /// The level named by a level directory's last segment, if it is one
    /// this layout writes (`0000`…`0009` on S3, `0`…`9` otherwise).
    pub fn parse_level_dir(self, segment: &str) -> Option<u8> {
        let level = match self {
            KeyLayout::S3 if segment.len() == 4 && is_lower_hex(segment) => {
                u8::from_str_radix(segment, 16).ok()?
            }
            KeyLayout::Ltx if is_canonical_decimal(segment) => segment.parse().ok()?,
            KeyLayout::S3 | KeyLayout::Ltx => return None,
        };
        (level <= SNAPSHOT_LEVEL).then_some(level)
    }

    /// Parses a full object key under `prefix` back into
    /// `(level, min TXID, max TXID)`. Anything else (temporary files, other
    /// tools' objects, a v0.3 `generations/` tree) gives `None`.
    pub fn parse_key(self, prefix: &Path, key: &Path) -> Option<(u8, u64, u64)> {
        let rest: Vec<_> = key.prefix_match(prefix)?.collect();
        let (level_segment, name) = match (self, rest.as_slice()) {
            (KeyLayout::S3, [level, name]) => (level, name),
            (KeyLayout::Ltx, [ltx, level, name]) if ltx.as_ref() == LTX_DIR => (level, name),
            _ => return None,
        };
        let level = self.parse_level_dir(level_segment.as_ref())?;
        let (min_txid, max_txid) = stn_ltx::parse_file_name(name.as_ref()).ok()?;
        Some((level, min_txid, max_txid))
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Decimal digits without a leading zero (except "0" itself), as Go's
/// `strconv.Itoa` writes them.
fn is_canonical_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_keys_use_hex_level_dirs_without_ltx() {
        let prefix = Path::from("backups/db");
        assert_eq!(
            KeyLayout::S3.file_key(&prefix, 9, 1, 0x1f).as_ref(),
            "backups/db/0009/0000000000000001-000000000000001f.ltx"
        );
        assert_eq!(
            KeyLayout::S3.level_dir(&prefix, 0).as_ref(),
            "backups/db/0000"
        );
    }

    #[test]
    fn other_keys_use_ltx_and_decimal_levels() {
        let prefix = Path::from("db");
        assert_eq!(
            KeyLayout::Ltx.file_key(&prefix, 3, 2, 7).as_ref(),
            "db/ltx/3/0000000000000002-0000000000000007.ltx"
        );
    }

    #[test]
    fn empty_prefix_gives_keys_at_the_root() {
        let root = Path::default();
        assert_eq!(
            KeyLayout::Ltx.file_key(&root, 0, 1, 1).as_ref(),
            "ltx/0/0000000000000001-0000000000000001.ltx"
        );
        assert_eq!(
            KeyLayout::S3.parse_key(
                &root,
                &Path::from("0001/0000000000000002-0000000000000005.ltx")
            ),
            Some((1, 2, 5))
        );
    }

    #[test]
    fn keys_parse_back() {
        let prefix = Path::from("a/b");
        for layout in [KeyLayout::S3, KeyLayout::Ltx] {
            for (level, min, max) in [(0, 1, 1), (9, 1, u64::MAX), (3, 0xabc, 0xdef)] {
                let key = layout.file_key(&prefix, level, min, max);
                assert_eq!(
                    layout.parse_key(&prefix, &key),
                    Some((level, min, max)),
                    "{key}"
                );
            }
        }
    }

    #[test]
    fn level_dirs_parse_only_in_their_layout() {
        assert_eq!(KeyLayout::S3.parse_level_dir("0009"), Some(9));
        assert_eq!(KeyLayout::S3.parse_level_dir("9"), None);
        assert_eq!(
            KeyLayout::S3.parse_level_dir("000a"),
            None,
            "level 10 does not exist"
        );
        assert_eq!(KeyLayout::S3.parse_level_dir("000A"), None);
        assert_eq!(KeyLayout::Ltx.parse_level_dir("9"), Some(9));
        assert_eq!(KeyLayout::Ltx.parse_level_dir("09"), None);
        assert_eq!(KeyLayout::Ltx.parse_level_dir("0000"), None);
        assert_eq!(KeyLayout::Ltx.parse_level_dir(""), None);
    }

    #[test]
    fn foreign_keys_are_not_ltx_files() {
        let prefix = Path::from("db");
        for key in [
            "db/0000/0000000000000001-0000000000000001.ltx.tmp",
            "db/ltx/0/0000000000000001-0000000000000001.ltx",
            "db/generations/0123456789abcdef/wal/00000000_00000000.wal.lz4",
            "other/0000/0000000000000001-0000000000000001.ltx",
            "db/0000/x/0000000000000001-0000000000000001.ltx",
        ] {
            assert_eq!(
                KeyLayout::S3.parse_key(&prefix, &Path::from(key)),
                None,
                "{key}"
            );
        }
        assert_eq!(
            KeyLayout::Ltx.parse_key(
                &prefix,
                &Path::from("db/0000/0000000000000001-0000000000000001.ltx")
            ),
            None
        );
    }
}
