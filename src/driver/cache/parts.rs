//! The program of a cache entry in two parts, so that a command decodes only
//! what it reads. Most of an estate's entry is its identities, and most of
//! an identity is what only a target's capability pass reads (attributes,
//! labels, Kubernetes/AWS/GCP bindings, the SPIFFE ID): a million small
//! strings and maps on 50k identities, more than half of a warm `seg reach`.
//! The reach analysis and its reports read the name, kind, owner, addresses
//! and origin of each identity. So the entry holds those in its main part,
//! and the rest in a part of its own, decoded only when asked for
//! ([`Read::Whole`]).
//!
//! The types here mirror [`Program`] and [`Identity`] field by field; the
//! functions destructure them without `..`, so a new field fails to compile
//! until it is given a part.

use seg_diag::Span;
use seg_ir::{
    AwsBinding, ContextType, GcpBinding, Identity, IdentityId, IdentityKind, KubernetesBinding,
    OmittedRule, Program, Rule, Test, Timestamp, Value,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How much of each identity a command reads from a cached compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Every field: the program is the one the checker made.
    Whole,
    /// Name, kind, owner, addresses and origin; attributes, labels, bindings
    /// and SPIFFE IDs are left empty (what `seg reach` and `seg graph` read
    /// unless a target's capability pass runs).
    Analysis,
}

/// The program without its identities, as written.
#[derive(Serialize)]
pub struct ProgramRef<'a> {
    project: &'a str,
    source_hash: &'a str,
    now: Timestamp,
    rules: &'a [Rule],
    omitted: &'a [OmittedRule],
    contexts: &'a BTreeMap<String, ContextType>,
    tests: &'a [Test],
    identities: Vec<CoreRef<'a>>,
}

/// [`ProgramRef`] as read.
#[derive(Deserialize)]
pub struct ProgramMain {
    project: String,
    source_hash: String,
    now: Timestamp,
    rules: Vec<Rule>,
    omitted: Vec<OmittedRule>,
    contexts: BTreeMap<String, ContextType>,
    tests: Vec<Test>,
    identities: Vec<Core>,
}

/// What the analysis reads of an identity.
#[derive(Serialize)]
struct CoreRef<'a> {
    id: IdentityId,
    name: &'a str,
    kind: IdentityKind,
    owner: Option<&'a str>,
    addresses: &'a [ipnet::IpNet],
    origin: Span,
}

#[derive(Deserialize)]
struct Core {
    id: IdentityId,
    name: String,
    kind: IdentityKind,
    owner: Option<String>,
    addresses: Vec<ipnet::IpNet>,
    origin: Span,
}

/// The rest of an identity, as written.
#[derive(Serialize)]
pub struct DetailsRef<'a> {
    attributes: &'a BTreeMap<String, Value>,
    labels: &'a BTreeMap<String, String>,
    kubernetes: &'a Option<KubernetesBinding>,
    aws: &'a Option<AwsBinding>,
    gcp: &'a Option<GcpBinding>,
    spiffe: &'a Option<String>,
}

/// [`DetailsRef`] as read.
#[derive(Deserialize)]
pub struct Details {
    attributes: BTreeMap<String, Value>,
    labels: BTreeMap<String, String>,
    kubernetes: Option<KubernetesBinding>,
    aws: Option<AwsBinding>,
    gcp: Option<GcpBinding>,
    spiffe: Option<String>,
}

