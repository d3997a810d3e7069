//! A typed model of the two file formats this backend writes, and their printers:
//! `iptables-restore`/`ip6tables-restore` input (filter table only) and
//! `ipset restore` input.
//!
//! Every piece of text that can come from user input enters the model as
//! [`SafeText`] (escaped by [`crate::names::comment_text`]) or as a name built
//! by [`crate::names`]; everything else is a fixed keyword, a number or a
//! parsed address. The printer therefore cannot be made to emit a token, a
//! line or a quote that the model did not intend.

use crate::names;
use ipnet::IpNet;
use std::fmt::Write;
use std::sync::Arc;

/// Text safe on a `#` line and inside a double-quoted argument.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SafeText(String);

impl SafeText {
    pub fn new(text: &str) -> SafeText {
        SafeText(names::comment_text(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// A chain seg owns: its entry chains `seg-input` and `seg-output` (the
/// only ones INPUT and OUTPUT jump to), or a policy chain named by
/// [`names::chain_name`], which only the entry chains jump to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Chain {
    Input,
    Output,
    User(String),
}

/// The entry chains, jumped to from the first rule of INPUT and OUTPUT.
pub const SEG_INPUT: &str = "seg-input";
pub const SEG_OUTPUT: &str = "seg-output";

impl Chain {
    pub fn as_str(&self) -> &str {
        match self {
            Chain::Input => SEG_INPUT,
            Chain::Output => SEG_OUTPUT,
            Chain::User(name) => name,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Accept,
    Drop,
    Jump(Chain),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmpv6,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "ipv6-icmp",
        }
    }
}

/// Which address of the packet a match looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Src,
    Dst,
}

/// One `-m time` match; `start`/`stop` are `HH:MM:SS`, `datestop` is `YYYY-MM-DDThh:mm:ss`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimeMatch {
    pub window: Option<(String, String)>,
    pub weekdays: Option<String>,
    pub datestop: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Match {
    InLoopback,
    OutLoopback,
    /// `-m conntrack --ctstate ESTABLISHED,RELATED`.
    Replies,
    Proto(Proto),
    Addr(Side, IpNet),
    Set(Side, String),
    /// `--dport lo[:hi]` (needs a preceding `Proto`).
    Port(u16, u16),
    /// `-m multiport --dports` with at most 15 port slots (a range takes two).
    Ports(Vec<(u16, u16)>),
    Icmpv6Type(u8),
    HopLimit(u8),
    Time(TimeMatch),
}

/// One `-A` line, with `#` lines printed before it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Line {
    pub notes: Vec<SafeText>,
    pub matches: Vec<Match>,
    pub comment: SafeText,
    pub target: Target,
}

/// A user chain being printed: `#` lines, then its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserChain {
    name: Chain,
    text: String,
    lines: usize,
}

/// A user chain as printed ([`UserChain::finish`]); several hosts' files share it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintedChain {
    pub name: Chain,
    pub text: Arc<str>,
}

/// seg's part of the filter table of one host for one address family, for
/// `iptables-restore --noflush`: the entry chains (every line of
/// [`RulesFile::entry`], then a final DROP), the policy chains, and the jumps
/// from INPUT and OUTPUT. Nothing else of the table is named, so nothing else
/// is touched; see `seg-apply.sh` for the pruning of chains a previous
/// version had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesFile {
    pub header: Vec<SafeText>,
    pub family: Family,
    /// The first lines of the entry chains ([`Chain::Input`],
    /// [`Chain::Output`]) as printed: the base rules, the same in every file
    /// of a family, so printed once ([`print_entry`]).
    pub base: [Arc<str>; 2],
    /// The entry chains' lines after `base`, in order.
    pub entry: Vec<(Chain, Line)>,
    pub chains: Vec<PrintedChain>,
}

/// `lines` printed per entry chain: [`Chain::Input`]'s, then [`Chain::Output`]'s.
pub fn print_entry(lines: &[(Chain, Line)]) -> [String; 2] {
    [Chain::Input, Chain::Output].map(|entry| {
        let mut out = String::new();
        for (chain, line) in lines.iter().filter(|(c, _)| *c == entry) {
            push_line(&mut out, chain, line);
        }
        out
    })
}

fn push_addr(out: &mut String, side: Side, net: &IpNet) {
    let flag = match side {
        Side::Src => "-s",
        Side::Dst => "-d",
    };
    let _ = write!(out, " {flag} {net}");
}

fn port_item((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}:{hi}")
    }
}

