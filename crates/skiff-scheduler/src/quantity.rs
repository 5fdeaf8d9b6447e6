//! Kubernetes resource quantities (`100m`, `1.5`, `128Mi`, `1G`, `1e3`) read as integers.
//!
//! Upstream keeps arbitrary-precision decimals; the scheduler only ever asks for
//! `Value()` (whole units, rounded up) and `MilliValue()` (thousandths, rounded up),
//! so this module parses straight into those two views.

use thiserror::Error;

/// Why a quantity string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The string was empty (after trimming).
    #[error("quantity is empty")]
    Empty,
    /// The string does not follow `<signedNumber><suffix>`.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
    Syntax(String),
}

/// Most significant decimal digits kept from the mantissa; the rest only mark the value inexact.
const MAX_MANTISSA_DIGITS: usize = 36;

/// A parsed quantity: `±mantissa × 10^dec_exp × 2^bin_exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    mantissa: u128,
    dec_exp: i32,
    bin_exp: u32,
    /// Digits were dropped beyond [`MAX_MANTISSA_DIGITS`]; the true value is slightly larger.
    inexact: bool,
}

impl Quantity {
    /// Parses upstream's quantity syntax.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Empty);
        }
        let syntax = || Error::Syntax(s.to_string());
        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(num_end);
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return Err(syntax());
        }
        let (dec_suffix, bin_exp) = parse_suffix(suffix).ok_or_else(syntax)?;
        let mut q = Quantity {
            negative,
            mantissa: 0,
            dec_exp: dec_suffix,
            bin_exp,
            inexact: false,
        };
        let mut kept = 0usize;
        for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
            let d = u128::from(c as u8 - b'0');
            let in_frac = i >= int_part.len();
            if kept >= MAX_MANTISSA_DIGITS {
                // Dropped digit: an integer digit still scales the value, a fraction digit does not.
                if !in_frac {
                    q.dec_exp = q.dec_exp.saturating_add(1);
                }
                q.inexact |= d != 0;
                continue;
            }
            if in_frac {
                q.dec_exp = q.dec_exp.saturating_sub(1);
            }
            if q.mantissa != 0 || d != 0 {
                kept += 1;
            }
            q.mantissa = q.mantissa * 10 + d;
        }
        Ok(q)
    }

    /// Whole units, rounded away from zero (upstream `Value()`), saturating at the i64 range.
    pub fn value(&self) -> i64 {
        self.scaled(0)
    }

    /// Thousandths of a unit, rounded away from zero (upstream `MilliValue()`).
    pub fn milli_value(&self) -> i64 {
        self.scaled(3)
    }

    /// `|self| × 10^scale`, rounded up, with the sign applied.
    fn scaled(&self, scale: i32) -> i64 {
        let magnitude = self.scaled_magnitude(scale);
        let clamped = i64::try_from(magnitude).unwrap_or(i64::MAX);
        if self.negative {
            -clamped
        } else {
            clamped
        }
    }

    fn scaled_magnitude(&self, scale: i32) -> u128 {
        if self.mantissa == 0 {
            return 0;
        }
        let Some(mut m) = 2u128
            .checked_pow(self.bin_exp)
            .and_then(|p| self.mantissa.checked_mul(p))
        else {
            return u128::MAX;
        };
        let exp = self.dec_exp.saturating_add(scale);
        let mut inexact = self.inexact;
        if exp >= 0 {
            for _ in 0..exp {
                match m.checked_mul(10) {
                    Some(v) => m = v,
                    None => return u128::MAX,
                }
            }
        } else {
            for _ in 0..exp.unsigned_abs() {
                inexact |= m % 10 != 0;
                m /= 10;
                if m == 0 {
                    break;
                }
            }
        }
        if inexact {
            m.saturating_add(1)
        } else {
            m
        }
    }
}

