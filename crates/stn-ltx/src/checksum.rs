//! CRC-64/ISO exactly as Go's `hash/crc64` computes it with `crc64.ISO`,
//! which is what every LTX checksum is built from.

/// Set on every stored checksum so that a valid checksum is never zero
/// (zero means "absent" in the format).
pub(crate) const CHECKSUM_FLAG: u64 = 1 << 63;

/// ISO 3309 polynomial x^64 + x^4 + x^3 + x + 1, bit-reversed, as Go uses it.
const POLY: u64 = 0xD800_0000_0000_0000;

/// Slicing-by-8 tables: `TABLES[0]` is the byte-at-a-time table, and
/// `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes, so
/// eight bytes are folded in with eight independent lookups. Every page is
/// checksummed on each read and write, and a byte at a time this was the
/// slowest step of a restore (Go's `hash/crc64` slices by 8 as well).
const TABLES: [[u64; 256]; 8] = build_tables();

const fn build_tables() -> [[u64; 256]; 8] {
    let mut tables = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let previous = tables[k - 1][i];
            tables[k][i] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

/// Incremental CRC-64/ISO (init and final xor all ones, reflected).
#[derive(Clone, Debug)]
pub(crate) struct Crc64 {
    state: u64,
}

impl Crc64 {
    pub(crate) fn new() -> Self {
        Crc64 { state: !0 }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        let mut state = self.state;
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(word);
            let [b0, b1, b2, b3, b4, b5, b6, b7] =
                (state ^ u64::from_le_bytes(eight)).to_le_bytes();
            state = TABLES[7][b0 as usize]
                ^ TABLES[6][b1 as usize]
                ^ TABLES[5][b2 as usize]
                ^ TABLES[4][b3 as usize]
                ^ TABLES[3][b4 as usize]
                ^ TABLES[2][b5 as usize]
                ^ TABLES[1][b6 as usize]
                ^ TABLES[0][b7 as usize];
        }
        for &byte in words.remainder() {
            let slot = (state ^ u64::from(byte)) & 0xff;
            state = TABLES[0][slot as usize] ^ (state >> 8);
        }
        self.state = state;
    }

    pub(crate) fn finish(&self) -> u64 {
        !self.state
    }
}

/// Checksum of one database page as the rolling database checksum uses it:
/// CRC over the big-endian page number followed by the page.
pub(crate) fn page_checksum(pgno: u32, page: &[u8]) -> u64 {
    let mut crc = Crc64::new();
    crc.update(&pgno.to_be_bytes());
    crc.update(page);
    CHECKSUM_FLAG | crc.finish()
}

/// Folds one page into a rolling database checksum (files that track
/// checksums store this as the post-apply checksum). Start from
/// [`CHECKSUM_FLAG`]; the lock page is never included.
pub(crate) fn fold_page(rolling: u64, pgno: u32, page: &[u8]) -> u64 {
    CHECKSUM_FLAG | (rolling ^ page_checksum(pgno, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(bytes: &[u8]) -> u64 {
        let mut crc = Crc64::new();
        crc.update(bytes);
        crc.finish()
    }

    #[test]
    fn matches_catalogue_check_value() {
        // CRC-64/GO-ISO check value from the CRC catalogue.
        assert_eq!(crc(b"123456789"), 0xb909_56c7_75a4_1001);
    }

    #[test]
    fn empty_input_is_zero() {
        assert_eq!(crc(b""), 0);
    }

    /// The plain bitwise definition, to check the sliced tables against.
    fn crc_bitwise(bytes: &[u8]) -> u64 {
        let mut state = !0u64;
        for &byte in bytes {
            state ^= u64::from(byte);
            for _ in 0..8 {
                state = if state & 1 == 1 {
                    (state >> 1) ^ POLY
                } else {
                    state >> 1
                };
            }
        }
        !state
    }

    #[test]
    fn sliced_matches_bitwise_at_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 131 % 256) as u8).collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(crc(&data[start..end]), crc_bitwise(&data[start..end]));
            }
        }
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut parts = Crc64::new();
        parts.update(&data[..10]);
        parts.update(&data[10..999]);
        parts.update(&data[999..]);
        assert_eq!(parts.finish(), crc(&data));
    }

    #[test]
    fn page_checksum_has_flag_and_covers_pgno() {
        let page = [7u8; 512];
        assert_ne!(page_checksum(1, &page) & CHECKSUM_FLAG, 0);
        assert_ne!(page_checksum(1, &page), page_checksum(2, &page));
    }

    #[test]
    fn folding_a_page_twice_cancels_except_flag() {
        let page = [3u8; 512];
        let once = fold_page(CHECKSUM_FLAG, 5, &page);
        assert_ne!(once, CHECKSUM_FLAG);
        assert_eq!(fold_page(once, 5, &page), CHECKSUM_FLAG);
    }
}
