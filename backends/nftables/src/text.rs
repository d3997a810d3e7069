//! A typed model of what this backend writes, and its printer.
//!
//! Every piece of user text enters the model already escaped ([`crate::names`])
//! and is printed only inside a quoted comment or after `#`; everything else
//! is a keyword, a number, a parsed address or a name made by
//! [`crate::names`]. Times are numbers: `meta hour` in seconds of the UTC day,
//! `meta day` as weekday numbers (0 = Sunday), `meta time` in Unix seconds.
//! `nft` converts `"HH:MM"` and date strings from its own time zone (`TZ`),
//! but takes numbers as they are.

use ipnet::IpNet;
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

/// Which address of the packet a peer match reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Src,
    Dst,
}

/// The addresses a line matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Every address of the family (`meta nfproto`).
    Family(Family),
    /// A few networks of one family, inline.
    Nets(Family, Vec<IpNet>),
    /// A named set of the table.
    Set(Family, String),
}

/// The protocol part of a line (ports apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// Every protocol.
    Any,
    Tcp,
    Udp,
    Sctp,
    /// ICMP for IPv4, ICMPv6 for IPv6.
    Icmp(Family),
    /// Every protocol but TCP, UDP, SCTP and the family's ICMP.
    Other(Family),
}

/// The clock part of a line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Time {
    /// Inclusive seconds of the UTC day.
    pub hours: Option<(u32, u32)>,
    /// nft weekday numbers (0 = Sunday), ascending.
    pub days: Option<Vec<u8>>,
    /// The rule's end as Unix seconds: matches while `meta time` is before it.
    pub until: Option<i64>,
}

/// Every match of a line except its destination ports: lines of one chain
/// with equal keys differ only in ports and can share a line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// `None`: every address of both families.
    pub peer: Option<(Side, Peer)>,
    pub proto: Proto,
    /// The line matches destination ports (then `proto` is TCP, UDP or SCTP).
    pub ported: bool,
    pub time: Option<Time>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
}

/// One rule of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub key: Key,
    pub ports: Vec<(u16, u16)>,
    pub verdict: Verdict,
    /// Escaped (see [`crate::names::comment`]).
    pub comment: String,
}

fn addr(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// `x` or `{ x, y }`.
fn list(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        _ => format!("{{ {} }}", items.join(", ")),
    }
}

fn port((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

fn family_word(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

impl Line {
    pub fn print(&self, out: &mut String) {
        out.push_str("\t\t");
        let k = &self.key;
        let mut parts: Vec<String> = Vec::new();
        if let Some((side, peer)) = &k.peer {
            let dir = match side {
                Side::Src => "saddr",
                Side::Dst => "daddr",
            };
            let ip = |f: Family| if f == Family::V4 { "ip" } else { "ip6" };
            parts.push(match peer {
                Peer::Family(f) => format!("meta nfproto {}", family_word(*f)),
                Peer::Nets(f, nets) => {
                    let items: Vec<String> = nets.iter().map(addr).collect();
                    format!("{} {dir} {}", ip(*f), list(&items))
                }
                Peer::Set(f, name) => format!("{} {dir} @{name}", ip(*f)),
            });
        }
        let ports: Vec<String> = self.ports.iter().copied().map(port).collect();
        let proto = |name: &str| {
            if k.ported {
                format!("{name} dport {}", list(&ports))
            } else {
                format!("meta l4proto {name}")
            }
        };
        match k.proto {
            Proto::Any => {}
            Proto::Tcp => parts.push(proto("tcp")),
            Proto::Udp => parts.push(proto("udp")),
            Proto::Sctp => parts.push(proto("sctp")),
            Proto::Icmp(Family::V4) => parts.push("meta l4proto icmp".into()),
            Proto::Icmp(Family::V6) => parts.push("meta l4proto ipv6-icmp".into()),
            Proto::Other(f) => {
                let icmp = if f == Family::V4 { "icmp" } else { "ipv6-icmp" };
                parts.push(format!("meta l4proto != {{ tcp, udp, sctp, {icmp} }}"));
            }
        }
        if let Some(t) = &k.time {
            if let Some((lo, hi)) = t.hours {
                parts.push(if lo == hi {
                    format!("meta hour {lo}")
                } else {
                    format!("meta hour {lo}-{hi}")
                });
            }
            if let Some(days) = &t.days {
                let items: Vec<String> = days.iter().map(u8::to_string).collect();
                parts.push(format!("meta day {}", list(&items)));
            }
            if let Some(until) = t.until {
                parts.push(format!("meta time < {until}"));
            }
        }
        parts.push(
            match self.verdict {
                Verdict::Accept => "accept",
                Verdict::Drop => "drop",
            }
            .into(),
        );
        out.push_str(&parts.join(" "));
        let _ = writeln!(out, " comment \"{}\"", self.comment);
    }
}

/// A named set of one family, `flags interval`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub family: Family,
    pub members: Vec<IpNet>,
}

impl Set {
    pub fn print(&self) -> String {
        let mut out = String::with_capacity(96 + 24 * self.members.len());
        let ty = match self.family {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        };
        let _ = writeln!(
            out,
            "\tset {} {{\n\t\ttype {ty}\n\t\tflags interval\n\t\telements = {{",
            self.name
        );
        for chunk in self.members.chunks(8) {
            let items: Vec<String> = chunk.iter().map(addr).collect();
            let _ = writeln!(out, "\t\t\t{},", items.join(", "));
        }
        out.push_str("\t\t}\n\t}\n");
        out
    }
}

/// `# text` lines (text already escaped).
pub fn notes(out: &mut String, indent: &str, notes: &[String]) {
    for n in notes {
        let _ = writeln!(out, "{indent}# {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_prints_every_part_in_order() {
        let line = Line {
            key: Key {
                peer: Some((
                    Side::Src,
                    Peer::Nets(
                        Family::V4,
                        vec![
                            "10.0.0.1/32".parse().unwrap(),
                            "10.1.0.0/16".parse().unwrap(),
                        ],
                    ),
                )),
                proto: Proto::Tcp,
                ported: true,
                time: Some(Time {
                    hours: Some((32_400, 61_199)),
                    days: Some(vec![1, 2]),
                    until: Some(1_798_761_600),
                }),
            },
            ports: vec![(80, 80), (8000, 8099)],
            verdict: Verdict::Accept,
            comment: "p#1".into(),
        };
        let mut out = String::new();
        line.print(&mut out);
        assert_eq!(
            out,
            "\t\tip saddr { 10.0.0.1, 10.1.0.0/16 } tcp dport { 80, 8000-8099 } meta hour 32400-61199 meta day { 1, 2 } meta time < 1798761600 accept comment \"p#1\"\n"
        );
    }

    #[test]
    fn other_protocols_exclude_the_named_ones() {
        let line = Line {
            key: Key {
                peer: Some((Side::Dst, Peer::Set(Family::V6, "v6-ab".into()))),
                proto: Proto::Other(Family::V6),
                ported: false,
                time: None,
            },
            ports: vec![],
            verdict: Verdict::Drop,
            comment: "c".into(),
        };
        let mut out = String::new();
        line.print(&mut out);
        assert_eq!(
            out,
            "\t\tip6 daddr @v6-ab meta l4proto != { tcp, udp, sctp, ipv6-icmp } drop comment \"c\"\n"
        );
    }
}
