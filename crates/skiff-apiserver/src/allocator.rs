//! Allocators for Service ClusterIPs (from `--service-cidr`) and NodePorts (30000–32767).
//!
//! Each allocated value is a key of its own in the store (`/registry/ranges/serviceips/<ip>`),
//! taken with create-if-absent, so several API servers on one store never hand out the same
//! value twice.

use crate::rest::Storage;
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};
use skiff_api::{ApiError, FieldError};
use skiff_store::StoreError;
use std::net::Ipv4Addr;

const IP_PREFIX: &str = "/registry/ranges/serviceips/";
const PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";
/// Upstream's default NodePort range.
pub const NODE_PORTS: std::ops::RangeInclusive<u32> = 30000..=32767;

/// A parsed IPv4 CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    bits: u8,
}

impl Cidr {
    /// Parses `10.43.0.0/16`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, bits) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (expected e.g. 10.43.0.0/16)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{s:?}: {ip:?} is not an IPv4 address"))?;
        let bits: u8 = bits
            .parse()
            .map_err(|_| format!("{s:?}: bad prefix length"))?;
        if !(8..=30).contains(&bits) {
            return Err(format!("{s:?}: prefix length must be between 8 and 30"));
        }
        let mask = u32::MAX << (32 - bits);
        Ok(Self {
            base: u32::from(ip) & mask,
            bits,
        })
    }
    fn size(&self) -> u32 {
        1 << (32 - self.bits)
    }
    /// The first usable address (`.1`), reserved for the `kubernetes` Service.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }
    /// Whether `ip` is usable in this range (not the network or broadcast address).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        v > self.base && v < self.base + self.size() - 1
    }
    fn nth(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1 + i % (self.size() - 2))
    }
}

/// The Service allocators.
#[derive(Clone, Debug)]
pub struct Allocators {
    /// Service ClusterIP range.
    pub service_cidr: Cidr,
}

fn invalid(svc: &Value, field: &str, value: Value, msg: String) -> ApiError {
    let name = crate::rest::meta::meta_str(svc, "name");
    ApiError::Invalid(
        skiff_api::error::Target::new("", "services", "Service", name),
        vec![FieldError::invalid(field, value, msg)],
    )
}

