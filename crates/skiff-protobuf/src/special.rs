//! Messages with a JSON form of their own: Quantity, IntOrString, Time, MicroTime, Duration,
//! raw JSON holders, string lists and the apiextensions schema unions.

use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;

use crate::decode::{self, expect_len, expect_varint, utf8};
use crate::error::{DecodeError, EncodeError};
use crate::table::{Kind, Message, Special};
use crate::wire::{Reader, Writer};

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix seconds: JSON `null`.
const GO_ZERO_TIME: i64 = -62_135_596_800;

fn invalid(message: &Message, reason: impl Into<String>) -> DecodeError {
    DecodeError::InvalidValue {
        message: message.proto,
        reason: reason.into(),
    }
}

/// The message index of a special message's field (its schema, for the apiextensions unions).
fn sub_index(message: &Message, tag: u32) -> Option<u16> {
    message
        .fields
        .iter()
        .find(|f| f.tag == tag)
        .and_then(|f| match f.kind {
            Kind::M(i) => Some(i),
            _ => None,
        })
}

/// Decodes a special message into its JSON form.
pub(crate) fn decode(
    message: &'static Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Value, DecodeError> {
    let p = message.proto;
    // The fields, as (tag, wire value), in wire order.
    let mut fields = Vec::new();
    let mut r = Reader::new(bytes);
    while let Some(f) = r.field().map_err(|e| decode::wire_err(e, p))? {
        fields.push(f);
    }
    let last = |tag: u32| {
        fields
            .iter()
            .rev()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| *v)
    };
    let string = |tag: u32, name: &str| -> Result<Option<String>, DecodeError> {
        last(tag)
            .map(|v| utf8(expect_len(v, p, name)?, p, name))
            .transpose()
    };
    let varint = |tag: u32, name: &str| -> Result<Option<u64>, DecodeError> {
        last(tag).map(|v| expect_varint(v, p, name)).transpose()
    };
    let strings = |tag: u32, name: &str| -> Result<Vec<Value>, DecodeError> {
        fields
            .iter()
            .filter(|(t, _)| *t == tag)
            .map(|(_, v)| Ok(Value::String(utf8(expect_len(*v, p, name)?, p, name)?)))
            .collect()
    };
    let schema = |tag: u32| -> Result<Option<Value>, DecodeError> {
        let Some(v) = last(tag) else { return Ok(None) };
        let index = sub_index(message, tag).ok_or_else(|| invalid(message, "no schema field"))?;
        decode::message_value(index, expect_len(v, p, "schema")?, depth + 1).map(Some)
    };
    Ok(match message.special {
        Special::None => return Err(invalid(message, "not a special message")),
        Special::Quantity => Value::String(string(1, "string")?.unwrap_or_else(|| "0".into())),
        Special::IntOrString => match varint(1, "type")?.unwrap_or(0) {
            0 => Value::from(varint(2, "intVal")?.unwrap_or(0) as u32 as i32),
            1 => Value::String(string(3, "strVal")?.unwrap_or_default()),
            other => {
                return Err(invalid(
                    message,
                    format!("type {other} is neither 0 (int) nor 1 (string)"),
                ))
            }
        },
        Special::Time | Special::MicroTime => {
            if bytes.is_empty() {
                return Ok(Value::Null); // Go's zero time, as gogo writes it
            }
            let seconds = varint(1, "seconds")?.unwrap_or(0) as i64;
            let nanos = varint(2, "nanos")?.unwrap_or(0) as u32 as i32;
            // metav1.Time drops nanoseconds when it unmarshals; MicroTime keeps them.
            let nanos = if message.special == Special::Time {
                0
            } else {
                nanos
            };
            time_json(seconds, nanos, message.special == Special::MicroTime)
                .map_err(|reason| invalid(message, reason))?
        }
        Special::Duration => {
            Value::String(format_duration(varint(1, "duration")?.unwrap_or(0) as i64))
        }
        Special::RawJson | Special::RawExtension => match last(1) {
            None => Value::Null,
            Some(v) => {
                let raw = expect_len(v, p, "raw")?;
                if raw.is_empty() {
                    Value::Null
                } else if message.special == Special::RawExtension && raw.starts_with(decode::MAGIC)
                {
                    decode::decode_envelope(raw, depth + 1)?
                } else {
                    serde_json::from_slice(raw).map_err(|e| {
                        invalid(message, format!("embedded JSON does not parse: {e}"))
                    })?
                }
            }
        },
        Special::StringList => Value::Array(strings(1, "items")?),
        Special::SchemaOrArray => {
            let mut items = Vec::new();
            let index = sub_index(message, 2).ok_or_else(|| invalid(message, "no schema field"))?;
            for (_, v) in fields.iter().filter(|(t, _)| *t == 2) {
                items.push(decode::message_value(
                    index,
                    expect_len(*v, p, "JSONSchemas")?,
                    depth + 1,
                )?);
            }
            if items.is_empty() {
                schema(1)?.unwrap_or(Value::Null)
            } else {
                Value::Array(items)
            }
        }
        Special::SchemaOrBool => match schema(2)? {
            Some(s) => s,
            None => Value::Bool(varint(1, "allows")?.unwrap_or(0) != 0),
        },
        Special::SchemaOrStringArray => {
            let property = strings(2, "property")?;
            if property.is_empty() {
                schema(1)?.unwrap_or(Value::Null)
            } else {
                Value::Array(property)
            }
        }
    })
}

