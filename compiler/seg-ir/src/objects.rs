//! The objects a target emits, by stable name, and what changes between two
//! builds.
//!
//! Every backend lists in [`Emission::objects`](crate::Emission) the objects
//! the enforcement point will hold once its artifacts are applied (a
//! NetworkPolicy, an iptables chain or ipset, a security group rule, a
//! firewall rule, a rule in OPA's data), each with a name that depends only on
//! what it means and a digest of its content. `seg build` records them in
//! `report.json`; two such lists are compared by [`compare`] (one target) or
//! [`compare_builds`] (every target of two builds): an object whose name
//! disappears must be pruned, one whose digest changed is updated in place.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One object a target emits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Object {
    /// What the platform calls it: `NetworkPolicy`, `chain`, `ipset`,
    /// `aws_security_group`, `AWS::EC2::SecurityGroupIngress`, `firewall`, `rule`…
    pub kind: String,
    /// Its name on the platform (namespaced objects as `namespace/name`,
    /// Terraform resources by address), stable while its meaning is.
    pub name: String,
    /// The artifact it is written in, relative to the target's folder.
    pub file: String,
    /// 16 hex digits of SHA-256 over the object's rendered content (never the
    /// file header): equal digests, equal objects.
    pub digest: String,
}

impl Object {
    /// An object whose digest is computed from its rendered `content`.
    pub fn new(
        kind: impl Into<String>,
        name: impl Into<String>,
        file: impl Into<String>,
        content: &[u8],
    ) -> Object {
        Object {
            kind: kind.into(),
            name: name.into(),
            file: file.into(),
            digest: digest(content),
        }
    }

    /// What identifies the object across builds: kind, file and name.
    fn key(&self) -> (&str, &str, &str) {
        (&self.kind, &self.file, &self.name)
    }
}

/// 16 hex digits of SHA-256.
pub fn digest(content: &[u8]) -> String {
    crate::names::hex(&Sha256::digest(content)[..8])
}

/// How one target's objects changed from an old build to a new one; every
/// list sorted by (kind, file, name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObjectChanges {
    /// In the new build only: created by the apply.
    pub added: Vec<Object>,
    /// In the old build only: the apply must remove them (prune).
    pub removed: Vec<Object>,
    /// In both with another digest (the new object): updated in place.
    pub changed: Vec<Object>,
    /// In both, identical.
    pub unchanged: usize,
}

impl ObjectChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compare the objects of one target in two builds. Objects are matched by
/// (kind, file, name); a list holding one key twice counts its last entry.
pub fn compare(old: &[Object], new: &[Object]) -> ObjectChanges {
    // Borrowed: only the objects listed in the changes are copied.
    let (old, new) = (index(old), index(new));
    let mut changes = ObjectChanges::default();
    for (key, &o) in &new {
        match old.get(key) {
            None => changes.added.push(o.clone()),
            Some(before) if before.digest != o.digest => changes.changed.push(o.clone()),
            Some(_) => changes.unchanged += 1,
        }
    }
    changes.removed = old
        .iter()
        .filter(|(key, _)| !new.contains_key(*key))
        .map(|(_, &o)| o.clone())
        .collect();
    changes
}

/// Objects by key; a key listed twice keeps its last entry.
fn index(list: &[Object]) -> BTreeMap<(&str, &str, &str), &Object> {
    list.iter().map(|o| (o.key(), o)).collect()
}

/// The objects of every target of one build: target name → objects.
pub type BuildObjects = BTreeMap<String, Vec<Object>>;

/// The changes of one target between two builds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetChanges {
    pub target: String,
    /// `None` when one build lacks the target (see [`TargetChanges::presence`]).
    pub changes: Option<ObjectChanges>,
    pub presence: Presence,
}

/// Whether a target is in both builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Both,
    /// Only the old build has it: this build did not emit the target, so its
    /// objects are not in the new output (nothing says they are to be pruned).
    OldOnly,
    /// Only the new build has it.
    NewOnly,
}

/// Compare two builds target by target, in target-name order. A target in
/// only one build is listed with its [`Presence`] and no changes: a build of
/// fewer targets does not mean their objects are to be removed.
pub fn compare_builds(old: &BuildObjects, new: &BuildObjects) -> Vec<TargetChanges> {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| match (old.get(name), new.get(name)) {
            (Some(o), Some(n)) => TargetChanges {
                target: name.clone(),
                changes: Some(compare(o, n)),
                presence: Presence::Both,
            },
            (Some(_), None) => TargetChanges {
                target: name.clone(),
                changes: None,
                presence: Presence::OldOnly,
            },
            _ => TargetChanges {
                target: name.clone(),
                changes: None,
                presence: Presence::NewOnly,
            },
        })
        .collect()
}