fn push_match(out: &mut String, m: &Match) {
    match m {
        Match::InLoopback => out.push_str(" -i lo"),
        Match::OutLoopback => out.push_str(" -o lo"),
        Match::Replies => out.push_str(" -m conntrack --ctstate ESTABLISHED,RELATED"),
        Match::Proto(p) => {
            let _ = write!(out, " -p {}", p.as_str());
        }
        Match::Addr(side, net) => push_addr(out, *side, net),
        Match::Set(side, name) => {
            let dir = match side {
                Side::Src => "src",
                Side::Dst => "dst",
            };
            let _ = write!(out, " -m set --match-set {name} {dir}");
        }
        Match::Port(lo, hi) => {
            let _ = write!(out, " --dport {}", port_item((*lo, *hi)));
        }
        Match::Ports(items) => {
            let list: Vec<String> = items.iter().map(|&r| port_item(r)).collect();
            let _ = write!(out, " -m multiport --dports {}", list.join(","));
        }
        Match::Icmpv6Type(t) => {
            let _ = write!(out, " -m icmp6 --icmpv6-type {t}");
        }
        Match::HopLimit(h) => {
            let _ = write!(out, " -m hl --hl-eq {h}");
        }
        // A time match with no option would match always: print nothing.
        Match::Time(TimeMatch {
            window: None,
            weekdays: None,
            datestop: None,
        }) => {}
        Match::Time(t) => {
            out.push_str(" -m time");
            if let Some((start, stop)) = &t.window {
                let _ = write!(out, " --timestart {start} --timestop {stop}");
            }
            if let Some(days) = &t.weekdays {
                let _ = write!(out, " --weekdays {days}");
            }
            if let Some(stop) = &t.datestop {
                let _ = write!(out, " --datestop {stop}");
            }
        }
    }
}

fn push_notes(out: &mut String, notes: &[SafeText]) {
    for n in notes {
        let _ = writeln!(out, "# {}", n.as_str());
    }
}

fn push_line(out: &mut String, chain: &Chain, line: &Line) {
    push_notes(out, &line.notes);
    push_rule(out, chain, "", &line.matches, &line.comment, &line.target);
}

/// Matches as the printer writes them, to be printed again in many lines
/// (built only by [`PrintedMatches::of`], so they hold nothing else).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintedMatches(String);

impl PrintedMatches {
    pub fn of(matches: &[Match]) -> PrintedMatches {
        let mut out = String::new();
        for m in matches {
            push_match(&mut out, m);
        }
        PrintedMatches(out)
    }
}

/// One `-A` line of `chain` with the printed matches `head` (empty or a
/// [`PrintedMatches`]), then the matches `tail`, without notes.
fn push_rule(
    out: &mut String,
    chain: &Chain,
    head: &str,
    tail: &[Match],
    comment: &SafeText,
    target: &Target,
) {
    out.push_str("-A ");
    out.push_str(chain.as_str());
    out.push_str(head);
    for m in tail {
        push_match(out, m);
    }
    out.push_str(" -m comment --comment \"");
    out.push_str(comment.as_str());
    out.push('"');
    match target {
        Target::Accept => out.push_str(" -j ACCEPT"),
        Target::Drop => out.push_str(" -j DROP"),
        Target::Jump(c) => {
            out.push_str(" -j ");
            out.push_str(c.as_str());
        }
    }
    out.push('\n');
}

impl UserChain {
    /// A chain's section of a rules file, printed as its lines are added: a
    /// blank line, its notes, then each line.
    pub fn new(name: Chain, notes: &[SafeText], lines: usize) -> UserChain {
        let mut text = String::with_capacity(64 + 200 * lines);
        text.push('\n');
        push_notes(&mut text, notes);
        UserChain {
            name,
            text,
            lines: 0,
        }
    }

    /// Appends the line matching `head` then `tail` (see [`push_rule`]).
    pub fn line(
        &mut self,
        head: &PrintedMatches,
        tail: &[Match],
        comment: &SafeText,
        target: &Target,
    ) {
        push_rule(&mut self.text, &self.name, &head.0, tail, comment, target);
        self.lines += 1;
    }

    /// The chain as printed, and its number of lines.
    pub fn finish(self) -> (PrintedChain, usize) {
        let printed = PrintedChain {
            name: self.name,
            text: self.text.into(),
        };
        (printed, self.lines)
    }
}

/// The comment of the jumps from INPUT and OUTPUT (`seg-apply.sh` looks for them).
pub const HOOK_COMMENT: &str = "seg: policy of this host";

impl RulesFile {
    /// The two entry chains as printed: each line, then the final DROP.
    pub fn entry_chains(&self) -> [(Chain, String); 2] {
        let mut base = self.base.iter();
        [Chain::Input, Chain::Output].map(|entry| {
            let first = base.next().map_or("", |b| &**b);
            let mut out = String::with_capacity(first.len() + 256);
            out.push_str(first);
            for (chain, line) in self.entry.iter().filter(|(c, _)| *c == entry) {
                push_line(&mut out, chain, line);
            }
            push_line(
                &mut out,
                &entry,
                &Line {
                    notes: Vec::new(),
                    matches: Vec::new(),
                    comment: SafeText::new("seg: nothing else"),
                    target: Target::Drop,
                },
            );
            (entry, out)
        })
    }

