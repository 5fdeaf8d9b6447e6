//! Measuring helpers: percentiles, RSS of a process, and writing a report into BENCHMARKS.md.

use std::path::Path;
use std::time::Duration;

/// The p-th percentile (0–100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Median of unsorted durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    percentile(&v, 50.0)
}

/// Resident set size of a process in MiB (from /proc).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Peak resident set size of a process in MiB (VmHWM from /proc).
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU time (user + system) a process has used so far, from /proc.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Runs operations `0..n` on one task per worker (each takes the next number until none is
/// left); the wall time and every operation's latency.
pub async fn run_numbered<W, F, Fut, E>(
    workers: Vec<W>,
    n: usize,
    op: F,
) -> Result<(Duration, Vec<Duration>), E>
where
    W: Clone + Send + 'static,
    F: Fn(W, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: Send + 'static,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let (next, op) = (next.clone(), op.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        return Ok::<_, E>(lat);
                    }
                    let t = std::time::Instant::now();
                    op(w.clone(), i).await?;
                    lat.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("a benchmark task panicked")?);
    }
    Ok((started.elapsed(), lat))
}

/// Microseconds since the epoch (what a watched object carries as its send time).
pub fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

/// A ConfigMap named `w-<i>` carrying its send time in `data.sent`.
pub fn stamped_configmap(i: usize) -> k8s_openapi::api::core::v1::ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("w-{i}")},
        "data": {"sent": now_micros().to_string()},
    }))
    .expect("valid configmap")
}

/// How long ago a [`stamped_configmap`] was sent (`None` for another object).
pub fn age_of(cm: &k8s_openapi::api::core::v1::ConfigMap) -> Option<Duration> {
    let sent: u128 = cm.data.as_ref()?.get("sent")?.parse().ok()?;
    Some(Duration::from_micros(
        now_micros().saturating_sub(sent) as u64
    ))
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in `path`.
pub fn write_section(path: &Path, name: &str, body: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (open, close) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    let (Some(a), Some(b)) = (text.find(&open), text.find(&close)) else {
        return Err(std::io::Error::other(format!(
            "markers {open} … {close} not found"
        )));
    };
    let new = format!("{}{open}\n{body}\n{}", &text[..a], &text[b..]);
    std::fs::write(path, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(51));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 0.0), Duration::from_millis(1));
        assert_eq!(
            median(vec![
                Duration::from_millis(3),
                Duration::from_millis(1),
                Duration::from_millis(2)
            ]),
            Duration::from_millis(2)
        );
    }

    #[test]
    fn sections_are_replaced_between_markers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("B.md");
        std::fs::write(&p, "head\n<!-- bench:x -->\nold\n<!-- /bench:x -->\ntail\n").unwrap();
        write_section(&p, "x", "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "head\n<!-- bench:x -->\nnew\n<!-- /bench:x -->\ntail\n"
        );
        assert!(write_section(&p, "y", "z").is_err());
    }
}
