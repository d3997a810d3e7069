//! iptables and nftables as engines of the differential: every host's
//! emitted ipsets and rulesets loaded with the real `ipset restore` /
//! `iptables-restore` (or its `.nft` file with `nft -f`) in its own network
//! namespace, and the estate's flows sent as TCP connects
//! and UDP exchanges between them (`tests/tests/iptables/`: lab, plan,
//! probes, retries).
//!
//! The kernel decides time windows and `--datestop` with its own clock, so
//! the flows come at the machine's time (`Clock::Wall`); a flow whose
//! reference decision changes within the next minutes is left out. Left out
//! too (answer `None`), as `iptables/probe.rs` plans: protocols other than
//! TCP and UDP, port 0, an end with no address of its own on any host (or
//! an address several hosts hold), both ends on one host or both outside.
//! A flow's answer covers one probe per address family the ends share.

use crate::engines::Answer;
use crate::iptables::probe::{self, Candidate, Flavour, Plan};
use seg_ir::eval::Evaluator;
use seg_ir::{Artifact, Flow, Program, Timestamp};
use std::collections::BTreeMap;

/// How far ahead a flow's reference decision must hold (the run takes seconds).
const HORIZON: i64 = 180;

/// Answers for `flows` (by index), from one lab.
pub fn answers(
    files: &BTreeMap<String, Vec<u8>>,
    program: &Program,
    flows: &[Flow],
    flavour: Flavour,
) -> Result<Vec<Option<Answer>>, String> {
    let folder = if flavour == Flavour::Nftables {
        "nftables/"
    } else {
        "iptables/"
    };
    let artifacts: Vec<Artifact> = files
        .iter()
        .filter_map(|(p, bytes)| {
            p.strip_prefix(folder).map(|rel| Artifact {
                path: rel.to_string(),
                contents: bytes.clone(),
            })
        })
        .collect();
    // One probe set per distinct packet; flows differing above L4 share it.
    let ev = Evaluator::new(program);
    let mut key_of: Vec<Option<usize>> = Vec::new();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut candidates = Vec::new();
    for f in flows {
        let stable = probe::stable_decision(&ev, f, f.at, Timestamp(f.at.0 + HORIZON)).is_some();
        if !stable {
            key_of.push(None);
            continue;
        }
        let key = format!("{:?} {:?} {:?} {}", f.src, f.dst, f.protocol, f.port);
        let n = keys.len();
        let k = *keys.entry(key).or_insert_with(|| {
            candidates.push(Candidate {
                flow: f.clone(),
                origin: n.to_string(),
            });
            n
        });
        key_of.push(Some(k));
    }
    let mut by_key: Vec<Option<Answer>> = vec![None; keys.len()];
    if let Some(t0) = flows.first().map(|f| f.at) {
        let plan = used_only(probe::plan(
            program,
            &candidates,
            t0,
            Timestamp(t0.0 + HORIZON),
        ));
        if !plan.probes.is_empty() {
            let outcomes = probe::execute("diff", program, &artifacts, &plan, flavour)?;
            for o in outcomes {
                let k: usize = o.probe.origin.parse().map_err(|_| "probe origin")?;
                let a = by_key[k].get_or_insert_with(Answer::default);
                a.packets += 1;
                a.allowed |= o.allowed;
                a.denied |= !o.allowed;
            }
        }
    }
    Ok(key_of
        .into_iter()
        .map(|k| k.and_then(|k| by_key[k].clone()))
        .collect())
}

/// The plan with only the hosts its probes use: an idle host changes no
/// verdict and costs a namespace, a veth pair and a ruleset load.
fn used_only(plan: Plan) -> Plan {
    let mut used: Vec<usize> = plan
        .probes
        .iter()
        .flat_map(|p| [p.src_node, p.dst_node])
        .collect();
    used.sort_unstable();
    used.dedup();
    let index: BTreeMap<usize, usize> = used.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let probes = plan
        .probes
        .into_iter()
        .map(|mut p| {
            p.src_node = index[&p.src_node];
            p.dst_node = index[&p.dst_node];
            p
        })
        .collect();
    Plan {
        nodes: used.iter().map(|n| plan.nodes[*n].clone()).collect(),
        probes,
        skipped: plan.skipped,
    }
}

/// The planted bug: accept everything in and out before any of the
/// backend's rules, on every host and family.
pub fn plant_accept(files: &mut BTreeMap<String, Vec<u8>>) {
    for (path, bytes) in files.iter_mut() {
        if !(path.starts_with("iptables/") && path.ends_with(".rules")) {
            continue;
        }
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut out = String::new();
        let mut planted = false;
        for line in text.lines() {
            if !planted && line.starts_with("-A ") {
                out.push_str("-A seg-input -j ACCEPT\n-A seg-output -j ACCEPT\n");
                planted = true;
            }
            out.push_str(line);
            out.push('\n');
        }
        *bytes = out.into_bytes();
    }
}

/// The planted bug: the deny chains lose their `DROP` lines, so the allows
/// after them lose their carve-outs.
pub fn plant_deny_dropped(files: &mut BTreeMap<String, Vec<u8>>) {
    for (path, bytes) in files.iter_mut() {
        if !(path.starts_with("iptables/") && path.ends_with(".rules")) {
            continue;
        }
        let text = String::from_utf8_lossy(bytes).into_owned();
        let kept: String = text
            .lines()
            .filter(|l| {
                let chain = l.strip_prefix("-A ").and_then(|r| r.split(' ').next());
                !(chain.is_some_and(|c| c.contains("-deny-")) && l.ends_with("-j DROP"))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        *bytes = kept.into_bytes();
    }
}
