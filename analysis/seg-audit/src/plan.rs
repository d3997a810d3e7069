//! What reading needs to know about the policy and the inventory, decided
//! once: the observation window, the time slices within which no decision
//! changes, the ports servers listen on, the ephemeral range, and who held
//! which address when. The streaming aggregation and the emitted SQL are
//! both generated from one [`Plan`], so they aggregate alike.

use crate::attribute::AddressBook;
use seg_check::inventory::Inventory;
use seg_check::manifest::AuditSettings;
use seg_ir::{Atom, Condition, PortRanges, PortSet, Program, Rule, Timestamp};

/// Everything the aggregation reads.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `--since` (included).
    pub since: Option<Timestamp>,
    /// `--until` (excluded).
    pub until: Option<Timestamp>,
    pub slicer: Slicer,
    pub listening: Listening,
    /// Inclusive client port range.
    pub ephemeral: (u16, u16),
    /// Seconds of silence after which a continuously logged interface has a gap.
    pub max_gap: i64,
    pub addresses: AddressBook,
}

impl Plan {
    pub fn new(
        program: &Program,
        inventory: &Inventory,
        settings: &AuditSettings,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Plan {
        let addresses = AddressBook::new(inventory);
        Plan {
            since,
            until,
            slicer: Slicer::new(program, inventory, &addresses),
            listening: Listening::new(program),
            ephemeral: settings.ephemeral_ports,
            max_gap: settings.max_gap,
            addresses,
        }
    }

    pub fn in_window(&self, at: Timestamp) -> bool {
        self.since.is_none_or(|s| s <= at) && self.until.is_none_or(|u| at < u)
    }

    pub fn is_ephemeral(&self, port: u16) -> bool {
        self.ephemeral.0 <= port && port <= self.ephemeral.1
    }
}

/// Every rule of the program, live ones and those omitted because they expired.
pub fn all_rules(program: &Program) -> impl Iterator<Item = &Rule> {
    program
        .rules
        .iter()
        .chain(program.omitted.iter().flat_map(|o| &o.rules))
}

/// Cuts time into slices within which the policy decides every flow alike
/// and every address has the same holder: at the end of each expiring rule
/// and identity (absolute instants), at the edges of time windows (seconds of
/// the day), at each weekday when a rule tests days, and at the edges of
/// address validity windows (the attribution epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slicer {
    /// Instants (seconds) where a rule or an identity expires, ascending.
    pub absolute: Vec<i64>,
    /// Seconds of the day where a time window starts or ends, ascending, in 1..86400.
    pub day: Vec<i64>,
    /// Whether a rule tests the weekday.
    pub weekdays: bool,
    /// Instants where an address validity window starts or ends, ascending.
    pub epochs: Vec<i64>,
}

impl Slicer {
    pub fn new(program: &Program, inventory: &Inventory, addresses: &AddressBook) -> Slicer {
        let mut s = Slicer::default();
        for rule in all_rules(program) {
            if let Some(d) = rule.expires {
                s.absolute.push(d.end().0);
            }
            s.condition(&rule.condition);
        }
        for d in &inventory.details {
            if let Some(e) = d.expires {
                s.absolute.push(e.end().0);
            }
        }
        s.epochs = addresses.breakpoints();
        for v in [&mut s.absolute, &mut s.day, &mut s.epochs] {
            v.sort_unstable();
            v.dedup();
        }
        s
    }

    fn condition(&mut self, c: &Condition) {
        match c {
            Condition::True | Condition::False => {}
            Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| self.condition(c)),
            Condition::Not(c) => self.condition(c),
            Condition::Atom(Atom::Time { start, end }) => {
                for m in [start.0, end.0] {
                    let s = i64::from(m) * 60;
                    if 0 < s && s < seg_ir::time::SECONDS_PER_DAY {
                        self.day.push(s);
                    }
                }
            }
            Condition::Atom(Atom::Days { .. }) => self.weekdays = true,
            Condition::Atom(_) => {}
        }
    }

    /// The policy slice of an instant: equal for two instants iff no rule
    /// expiry, identity expiry, time-window edge or weekday lies between them.
    pub fn slice(&self, at: Timestamp) -> u32 {
        if self.absolute.is_empty() && self.day.is_empty() && !self.weekdays {
            return 0;
        }
        let a = self.absolute.partition_point(|b| *b <= at.0) as u64;
        let w = if self.weekdays {
            u64::from(at.weekday().0)
        } else {
            0
        };
        let sod = at.second_of_day();
        let d = self.day.partition_point(|b| *b <= sod) as u64;
        let n = ((a * 7 + w) * (self.day.len() as u64 + 1)) + d;
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The attribution epoch: equal for two instants iff no address window
    /// edge lies between them.
    pub fn epoch(&self, at: Timestamp) -> u32 {
        if self.epochs.is_empty() {
            return 0;
        }
        self.epochs.partition_point(|b| *b <= at.0) as u32
    }
}

/// The ports a rule names explicitly (not through `any` or a whole
/// protocol): a port of these is taken to be the listening side of a record
/// whose flags and ports do not tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listening {
    pub tcp: PortRanges,
    pub udp: PortRanges,
    pub sctp: PortRanges,
}

impl Listening {
    pub fn new(program: &Program) -> Listening {
        let mut l = Listening::default();
        let explicit = |r: &PortRanges| !r.is_all();
        for rule in all_rules(program) {
            let PortSet { tcp, udp, sctp, .. } = &rule.services;
            if explicit(tcp) {
                l.tcp = l.tcp.union(tcp);
            }
            if explicit(udp) {
                l.udp = l.udp.union(udp);
            }
            if explicit(sctp) {
                l.sctp = l.sctp.union(sctp);
            }
        }
        l
    }

    pub fn contains(&self, protocol: u8, port: u16) -> bool {
        match protocol {
            6 => self.tcp.contains(port),
            17 => self.udp.contains(port),
            132 => self.sctp.contains(port),
            _ => false,
        }
    }
}

/// The IR protocol of an IANA number (ICMP and ICMPv6 are both `icmp`).
pub fn ir_protocol(n: u8) -> seg_ir::Protocol {
    match n {
        6 => seg_ir::Protocol::Tcp,
        17 => seg_ir::Protocol::Udp,
        132 => seg_ir::Protocol::Sctp,
        1 | 58 => seg_ir::Protocol::Icmp,
        n => seg_ir::Protocol::Other(n),
    }
}

/// Whether seg matches the protocol by port (TCP, UDP, SCTP); other
/// protocols are matched whole, so their ports are not kept.
pub fn has_ports(n: u8) -> bool {
    matches!(n, 6 | 17 | 132)
}
