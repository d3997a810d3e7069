//! IR → one filter table per host and address family, plus the host's ipsets.
//!
//! Input: a program prepared by the capability pass for this target (conditions
//! hold only `Time`/`Days` atoms). Output: for every identity with addresses
//! (a *host*), `<stem>.rules` (IPv4), `<stem>.ip6.rules` (IPv6; one shared
//! `seg.base.ip6.rules` for the hosts without IPv6 rules of their own) and,
//! when its rules use sets, `<stem>.ipset`.
//!
//! Lowering of one rule `SRC -> DST on SERVICES when C expires D`:
//! - on every host in DST: INPUT lines matching the addresses of SRC
//!   (member identities' addresses ∪ networks; no `-s` when that is a whole family);
//! - on every host in SRC: OUTPUT lines matching the addresses of DST;
//! - × one line per protocol (with its port ranges),
//!   × one line per `-m time` window of C (see [`crate::schedule`]), each with
//!   `--datestop D` when the rule expires;
//! - address groups of at least `ipset_threshold` CIDRs become one set match.
//!
//! The lines of one rule do not depend on the host, so they are built once per
//! rule, direction and family (a [`Block`]) and shared; each line's matches
//! other than its ports are interned as a [`LineKey`]. [`crate::chain`] then
//! merges, per host chain, the lines of all its rules that differ only in
//! ports into `multiport` lines, and [`crate::host`] assembles the files.
//! Every deny chain is jumped to before every allow chain, so a deny in any
//! policy wins over an allow in any other (order is irrelevant in the
//! semantics). Denied packets are dropped (`-j DROP`), like the default.
//!
//! Fail closed, with a diagnostic, when something cannot be expressed: an
//! allow loses what iptables cannot match (never gains), a deny gains.

use crate::apply::{self, APPLY_SCRIPT};
use crate::chain::ChainCache;
use crate::host::{Common, Dir, Host, chain_names, emit_host, hosts, policy_names};
use crate::model::{Family, IpSet, Match, PrintedMatches, Proto, SafeText, Side, TimeMatch};
use crate::names;
use crate::schedule::{self, Schedule, Unsupported};
use ipnet::IpNet;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::capability::{Approximation, ApproximationKind};
use seg_ir::fasthash::FastMap;
use seg_ir::{
    Action, Artifact, CidrSet, Condition, Emission, EndpointSet, IdentityId, Lowered, PortSet,
    Program, Rule, Sink, TargetOptions, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The last instant `iptables` accepts in `--datestop` (UTC).
const LAST_DATESTOP: &str = "2038-12-31T23:59:59";

pub(crate) const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

/// The addresses a rule's peer set stands for in one family.
#[derive(Clone)]
enum Peer {
    Any,
    Nets(Vec<IpNet>),
    Set(String),
}

/// Every match of a line except its destination ports. Lines of one chain
/// with equal keys differ only in ports, so they can share a line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LineKey {
    /// The peer's address or set match, if any, then the protocol, if any.
    pub head: Vec<Match>,
    /// The line matches destination ports (then `head` ends with a protocol).
    pub ported: bool,
    pub time: Option<TimeMatch>,
}

/// A line key without a time match by the numbers that make it: the peer's
/// address set (its address, as in `Ctx::peer`), family, side, the index
/// of the peer's match, the protocol, whether it has ports.
type QuickKey = (usize, Family, Side, usize, Option<Proto>, bool);

/// One line of one rule: its key and, when the key is `ported`, its port ranges.
pub(crate) struct RuleLine {
    pub key: u32,
    pub ports: Vec<(u16, u16)>,
}

/// The lines of one rule for one direction and family, shared by every host.
pub(crate) struct Block {
    /// Index of the rule in `program.rules`.
    pub rule: usize,
    pub policy: usize,
    pub action: Action,
    pub lines: Vec<RuleLine>,
    pub sets: Vec<String>,
    /// How many hosts the block is on.
    pub hosts: usize,
}

/// One address set: family and members. (Not the rules that use it: a set
/// is one object on a host, and must not change when an unrelated rule
/// starts using it.)
pub(crate) struct SetInfo {
    pub family: Family,
    pub members: Vec<IpNet>,
}

