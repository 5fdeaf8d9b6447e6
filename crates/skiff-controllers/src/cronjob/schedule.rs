//! Cron schedules as upstream parses them (robfig/cron's standard parser): five fields with
//! ranges, steps, lists and names, the `@yearly`…`@hourly` descriptors, `@every <duration>`,
//! and a `TZ=`/`CRON_TZ=` prefix; `next` finds the following activation in a time zone.

use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::tz::TimeZone;

use super::zones;
use crate::Timestamp;

/// Why a schedule does not parse (upstream's `UnparseableSchedule` message carries it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not five fields.
    #[error("expected exactly 5 fields, found {0}: {1}")]
    FieldCount(usize, String),
    /// A field value out of its bounds or malformed.
    #[error("{0}")]
    Field(String),
    /// An unknown `@` descriptor.
    #[error("unrecognized descriptor: {0}")]
    Descriptor(String),
    /// The `TZ=` prefix names an unknown zone.
    #[error("provided bad location {0}: unknown time zone {0}")]
    Location(String),
}

const STAR_BIT: u64 = 1 << 63;

#[derive(Clone, Copy)]
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    kind: Kind,
    tz: Option<TimeZone>,
}

#[derive(Clone, Debug)]
enum Kind {
    Spec {
        minute: u64,
        hour: u64,
        dom: u64,
        month: u64,
        dow: u64,
    },
    Every(i64),
}

fn parse_value(s: &str, b: Bounds) -> Result<u32, Error> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.min + i as u32);
    }
    s.parse::<u32>().map_err(|_| {
        Error::Field(format!(
            "failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"
        ))
    })
}

/// robfig `getRange`: `*`, `a`, `a-b`, with `/step`.
fn parse_range(expr: &str, b: Bounds) -> Result<u64, Error> {
    let (range, step) = match expr.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (expr, None),
    };
    let mut extra = 0;
    let (start, mut end, single) = if range == "*" || range == "?" {
        extra = STAR_BIT;
        (b.min, b.max, false)
    } else {
        match range.split_once('-') {
            Some((lo, hi)) => (parse_value(lo, b)?, parse_value(hi, b)?, false),
            None => {
                let v = parse_value(range, b)?;
                (v, v, true)
            }
        }
    };
    let step = match step {
        None => 1,
        Some(s) => {
            let v = s.parse::<u32>().map_err(|_| {
                Error::Field(format!(
                    "failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"
                ))
            })?;
            if single {
                end = b.max;
            }
            if v > 1 {
                extra = 0;
            }
            v
        }
    };
    if start < b.min {
        return Err(Error::Field(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        )));
    }
    if end > b.max {
        return Err(Error::Field(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        )));
    }
    if start > end {
        return Err(Error::Field(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        )));
    }
    if step == 0 {
        return Err(Error::Field(format!(
            "step of range should be a positive number: {expr}"
        )));
    }
    let mut bits = 0u64;
    let mut i = start;
    while i <= end {
        bits |= 1 << i;
        match i.checked_add(step) {
            Some(n) => i = n,
            None => break,
        }
    }
    Ok(bits | extra)
}

fn parse_field(field: &str, b: Bounds) -> Result<u64, Error> {
    field
        .split(',')
        .try_fold(0u64, |acc, r| Ok(acc | parse_range(r, b)?))
}

/// Parses a Go duration such as `1h30m`, `90s`, `5m` (for `@every`), in seconds.
fn parse_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += v * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(total as i64)
}

impl Schedule {
    /// Upstream `cron.ParseStandard`.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let mut spec = spec.trim();
        let mut tz = None;
        for prefix in ["TZ=", "CRON_TZ="] {
            if let Some(rest) = spec.strip_prefix(prefix) {
                let (name, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                tz = Some(zones::lookup(name).ok_or_else(|| Error::Location(name.to_string()))?);
                spec = tail.trim();
            }
        }
        if let Some(d) = spec.strip_prefix('@') {
            let fields = match d {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => {
                    if let Some(dur) = d.strip_prefix("every ") {
                        let secs =
                            parse_duration(dur.trim())
                                .filter(|s| *s > 0)
                                .ok_or_else(|| {
                                    Error::Descriptor(format!("failed to parse duration @{d}"))
                                })?;
                        return Ok(Schedule {
                            kind: Kind::Every(secs.max(1)),
                            tz,
                        });
                    }
                    return Err(Error::Descriptor(format!("@{d}")));
                }
            };
            let mut s = Self::parse(fields)?;
            s.tz = tz;
            return Ok(s);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(Error::FieldCount(fields.len(), spec.to_string()));
        }
        Ok(Schedule {
            kind: Kind::Spec {
                minute: parse_field(fields[0], MINUTES)?,
                hour: parse_field(fields[1], HOURS)?,
                dom: parse_field(fields[2], DOM)?,
                month: parse_field(fields[3], MONTHS)?,
                dow: parse_field(fields[4], DOW)?,
            },
            tz,
        })
    }

    /// The zone from a `TZ=` prefix, if any.
    pub fn time_zone(&self) -> Option<&TimeZone> {
        self.tz.as_ref()
    }