impl TargetChanges {
    /// "kubernetes: 2 NetworkPolicies to prune: payments/seg-allow-a, web/seg-allow-b"
    /// — what the new build removes, naming at most `shown` objects; `None`
    /// when it removes nothing. An object whose name other removed objects
    /// of its kind share is named with its file.
    pub fn removals_summary(&self, shown: usize) -> Option<String> {
        let removed = &self.changes.as_ref()?.removed;
        if removed.is_empty() {
            return None;
        }
        let mut groups = by_kind(removed);
        for (_, list) in &mut groups {
            list.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
        }
        let counts: Vec<String> = groups
            .iter()
            .map(|(kind, list)| count_of(kind, list.len()))
            .collect();
        let mut names: Vec<String> = Vec::new();
        for (_, list) in &groups {
            for o in list {
                let shared = list
                    .iter()
                    .filter(|other| other.name == o.name)
                    .nth(1)
                    .is_some();
                names.push(if shared {
                    format!("{} ({})", o.name, o.file)
                } else {
                    o.name.clone()
                });
            }
        }
        let more = names.len().saturating_sub(shown);
        names.truncate(shown);
        let mut line = format!(
            "{}: {} to prune: {}",
            self.target,
            join_and(&counts),
            names.join(", ")
        );
        if more > 0 {
            line.push_str(&format!(" and {more} more"));
        }
        Some(line)
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// "2 NetworkPolicies", "1 chain", "3 aws_security_group resources": a count
/// of objects of one kind, for summaries.
pub fn count_of(kind: &str, n: usize) -> String {
    let word = if n == 1 {
        kind.to_string()
    } else if kind.contains(['_', ':', '.']) {
        format!("{kind} resources")
    } else if let Some(stem) = kind.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{kind}s")
    };
    format!("{n} {word}")
}

/// Objects grouped by kind, in kind order: `[(kind, [objects…])]`.
pub fn by_kind(objects: &[Object]) -> Vec<(&str, Vec<&Object>)> {
    let mut groups: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for o in objects {
        groups.entry(o.kind.as_str()).or_default().push(o);
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str, name: &str, content: &str) -> Object {
        Object::new(kind, name, "f", content.as_bytes())
    }

    #[test]
    fn compare_finds_added_removed_and_changed_objects_by_name() {
        let old = vec![
            obj("NetworkPolicy", "a/x", "1"),
            obj("NetworkPolicy", "a/y", "2"),
            obj("NetworkPolicy", "a/z", "3"),
        ];
        let new = vec![
            obj("NetworkPolicy", "a/z", "3"),
            obj("NetworkPolicy", "a/y", "2'"),
            obj("NetworkPolicy", "b/w", "4"),
        ];
        let c = compare(&old, &new);
        let names = |v: &[Object]| v.iter().map(|o| o.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&c.added), ["b/w"]);
        assert_eq!(names(&c.removed), ["a/x"]);
        assert_eq!(names(&c.changed), ["a/y"]);
        assert_eq!(c.unchanged, 1);
        assert!(compare(&new, &new).is_empty());
    }

    #[test]
    fn the_same_name_in_another_kind_or_file_is_another_object() {
        let old = vec![Object::new("chain", "seg-in", "a.rules", b"x")];
        let new = vec![
            Object::new("chain", "seg-in", "b.rules", b"x"),
            Object::new("ipset", "seg-in", "a.rules", b"x"),
        ];
        let c = compare(&old, &new);
        assert_eq!((c.added.len(), c.removed.len()), (2, 1));
    }

    #[test]
    fn builds_are_compared_per_target_and_missing_targets_are_not_pruned() {
        let mut old = BuildObjects::new();
        old.insert("kubernetes".into(), vec![obj("NetworkPolicy", "a/x", "1")]);
        old.insert("gcp".into(), vec![obj("firewall", "seg-x", "1")]);
        let mut new = BuildObjects::new();
        new.insert("kubernetes".into(), vec![]);
        new.insert("opa".into(), vec![obj("rule", "p#1", "1")]);
        let c = compare_builds(&old, &new);
        let got: Vec<(&str, Presence, Option<usize>)> = c
            .iter()
            .map(|t| {
                (
                    t.target.as_str(),
                    t.presence,
                    t.changes.as_ref().map(|c| c.removed.len()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("gcp", Presence::OldOnly, None),
                ("kubernetes", Presence::Both, Some(1)),
                ("opa", Presence::NewOnly, None),
            ]
        );
    }

    #[test]
    fn removals_are_summarised_per_kind_with_files_where_names_repeat() {
        let old = vec![
            Object::new("chain", "seg-in-allow-p", "a.rules", b"1"),
            Object::new("chain", "seg-in-allow-p", "b.rules", b"1"),
            Object::new("chain", "seg-in-allow-q", "a.rules", b"1"),
            Object::new("ipset", "seg4-0123", "a.ipset", b"1"),
            Object::new("chain", "seg-input", "a.rules", b"1"),
        ];
        let new = vec![Object::new("chain", "seg-input", "a.rules", b"2")];
        let t = TargetChanges {
            target: "iptables".into(),
            changes: Some(compare(&old, &new)),
            presence: Presence::Both,
        };
        assert_eq!(
            t.removals_summary(10).unwrap(),
            "iptables: 3 chains and 1 ipset to prune: seg-in-allow-p (a.rules), seg-in-allow-p (b.rules), seg-in-allow-q, seg4-0123"
        );
        assert_eq!(
            t.removals_summary(1).unwrap(),
            "iptables: 3 chains and 1 ipset to prune: seg-in-allow-p (a.rules) and 3 more"
        );
        let same = TargetChanges {
            changes: Some(compare(&new, &new)),
            ..t
        };
        assert_eq!(same.removals_summary(10), None);
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(count_of("NetworkPolicy", 2), "2 NetworkPolicies");
        assert_eq!(count_of("NetworkPolicy", 1), "1 NetworkPolicy");
        assert_eq!(count_of("chain", 3), "3 chains");
        assert_eq!(count_of("key", 2), "2 keys");
        assert_eq!(
            count_of("aws_security_group", 2),
            "2 aws_security_group resources"
        );
        assert_eq!(
            count_of("AWS::EC2::SecurityGroup", 2),
            "2 AWS::EC2::SecurityGroup resources"
        );
    }

    #[test]
    fn digest_is_sixteen_hex_digits_of_sha256() {
        assert_eq!(digest(b""), "e3b0c44298fc1c14");
        assert_eq!(digest(b"abc"), "ba7816bf8f01cfea");
        assert_eq!(crate::names::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
