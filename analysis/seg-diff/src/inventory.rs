//! What changed in an identity's inventory record between two versions.

use crate::model::FieldChange;
use seg_ir::Identity;
use seg_ir::display::value;
use std::collections::BTreeMap;

/// Every field that differs, in a fixed order: kind, owner, attributes,
/// labels, addresses, bindings.
pub fn changes(old: &Identity, new: &Identity) -> Vec<FieldChange> {
    let same = old.kind == new.kind
        && old.owner == new.owner
        && old.attributes == new.attributes
        && old.labels == new.labels
        && old.addresses == new.addresses
        && old.kubernetes == new.kubernetes
        && old.aws == new.aws
        && old.gcp == new.gcp
        && old.spiffe == new.spiffe;
    if same {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut field = |name: String, before: Option<String>, after: Option<String>| {
        if before != after {
            out.push(FieldChange {
                field: name,
                before,
                after,
            });
        }
    };
    field(
        "kind".into(),
        Some(old.kind.as_str().into()),
        Some(new.kind.as_str().into()),
    );
    field(
        "owner".into(),
        old.owner.as_deref().map(quote),
        new.owner.as_deref().map(quote),
    );
    for (key, before, after) in pairs(&old.attributes, &new.attributes) {
        field(
            format!("attributes.{key}"),
            before.map(value),
            after.map(value),
        );
    }
    for (key, before, after) in pairs(&old.labels, &new.labels) {
        field(
            format!("labels.{key}"),
            before.map(|s| quote(s)),
            after.map(|s| quote(s)),
        );
    }
    let addrs = |i: &Identity| {
        (!i.addresses.is_empty()).then(|| {
            i.addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    field("addresses".into(), addrs(old), addrs(new));
    field(
        "kubernetes.namespace".into(),
        old.kubernetes.as_ref().map(|k| quote(&k.namespace)),
        new.kubernetes.as_ref().map(|k| quote(&k.namespace)),
    );
    let labels = |i: &Identity| {
        i.kubernetes.as_ref().map(|k| {
            k.labels
                .iter()
                .map(|(a, b)| format!("{a}={}", quote(b)))
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    field("kubernetes.labels".into(), labels(old), labels(new));
    field(
        "kubernetes.service_account".into(),
        old.kubernetes
            .as_ref()
            .and_then(|k| k.service_account.as_deref())
            .map(quote),
        new.kubernetes
            .as_ref()
            .and_then(|k| k.service_account.as_deref())
            .map(quote),
    );
    let aws = |i: &Identity| {
        i.aws.as_ref().map(|a| match &a.security_group {
            Some(g) => quote(g),
            None => "created by seg".into(),
        })
    };
    field("aws.security_group".into(), aws(old), aws(new));
    field(
        "gcp.service_account".into(),
        old.gcp.as_ref().map(|g| quote(&g.service_account)),
        new.gcp.as_ref().map(|g| quote(&g.service_account)),
    );
    field(
        "spiffe".into(),
        old.spiffe.as_deref().map(quote),
        new.spiffe.as_deref().map(quote),
    );
    out
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Keys of two maps with their values on each side, where they differ.
fn pairs<'a, V: PartialEq>(
    a: &'a BTreeMap<String, V>,
    b: &'a BTreeMap<String, V>,
) -> Vec<(&'a str, Option<&'a V>, Option<&'a V>)> {
    let mut keys: Vec<&str> = a.keys().chain(b.keys()).map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|k| (k, a.get(k), b.get(k)))
        .filter(|(_, x, y)| x != y)
        .collect()
}

/// What every identity of a group has in common, for a row's description:
/// `kind=workload, team="payments", env="prod"`. `None` for one identity or
/// when nothing is shared.
pub fn common(members: &[&Identity]) -> Option<String> {
    let (first, rest) = members.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if rest.iter().all(|i| i.kind == first.kind) {
        parts.push(format!("kind={}", first.kind.as_str()));
    }
    for (k, v) in &first.attributes {
        if rest.iter().all(|i| i.attributes.get(k) == Some(v)) {
            parts.push(format!("{k}={}", value(v)));
        }
    }
    for (k, v) in &first.labels {
        if rest.iter().all(|i| i.labels.get(k) == Some(v)) {
            parts.push(format!("labels.{k}={}", quote(v)));
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}
