//! Leader election on a `coordination.k8s.io/v1` Lease, like client-go's leaderelection: the
//! decision is a pure function of the Lease and the time; the driver reads and writes the Lease
//! with optimistic concurrency. [`run_leading`] runs a component only while it leads.
//!
//! ```no_run
//! use skiff_leader::{run_leading, Config};
//!
//! # async fn demo(client: kube::Client, stop: tokio::sync::watch::Receiver<bool>) {
//! let config = Config::new("kube-system", "kube-scheduler");
//! run_leading(client.clone(), config, stop, |stop| async move {
//!     // schedule until `stop` turns true
//!     let _ = stop;
//! })
//! .await;
//! # }
//! ```

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// Settings of one election.
#[derive(Clone, Debug)]
pub struct Config {
    /// This process's identity in the Lease (`<hostname>_<uuid>`).
    pub identity: String,
    /// Namespace and name of the Lease.
    pub lease: (String, String),
    /// How long a Lease is valid without renewal (upstream: 15 s).
    pub lease_duration: Duration,
    /// How often the leader renews and others retry (upstream: 2 s).
    pub retry_period: Duration,
}

impl Config {
    /// Upstream's timings for the Lease `namespace/name`, with a fresh identity.
    pub fn new(namespace: &str, name: &str) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "skiff".into());
        Self {
            identity: format!("{host}_{}", uuid::Uuid::new_v4()),
            lease: (namespace.into(), name.into()),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Runs `work` while this process leads, until `stop` turns true: waits to lead, starts
/// `work` with a stop signal of its own, stops it if leadership is lost, and competes again.
pub async fn run_leading<F, Fut>(
    client: kube::Client,
    config: Config,
    mut stop: watch::Receiver<bool>,
    work: F,
) where
    F: Fn(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (ns, name) = config.lease.clone();
    loop {
        let Some(mut lost) = acquire(&client, &config, &mut stop).await else {
            return;
        };
        tracing::info!(identity = %config.identity, lease = %format!("{ns}/{name}"), "leading");
        let (work_stop_tx, work_stop) = watch::channel(false);
        let task = tokio::spawn(work(work_stop));
        tokio::select! {
            _ = lost.changed() => tracing::warn!(lease = %format!("{ns}/{name}"), "lost leadership"),
            _ = stop.changed() => {}
        }
        let _ = work_stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        if *stop.borrow() {
            return;
        }
    }
}

/// What the Lease says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    /// Current holder.
    pub holder: Option<String>,
    /// Last renewal.
    pub renew_time: Option<DateTime<Utc>>,
    /// Validity in seconds.
    pub duration_secs: i64,
}

/// What to do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Take the Lease (absent, expired or unheld).
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds a valid Lease.
    Follow(String),
}

/// Decides from the Lease (None: no Lease yet), this process's identity and the time.
pub fn decide(lease: Option<&LeaseView>, me: &str, now: DateTime<Utc>) -> Decision {
    let Some(l) = lease else {
        return Decision::Acquire;
    };
    match &l.holder {
        Some(h) if h == me => Decision::Renew,
        Some(h) if !h.is_empty() => {
            let expired = l
                .renew_time
                .is_none_or(|t| t + chrono::Duration::seconds(l.duration_secs) < now);
            if expired {
                Decision::Acquire
            } else {
                Decision::Follow(h.clone())
            }
        }
        _ => Decision::Acquire,
    }
}

fn view(l: &Lease) -> LeaseView {
    let spec = l.spec.clone().unwrap_or_default();
    LeaseView {
        holder: spec.holder_identity,
        renew_time: spec
            .renew_time
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            })
            .map(|t| t.with_timezone(&Utc)),
        duration_secs: spec.lease_duration_seconds.unwrap_or(15) as i64,
    }
}

fn micro(now: DateTime<Utc>) -> serde_json::Value {
    json!(now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// One attempt: Ok(true) when we hold the Lease afterwards.
async fn try_hold(api: &Api<Lease>, opts: &Config) -> Result<bool, kube::Error> {
    let name = &opts.lease.1;
    let now = Utc::now();
    let current = api.get_opt(name).await?;
    let decision = decide(current.as_ref().map(view).as_ref(), &opts.identity, now);
    let spec = |transitions: i32, acquire: serde_json::Value| {
        json!({
            "holderIdentity": opts.identity,
            "leaseDurationSeconds": opts.lease_duration.as_secs(),
            "acquireTime": acquire,
            "renewTime": micro(now),
            "leaseTransitions": transitions,
        })
    };
    match (decision, current) {
        (Decision::Follow(_), _) => Ok(false),
        (_, None) => {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": opts.lease.0},
                "spec": spec(0, micro(now)),
            }))
            .map_err(kube::Error::SerdeError)?;
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        (d, Some(mut lease)) => {
            let old = lease.spec.clone().unwrap_or_default();
            let (transitions, acquire) = if d == Decision::Renew {
                (
                    old.lease_transitions.unwrap_or(0),
                    serde_json::to_value(&old.acquire_time).unwrap_or(micro(now)),
                )
            } else {
                (old.lease_transitions.unwrap_or(0) + 1, micro(now))
            };
            lease.spec = Some(
                serde_json::from_value(spec(transitions, acquire))
                    .map_err(kube::Error::SerdeError)?,
            );
            match api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until this process leads, then keeps renewing in the background. Returns a receiver
/// that changes when leadership is lost, or None when `stop` turned true first.
pub async fn acquire(
    client: &kube::Client,
    opts: &Config,
    stop: &mut watch::Receiver<bool>,
) -> Option<watch::Receiver<()>> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &opts.lease.0);
    loop {
        if *stop.borrow() {
            return None;
        }
        match try_hold(&api, opts).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, "leader election: cannot read or write the Lease")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(opts.retry_period) => {}
            _ = stop.changed() => return None,
        }
    }
    let (lost_tx, lost_rx) = watch::channel(());
    let opts = opts.clone();
    let mut stop = stop.clone();
    tokio::spawn(async move {
        let mut last_renewal = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(opts.retry_period) => {}
                _ = stop.changed() => return,
            }
            match try_hold(&api, &opts).await {
                Ok(true) => last_renewal = std::time::Instant::now(),
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: renewal failed");
                    // client-go's renew deadline: give up before the Lease expires for others.
                    if last_renewal.elapsed() > opts.lease_duration * 2 / 3 {
                        break;
                    }
                }
            }
        }
        let _ = lost_tx.send(());
    });
    Some(lost_rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn no_lease_or_no_holder_means_acquire() {
        assert_eq!(decide(None, "me", t(0)), Decision::Acquire);
        let l = LeaseView {
            holder: None,
            renew_time: None,
            duration_secs: 15,
        };
        assert_eq!(decide(Some(&l), "me", t(0)), Decision::Acquire);
    }

    #[test]
    fn a_fresh_lease_of_another_is_followed_and_an_expired_one_taken() {
        let l = LeaseView {
            holder: Some("other".into()),
            renew_time: Some(t(0)),
            duration_secs: 15,
        };
        assert_eq!(
            decide(Some(&l), "me", t(10)),
            Decision::Follow("other".into())
        );
        assert_eq!(decide(Some(&l), "me", t(16)), Decision::Acquire);
    }

    #[test]
    fn our_own_lease_is_renewed() {
        let l = LeaseView {
            holder: Some("me".into()),
            renew_time: Some(t(0)),
            duration_secs: 15,
        };
        assert_eq!(decide(Some(&l), "me", t(100)), Decision::Renew);
    }
}
