//! Estates with observed traffic and known truth, for `seg audit`: a project
//! (inventory, policy, `seg.toml`), flow-log entries planted to cause each
//! finding (and nothing else), and the findings a correct audit reports.
//!
//! Planted, per estate (sizes and timings vary with the seed):
//! - a rule every pair of whose segments talked (no finding), and one of
//!   whose two ports only one was used (`over-broad`);
//! - an allow between observed identities never used (`unused-rule`), and
//!   one to an identity whose interface had a `SKIPDATA` gap
//!   (`not-enough-evidence` and `coverage-gap` where the format holds gaps,
//!   else `unused-rule`);
//! - traffic no rule allows, and traffic a deny denies (`would-break`);
//!   traffic of a time-windowed rule inside and outside its window (only the
//!   outside is `would-break`); traffic under an `mtls` condition
//!   (`unverified-condition`); a rejected flow (`denied-observed`);
//! - a rule expiring in three days and one expired before the window, both
//!   used (`expiring-in-use`; the expired one's traffic is `would-break`);
//! - a disabled and an expired identity talking (`inactive-identity`, and
//!   `would-break`: no rule allows them);
//! - an address held by one pod, then (validity windows) by another: only the
//!   second pod's traffic is `would-break`;
//! - a partner address (allowed) and an internal address no identity holds
//!   (`unresolved` both; the internal one's traffic `would-break`);
//! - a reply record for every TCP connection (server to client, SYN-ACK,
//!   `is_reply`), and UDP chatter between two ephemeral ports: neither ever
//!   becomes a finding.

use seg_flows::{
    CoverageGap, Entry, Flow, FormatChoice, GapKind, Hints, Observed, Origin, Verdict,
};
use seg_ir::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// Start of the observation window of every traffic estate (two days).
pub const SINCE: &str = "2026-11-18T00:00:00Z";
/// End of the window (excluded).
pub const UNTIL: &str = "2026-11-20T00:00:00Z";

/// A generated estate with traffic.
pub struct TrafficEstate {
    /// Path relative to the project folder → text.
    pub files: BTreeMap<String, String>,
    /// The planted flow-log entries, in time order.
    pub entries: Vec<Entry>,
    /// Entries that only connection-oriented sources (not Azure) record:
    /// replies and direction-ambiguous chatter; indexes into `entries`.
    pub per_direction: BTreeSet<usize>,
    seed: u64,
    gapped_rule: String,
    gapped_interface: String,
}

/// A finding as tests compare them: kind and subject.
pub type Key = (String, String);

/// Whether a format records coverage gaps (`NODATA`, `SKIPDATA`, lost events).
pub fn holds_gaps(format: FormatChoice) -> bool {
    !matches!(format, FormatChoice::Gcp | FormatChoice::Azure)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or(Timestamp(0))
}

struct Ident {
    name: String,
    addr: String,
}

struct Planter {
    entries: Vec<Entry>,
    per_direction: BTreeSet<usize>,
    rng: Rng,
}

impl Planter {
    /// One TCP/UDP connection `src → dst:port` at `at`, logged on the
    /// client's interface, and for TCP its reply on the server's.
    #[allow(clippy::too_many_arguments)]
    fn connection(
        &mut self,
        src: &str,
        src_iface: Option<&str>,
        dst: &str,
        dst_iface: Option<&str>,
        protocol: u8,
        port: u16,
        at: Timestamp,
        verdict: Verdict,
    ) {
        let client_port = 33_000 + self.rng.below(20_000) as u16;
        let packets = 1 + self.rng.below(20);
        let start = Timestamp(at.0 + self.rng.below(50) as i64);
        let end = Timestamp(start.0 + 59);
        let flow = |s: &str,
                    d: &str,
                    sp: u16,
                    dp: u16,
                    flags: Option<u8>,
                    reply: bool,
                    iface: Option<&str>| Flow {
            start,
            end,
            src: s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            dst: d.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            src_port: Some(sp),
            dst_port: Some(dp),
            protocol,
            verdict,
            packets: Some(packets),
            bytes: Some(packets * 100),
            hints: Hints {
                tcp_flags: if protocol == 6 { flags } else { None },
                is_reply: if protocol == 6 { Some(reply) } else { None },
                observed: Some(Observed::Egress),
                state: None,
            },
            src_k8s: None,
            dst_k8s: None,
            interface: iface.map(Arc::from),
            rule: None,
            origin: Origin::default(),
        };
        self.entries.push(Entry::Flow(flow(
            src,
            dst,
            client_port,
            port,
            Some(2),
            false,
            src_iface,
        )));
        if protocol == 6 && verdict != Verdict::Denied {
            self.per_direction.insert(self.entries.len());
            self.entries.push(Entry::Flow(flow(
                dst,
                src,
                port,
                client_port,
                Some(18),
                true,
                dst_iface,
            )));
        }
    }

