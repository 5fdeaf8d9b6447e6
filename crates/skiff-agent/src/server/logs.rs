//! PURE — container logs as the kubelet serves them: the CRI log file format
//! (`<RFC3339Nano time> <stdout|stderr> <F|P> <text>`, `P` for a partial line continued by the
//! next entry) rendered with `kubectl logs`' options (tail, since, timestamps, limit-bytes),
//! and which container's file a request reads (upstream's `validateContainerLogStatus`).

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;

/// One entry of a CRI log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The time as written (RFC 3339 with nanoseconds).
    pub time: &'a str,
    /// `stdout` or `stderr`.
    pub stream: &'a str,
    /// Whether the line continues in the next entry.
    pub partial: bool,
    /// The text, without the newline.
    pub text: &'a str,
}

/// Parses one line of a CRI log file (without its newline); `None` if malformed.
pub fn parse(line: &str) -> Option<Entry<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    if !matches!(stream, "stdout" | "stderr") {
        return None;
    }
    let partial = match tag.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return None,
    };
    Some(Entry {
        time,
        stream,
        partial,
        text,
    })
}

/// `kubectl logs` options (the kubelet's `PodLogOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Keep streaming new lines until the container stops.
    pub follow: bool,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
    /// Prefix every line with its time.
    pub timestamps: bool,
    /// Only the last N lines.
    pub tail_lines: Option<u64>,
    /// Only lines at or after this time.
    pub since: Option<Timestamp>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
}

/// A boolean query value as the kubelet accepts it.
pub(crate) fn truthy(v: &str) -> bool {
    matches!(v, "true" | "1" | "True" | "TRUE")
}

impl Options {
    /// From the request's query pairs; `now` resolves `sinceSeconds`. Malformed values are a
    /// message for a 400.
    pub fn from_query(pairs: &[(String, String)], now: Timestamp) -> Result<Self, String> {
        let mut o = Options::default();
        for (k, v) in pairs {
            let num = || {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| format!("{k}: {v:?} is not a non-negative integer"))
            };
            match k.as_str() {
                "follow" => o.follow = truthy(v),
                "previous" => o.previous = truthy(v),
                "timestamps" => o.timestamps = truthy(v),
                "tailLines" => o.tail_lines = Some(num()?.unsigned_abs()),
                "limitBytes" => o.limit_bytes = Some(num()?.unsigned_abs()),
                "sinceSeconds" => {
                    let secs = num()?;
                    o.since = now
                        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(secs))
                        .ok();
                }
                "sinceTime" => {
                    o.since =
                        Some(v.parse().map_err(|e| {
                            format!("sinceTime: {v:?} is not an RFC 3339 time: {e}")
                        })?)
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Renders log entries for the client: keeps state across calls (a partial line's prefix,
/// bytes written), so a followed file can be fed as it grows.
#[derive(Debug)]
pub struct Renderer {
    opts: Options,
    at_line_start: bool,
    written: u64,
}

impl Renderer {
    /// A renderer for `opts`.
    pub fn new(opts: Options) -> Self {
        Renderer {
            opts,
            at_line_start: true,
            written: 0,
        }
    }

    /// Whether `limitBytes` has been reached (nothing more will be written).
    pub fn full(&self) -> bool {
        self.opts.limit_bytes.is_some_and(|l| self.written >= l)
    }

    /// Appends what `line` (one line of the log file) shows to `out`.
    pub fn feed(&mut self, line: &str, out: &mut Vec<u8>) {
        let Some(e) = parse(line) else { return };
        if let Some(since) = self.opts.since {
            if e.time.parse::<Timestamp>().is_ok_and(|t| t < since) {
                return;
            }
        }
        let mut chunk = String::new();
        if self.opts.timestamps && self.at_line_start {
            chunk.push_str(e.time);
            chunk.push(' ');
        }
        chunk.push_str(e.text);
        if !e.partial {
            chunk.push('\n');
        }
        self.at_line_start = !e.partial;
        let bytes = chunk.as_bytes();
        let room = self
            .opts
            .limit_bytes
            .map_or(bytes.len() as u64, |l| l.saturating_sub(self.written));
        let n = usize::try_from(room.min(bytes.len() as u64)).unwrap_or(bytes.len());
        out.extend_from_slice(&bytes[..n]);
        self.written += n as u64;
    }
}

/// The byte offset where the last `n` lines of `content` begin (the whole file when it has
/// fewer).
pub fn tail_start(content: &[u8], n: u64) -> usize {
    if n == 0 {
        return content.len();
    }
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// The last `lines` lines of a CRI log file as text, at most `max_bytes` (from the end).
pub fn tail_text(content: &[u8], lines: u64, max_bytes: usize) -> String {
    let start = tail_start(content, lines);
    let mut r = Renderer::new(Options::default());
    let mut out = Vec::new();
    for line in content[start..].split(|b| *b == b'\n') {
        r.feed(&String::from_utf8_lossy(line), &mut out);
    }
    let cut = out.len().saturating_sub(max_bytes);
    String::from_utf8_lossy(&out[cut..]).into_owned()
}

/// The CRI id in a status' containerID (`containerd://<id>`).
pub(crate) fn runtime_id(container_id: &str) -> String {
    container_id
        .split_once("://")
        .map_or(container_id, |(_, x)| x)
        .to_string()
}

/// Which container's log a request reads: the CRI container id (scheme stripped), or the
/// kubelet's message for a 400.
pub fn container_id(pod: &Pod, container: &str, previous: bool) -> Result<String, String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    let all = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .chain(s.init_container_statuses.iter())
                .chain(s.ephemeral_container_statuses.iter())
                .flatten()
        })
        .collect::<Vec<&ContainerStatus>>();
    let Some(cs) = all.iter().find(|c| c.name == container) else {
        return Err(format!(
            "container {container:?} in pod {pod_name:?} is not available"
        ));
    };
    let strip = runtime_id;
    let last_terminated = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.container_id.as_deref())
        .filter(|id| !id.is_empty());
    let state = cs.state.as_ref();
    let terminated_here = || format!("container {container:?} in pod {pod_name:?} is terminated");
    if previous {
        return last_terminated.map(strip).ok_or_else(|| {
            format!("previous terminated container {container:?} in pod {pod_name:?} not found")
        });
    }
    let current = cs.container_id.as_deref().filter(|id| !id.is_empty());
    if state.is_some_and(|s| s.running.is_some()) {
        if let Some(id) = current {
            return Ok(strip(id));
        }
    }
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        return t
            .container_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .or(current)
            .or(last_terminated)
            .map(strip)
            .ok_or_else(terminated_here);
    }
    if let Some(id) = last_terminated {
        return Ok(strip(id));
    }
    match state
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.as_deref())
    {
        Some("ErrImagePull") => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start: image can't be pulled"
        )),
        Some("ImagePullBackOff") => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start: trying and failing to pull image"
        )),
        Some(reason) => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start: {reason}"
        )),
        None => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start - no logs yet"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = "\