    /// robfig `Schedule.Next`: the first activation strictly after `after`, evaluated in the
    /// schedule's zone (or `default_tz`); `None` when none exists within five years.
    pub fn next(&self, after: Timestamp, default_tz: &TimeZone) -> Option<Timestamp> {
        let tz = self.tz.as_ref().unwrap_or(default_tz);
        let (minute, hour, dom, month, dow) = match self.kind {
            Kind::Every(secs) => {
                // robfig's ConstantDelaySchedule: whole seconds after `after`.
                let t = after.as_second().checked_add(secs)?;
                return Timestamp::from_second(t).ok();
            }
            Kind::Spec {
                minute,
                hour,
                dom,
                month,
                dow,
            } => (minute, hour, dom, month, dow),
        };
        let local = tz.to_datetime(after);
        // Round up to the next whole minute strictly after `after`.
        let mut dt = DateTime::new(
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            0,
            0,
        )
        .ok()?;
        dt = dt
            .checked_add(k8s_openapi::jiff::Span::new().minutes(1))
            .ok()?;
        let limit = local.year().saturating_add(5);
        let day_matches = |d: Date| {
            let dom_m = dom & (1 << d.day()) != 0;
            let dow_m = dow & (1 << d.weekday().to_sunday_zero_offset()) != 0;
            if dom & STAR_BIT != 0 || dow & STAR_BIT != 0 {
                dom_m && dow_m
            } else {
                dom_m || dow_m
            }
        };
        while dt.year() <= limit {
            if month & (1 << dt.month()) == 0 {
                let (y, m) = if dt.month() == 12 {
                    (dt.year() + 1, 1)
                } else {
                    (dt.year(), dt.month() + 1)
                };
                dt = DateTime::new(y, m, 1, 0, 0, 0, 0).ok()?;
                continue;
            }
            if !day_matches(dt.date()) {
                dt = dt
                    .date()
                    .tomorrow()
                    .ok()?
                    .to_datetime(k8s_openapi::jiff::civil::Time::midnight());
                continue;
            }
            if hour & (1 << dt.hour()) == 0 {
                dt = DateTime::new(dt.year(), dt.month(), dt.day(), dt.hour(), 0, 0, 0).ok()?;
                dt = dt
                    .checked_add(k8s_openapi::jiff::Span::new().hours(1))
                    .ok()?;
                continue;
            }
            if minute & (1 << dt.minute()) == 0 {
                dt = dt
                    .checked_add(k8s_openapi::jiff::Span::new().minutes(1))
                    .ok()?;
                continue;
            }
            let ts = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
            if ts > after {
                return Some(ts);
            }
            dt = dt
                .checked_add(k8s_openapi::jiff::Span::new().minutes(1))
                .ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec)
            .unwrap()
            .next(at(after), &TimeZone::UTC)
            .unwrap()
            .to_string()
    }

    #[test]
    fn five_field_schedules_with_ranges_steps_lists_and_names() {
        assert_eq!(
            next("*/15 * * * *", "2025-03-01T10:07:00Z"),
            "2025-03-01T10:15:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * MON-FRI", "2025-03-01T10:07:00Z"),
            "2025-03-03T09:00:00Z"
        );
        assert_eq!(
            next("30 2 1,15 JAN,jul *", "2025-03-01T00:00:00Z"),
            "2025-07-01T02:30:00Z"
        );
        assert_eq!(
            next("5 4 * * *", "2025-03-01T04:05:00Z"),
            "2025-03-02T04:05:00Z",
            "strictly after"
        );
        assert_eq!(
            next("0 0 31 * *", "2025-04-01T00:00:00Z"),
            "2025-05-31T00:00:00Z"
        );
    }

    #[test]
    fn day_of_month_and_week_match_either_when_both_are_restricted() {
        // The 13th, or any Friday.
        assert_eq!(
            next("0 0 13 * 5", "2025-06-01T00:00:00Z"),
            "2025-06-06T00:00:00Z"
        );
        // Every Friday in the first week only when one side is a star.
        assert_eq!(
            next("0 0 * * 5", "2025-06-01T00:00:00Z"),
            "2025-06-06T00:00:00Z"
        );
    }

    #[test]
    fn descriptors_and_every() {
        assert_eq!(
            next("@hourly", "2025-03-01T10:07:00Z"),
            "2025-03-01T11:00:00Z"
        );
        assert_eq!(
            next("@daily", "2025-03-01T10:07:00Z"),
            "2025-03-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2025-03-01T10:07:00Z"),
            "2025-03-02T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2025-03-01T10:07:00Z"),
            "2025-04-01T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2025-03-01T10:07:00Z"),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            next("@every 90m", "2025-03-01T10:07:00Z"),
            "2025-03-01T11:37:00Z"
        );
    }

    #[test]
    fn time_zones_shift_activations_and_follow_daylight_saving() {
        assert_eq!(
            next("TZ=America/New_York 0 9 * * *", "2025-01-10T00:00:00Z"),
            "2025-01-10T14:00:00Z"
        );
        assert_eq!(
            next("CRON_TZ=America/New_York 0 9 * * *", "2025-07-10T00:00:00Z"),
            "2025-07-10T13:00:00Z"
        );
        assert_eq!(
            next("TZ=Asia/Kolkata 0 0 * * *", "2025-07-10T00:00:00Z"),
            "2025-07-10T18:30:00Z"
        );
    }

    #[test]
    fn bad_schedules_are_errors_not_panics() {
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "* * * * 7",
            "5-1 * * * *",
            "*/0 * * * *",
            "@fortnightly",
            "TZ=Mars/Olympus * * * * *",
            "x * * * *",
            "@every",
            "@every -5m",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