impl Allocators {
    async fn take(&self, st: &Storage, key: String, owner: &str) -> Result<bool, ApiError> {
        match st
            .store
            .create(&key, Bytes::from(json!({"owner": owner}).to_string()))
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(ApiError::Unavailable(format!(
                "storage is unavailable: {e}"
            ))),
        }
    }

    /// Gives a Service its ClusterIP (and NodePorts), unless it is headless or ExternalName.
    pub async fn allocate_service(
        &self,
        st: &Storage,
        svc: &mut Value,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let ty = svc["spec"]["type"]
            .as_str()
            .unwrap_or("ClusterIP")
            .to_string();
        if ty == "ExternalName" {
            return Ok(());
        }
        let owner = format!(
            "{}/{}",
            crate::rest::meta::meta_str(svc, "namespace"),
            crate::rest::meta::meta_str(svc, "name")
        );
        svc["spec"]["ipFamilies"] = json!(["IPv4"]);
        if svc["spec"].get("ipFamilyPolicy").is_none_or(Value::is_null) {
            svc["spec"]["ipFamilyPolicy"] = json!("SingleStack");
        }
        let wanted = svc["spec"]["clusterIP"].as_str().unwrap_or("").to_string();
        if wanted == "None" {
            svc["spec"]["clusterIPs"] = json!(["None"]);
        } else if !wanted.is_empty() {
            let ip: Ipv4Addr = wanted.parse().map_err(|_| {
                invalid(
                    svc,
                    "spec.clusterIPs[0]",
                    json!(wanted),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into(),
                )
            })?;
            if !self.service_cidr.contains(ip) {
                return Err(invalid(svc, "spec.clusterIPs", json!([wanted]), format!("failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. The range of valid IPs is {}", self.range_text())));
            }
            if !dry_run && !self.take(st, format!("{IP_PREFIX}{ip}"), &owner).await? {
                return Err(invalid(
                    svc,
                    "spec.clusterIPs",
                    json!([wanted]),
                    format!("failed to allocate IP {wanted}: provided IP is already allocated"),
                ));
            }
            svc["spec"]["clusterIPs"] = json!([wanted]);
        } else {
            let size = self.service_cidr.size() - 2;
            let start: u32 = rand::rng().random_range(1..size);
            let mut got = None;
            for i in 0..size.min(4096) {
                let ip = self.service_cidr.nth(start + i);
                if ip == self.service_cidr.first() {
                    continue;
                }
                if dry_run || self.take(st, format!("{IP_PREFIX}{ip}"), &owner).await? {
                    got = Some(ip);
                    break;
                }
            }
            let ip = got.ok_or_else(|| {
                ApiError::Internal("failed to allocate a serviceIP: range is full".into())
            })?;
            svc["spec"]["clusterIP"] = json!(ip.to_string());
            svc["spec"]["clusterIPs"] = json!([ip.to_string()]);
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            let n = svc["spec"]["ports"].as_array().map_or(0, Vec::len);
            for i in 0..n {
                let want = svc["spec"]["ports"][i]["nodePort"].as_u64();
                let port = match want {
                    Some(p) => {
                        if !NODE_PORTS.contains(&(p as u32)) {
                            return Err(invalid(svc, &format!("spec.ports[{i}].nodePort"), json!(p), format!("provided port is not in the valid range. The range of valid ports is {}-{}", NODE_PORTS.start(), NODE_PORTS.end())));
                        }
                        if !dry_run && !self.take(st, format!("{PORT_PREFIX}{p}"), &owner).await? {
                            return Err(invalid(
                                svc,
                                &format!("spec.ports[{i}].nodePort"),
                                json!(p),
                                "provided port is already allocated".into(),
                            ));
                        }
                        p as u32
                    }
                    None => {
                        let span = NODE_PORTS.end() - NODE_PORTS.start() + 1;
                        let start: u32 = rand::rng().random_range(0..span);
                        let mut got = None;
                        for j in 0..span {
                            let p = NODE_PORTS.start() + (start + j) % span;
                            if dry_run || self.take(st, format!("{PORT_PREFIX}{p}"), &owner).await?
                            {
                                got = Some(p);
                                break;
                            }
                        }
                        got.ok_or_else(|| {
                            ApiError::Internal(
                                "failed to allocate a nodePort: range is full".into(),
                            )
                        })?
                    }
                };
                svc["spec"]["ports"][i]["nodePort"] = json!(port);
            }
        }
        Ok(())
    }

    fn range_text(&self) -> String {
        format!(
            "{}/{}",
            Ipv4Addr::from(self.service_cidr.base),
            self.service_cidr.bits
        )
    }

    /// Frees a Service's ClusterIP and NodePorts.
    pub async fn release_service(&self, st: &Storage, svc: &Value) {
        if let Some(ip) = svc["spec"]["clusterIP"]
            .as_str()
            .filter(|i| *i != "None" && !i.is_empty())
        {
            let _ = st.store.delete(&format!("{IP_PREFIX}{ip}"), None).await;
        }
        for p in svc["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(n) = p["nodePort"].as_u64() {
                let _ = st.store.delete(&format!("{PORT_PREFIX}{n}"), None).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_membership() {
        let c = Cidr::parse("10.43.0.0/16").unwrap();
        assert_eq!(c.first(), Ipv4Addr::new(10, 43, 0, 1));
        assert!(c.contains(Ipv4Addr::new(10, 43, 255, 254)));
        assert!(!c.contains(Ipv4Addr::new(10, 43, 255, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 44, 0, 1)));
        assert!(Cidr::parse("10.43.0.0").is_err());
        assert!(Cidr::parse("10.43.0.0/40").is_err());
    }
}