/// Returns (decimal exponent, binary exponent) for a suffix.
fn parse_suffix(suffix: &str) -> Option<(i32, u32)> {
    let dec = |e: i32| Some((e, 0));
    let bin = |e: u32| Some((0, e));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        s if s.starts_with(['e', 'E']) => {
            let exp = &s[1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            exp.parse::<i32>().ok().map(|e| (e, 0))
        }
        _ => None,
    }
}

/// Milli-units of a quantity string, 0 when it does not parse (objects reaching the
/// scheduler were validated by the API server; bad input must not panic).
pub fn milli_value(s: &str) -> i64 {
    Quantity::parse(s).map(|q| q.milli_value()).unwrap_or(0)
}

/// Whole units of a quantity string, 0 when it does not parse.
pub fn value(s: &str) -> i64 {
    Quantity::parse(s).map(|q| q.value()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_forms() {
        let cases: &[(&str, i64, i64)] = &[
            // (input, value, milli_value)
            ("0", 0, 0),
            ("100m", 1, 100),
            ("1", 1, 1000),
            ("1.5", 2, 1500),
            ("0.1", 1, 100),
            (".5", 1, 500),
            ("2.", 2, 2000),
            ("+3", 3, 3000),
            ("-1.5", -2, -1500),
            ("128Mi", 134_217_728, 134_217_728_000),
            ("1Ki", 1024, 1_024_000),
            ("1G", 1_000_000_000, 1_000_000_000_000),
            ("1k", 1000, 1_000_000),
            ("1e3", 1000, 1_000_000),
            ("1E3", 1000, 1_000_000),
            ("1e-3", 1, 1),
            ("1e+2", 100, 100_000),
            ("500u", 1, 1),
            ("1n", 1, 1),
            ("250m", 1, 250),
            ("1.25Gi", 1_342_177_280, 1_342_177_280_000),
            ("4", 4, 4000),
        ];
        for (input, value, milli) in cases {
            let q = Quantity::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((q.value(), q.milli_value()), (*value, *milli), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_quantities() {
        for input in [
            "", "abc", "1.2.3", "1Qi", "1e", "1ee3", ".", "m", "1 Mi", "--1", "1e1.5",
        ] {
            assert!(
                Quantity::parse(input).is_err(),
                "{input:?} should not parse"
            );
        }
        assert_eq!(milli_value("bogus"), 0);
        assert_eq!(value(""), 0);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert_eq!(value("1e100"), i64::MAX);
        assert_eq!(milli_value("9Ei"), i64::MAX);
        assert_eq!(value("-1e100"), -i64::MAX);
        assert_eq!(value("1e-100"), 1);
        assert_eq!(value("0e100"), 0);
    }

    #[test]
    fn long_mantissas_round_up() {
        assert_eq!(value("1.0000000000000000000000000000000000000000001"), 2);
        assert_eq!(
            value("1000000000000000000000000000000000000000000"),
            i64::MAX
        );
        assert_eq!(value("0.000000000000000000000000000000000000000000"), 0);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_strings_never_panic(s in ".{0,40}") {
                let _ = value(&s);
                let _ = milli_value(&s);
            }

            #[test]
            fn matches_a_naive_reference(n in 0i64..1_000_000_000, frac in 0u32..1000, suffix in 0usize..6) {
                let (sfx, num, den): (&str, i128, i128) =
                    [("", 1, 1), ("k", 1000, 1), ("Mi", 1 << 20, 1), ("m", 1, 1000), ("G", 1_000_000_000, 1), ("Ki", 1024, 1)][suffix];
                let s = format!("{n}.{frac:03}{sfx}");
                // exact value = (n*1000 + frac) / 1000 * num / den
                let thousandths = (i128::from(n) * 1000 + i128::from(frac)) * num;
                let ceil_div = |a: i128, b: i128| ((a + b - 1) / b).min(i128::from(i64::MAX));
                prop_assert_eq!(i128::from(value(&s)), ceil_div(thousandths, 1000 * den));
                prop_assert_eq!(i128::from(milli_value(&s)), ceil_div(thousandths, den));
            }
        }
    }
}