pub(crate) struct Ctx<'p> {
    pub program: &'p Program,
    /// [`seg_ir::meaning::digest`] of the program and options, for the
    /// headers (computed when rendering).
    pub meaning: String,
    pub threshold: usize,
    addr_cache: FastMap<(&'p BTreeSet<IdentityId>, &'p CidrSet), Arc<CidrSet>>,
    sched_cache: FastMap<&'p Condition, Result<Schedule, Unsupported>>,
    peer_cache: FastMap<(usize, Family), Option<Peer>>,
    /// Every set, by name.
    pub sets: BTreeMap<String, SetInfo>,
    pub policies: Vec<String>,
    policy_index: FastMap<&'p str, usize>,
    pub chain_names: Vec<[String; 4]>,
    /// Interned line keys, indexed by [`RuleLine::key`].
    pub keys: Vec<LineKey>,
    /// Each key's head as printed (made when rendering, before the hosts'
    /// threads start: a key's address match is printed once, not per line).
    pub heads: Vec<PrintedMatches>,
    key_ids: FastMap<LineKey, u32>,
    /// Keys without a time match, by [`QuickKey`].
    quick_keys: FastMap<QuickKey, u32>,
    pub blocks: Vec<Block>,
    /// The fail-closed choices of the lowering, for the build report.
    approximations: Vec<Approximation>,
}

/// Every rule's lines per host (and its diagnostics); the files are printed
/// by [`render`] if the result is rendered. `options` are the target's, for
/// the meaning digest the headers carry.
pub fn lower<'p>(
    program: &'p Program,
    options: &'p TargetOptions,
    threshold: usize,
    diags: &mut Diagnostics,
) -> Lowered<'p> {
    lower_with(program, options, threshold, diags, None)
}

/// [`lower`], rendering the hosts' files from `threads` threads (by
/// default one per core when there are enough hosts): the files, objects
/// and counts are the same whatever the number.
pub(crate) fn lower_with<'p>(
    program: &'p Program,
    options: &'p TargetOptions,
    threshold: usize,
    diags: &mut Diagnostics,
    threads: Option<usize>,
) -> Lowered<'p> {
    let (mut cx, hosts) = lower_lines(program, threshold, diags);
    let approximations = std::mem::take(&mut cx.approximations);
    Lowered::streaming(approximations, move |_, sink| {
        cx.meaning = seg_ir::meaning::digest(program, Some(options));
        cx.heads = cx
            .keys
            .iter()
            .map(|k| PrintedMatches::of(&k.head))
            .collect();
        let threads = threads.unwrap_or_else(|| render_threads(hosts.len()));
        render(&cx, &hosts, threads, sink)
    })
}

/// Every rule's blocks, and on which hosts each is.
fn lower_lines<'p>(
    program: &'p Program,
    threshold: usize,
    diags: &mut Diagnostics,
) -> (Ctx<'p>, Vec<Host>) {
    let mut hosts = hosts(program, diags);
    let mut host_of: Vec<Option<usize>> = vec![None; program.identities.len()];
    for (i, h) in hosts.iter().enumerate() {
        if let Some(slot) = host_of.get_mut(h.id.0 as usize) {
            *slot = Some(i);
        }
    }
    let policies = policy_names(program);
    let chain_names = chain_names(&policies);
    let mut cx = Ctx {
        program,
        meaning: String::new(),
        threshold: threshold.max(1),
        addr_cache: FastMap::default(),
        sched_cache: FastMap::default(),
        peer_cache: FastMap::default(),
        sets: BTreeMap::new(),
        policy_index: FastMap::default(),
        policies,
        chain_names,
        keys: Vec::new(),
        heads: Vec::new(),
        key_ids: FastMap::default(),
        quick_keys: FastMap::default(),
        blocks: Vec::new(),
        approximations: Vec::new(),
    };
    // The same order as `policy_names`: first appearance.
    for r in &program.rules {
        let next = cx.policy_index.len();
        cx.policy_index
            .entry(r.provenance.policy.as_str())
            .or_insert(next);
    }
    for (index, rule) in program.rules.iter().enumerate() {
        let Some(shape) = cx.shape(rule, diags) else {
            continue;
        };
        for (dir, local, peer, side) in [
            (Dir::In, &rule.dst, &rule.src, Side::Src),
            (Dir::Out, &rule.src, &rule.dst, Side::Dst),
        ] {
            let on: Vec<usize> = local
                .identities
                .iter()
                .filter_map(|id| host_of.get(id.0 as usize).copied().flatten())
                .collect();
            if on.is_empty() {
                continue;
            }
            let addrs = cx.addresses(peer);
            for (f, family) in FAMILIES.into_iter().enumerate() {
                let Some(mut block) = cx.block(index, rule, &shape, &addrs, family, side) else {
                    continue;
                };
                block.hosts = on.len();
                let id = cx.blocks.len() as u32;
                cx.blocks.push(block);
                for &h in &on {
                    hosts[h].blocks[f][dir as usize].push(id);
                }
            }
        }
    }
    cx.free_lowering_state();
    (cx, hosts)
}

