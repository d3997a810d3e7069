//! Who an observed end was: an address → the identity that held it at the
//! flow's instant (validity windows first, then the longest prefix, then
//! inventory order); a Kubernetes endpoint → the identity whose binding it
//! matches (namespace, binding labels among the endpoint's, service account).

use ipnet::IpNet;
use seg_check::inventory::Inventory;
use seg_flows::K8sEndpoint;
use seg_ir::{IdentityId, Timestamp};
use std::collections::HashMap;
use std::net::IpAddr;

/// One address of one identity, with its validity window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub net: IpNet,
    pub identity: IdentityId,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl Held {
    pub fn windowed(&self) -> bool {
        self.from.is_some() || self.until.is_some()
    }

    fn held_at(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|f| f <= at) && self.until.is_none_or(|u| at < u)
    }
}

/// The result of attributing an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub identity: IdentityId,
    /// Whether a validity window says the identity held the address then.
    pub evidence: bool,
}

/// Every identity address, indexed by prefix for lookups.
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    pub entries: Vec<Held>,
    /// (prefix key, network → entry indexes); IPv4 keys are the prefix
    /// length, IPv6 ones 64 + the length.
    by_prefix: Vec<(u8, HashMap<IpNet, Vec<u32>>)>,
    /// Kubernetes bindings: namespace → (identity, labels, service account).
    k8s: HashMap<String, Vec<K8sBinding>>,
}

#[derive(Clone, Debug)]
struct K8sBinding {
    identity: IdentityId,
    labels: Vec<(String, String)>,
    service_account: Option<String>,
}

impl AddressBook {
    pub fn new(inventory: &Inventory) -> AddressBook {
        let mut entries = Vec::new();
        let mut k8s: HashMap<String, Vec<K8sBinding>> = HashMap::new();
        for (identity, details) in inventory.identities.iter().zip(&inventory.details) {
            for h in &details.held {
                entries.push(Held {
                    net: h.net,
                    identity: identity.id,
                    from: h.from,
                    until: h.until,
                });
            }
            if let Some(b) = &identity.kubernetes {
                k8s.entry(b.namespace.clone())
                    .or_default()
                    .push(K8sBinding {
                        identity: identity.id,
                        labels: b
                            .labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        service_account: b.service_account.clone(),
                    });
            }
        }
        let mut lens: HashMap<u8, HashMap<IpNet, Vec<u32>>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            lens.entry(prefix_key(&e.net))
                .or_default()
                .entry(e.net.trunc())
                .or_default()
                .push(i as u32);
        }
        let mut by_prefix: Vec<_> = lens.into_iter().collect();
        by_prefix.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
        AddressBook {
            entries,
            by_prefix,
            k8s,
        }
    }

    /// The instants where some address changes hands, ascending.
    pub fn breakpoints(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .entries
            .iter()
            .flat_map(|e| [e.from, e.until])
            .flatten()
            .map(|t| t.0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Who held `addr` at `at`: among the addresses containing it and held
    /// then, one with a validity window before one without, then the longest
    /// prefix, then the identity listed first.
    pub fn holder(&self, addr: IpAddr, at: Timestamp) -> Option<Holder> {
        let mut best: Option<(bool, u8, IdentityId)> = None;
        for (key, nets) in &self.by_prefix {
            let (v4, len) = if *key < 64 {
                (true, *key)
            } else {
                (false, *key - 64)
            };
            if v4 != addr.is_ipv4() {
                continue;
            }
            let Ok(net) = IpNet::new(addr, len) else {
                continue;
            };
            for &i in nets.get(&net.trunc()).into_iter().flatten() {
                let e = &self.entries[i as usize];
                if !e.held_at(at) {
                    continue;
                }
                let cand = (e.windowed(), len, e.identity);
                best = Some(match best {
                    None => cand,
                    Some(b) => {
                        // windowed first, then longer prefix, then lower id
                        if (cand.0, cand.1, std::cmp::Reverse(cand.2))
                            > (b.0, b.1, std::cmp::Reverse(b.2))
                        {
                            cand
                        } else {
                            b
                        }
                    }
                });
            }
        }
        best.map(|(evidence, _, identity)| Holder { identity, evidence })
    }

    /// The identity a Kubernetes endpoint belongs to: its namespace, every
    /// label of the binding among the endpoint's, the binding's service
    /// account if it names one. The binding with the most labels wins, then
    /// the identity listed first. `None` when the endpoint has no namespace
    /// (the world, a node) or matches no binding.
    pub fn workload(&self, k: &K8sEndpoint) -> Option<IdentityId> {
        let ns = k.namespace.as_deref()?;
        let mut best: Option<(usize, IdentityId)> = None;
        for b in self.k8s.get(ns).into_iter().flatten() {
            let labels_ok = b
                .labels
                .iter()
                .all(|(key, v)| k.labels.iter().any(|(ek, ev)| ek == key && ev == v));
            let sa_ok = b
                .service_account
                .as_ref()
                .is_none_or(|sa| k.service_account.as_ref() == Some(sa));
            if !(labels_ok && sa_ok) {
                continue;
            }
            let weight = b.labels.len() + usize::from(b.service_account.is_some());
            let better = match best {
                None => true,
                Some((w, id)) => weight > w || (weight == w && b.identity < id),
            };
            if better {
                best = Some((weight, b.identity));
            }
        }
        best.map(|(_, id)| id)
    }
}

fn prefix_key(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(n) => n.prefix_len(),
        IpNet::V6(n) => 64 + n.prefix_len(),
    }
}

/// How an unresolved Kubernetes endpoint is named: `namespace/pod`, or the
/// namespace and labels when there is no pod name.
pub fn workload_name(k: &K8sEndpoint) -> String {
    let ns = k.namespace.as_deref().unwrap_or("");
    match &k.pod {
        Some(p) => format!("{ns}/{p}"),
        None => {
            let labels: Vec<String> = k.labels.iter().map(|(a, b)| format!("{a}={b}")).collect();
            format!("{ns}/{{{}}}", labels.join(","))
        }
    }
}
