//! How long to wait before the next attempt.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// The longest exponential backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest `Retry-After` we honour: a provider asking for an hour gets its error
/// instead of a run that hangs silently.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Backoff before retry number `retry` (1 = first): `base · 2^(retry-1)`, capped, times a
/// random factor in [0.5, 1] so many runs failing together do not retry in lockstep.
pub(crate) fn backoff(base: Duration, retry: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
    let capped = exp.min(MAX_BACKOFF);
    capped.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date. Capped; a date in the
/// past is zero.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for _ in 0..50 {
            let first = backoff(base, 1);
            assert!(
                first >= Duration::from_millis(50) && first <= base,
                "{first:?}"
            );
            let third = backoff(base, 3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(backoff(base, 40) <= MAX_BACKOFF);
        }
    }

    #[test]
    fn retry_after_seconds_dates_and_caps() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.5 ", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