    /// UDP between two ephemeral ports: no telling client from server.
    fn chatter(&mut self, a: &str, b: &str, iface: &str, at: Timestamp) {
        let flow = Flow {
            start: at,
            end: Timestamp(at.0 + 30),
            src: a.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            dst: b.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            src_port: Some(50_000 + self.rng.below(1000) as u16),
            dst_port: Some(51_000 + self.rng.below(1000) as u16),
            protocol: 17,
            verdict: Verdict::Allowed,
            packets: Some(2),
            bytes: Some(120),
            hints: Hints {
                observed: Some(Observed::Egress),
                ..Hints::default()
            },
            src_k8s: None,
            dst_k8s: None,
            interface: Some(Arc::from(iface)),
            rule: None,
            origin: Origin::default(),
        };
        self.per_direction.insert(self.entries.len());
        self.entries.push(Entry::Flow(flow));
    }
}

/// The estate of `seed`.
pub fn estate(seed: u64) -> TrafficEstate {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (nw, na, nd) = (2 + rng.below(3), 2 + rng.below(2), 2 + rng.below(2));
    let mk = |prefix: &str, n: u64, net: u8| -> Vec<Ident> {
        (1..=n)
            .map(|i| Ident {
                name: format!("{prefix}-{i}"),
                addr: format!("10.20.{net}.{i}"),
            })
            .collect()
    };
    let web = mk("web", nw, 1);
    let api = mk("api", na, 2);
    let db = mk("db", nd, 3);
    let iface = |name: &str| format!("eni-{name}");

    // Inventory.
    let mut inv = String::from(
        "version: 1\nattributes:\n  team: string\n  env: enum[dev, prod]\nidentities:\n",
    );
    let mut add = |name: &str, team: &str, kind: &str, extra: &str, addresses: &str| {
        inv.push_str(&format!(
            "  - name: {name}\n    kind: {kind}\n    owner: team-{team}\n    attributes: {{ team: {team}, env: prod }}\n    addresses: {addresses}\n{extra}"
        ));
    };
    for (group, team) in [(&web, "web"), (&api, "api"), (&db, "data")] {
        for i in group.iter() {
            add(&i.name, team, "workload", "", &format!("[{}]", i.addr));
        }
    }
    add("ci-1", "ci", "ci_job", "", "[10.20.4.1]");
    add("gapped", "ops", "workload", "", "[10.20.5.1]");
    add(
        "batch-old",
        "batch",
        "workload",
        "    status: disabled\n",
        "[10.20.6.1]",
    );
    add(
        "gone",
        "batch",
        "workload",
        "    expires: 2026-11-01\n",
        "[10.20.6.2]",
    );
    add(
        "pod-a",
        "jobs",
        "workload",
        "",
        "[{ address: 10.20.9.5, until: 2026-11-19T00:00:00Z }]",
    );
    add(
        "pod-b",
        "jobs",
        "workload",
        "",
        "[{ address: 10.20.9.5, from: 2026-11-19T00:00:00Z }]",
    );

    let policy = String::from(
        r#"use std::services::{postgres, https}

segment web = identities where team == "web"
segment api = identities where team == "api"
segment db = identities where team == "data"

policy main {
  owner "team-platform"

  allow web -> api on tcp/8443
  allow api -> db on postgres, tcp/6432
  allow [ci-1] -> [db-1] on postgres
  allow [api-1] -> [gapped] on tcp/9000
  allow [gapped] -> [db-1] on postgres
  allow [web-1] -> [db-1] on tcp/5433 expires 2026-11-23
  allow [web-2] -> [db-1] on tcp/5434 expires 2026-11-10
  deny any -> [db-2] on tcp/22
  allow [ci-1] -> [api-1] on tcp/8443 when time 01:00..03:00
  allow [api-2] -> [db-2] on tcp/7000 when mtls
  allow network 198.51.100.7 -> [web-1] on https
  allow [pod-a] -> [db-1] on postgres
}
"#,
    );
    let mut files = BTreeMap::new();
    files.insert(
        "seg.toml".to_string(),
        "[project]\nname = \"traffic\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/*.seg\"]\n"
            .to_string(),
    );
    files.insert("inventory.yaml".to_string(), inv);
    files.insert("policy/main.seg".to_string(), policy);

    let mut p = Planter {
        entries: Vec::new(),
        per_direction: BTreeSet::new(),
        rng,
    };
    let day1 = t(SINCE).0;
    let hour = 3600;
    let at = |p: &mut Planter, base: i64| Timestamp(base + p.rng.below(3) as i64 * 600);
    let ok = Verdict::Allowed;
    // Every web → api pair on 8443; every api → db pair on postgres only.
    for w in &web {
        for a in &api {
            let when = at(&mut p, day1 + 9 * hour);
            p.connection(
                &w.addr,
                Some(&iface(&w.name)),
                &a.addr,
                Some(&iface(&a.name)),
                6,
                8443,
                when,
                ok,
            );
        }
    }
    for a in &api {
        for d in &db {
            let when = at(&mut p, day1 + 10 * hour);
            p.connection(
                &a.addr,
                Some(&iface(&a.name)),
                &d.addr,
                Some(&iface(&d.name)),
                6,
                5432,
                when,
                ok,
            );
        }
    }
    let (w1, w2) = (&web[0], &web[1]);
    let (a1, a2) = (&api[0], &api[1]);
    let (d1, d2) = (&db[0], &db[1]);
    let conn = |p: &mut Planter,
                s: (&str, &str),
                d: (&str, &str),
                proto: u8,
                port: u16,
                when: i64,
                v: Verdict| {
        let (si, di) = (iface(s.0), iface(d.0));
        let at = at(p, when);
        p.connection(s.1, Some(&si), d.1, Some(&di), proto, port, at, v);
    };
    // ci-1 in the window of its rule (used), and outside it (would-break).
    conn(
        &mut p,
        ("ci-1", "10.20.4.1"),
        (&a1.name, &a1.addr),
        6,
        8443,
        day1 + 2 * hour,
        ok,
    );
    conn(
        &mut p,
        ("ci-1", "10.20.4.1"),
        (&a1.name, &a1.addr),
        6,
        8443,
        day1 + 36 * hour,
        ok,
    );
    // gapped is a client of db-1 (so the logs show it), with a SKIPDATA gap.
    conn(
        &mut p,
        ("gapped", "10.20.5.1"),
        (&d1.name, &d1.addr),
        6,
        5432,
        day1 + 11 * hour,
        ok,
    );
    let gapped_interface = iface("gapped");
    p.entries.push(Entry::Gap(CoverageGap {
        start: Timestamp(day1 + 6 * hour),
        end: Timestamp(day1 + 6 * hour + 600),
        kind: GapKind::SkipData,
        interface: Some(Arc::from(gapped_interface.as_str())),
        origin: Origin::default(),
    }));
    // Expiring and expired rules in use.
    conn(
        &mut p,
        (&w1.name, &w1.addr),
        (&d1.name, &d1.addr),
        6,
        5433,
        day1 + 12 * hour,
        ok,
    );
    conn(
        &mut p,
        (&w2.name, &w2.addr),
        (&d1.name, &d1.addr),
        6,
        5434,
        day1 + 13 * hour,
        ok,
    );
    // No rule; a deny.
    conn(
        &mut p,
        (&w1.name, &w1.addr),
        (&d2.name, &d2.addr),
        6,
        5432,
        day1 + 14 * hour,
        ok,
    );
    conn(
        &mut p,
        (&w2.name, &w2.addr),
        (&d2.name, &d2.addr),
        6,
        22,
        day1 + 15 * hour,
        ok,
    );
    // Under mtls; rejected.
    conn(
        &mut p,
        (&a2.name, &a2.addr),
        (&d2.name, &d2.addr),
        6,
        7000,
        day1 + 16 * hour,
        ok,
    );
    conn(
        &mut p,
        (&w1.name, &w1.addr),
        (&a1.name, &a1.addr),
        6,
        22,
        day1 + 17 * hour,
        Verdict::Denied,
    );
    // Inactive identities.
    conn(
        &mut p,
        ("batch-old", "10.20.6.1"),
        (&a1.name, &a1.addr),
        6,
        8443,
        day1 + 18 * hour,
        ok,
    );
    conn(
        &mut p,
        ("gone", "10.20.6.2"),
        (&a1.name, &a1.addr),
        6,
        8443,
        day1 + 19 * hour,
        ok,
    );
    // The reused address: pod-a's day, then pod-b's.
    conn(
        &mut p,
        ("pod-a", "10.20.9.5"),
        (&d1.name, &d1.addr),
        6,
        5432,
        day1 + 10 * hour,
        ok,
    );
    conn(
        &mut p,
        ("pod-b", "10.20.9.5"),
        (&d1.name, &d1.addr),
        6,
        5432,
        day1 + 34 * hour,
        ok,
    );
    // A partner, and an internal address no identity holds.
    conn(
        &mut p,
        ("partner", "198.51.100.7"),
        (&w1.name, &w1.addr),
        6,
        443,
        day1 + 20 * hour,
        ok,
    );
    conn(
        &mut p,
        ("unknown", "10.99.0.9"),
        (&a2.name, &a2.addr),
        6,
        8443,
        day1 + 21 * hour,
        ok,
    );
    // Ephemeral chatter.
    for k in 0..3 {
        let when = Timestamp(day1 + (22 + k) * hour);
        p.chatter(&w1.addr, &a1.addr, &iface(&w1.name), when);
    }
    // db-2 and the rest must appear: every identity above does.
    let Planter {
        mut entries,
        per_direction,
        ..
    } = p;
    // Time order, the way logs are read (stable: replies follow their request).
    let mut order: Vec<usize> = (0..entries.len()).collect();
    let start = |e: &Entry| match e {
        Entry::Flow(f) => f.start,
        Entry::Gap(g) => g.start,
        Entry::Malformed(_) => Timestamp(0),
    };
    order.sort_by_key(|i| start(&entries[*i]));
    let mut sorted = Vec::with_capacity(entries.len());
    let mut per = BTreeSet::new();
    for (new, old) in order.iter().enumerate() {
        if per_direction.contains(old) {
            per.insert(new);
        }
        sorted.push(std::mem::replace(
            &mut entries[*old],
            Entry::Malformed(seg_flows::Malformed {
                file: Arc::from(""),
                line: 0,
                message: String::new(),
            }),
        ));
    }
    TrafficEstate {
        files,
        entries: sorted,
        per_direction: per,
        seed,
        gapped_rule: "main/4".into(),
        gapped_interface,
    }
}