/// A double as Go's encoding/json writes it: integral values as integers.
pub(crate) fn float(f: f64, message: &'static str) -> Result<Value, DecodeError> {
    if !f.is_finite() {
        return Err(DecodeError::InvalidValue {
            message,
            reason: format!("{f} has no JSON form"),
        });
    }
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Ok(Value::from(f as i64));
    }
    Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number))
}

/// RFC 3339 in UTC: seconds precision for Time, 6 fraction digits for MicroTime.
fn time_json(seconds: i64, nanos: i32, micro: bool) -> Result<Value, String> {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let (secs, sub) = (
        total.div_euclid(1_000_000_000),
        total.rem_euclid(1_000_000_000),
    );
    let secs = i64::try_from(secs).map_err(|_| format!("{seconds}s is out of range"))?;
    if secs == GO_ZERO_TIME && sub == 0 {
        return Ok(Value::Null);
    }
    let t = DateTime::<Utc>::from_timestamp(secs, sub as u32)
        .ok_or_else(|| format!("{seconds}s is out of range"))?;
    if !(0..=9999).contains(&t.year()) {
        return Err(format!("year {} is outside 0..=9999", t.year()));
    }
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(t.format(format).to_string()))
}

/// Parses RFC 3339 into (seconds, nanos).
pub(crate) fn parse_time(s: &str) -> Option<(i64, i32)> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    Some((t.timestamp(), t.timestamp_subsec_nanos() as i32))
}