    /// The file, with its entry chains as [`RulesFile::entry_chains`] printed
    /// them (the caller digests them too, so they are printed once).
    pub fn print_with(&self, entry_chains: &[(Chain, String); 2]) -> String {
        let size: usize = self.chains.iter().map(|c| c.text.len() + 40).sum();
        let mut out = String::with_capacity(2048 + size);
        push_notes(&mut out, &self.header);
        out.push_str("*filter\n");
        let _ = writeln!(out, ":{SEG_INPUT} - [0:0]\n:{SEG_OUTPUT} - [0:0]");
        for c in &self.chains {
            let _ = writeln!(out, ":{} - [0:0]", c.name.as_str());
        }
        let _ = writeln!(
            out,
            "-I INPUT 1 -m comment --comment \"{HOOK_COMMENT}\" -j {SEG_INPUT}"
        );
        let _ = writeln!(
            out,
            "-I OUTPUT 1 -m comment --comment \"{HOOK_COMMENT}\" -j {SEG_OUTPUT}"
        );
        for (_, text) in entry_chains {
            out.push_str(text);
        }
        for c in &self.chains {
            out.push_str(&c.text);
        }
        out.push_str("COMMIT\n");
        out
    }
}

/// One `hash:net` set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSet {
    pub name: String,
    pub family: Family,
    pub notes: Vec<SafeText>,
    pub members: Vec<IpNet>,
}

/// The sets one host's rules use, in `ipset restore` format; each set as
/// printed by [`IpSet::print`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpsetFile {
    pub header: Vec<SafeText>,
    pub sets: Vec<Arc<str>>,
}

/// ipset's default `maxelem`.
const DEFAULT_MAXELEM: usize = 65_536;

impl IpSet {
    /// A blank line, the set's notes, `create` and one `add` per member.
    pub fn print(&self) -> String {
        let mut out = String::with_capacity(128 + 48 * self.members.len());
        out.push('\n');
        push_notes(&mut out, &self.notes);
        let family = match self.family {
            Family::V4 => "inet",
            Family::V6 => "inet6",
        };
        let _ = write!(out, "create {} hash:net family {family}", self.name);
        if self.members.len() > DEFAULT_MAXELEM {
            let _ = write!(out, " maxelem {}", self.members.len().next_power_of_two());
        }
        out.push('\n');
        for m in &self.members {
            let _ = writeln!(out, "add {} {m}", self.name);
        }
        out
    }
}

impl IpsetFile {
    pub fn print(&self) -> String {
        let size: usize = self.sets.iter().map(|s| s.len()).sum();
        let mut out = String::with_capacity(512 + size);
        push_notes(&mut out, &self.header);
        for set in &self.sets {
            out.push_str(set);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_print_every_match_in_order() {
        let line = Line {
            notes: vec![SafeText::new("doc\nline")],
            matches: vec![
                Match::Addr(Side::Src, "10.0.0.0/8".parse().expect("net")),
                Match::Proto(Proto::Tcp),
                Match::Ports(vec![(80, 80), (8000, 8099)]),
                Match::Time(TimeMatch {
                    window: Some(("01:00:00".into(), "02:59:59".into())),
                    weekdays: Some("Mon,Tue".into()),
                    datestop: Some("2026-12-31T23:59:59".into()),
                }),
            ],
            comment: SafeText::new("p/1 \"x\" a.seg:3"),
            target: Target::Accept,
        };
        let mut out = String::new();
        push_line(&mut out, &Chain::User("in-allow-p-1234abcd".into()), &line);
        assert_eq!(
            out,
            "# doc%0Aline\n-A in-allow-p-1234abcd -s 10.0.0.0/8 -p tcp -m multiport --dports 80,8000:8099 -m time --timestart 01:00:00 --timestop 02:59:59 --weekdays Mon,Tue --datestop 2026-12-31T23:59:59 -m comment --comment \"p/1 %22x%22 a.seg:3\" -j ACCEPT\n"
        );
    }

    #[test]
    fn an_empty_time_match_prints_nothing() {
        let line = Line {
            notes: vec![],
            matches: vec![Match::Time(TimeMatch {
                window: None,
                weekdays: None,
                datestop: None,
            })],
            comment: SafeText::new("c"),
            target: Target::Drop,
        };
        let mut out = String::new();
        push_line(&mut out, &Chain::Input, &line);
        assert_eq!(out, "-A seg-input -m comment --comment \"c\" -j DROP\n");
    }

    #[test]
    fn large_sets_raise_maxelem() {
        let members: Vec<IpNet> = (0..70_000u32)
            .map(|i| {
                IpNet::new(std::net::Ipv4Addr::from(0x0a00_0000 + i * 2).into(), 32).expect("net")
            })
            .collect();
        let set = IpSet {
            name: "seg4-x".into(),
            family: Family::V4,
            notes: vec![],
            members,
        };
        assert!(
            set.print()
                .contains("create seg4-x hash:net family inet maxelem 131072\n")
        );
    }
}
