//! Leader election on a `coordination.k8s.io/v1` Lease, like client-go's leaderelection: the
//! decision is a pure function of the Lease and the time; the driver reads and writes the Lease
//! with optimistic concurrency.

use crate::Options;
use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::sync::watch;

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
async fn try_hold(api: &Api<Lease>, opts: &Options) -> Result<bool, kube::Error> {
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
    opts: &Options,
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