/// Each set printed once, copied into the files of the hosts using it.
fn set_texts<'c>(cx: &'c Ctx) -> FastMap<&'c str, Arc<str>> {
    cx.sets
        .iter()
        .map(|(name, s)| {
            let set = IpSet {
                name: name.clone(),
                family: s.family,
                notes: vec![SafeText::new(&format!("{} CIDRs", s.members.len()))],
                members: s.members.clone(),
            };
            (name.as_str(), Arc::from(set.print()))
        })
        .collect()
}

/// How many printed chains one thread rendering every host keeps.
#[cfg(test)]
pub(crate) fn chains_kept(program: &Program) -> usize {
    let (mut cx, hosts) = lower_lines(program, 100, &mut Diagnostics::new());
    cx.heads = cx
        .keys
        .iter()
        .map(|k| PrintedMatches::of(&k.head))
        .collect();
    let (set_texts, common) = (set_texts(&cx), Common::new(&cx));
    let mut chains = ChainCache::default();
    let mut emission = Emission::default();
    for host in &hosts {
        emit_host(&cx, host, &set_texts, &common, &mut chains, &mut emission);
    }
    chains.len()
}

/// Hosts below which a thread is not worth starting.
const HOSTS_PER_THREAD: usize = 64;

/// One thread per core, as long as each gets [`HOSTS_PER_THREAD`] hosts.
fn render_threads(hosts: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(hosts / HOSTS_PER_THREAD).max(1)
}

