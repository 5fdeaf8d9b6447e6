//! Durations written like Go's `time.ParseDuration` (`2s`, `500ms`, `1m30s`, `1.5h`).

use std::time::Duration;

/// Nanoseconds per unit, longest unit names first so `ms` is not read as `m`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a non-negative duration: a sequence of decimal numbers, each with an optional
/// fraction and a unit suffix (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), or a bare `0`.
///
/// Negative durations are rejected: a simulated container cannot finish before it starts.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad = |why: &str| format!("invalid duration {text:?}: {why}");
    if s.is_empty() {
        return Err(bad("empty"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(bad("must not be negative"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad("expected a number"));
        }
        let Some(&(unit, scale)) = UNITS.iter().find(|(u, _)| after.starts_with(u)) else {
            return Err(bad("missing or unknown unit (use ns, us, ms, s, m or h)"));
        };
        rest = &after[unit.len()..];
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad("number too large"))?
        };
        let mut nanos = whole.checked_mul(scale).ok_or_else(|| bad("too large"))?;
        // Fraction digits beyond nanosecond precision are dropped, as Go does.
        let mut unit_part = scale;
        for d in frac.bytes().take(30) {
            unit_part /= 10;
            nanos += u128::from(d - b'0') * unit_part;
        }
        total = total.checked_add(nanos).ok_or_else(|| bad("too large"))?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad("too large"))?;
    // The remainder is below one second, so it fits in u32.
    let sub = u32::try_from(total % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_single_units() {
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse("7µs"), Ok(Duration::from_micros(7)));
        assert_eq!(parse("9ns"), Ok(Duration::from_nanos(9)));
    }

    #[test]
    fn reads_sequences_and_fractions() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(".5m"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1h2m3s4ms"), Ok(Duration::from_millis(3_723_004)));
        assert_eq!(parse(" 3s "), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn zero_needs_no_unit() {
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in ["", "5", "s", "-1s", "1x", "1.s5", "abc", "1s2", "."] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse("99999999999999999999999h").is_err());
    }
}
