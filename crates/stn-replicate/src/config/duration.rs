//! Durations written the way Go's `time.ParseDuration` reads them, since
//! Litestream configs are full of them: `1s`, `500ms`, `1m30s`, `24h`, `1.5h`.

use std::time::Duration;

/// Nanoseconds per unit, longest suffix first so `ms` is not read as `m`.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration string. Negative durations are refused: no
/// Litestream setting means anything with them. `None` when malformed.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = parse_term(rest)?;
        total_nanos = total_nanos.checked_add(nanos)?;
        rest = after;
    }
    // Go's limit: a duration is an int64 of nanoseconds.
    let nanos = u64::try_from(total_nanos)
        .ok()
        .filter(|&n| n <= i64::MAX as u64)?;
    Some(Duration::from_nanos(nanos))
}

/// Parses one `<number>[.<fraction>]<unit>` term from the front of `text`.
fn parse_term(text: &str) -> Option<(u128, &str)> {
    let whole_len = text.bytes().take_while(u8::is_ascii_digit).count();
    let (whole, rest) = text.split_at(whole_len);
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            after_dot.split_at(len)
        }
        None => ("", rest),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let (unit, rest) = UNITS
        .iter()
        .find_map(|&(suffix, nanos)| rest.strip_prefix(suffix).map(|after| (nanos, after)))?;
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(unit)?;
    // Digits beyond nanosecond precision cannot change the result.
    let fraction = &fraction[..fraction.len().min(18)];
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().ok()?;
        let scale = 10u128.pow(fraction.len() as u32);
        nanos = nanos.checked_add(digits * unit / scale)?;
    }
    Some((nanos, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_forms() {
        let cases = [
            ("0", Duration::ZERO),
            ("1s", Duration::from_secs(1)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("24h", Duration::from_secs(86_400)),
            ("1.5h", Duration::from_secs(5_400)),
            (".5s", Duration::from_millis(500)),
            ("1h2m3s4ms5us6ns", Duration::new(3_723, 4_005_006)),
            ("10µs", Duration::from_micros(10)),
            ("+5m", Duration::from_secs(300)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_and_negative() {
        for text in [
            "",
            "1",
            "s",
            "1x",
            "-1s",
            "1 s",
            "1s ",
            "1.s.",
            "ms",
            "9999999999h",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}