/// The files of every host, from the lowered lines, each handed to `sink`
/// once its host is done. Hosts are independent: with several `threads` each
/// renders a contiguous share of them, and the shares are joined in host
/// order (the objects are sorted after, each share's first on its thread).
fn render(cx: &Ctx, hosts: &[Host], threads: usize, sink: &dyn Sink) -> Emission {
    let set_texts = set_texts(cx);
    let common = Common::new(cx);
    let one = |share: &[Host]| {
        let mut emission = Emission::default();
        let mut chains = ChainCache::default();
        for host in share {
            emit_host(cx, host, &set_texts, &common, &mut chains, &mut emission);
            for artifact in emission.artifacts.drain(..) {
                sink.put(artifact);
            }
        }
        // Each share sorted on its own thread: the sort of the joined
        // shares below then only merges these runs.
        emission.objects.sort();
        emission
    };
    let shares: Vec<Emission> = if threads <= 1 || hosts.len() < 2 {
        vec![one(hosts)]
    } else {
        let size = hosts.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = hosts
                .chunks(size)
                .map(|share| scope.spawn(move || one(share)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    let mut emission = Emission::default();
    for share in shares {
        emission.objects.extend(share.objects);
        emission.rules += share.rules;
    }
    if let Some(artifact) = common.artifact(hosts) {
        sink.put(artifact);
    }
    if !hosts.is_empty() {
        let header = [
            format!("seg {}: generated: do not edit", env!("CARGO_PKG_VERSION")),
            format!("meaning: sha256 {}", cx.meaning),
        ];
        sink.put(Artifact {
            path: APPLY_SCRIPT.to_string(),
            contents: apply::script(&header).into_bytes(),
        });
    }
    emission.objects.sort();
    emission.notes.push(format!(
        "{} host(s), {} rule line(s), {} ipset(s) (threshold {} CIDRs)",
        hosts.len(),
        emission.rules,
        cx.sets.len(),
        cx.threshold
    ));
    emission
}

/// A protocol (`None`: every protocol) and its port ranges (none: every port).
type ProtoPorts = (Option<Proto>, Vec<(u16, u16)>);

/// What a rule lowers to, independent of hosts and addresses.
struct Shape {
    /// Per family: (protocol, port ranges); `None` is every protocol, no
    /// ranges every port of the protocol.
    protos: [Vec<ProtoPorts>; 2],
    times: Vec<Option<TimeMatch>>,
}

impl<'p> Ctx<'p> {
    fn approximate(&mut self, rule: &Rule, kind: ApproximationKind, reason: impl Into<String>) {
        self.approximations
            .push(Approximation::of("iptables", rule, kind, reason));
    }

    /// The protocol and time parts of a rule; `None` when it emits nothing.
    fn shape(&mut self, rule: &'p Rule, diags: &mut Diagnostics) -> Option<Shape> {
        let p = &rule.provenance;
        let schedule = match self
            .sched_cache
            .entry(&rule.condition)
            .or_insert_with(|| schedule::schedule(&rule.condition))
        {
            Ok(s) => s.clone(),
            Err(Unsupported(class)) => {
                let class = class.clone();
                if rule.action == Action::Allow {
                    diags.push(
                        Diagnostic::warning(
                            Code::RuleOmitted,
                            format!(
                                "rule `{}` omitted on `iptables`: cannot enforce `{class}`",
                                p.label
                            ),
                        )
                        .with_primary(p.origin, "omitted on iptables")
                        .with_note("iptables matches addresses, ports and the kernel clock only")
                        .with_help(format!(
                            "declare `{class}` layered in seg.toml if another layer enforces it"
                        )),
                    );
                    self.approximate(
                        rule,
                        ApproximationKind::Omitted,
                        format!("cannot enforce `{class}`"),
                    );
                    return None;
                }
                diags.push(
                    Diagnostic::warning(
                        Code::DenyWidened,
                        format!(
                            "deny `{}` applied unconditionally on `iptables`: cannot see `{class}`",
                            p.label
                        ),
                    )
                    .with_primary(p.origin, "unconditional on iptables")
                    .with_help("this is the fail-closed choice; nothing to do if it is intended"),
                );
                self.approximate(
                    rule,
                    ApproximationKind::DenyWidened,
                    format!("applied unconditionally: cannot see `{class}`"),
                );
                Schedule::Always
            }
        };
        let datestop = match rule.expires {
            None => None,
            // Gone before the epoch: never live on a kernel clock.
            Some(d) if d.last_second().0 < 0 => return None,
            Some(d) if d.last_second() > last_datestop() => {
                let (code, kind, what) = match rule.action {
                    Action::Allow => (
                        Code::RuleNarrowed,
                        ApproximationKind::Narrowed,
                        "ends on 2038-12-31 on `iptables`",
                    ),
                    Action::Deny => (
                        Code::DenyWidened,
                        ApproximationKind::DenyWidened,
                        "never expires on `iptables`",
                    ),
                };
                self.approximate(
                    rule,
                    kind,
                    format!("{what}: `--datestop` stops at {LAST_DATESTOP}, the rule expires {d}"),
                );
                diags.push(
                    Diagnostic::warning(code, format!("rule `{}` {what}", p.label))
                        .with_primary(p.origin, "expiry not representable")
                        .with_note(format!(
                            "`--datestop` accepts dates up to {LAST_DATESTOP}; the rule expires {d}"
                        ))
                        .with_help("choose an earlier `expires` date"),
                );
                (rule.action == Action::Allow).then(|| LAST_DATESTOP.to_string())
            }
            Some(d) => Some(datestop(d.last_second())),
        };
        let times: Vec<Option<TimeMatch>> = match schedule {
            Schedule::Never => return None,
            Schedule::Always => vec![datestop.clone().map(|d| TimeMatch {
                window: None,
                weekdays: None,
                datestop: Some(d),
            })],
            Schedule::Windows(ws) => ws
                .iter()
                .map(|w| {
                    Some(TimeMatch {
                        window: (!w.whole_day()).then(|| (w.timestart(), w.timestop())),
                        weekdays: w.weekdays(),
                        datestop: datestop.clone(),
                    })
                })
                .collect(),
        };
        let mut services = rule.services.clone();
        if services.other && !services.is_any() {
            if rule.action == Action::Allow {
                services.other = false;
                diags.push(
                    Diagnostic::warning(Code::RuleNarrowed, format!("rule `{}` narrowed on `iptables`: other protocols left out", p.label))
                        .with_primary(p.origin, "narrowed on iptables")
                        .with_note("a rule matches one protocol or every protocol; `other` means all but tcp, udp, sctp and icmp")
                        .with_help("name the ports the rule needs, or allow `any`"),
                );
                self.approximate(
                    rule,
                    ApproximationKind::Narrowed,
                    "other protocols left out: a rule matches one protocol or every protocol",
                );
            } else {
                services = PortSet::any();
                diags.push(
                    Diagnostic::warning(Code::DenyWidened, format!("deny `{}` widened to every protocol on `iptables`", p.label))
                        .with_primary(p.origin, "every protocol on iptables")
                        .with_note("a rule matches one protocol or every protocol; `other` means all but tcp, udp, sctp and icmp")
                        .with_help("this is the fail-closed choice; name the protocols to deny to avoid it"),
                );
                self.approximate(
                    rule,
                    ApproximationKind::DenyWidened,
                    "widened to every protocol: a rule matches one protocol or every protocol",
                );
            }
        }
        let protos = [
            proto_matches(&services, Family::V4),
            proto_matches(&services, Family::V6),
        ];
        if protos[0].is_empty() {
            return None;
        }
        Some(Shape { protos, times })
    }

    /// Every address the set stands for: its networks and its identities' addresses.
    fn addresses(&mut self, set: &'p EndpointSet) -> Arc<CidrSet> {
        let program = self.program;
        let cached = self
            .addr_cache
            .entry((&set.identities, &set.networks))
            .or_insert_with(|| {
                if set.networks == CidrSet::all() {
                    return Arc::new(CidrSet::all());
                }
                let nets: Vec<&IpNet> = set
                    .identities
                    .iter()
                    .filter_map(|id| program.identities.get(id.0 as usize))
                    .flat_map(|i| i.addresses.iter())
                    .collect();
                Arc::new(CidrSet::from_nets(nets).union(&set.networks))
            });
        Arc::clone(cached)
    }

    /// [`Ctx::peer_of`], once per address set and family.
    fn peer(&mut self, addrs: &Arc<CidrSet>, family: Family) -> Option<Peer> {
        // `addr_cache` keeps every set alive, so its address is a stable key.
        let key = (Arc::as_ptr(addrs) as usize, family);
        match self.peer_cache.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = self.peer_of(addrs, family);
                self.peer_cache.insert(key, p.clone());
                p
            }
        }
    }

    /// How a rule matches the addresses `addrs` of one family.
    fn peer_of(&mut self, addrs: &CidrSet, family: Family) -> Option<Peer> {
        let whole: IpNet = match family {
            Family::V4 => IpNet::V4(Default::default()),
            Family::V6 => IpNet::V6(Default::default()),
        };
        if addrs.contains_net(&whole) {
            return Some(Peer::Any);
        }
        let nets: Vec<IpNet> = addrs
            .to_cidrs()
            .into_iter()
            .filter(|n| (family == Family::V6) == n.addr().is_ipv6())
            .collect();
        if nets.is_empty() {
            return None;
        }
        if nets.len() < self.threshold {
            return Some(Peer::Nets(nets));
        }
        let texts: Vec<String> = nets.iter().map(ToString::to_string).collect();
        let name = names::set_name(family == Family::V6, &texts);
        self.sets.entry(name.clone()).or_insert_with(|| SetInfo {
            family,
            members: nets,
        });
        Some(Peer::Set(name))
    }

    fn block(
        &mut self,
        index: usize,
        rule: &Rule,
        shape: &Shape,
        addrs: &Arc<CidrSet>,
        family: Family,
        side: Side,
    ) -> Option<Block> {
        let peer = self.peer(addrs, family)?;
        let (peer_matches, sets): (Vec<Option<Match>>, Vec<String>) = match peer {
            Peer::Any => (vec![None], vec![]),
            Peer::Nets(nets) => (
                nets.into_iter()
                    .map(|n| Some(Match::Addr(side, n)))
                    .collect(),
                vec![],
            ),
            Peer::Set(name) => (vec![Some(Match::Set(side, name.clone()))], vec![name]),
        };
        let mut lines = Vec::new();
        let peer_id = Arc::as_ptr(addrs) as usize;
        for (m, pm) in peer_matches.iter().enumerate() {
            for (proto, ports) in &shape.protos[family as usize] {
                let head = || -> Vec<Match> {
                    pm.iter().cloned().chain(proto.map(Match::Proto)).collect()
                };
                let ported = !ports.is_empty();
                for time in &shape.times {
                    let key = match time {
                        // The same peer match and protocol give the same key:
                        // looked up by their numbers, without hashing the matches.
                        None => {
                            let quick = (peer_id, family, side, m, *proto, ported);
                            match self.quick_keys.get(&quick) {
                                Some(&key) => key,
                                None => {
                                    let key = self.intern(LineKey {
                                        head: head(),
                                        ported,
                                        time: None,
                                    });
                                    self.quick_keys.insert(quick, key);
                                    key
                                }
                            }
                        }
                        Some(_) => self.intern(LineKey {
                            head: head(),
                            ported,
                            time: time.clone(),
                        }),
                    };
                    lines.push(RuleLine {
                        key,
                        ports: ports.clone(),
                    });
                }
            }
        }
        let policy = self
            .policy_index
            .get(rule.provenance.policy.as_str())
            .copied()
            .unwrap_or(0);
        Some(Block {
            rule: index,
            policy,
            action: rule.action,
            lines,
            sets,
            hosts: 0,
        })
    }

    /// Drop what only the lowering reads (every line key a second time,
    /// the caches), so that it is not held while the hosts render.
    fn free_lowering_state(&mut self) {
        self.addr_cache = FastMap::default();
        self.sched_cache = FastMap::default();
        self.peer_cache = FastMap::default();
        self.policy_index = FastMap::default();
        self.key_ids = FastMap::default();
        self.quick_keys = FastMap::default();
    }

    fn intern(&mut self, key: LineKey) -> u32 {
        if let Some(&id) = self.key_ids.get(&key) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.key_ids.insert(key, id);
        id
    }
}

/// `--datestop` for a rule whose last live second is `last`: `xt_time`
/// matches while the kernel's UTC clock, in whole seconds, is at or before it.
fn datestop(last: Timestamp) -> String {
    let text = last.to_string();
    text.trim_end_matches('Z').to_string()
}

fn last_datestop() -> Timestamp {
    Timestamp::parse(&format!("{LAST_DATESTOP}Z")).unwrap_or(Timestamp(i64::from(i32::MAX)))
}

/// `#` lines with what a rule says beyond its id (see
/// [`seg_ir::names::rule_summary`]).
pub(crate) fn rule_notes(rule: &Rule) -> Vec<SafeText> {
    seg_ir::names::rule_summary(rule)
        .iter()
        .map(|l| SafeText::new(l))
        .collect()
}

/// Protocols and port ranges of a port set for one family, in a fixed order.
fn proto_matches(services: &PortSet, family: Family) -> Vec<ProtoPorts> {
    if services.is_any() {
        return vec![(None, vec![])];
    }
    let mut out = Vec::new();
    for (protocol, ranges) in services.by_protocol() {
        let proto = match protocol {
            seg_ir::Protocol::Tcp => Proto::Tcp,
            seg_ir::Protocol::Udp => Proto::Udp,
            _ => Proto::Sctp,
        };
        if ranges.is_empty() {
            continue;
        }
        if ranges.is_all() {
            out.push((Some(proto), vec![]));
        } else {
            out.push((Some(proto), ranges.ranges().to_vec()));
        }
    }
    if services.icmp {
        let icmp = match family {
            Family::V4 => Proto::Icmp,
            Family::V6 => Proto::Icmpv6,
        };
        out.push((Some(icmp), vec![]));
    }
    out
}
