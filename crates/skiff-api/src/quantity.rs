//! Resource quantities (`100m`, `1.5Gi`, `2e3`) read into exact integers, enough to validate
//! flags and to compare requests with limits for the QoS class.

/// A quantity in nano-units (`1` = 1e-9 of the base unit), rounded up like upstream rounds
/// below its smallest scale. `i128` keeps `Ei` values exact.
pub type Nanos = i128;

const NANO: i128 = 1_000_000_000;

/// Parses a Kubernetes quantity: an optional sign, a decimal number and an optional suffix —
/// binary (`Ki` … `Ei`), decimal (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) or an
/// exponent (`e3`, `E-2`). Returns `None` for anything else or on overflow.
pub fn parse(text: &str) -> Option<Nanos> {
    let s = text.trim();
    let (negative, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int, rest) = s.split_at(int_len);
    let (frac, suffix) = match rest.strip_prefix('.') {
        Some(f) => f.split_at(f.bytes().take_while(u8::is_ascii_digit).count()),
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    // mantissa * 10^-frac.len() is the number as written.
    let digits = format!("{int}{frac}");
    if digits.len() > 38 {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    let (mul, exp10): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        e if e.starts_with(['e', 'E']) => (1, e[1..].parse().ok()?),
        _ => return None,
    };
    // Value in nanos = mantissa * mul * 10^(exp10 + 9 - frac.len()).
    let shift = exp10 + 9 - i32::try_from(frac.len()).ok()?;
    let scaled = mantissa.checked_mul(mul)?;
    let nanos = if shift >= 0 {
        scaled.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        let div = 10i128.checked_pow(shift.unsigned_abs())?;
        // Round away from zero, as upstream does when a value is below nano precision.
        (scaled + div - 1) / div
    };
    Some(if negative { -nanos } else { nanos })
}

/// Whether `text` is a valid quantity (for flag validation).
pub fn is_valid(text: &str) -> bool {
    parse(text).is_some()
}

/// Whole units of a quantity (`"2"` → 2, `"1500m"` → 1), for capacities such as `pods`.
pub fn whole_units(text: &str) -> Option<i128> {
    parse(text).map(|n| n / NANO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_decimal_and_binary_suffixes() {
        assert_eq!(parse("1"), Some(NANO));
        assert_eq!(parse("100m"), Some(NANO / 10));
        assert_eq!(parse("0.1"), Some(NANO / 10));
        assert_eq!(parse("1k"), Some(1000 * NANO));
        assert_eq!(parse("1Ki"), Some(1024 * NANO));
        assert_eq!(parse("256Gi"), Some(256 * (1 << 30) * NANO));
        assert_eq!(parse("1.5Gi"), Some(3 * (1 << 29) * NANO));
        assert_eq!(parse("2e3"), Some(2000 * NANO));
        assert_eq!(parse("5n"), Some(5));
        assert_eq!(parse("8Ei"), Some((8i128 << 60) * NANO));
    }

    #[test]
    fn equal_amounts_compare_equal_across_notations() {
        assert_eq!(parse("0.5"), parse("500m"));
        assert_eq!(parse("1Gi"), parse("1073741824"));
        assert_eq!(parse("1e3"), parse("1k"));
    }

    #[test]
    fn rounds_below_nano_up() {
        assert_eq!(parse("0.0000000001"), Some(1));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1x", "Gi", "1.2.3", "1 Gi", "--1", "1e", "1ee3"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert!(is_valid("32"));
        assert!(!is_valid("lots"));
    }

    #[test]
    fn whole_units_truncate() {
        assert_eq!(whole_units("110"), Some(110));
        assert_eq!(whole_units("1500m"), Some(1));
    }
}
