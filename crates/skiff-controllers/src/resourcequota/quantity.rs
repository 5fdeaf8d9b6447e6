//! Exact resource quantities with upstream's format memory and canonical printing
//! (`resource.Quantity`: `Add`, `Cmp`, `RoundUp(0)`, `String()`), so sums print as
//! `kubectl describe quota` shows them (`500m`, `2`, `1536Mi`, `1k`).

use std::cmp::Ordering;
use std::fmt;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Upstream `resource.Format`: how a quantity was written, and so how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `e3`, `e-6`, …
    DecimalExponent,
    /// `Ki`, `Mi`, … (whole numbers of at least 1024 only; others print as DecimalSI)
    BinarySI,
    /// `m`, `k`, `M`, … or no suffix
    DecimalSI,
}

const NANO: i128 = 1_000_000_000;

/// An exact amount in billionths of a unit (upstream keeps at most nano precision, rounding
/// finer values up) with its format.
#[derive(Clone, Copy, Debug)]
pub struct Amount {
    nanos: i128,
    format: Format,
}

impl PartialEq for Amount {
    /// Upstream `Cmp` equality: the value, whatever the format.
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Amount {}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Amount {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

fn pow(base: i128, exp: u32) -> Option<i128> {
    base.checked_pow(exp)
}

/// `digits × 10^exp10 × 2^exp2` in nanos, rounded up (away from zero), saturating.
fn scale(digits: i128, exp10: i32, exp2: u32) -> i128 {
    let Some(v) = pow(2, exp2).and_then(|p| digits.checked_mul(p)) else {
        return i128::MAX;
    };
    if exp10 >= 0 {
        pow(10, exp10.unsigned_abs())
            .and_then(|p| v.checked_mul(p))
            .unwrap_or(i128::MAX)
    } else {
        match pow(10, exp10.unsigned_abs()) {
            Some(p) => (v + p - 1) / p,
            None => i128::from(v != 0),
        }
    }
}

impl Amount {
    /// Zero, DecimalSI (upstream's starting point of every sum).
    pub const ZERO: Amount = Amount {
        nanos: 0,
        format: Format::DecimalSI,
    };

    /// A whole number, DecimalSI (upstream `NewQuantity(n, DecimalSI)`).
    pub fn from_int(n: i64) -> Self {
        Amount {
            nanos: i128::from(n) * NANO,
            format: Format::DecimalSI,
        }
    }

    /// Parses upstream's syntax (`<signed number><suffix>`), `None` when malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(end);
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return None;
        }
        let frac = frac.trim_end_matches('0');
        let digits = format!("{}{frac}", int.trim_start_matches('0'));
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().unwrap_or(i128::MAX)
        };
        let frac_len = i32::try_from(frac.len()).ok()?;
        let (exp10, exp2, format) = match suffix {
            "" => (0, 0, Format::DecimalSI),
            "n" => (-9, 0, Format::DecimalSI),
            "u" => (-6, 0, Format::DecimalSI),
            "m" => (-3, 0, Format::DecimalSI),
            "k" => (3, 0, Format::DecimalSI),
            "M" => (6, 0, Format::DecimalSI),
            "G" => (9, 0, Format::DecimalSI),
            "T" => (12, 0, Format::DecimalSI),
            "P" => (15, 0, Format::DecimalSI),
            "E" => (18, 0, Format::DecimalSI),
            "Ki" => (0, 10, Format::BinarySI),
            "Mi" => (0, 20, Format::BinarySI),
            "Gi" => (0, 30, Format::BinarySI),
            "Ti" => (0, 40, Format::BinarySI),
            "Pi" => (0, 50, Format::BinarySI),
            "Ei" => (0, 60, Format::BinarySI),
            e if e.starts_with(['e', 'E']) => {
                let exp = &e[1..];
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (exp.parse::<i32>().ok()?, 0, Format::DecimalExponent)
            }
            _ => return None,
        };
        let nanos = scale(mantissa, 9 - frac_len + exp10, exp2);
        Some(Amount {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    /// Parses a typed quantity.
    pub fn of(q: &Quantity) -> Option<Self> {
        Self::parse(&q.0)
    }

    /// The value in billionths of a unit.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format it prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Upstream `Add`: a zero amount takes the other's format.
    pub fn add(&mut self, other: &Amount) {
        if self.nanos == 0 {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_add(other.nanos);
    }

    /// Upstream `RoundUp(0)`: whole units, rounding up.
    pub fn round_up(self) -> Self {
        let units = self.nanos.div_euclid(NANO) + i128::from(self.nanos.rem_euclid(NANO) != 0);
        Amount {
            nanos: units.saturating_mul(NANO),
            format: self.format,
        }
    }

    /// As a typed quantity, in canonical form.
    pub fn to_quantity(&self) -> Quantity {
        Quantity(self.to_string())
    }
}

fn decimal_suffix(exp: i32, format: Format) -> String {
    if format == Format::DecimalExponent {
        return if exp == 0 {
            String::new()
        } else {
            format!("e{exp}")
        };
    }
    match exp {
        -9 => "n".into(),
        -6 => "u".into(),
        -3 => "m".into(),
        0 => String::new(),
        3 => "k".into(),
        6 => "M".into(),
        9 => "G".into(),
        12 => "T".into(),
        15 => "P".into(),
        18 => "E".into(),
        e => format!("e{e}"),
    }
}

impl fmt::Display for Amount {
    /// Upstream `CanonicalizeBytes`: the largest suffix that keeps an integer mantissa
    /// (exponents multiples of 3, or powers of 1024 for BinarySI).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let mag = self.nanos.unsigned_abs();
        let whole = mag.is_multiple_of(NANO as u128);
        if self.format == Format::BinarySI && whole && mag / (NANO as u128) >= 1024 {
            let mut v = mag / (NANO as u128);
            let mut exp = 0;
            while v.is_multiple_of(1024) && exp < 6 {
                v /= 1024;
                exp += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
            return write!(f, "{sign}{v}{suffix}");
        }
        let format = match self.format {
            Format::BinarySI => Format::DecimalSI,
            other => other,
        };
        let (mut m, mut exp) = (mag, -9i32);
        while m % 10 == 0 {
            m /= 10;
            exp += 1;
        }
        let r = exp.rem_euclid(3);
        m = m.saturating_mul(10u128.pow(r.unsigned_abs()));
        exp -= r;
        write!(f, "{sign}{m}{}", decimal_suffix(exp, format))
    }
}

/// Canonical form of a quantity string (unparsable strings come back unchanged).
pub fn canonical(q: &Quantity) -> Quantity {
    Amount::of(q).map_or_else(|| q.clone(), |a| a.to_quantity())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Amount::parse(s).unwrap().to_string()
    }

    #[test]
    fn prints_like_upstream() {
        for (input, want) in [
            ("0", "0"),
            ("0Mi", "0"),
            ("500m", "500m"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("2000m", "2"),
            ("1000", "1k"),
            ("1500000", "1500k"),
            ("1Gi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("512Ki", "512Ki"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("100M", "100M"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("-2Gi", "-2Gi"),
            ("128Mi", "128Mi"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn sums_keep_the_first_non_zero_format() {
        let mut sum = Amount::ZERO;
        for q in ["64Mi", "64Mi"] {
            sum.add(&Amount::parse(q).unwrap());
        }
        assert_eq!(sum.to_string(), "128Mi");
        let mut sum = Amount::ZERO;
        for q in ["250m", "750m", "1"] {
            sum.add(&Amount::parse(q).unwrap());
        }
        assert_eq!(sum.to_string(), "2");
        let mut sum = Amount::parse("100M").unwrap();
        sum.add(&Amount::parse("1Mi").unwrap());
        assert_eq!(sum.to_string(), "101048576");
    }

    #[test]
    fn compares_by_value_and_rounds_up() {
        assert_eq!(Amount::parse("1Ki"), Amount::parse("1024"));
        assert!(Amount::parse("1.1").unwrap() > Amount::parse("1").unwrap());
        assert_eq!(Amount::parse("1500m").unwrap().round_up().to_string(), "2");
        assert_eq!(
            Amount::parse("1.5Gi").unwrap().round_up().to_string(),
            "1536Mi"
        );
    }

    proptest::proptest! {
        #[test]
        fn canonical_text_reads_back_to_the_same_value(
            units in -1_000_000_000_000i64..1_000_000_000_000,
            nanos in 0i64..1_000_000_000,
            format in 0usize..3,
        ) {
            let value = i128::from(units) * NANO + i128::from(nanos);
            let format = [Format::DecimalSI, Format::BinarySI, Format::DecimalExponent][format];
            let a = Amount { nanos: value, format };
            let back = Amount::parse(&a.to_string()).unwrap();
            proptest::prop_assert_eq!(back.nanos(), value);
            // Printing is stable: the canonical text is its own canonical text.
            proptest::prop_assert_eq!(back.to_string(), a.to_string());
        }
    }

    #[test]
    fn rejects_malformed_input() {
        for s in ["", "abc", "1.2.3", "1K", "1e", "1 Mi", "--1", "."] {
            assert!(Amount::parse(s).is_none(), "{s:?}");
        }
        assert_eq!(
            canonical(&Quantity("bogus".into())),
            Quantity("bogus".into())
        );
    }
}
