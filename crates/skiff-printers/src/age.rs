//! Ages and durations as upstream prints them (`k8s.io/apimachinery/pkg/util/duration`):
//! `HumanDuration`, `translateTimestampSince` with its `<unknown>`/`<invalid>` placeholders.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Parses an RFC 3339 timestamp (`metav1.Time` or `metav1.MicroTime`).
pub fn parse_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Upstream's `duration.HumanDuration` for a span given in seconds (fractions truncated toward
/// zero, as Go's `int(d.Seconds())` does): `45s`, `2m30s`, `15m`, `5h10m`, `3d4h`, `2y12d`.
pub fn human_duration_secs(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// `HumanDuration(to - from)`.
pub fn human_between(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    human_duration_secs((to - from).num_seconds())
}

/// Upstream's `translateTimestampSince`: `<unknown>` for a missing (or unparsable) timestamp,
/// else the human duration since it.
pub fn since(ts: Option<&Value>, now: DateTime<Utc>) -> String {
    match parse_time(ts) {
        Some(t) => human_between(t, now),
        None => "<unknown>".into(),
    }
}

/// The `Age` cell of an object: the time since `metadata.creationTimestamp`.
pub fn age(obj: &Value, now: DateTime<Utc>) -> String {
    since(obj.pointer("/metadata/creationTimestamp"), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn human_duration_matches_upstream_table() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (742 * 86400, "2y12d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration_secs(secs), want, "{secs}");
        }
    }

    #[test]
    fn since_handles_missing_and_micro_times() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(since(None, now), "<unknown>");
        assert_eq!(since(Some(&json!("garbage")), now), "<unknown>");
        assert_eq!(
            since(Some(&json!("2024-01-01T00:59:30.123456Z")), now),
            "29s"
        );
        assert_eq!(
            since(Some(&json!("2024-01-01T01:00:05Z")), now),
            "<invalid>"
        );
    }
}