2026-12-04T10:00:00.1Z stdout F one
2026-12-04T10:00:01.2Z stderr P par
2026-12-04T10:00:01.3Z stderr F tial
2026-12-04T10:00:02Z stdout F three
garbage
";

    fn render(opts: Options, content: &str) -> String {
        let mut r = Renderer::new(opts.clone());
        let start = opts
            .tail_lines
            .map_or(0, |n| tail_start(content.as_bytes(), n));
        let mut out = Vec::new();
        for line in content[start..].lines() {
            r.feed(line, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_parsed_and_partials_joined() {
        assert_eq!(
            parse("2026-12-04T10:00:00Z stdout F hello world"),
            Some(Entry {
                time: "2026-12-04T10:00:00Z",
                stream: "stdout",
                partial: false,
                text: "hello world"
            })
        );
        assert_eq!(parse("2026-12-04T10:00:00Z stdout F").unwrap().text, "");
        assert!(parse("nonsense").is_none());
        assert_eq!(render(Options::default(), FILE), "one\npartial\nthree\n");
    }

    #[test]
    fn timestamps_prefix_each_logical_line() {
        let o = Options {
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            render(o, FILE),
            "2026-12-04T10:00:00.1Z one\n2026-12-04T10:00:01.2Z partial\n2026-12-04T10:00:02Z three\n"
        );
    }

    #[test]
    fn tail_since_and_limit_bytes_cut_the_output() {
        let tail = |n| Options {
            tail_lines: Some(n),
            ..Default::default()
        };
        // "garbage" is a line of the file too, like upstream's count
        assert_eq!(render(tail(2), FILE), "three\n");
        assert_eq!(render(tail(0), FILE), "");
        assert_eq!(render(tail(100), FILE), "one\npartial\nthree\n");
        let since = Options {
            since: Some("2026-12-04T10:00:01.25Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(render(since, FILE), "tial\nthree\n");
        let limit = Options {
            limit_bytes: Some(6),
            ..Default::default()
        };
        assert_eq!(render(limit, FILE), "one\npa");
    }

    #[test]
    fn a_tail_is_cut_to_lines_and_bytes() {
        assert_eq!(tail_text(FILE.as_bytes(), 2, 100), "three\n");
        assert_eq!(tail_text(FILE.as_bytes(), 100, 8), "l\nthree\n");
    }

    #[test]
    fn query_options_are_read_and_checked() {
        let now: Timestamp = "2026-12-04T10:00:10Z".parse().unwrap();
        let q = |pairs: &[(&str, &str)]| {
            let v: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Options::from_query(&v, now)
        };
        let o = q(&[
            ("follow", "true"),
            ("tailLines", "3"),
            ("sinceSeconds", "10"),
        ])
        .unwrap();
        assert!(o.follow && !o.previous);
        assert_eq!(o.tail_lines, Some(3));
        assert_eq!(o.since, Some("2026-12-04T10:00:00Z".parse().unwrap()));
        assert!(q(&[("tailLines", "-1")]).unwrap_err().contains("tailLines"));
        assert!(q(&[("sinceTime", "yesterday")])
            .unwrap_err()
            .contains("sinceTime"));
    }

    fn pod(statuses: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "status": {"containerStatuses": statuses}
        }))
        .unwrap()
    }

    #[test]
    fn the_container_read_follows_the_kubelet() {
        let running = pod(json!([{
            "name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 1,
            "containerID": "containerd://c2",
            "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "containerd://c1"}}
        }]));
        assert_eq!(container_id(&running, "app", false).unwrap(), "c2");
        assert_eq!(container_id(&running, "app", true).unwrap(), "c1");
        assert_eq!(
            container_id(&running, "other", false).unwrap_err(),
            "container \"other\" in pod \"web\" is not available"
        );
        let waiting = pod(json!([{
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}
        }]));
        assert_eq!(
            container_id(&waiting, "app", false).unwrap_err(),
            "container \"app\" in pod \"web\" is waiting to start: ContainerCreating"
        );
        assert_eq!(
            container_id(&waiting, "app", true).unwrap_err(),
            "previous terminated container \"app\" in pod \"web\" not found"
        );
        let backoff = pod(json!([{
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff"}}
        }]));
        assert!(container_id(&backoff, "app", false)
            .unwrap_err()
            .ends_with("trying and failing to pull image"));
        let crashed = pod(json!([{
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "containerd://c3"}}
        }]));
        assert_eq!(container_id(&crashed, "app", false).unwrap(), "c3");
    }
}