/// A program as its two parts.
pub fn split(program: &Program) -> (ProgramRef<'_>, Vec<DetailsRef<'_>>) {
    let Program {
        project,
        source_hash,
        now,
        identities,
        rules,
        omitted,
        contexts,
        tests,
    } = program;
    let mut cores = Vec::with_capacity(identities.len());
    let mut details = Vec::with_capacity(identities.len());
    for i in identities.iter() {
        let Identity {
            id,
            name,
            kind,
            owner,
            attributes,
            labels,
            addresses,
            kubernetes,
            aws,
            gcp,
            spiffe,
            origin,
        } = i;
        cores.push(CoreRef {
            id: *id,
            name,
            kind: *kind,
            owner: owner.as_deref(),
            addresses,
            origin: *origin,
        });
        details.push(DetailsRef {
            attributes,
            labels,
            kubernetes,
            aws,
            gcp,
            spiffe,
        });
    }
    let main = ProgramRef {
        project,
        source_hash,
        now: *now,
        rules,
        omitted,
        contexts,
        tests,
        identities: cores,
    };
    (main, details)
}

/// The program from its main part and, when read, the rest of each
/// identity; `None` when the parts do not fit together.
pub fn join(main: ProgramMain, details: Option<Vec<Details>>) -> Option<Program> {
    let ProgramMain {
        project,
        source_hash,
        now,
        rules,
        omitted,
        contexts,
        tests,
        identities,
    } = main;
    if details
        .as_ref()
        .is_some_and(|d| d.len() != identities.len())
    {
        return None;
    }
    let mut details = details.map(Vec::into_iter);
    let identities = identities
        .into_iter()
        .map(|c| {
            let d = details.as_mut().and_then(Iterator::next);
            let d = d.unwrap_or(Details {
                attributes: BTreeMap::new(),
                labels: BTreeMap::new(),
                kubernetes: None,
                aws: None,
                gcp: None,
                spiffe: None,
            });
            Identity {
                id: c.id,
                name: c.name,
                kind: c.kind,
                owner: c.owner,
                attributes: d.attributes,
                labels: d.labels,
                addresses: c.addresses,
                kubernetes: d.kubernetes,
                aws: d.aws,
                gcp: d.gcp,
                spiffe: d.spiffe,
                origin: c.origin,
            }
        })
        .collect();
    Some(Program {
        project,
        source_hash,
        now,
        identities,
        rules,
        omitted,
        contexts,
        tests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{Input, compile};
    use std::path::Path;

    /// The bank example's program, whose identities have attributes, labels
    /// and every kind of binding.
    fn bank() -> Program {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bank");
        let now = Timestamp::parse("2026-11-24T00:00:00Z").expect("instant");
        let comp = compile(&Input::Project(root), now);
        comp.program.expect("the bank compiles")
    }

    fn round_trip(program: &Program, read: Read) -> Program {
        let (main, details) = split(program);
        let main: ProgramMain =
            postcard::from_bytes(&postcard::to_stdvec(&main).expect("encode")).expect("decode");
        let details: Vec<Details> =
            postcard::from_bytes(&postcard::to_stdvec(&details).expect("encode")).expect("decode");
        let details = (read == Read::Whole).then_some(details);
        join(main, details).expect("the parts fit")
    }

    #[test]
    fn both_parts_give_the_program_back() {
        let program = bank();
        let details = |i: &Identity| {
            !i.attributes.is_empty()
                && i.kubernetes.is_some()
                && i.spiffe.is_some()
                && (i.aws.is_some() || i.gcp.is_some())
        };
        assert!(program.identities.iter().any(details));
        assert_eq!(round_trip(&program, Read::Whole), program);
    }

    #[test]
    fn the_main_part_alone_gives_every_identity_without_its_details() {
        let program = bank();
        let mut expected = program.clone();
        for i in expected.identities.iter_mut() {
            i.attributes.clear();
            i.labels.clear();
            (i.kubernetes, i.aws, i.gcp, i.spiffe) = (None, None, None, None);
        }
        assert_ne!(expected, program);
        assert_eq!(round_trip(&program, Read::Analysis), expected);
    }

    #[test]
    fn details_of_another_length_do_not_fit() {
        let program = bank();
        let (main, _) = split(&program);
        let main: ProgramMain =
            postcard::from_bytes(&postcard::to_stdvec(&main).expect("encode")).expect("decode");
        assert!(join(main, Some(Vec::new())).is_none());
    }
}