impl TrafficEstate {
    /// The entries a source of `format` records: Azure tuples are
    /// connections, so neither replies nor direction-less chatter.
    pub fn entries_for(&self, format: FormatChoice) -> Vec<Entry> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, _)| format != FormatChoice::Azure || !self.per_direction.contains(i))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The findings a correct audit reports, as (kind, subject).
    pub fn expected(&self, format: FormatChoice) -> BTreeSet<Key> {
        let k = |kind: &str, subject: &str| (kind.to_string(), subject.to_string());
        let mut out = BTreeSet::from([
            k("unused-rule", "main/3"),
            k("over-broad", "main/2"),
            k("expiring-in-use", "main/6"),
            k("expiring-in-use", "main/7"),
            k("would-break", "web-1 -> db-2 on postgres"),
            k("would-break", "web-2 -> db-2 on ssh"),
            k("would-break", "web-2 -> db-1 on tcp/5434"),
            k("would-break", "ci-1 -> api-1 on tcp/8443"),
            k("would-break", "batch-old -> api-1 on tcp/8443"),
            k("would-break", "gone -> api-1 on tcp/8443"),
            k("would-break", "pod-b -> db-1 on postgres"),
            k("would-break", "10.99.0.9 -> api-2 on tcp/8443"),
            k("unverified-condition", "api-2 -> db-2 on tcp/7000"),
            k("denied-observed", "web-1 -> api-1 on ssh"),
            k("inactive-identity", "batch-old"),
            k("inactive-identity", "gone"),
            k("unresolved", "198.51.100.7"),
            k("unresolved", "10.99.0.9"),
        ]);
        if holds_gaps(format) {
            out.insert(k("not-enough-evidence", &self.gapped_rule));
            out.insert(k("coverage-gap", &self.gapped_interface));
        } else {
            out.insert(k("unused-rule", &self.gapped_rule));
        }
        out
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Records the audit folds as replies (in the formats that keep them).
    pub fn replies(&self) -> usize {
        self.per_direction
            .iter()
            .filter(|i| matches!(&self.entries[**i], Entry::Flow(f) if f.protocol == 6))
            .count()
    }

    /// Write the project under `dir`.
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<()> {
        for (path, text) in &self.files {
            let p = dir.join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, text)?;
        }
        Ok(())
    }
}