/// Go's `time.Duration.String()`: "1h0m0s", "5m0s", "300ms", "1.5µs", "0s".
pub(crate) fn format_duration(ns: i64) -> String {
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        if u == 0 {
            return "0s".into();
        }
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (frac, int) = fraction(u, prec);
        out.push_str(&format!("{int}{frac}{unit}"));
    } else {
        let (frac, secs) = fraction(u, 9);
        u = secs;
        let s = format!("{}{frac}s", u % 60);
        u /= 60;
        out = if u == 0 {
            s
        } else if u / 60 == 0 {
            format!("{}m{s}", u % 60)
        } else {
            format!("{}h{}m{s}", u / 60, u % 60)
        };
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Go's fmtFrac: ".5" style fraction of `v / 10^prec` without trailing zeros, and the integer part.
fn fraction(mut v: u64, prec: u32) -> (String, u64) {
    let mut digits = Vec::new();
    let mut print = false;
    for _ in 0..prec {
        let digit = (v % 10) as u8;
        print = print || digit != 0;
        if print {
            digits.push(b'0' + digit);
        }
        v /= 10;
    }
    if !print {
        return (String::new(), v);
    }
    digits.reverse();
    (format!(".{}", String::from_utf8_lossy(&digits)), v)
}

/// Go's `time.ParseDuration` (units ns, us, µs, μs, ms, s, m, h; "0" alone allowed).
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

fn bad(message: &Message, reason: impl Into<String>) -> EncodeError {
    EncodeError::InvalidValue {
        message: message.proto,
        field: String::new(),
        reason: reason.into(),
    }
}

/// Writes a special message's fields for its JSON form.
pub(crate) fn encode(
    message: &'static Message,
    value: &Value,
    w: &mut Writer,
    depth: usize,
) -> Result<(), EncodeError> {
    let schema = |tag: u32, v: &Value, w: &mut Writer| -> Result<(), EncodeError> {
        let index = sub_index(message, tag).ok_or_else(|| bad(message, "no schema field"))?;
        let bytes = crate::encode::message_bytes(index, v, depth + 1)?;
        w.bytes_field(tag, &bytes);
        Ok(())
    };
    let string_list = |tag: u32, items: &[Value], w: &mut Writer| -> Result<(), EncodeError> {
        for item in items {
            w.bytes_field(
                tag,
                item.as_str()
                    .ok_or_else(|| bad(message, "expected strings"))?
                    .as_bytes(),
            );
        }
        Ok(())
    };
    match (message.special, value) {
        (Special::Quantity, Value::String(s)) => w.bytes_field(1, s.as_bytes()),
        (Special::Quantity, Value::Number(n)) => w.bytes_field(1, n.to_string().as_bytes()),
        (Special::IntOrString, Value::Number(n)) => {
            let i = n
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| bad(message, "not an int32"))?;
            w.varint_field(1, 0);
            w.varint_field(2, i64::from(i) as u64);
            w.bytes_field(3, b"");
        }
        (Special::IntOrString, Value::String(s)) => {
            w.varint_field(1, 1);
            w.varint_field(2, 0);
            w.bytes_field(3, s.as_bytes());
        }
        (Special::Time | Special::MicroTime, Value::String(s)) => {
            let (seconds, nanos) =
                parse_time(s).ok_or_else(|| bad(message, format!("{s:?} is not RFC 3339")))?;
            let nanos = if message.special == Special::Time {
                0
            } else {
                nanos
            };
            w.varint_field(1, seconds as u64);
            w.varint_field(2, i64::from(nanos) as u64);
        }
        (Special::Duration, Value::String(s)) => {
            let ns = parse_duration(s)
                .ok_or_else(|| bad(message, format!("{s:?} is not a Go duration")))?;
            w.varint_field(1, ns as u64);
        }
        (Special::RawJson | Special::RawExtension, v) => {
            let raw = serde_json::to_vec(v).map_err(|e| bad(message, e.to_string()))?;
            w.bytes_field(1, &raw);
        }
        (Special::StringList, Value::Array(items)) => string_list(1, items, w)?,
        (Special::SchemaOrArray, Value::Array(items)) => {
            for item in items {
                schema(2, item, w)?;
            }
        }
        (Special::SchemaOrArray, v @ Value::Object(_)) => schema(1, v, w)?,
        (Special::SchemaOrBool, Value::Bool(b)) => w.varint_field(1, u64::from(*b)),
        (Special::SchemaOrBool, v @ Value::Object(_)) => {
            w.varint_field(1, 1);
            schema(2, v, w)?;
        }
        (Special::SchemaOrStringArray, Value::Array(items)) => string_list(2, items, w)?,
        (Special::SchemaOrStringArray, v @ Value::Object(_)) => schema(1, v, w)?,
        (_, v) => return Err(bad(message, format!("unexpected JSON {v}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_go() {
        for (ns, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (300_000_000, "300ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (300_000_000_000, "5m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (-90_000_000_000, "-1m30s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(format_duration(ns), s, "{ns}");
        }
        for (s, ns) in [
            ("0", 0),
            ("1h", 3_600_000_000_000),
            ("1.5s", 1_500_000_000),
            ("1h2m3s", 3_723_000_000_000),
        ] {
            assert_eq!(parse_duration(s), Some(ns), "{s}");
        }
        assert_eq!(parse_duration("-300ms"), Some(-300_000_000));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1x"), None);
    }

    #[test]
    fn times_match_go() {
        assert_eq!(
            time_json(1_704_164_645, 0, false),
            Ok(Value::from("2024-01-02T03:04:05Z"))
        );
        assert_eq!(
            time_json(1_704_164_645, 123_456_789, true),
            Ok(Value::from("2024-01-02T03:04:05.123456Z"))
        );
        assert_eq!(
            time_json(0, 0, true),
            Ok(Value::from("1970-01-01T00:00:00.000000Z"))
        );
        assert_eq!(time_json(GO_ZERO_TIME, 0, false), Ok(Value::Null));
        assert!(time_json(i64::MAX, 0, false).is_err());
        assert!(time_json(300_000_000_000, 0, false).is_err());
        assert_eq!(parse_time("2024-01-02T03:04:05Z"), Some((1_704_164_645, 0)));
        assert_eq!(
            parse_time("2024-01-02T03:04:05.5+00:00"),
            Some((1_704_164_645, 500_000_000))
        );
    }

    #[test]
    fn floats_match_go() {
        assert_eq!(float(5.0, "x").unwrap(), Value::from(5));
        assert_eq!(float(0.5, "x").unwrap(), serde_json::json!(0.5));
        assert!(float(f64::NAN, "x").is_err());
    }
}
