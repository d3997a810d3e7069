//! `--targets`: what changes in each target's output, after the capability
//! pass — objects added, removed and changed (the object inventory every
//! backend emits, `seg_ir::objects`), and the fail-closed choices and
//! relaxations that start or stop ("now omitted on kubernetes: cannot
//! enforce `time`").
//!
//! Approximations are matched across the versions by their kind, their
//! reason and the source text of their rule (labels move when rules are
//! inserted above); one that only the new build makes is *new*, one only the
//! old build made is *gone*.

use crate::engine::Side;
use seg_ir::capability::{Approximation, ApproximationKind};
use seg_ir::objects::{self, Object, ObjectChanges, Presence};
use serde::Serialize;
use std::collections::BTreeMap;

/// One target of one build: its objects and approximations.
#[derive(Clone, Debug, Default)]
pub struct TargetBuild {
    pub objects: Vec<Object>,
    pub approximations: Vec<Approximation>,
}

/// Target name → what one version's build of it holds.
pub type Builds = BTreeMap<String, TargetBuild>;

/// What changes on one target.
#[derive(Clone, Debug, Serialize)]
pub struct TargetDiff {
    pub target: String,
    /// Whether both versions build the target (`seg.toml` may add or drop one).
    pub presence: Presence,
    /// Object changes; `None` unless both versions build the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<ObjectChanges>,
    /// Approximations only the new build makes.
    pub new_approximations: Vec<Approximation>,
    /// Approximations only the old build made.
    pub gone_approximations: Vec<Approximation>,
}

impl TargetDiff {
    pub fn is_empty(&self) -> bool {
        self.presence == Presence::Both
            && self.objects.as_ref().is_none_or(ObjectChanges::is_empty)
            && self.new_approximations.is_empty()
            && self.gone_approximations.is_empty()
    }
}

/// The source text (whitespace collapsed) of the rule a label names, with
/// its policy; the label when the text is not known.
fn rule_key(side: &Side, label: &str) -> String {
    let p = side.program;
    let provenance = p
        .rules
        .iter()
        .map(|r| &r.provenance)
        .chain(p.omitted.iter().map(|o| &o.provenance))
        .find(|pr| pr.label == label);
    match (provenance, side.map) {
        (Some(pr), Some(map)) => {
            let words: Vec<&str> = map.snippet(pr.origin).split_whitespace().collect();
            let part = pr.label.rsplit_once('.').map_or("", |(_, k)| k);
            format!("{}\u{0}{}\u{0}{part}", pr.policy, words.join(" "))
        }
        _ => label.to_string(),
    }
}

/// Compare the builds of the two versions, target by target (name order).
pub fn compare(
    old: &Side,
    old_builds: &Builds,
    new: &Side,
    new_builds: &Builds,
) -> Vec<TargetDiff> {
    let objects = |b: &Builds| -> objects::BuildObjects {
        b.iter()
            .map(|(t, x)| (t.clone(), x.objects.clone()))
            .collect()
    };
    let mut out = Vec::new();
    for changes in objects::compare_builds(&objects(old_builds), &objects(new_builds)) {
        let list = |builds: &Builds| -> Vec<Approximation> {
            builds
                .get(&changes.target)
                .map(|b| b.approximations.clone())
                .unwrap_or_default()
        };
        let (new_ones, gone) = if changes.presence == Presence::Both {
            unmatched(old, list(old_builds), new, list(new_builds))
        } else {
            (Vec::new(), Vec::new())
        };
        out.push(TargetDiff {
            target: changes.target.clone(),
            presence: changes.presence,
            objects: changes.changes,
            new_approximations: new_ones,
            gone_approximations: gone,
        });
    }
    out
}

/// The approximations of the new build with no match in the old one, and
/// those of the old with none in the new. Matched by kind, reason and the
/// rule's source text, then what is left by kind, reason and label (an
/// edited rule keeps its label when no rule was inserted above it).
fn unmatched(
    old: &Side,
    before: Vec<Approximation>,
    new: &Side,
    after: Vec<Approximation>,
) -> (Vec<Approximation>, Vec<Approximation>) {
    type Key = (ApproximationKind, String, String);
    type Keyer<'k> = &'k dyn Fn(&Side, &Approximation) -> Key;
    let (mut before, mut after) = (before, after);
    let keyers: [Keyer; 2] = [
        &|side, a| (a.kind, a.reason.clone(), rule_key(side, &a.rule)),
        &|_, a| (a.kind, a.reason.clone(), a.rule.clone()),
    ];
    for key in keyers {
        let mut pool: BTreeMap<Key, usize> = BTreeMap::new();
        for a in &before {
            *pool.entry(key(old, a)).or_default() += 1;
        }
        let mut matched: BTreeMap<Key, usize> = BTreeMap::new();
        after.retain(|a| {
            let k = key(new, a);
            match pool.get_mut(&k) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    *matched.entry(k).or_default() += 1;
                    false
                }
                _ => true,
            }
        });
        before.retain(|a| {
            let k = key(old, a);
            match matched.get_mut(&k) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            }
        });
    }
    (after, before)
}

/// `omitted` → `now omitted`, for a new approximation; `no longer omitted` for a gone one.
pub fn kind_text(kind: ApproximationKind) -> &'static str {
    match kind {
        ApproximationKind::Omitted => "omitted",
        ApproximationKind::Narrowed => "narrowed",
        ApproximationKind::DenyWidened => "deny widened",
        ApproximationKind::Layered => "relaxed (layered)",
        ApproximationKind::IdentityDropped => "identities left out",
    }
}

/// `3 NetworkPolicies added, 1 removed, 2 changed (40 unchanged)`.
pub fn objects_line(c: &ObjectChanges) -> String {
    format!(
        "{} added, {} removed, {} changed ({} unchanged)",
        c.added.len(),
        c.removed.len(),
        c.changed.len(),
        c.unchanged
    )
}
