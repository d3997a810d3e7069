//! AWS VPC Flow Logs, text records (S3 files, CloudWatch exports).
//!
//! Fields are taken by name from the file's header line (S3 files start
//! with one: `version account-id interface-id srcaddr …`); a header met
//! again later (files concatenated) switches to its field list. Without a
//! header, a record of the 14 version-2 default fields (first field `2`)
//! is read as the default format, and any other record needs the field list
//! given as [`ReaderOptions::aws_fields`](crate::ReaderOptions) (`--aws-fields`).
//!
//! Mapping:
//! - `pkt-srcaddr`/`pkt-dstaddr` replace `srcaddr`/`dstaddr` when present
//!   and not `-` (the real peer behind a NAT gateway or an EKS pod's
//!   secondary address);
//! - `log-status` `NODATA`/`SKIPDATA` become [`CoverageGap`]s of the
//!   `interface-id` over `start`–`end`; without a `log-status` field, a
//!   record whose addresses are both `-` is a `SKIPDATA` gap (nothing says
//!   which, and data loss is the cautious reading);
//! - `action` ACCEPT/REJECT → allowed/denied, `-` or absent → unknown;
//! - `tcp-flags` and `flow-direction` go to [`Hints`];
//! - ports are kept for TCP, UDP, SCTP, DCCP and UDP-Lite and dropped for
//!   other protocols (AWS prints 0 for ICMP); `-` counters are `None`;
//! - a missing address, protocol, start or end makes the record malformed.
//!
//! Fields Seg has no use for (account, VPC, subnet, instance, region, AWS
//! service names, ECS fields, ...) are skipped. Field names may be written
//! with `_` for `-` (Athena and Parquet column names) and as `${name}`
//! (the flow log's `LogFormat` string).

use crate::FlowError as E;
use crate::detect::Shared;
use crate::detect::{Context, FileReader};
use crate::error::FlowError;
use crate::lines::{Line, Lines};
use crate::record::*;
use crate::text::{Interner, parse_i64, parse_ip, parse_u8, parse_u16, parse_u64, shown};
use seg_ir::Timestamp;

/// One AWS flow-log field, by its documented name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AwsField {
    Version,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
    PktSrcAddr,
    PktDstAddr,
    FlowDirection,
    /// A documented field Seg does not use.
    Other(&'static str),
}

/// Every documented field name (versions 2–8), in the documentation's order.
const NAMES: &[(&str, AwsField)] = &[
    ("version", AwsField::Version),
    ("account-id", AwsField::Other("account-id")),
    ("interface-id", AwsField::InterfaceId),
    ("srcaddr", AwsField::SrcAddr),
    ("dstaddr", AwsField::DstAddr),
    ("srcport", AwsField::SrcPort),
    ("dstport", AwsField::DstPort),
    ("protocol", AwsField::Protocol),
    ("packets", AwsField::Packets),
    ("bytes", AwsField::Bytes),
    ("start", AwsField::Start),
    ("end", AwsField::End),
    ("action", AwsField::Action),
    ("log-status", AwsField::LogStatus),
    ("vpc-id", AwsField::Other("vpc-id")),
    ("subnet-id", AwsField::Other("subnet-id")),
    ("instance-id", AwsField::Other("instance-id")),
    ("tcp-flags", AwsField::TcpFlags),
    ("type", AwsField::Other("type")),
    ("pkt-srcaddr", AwsField::PktSrcAddr),
    ("pkt-dstaddr", AwsField::PktDstAddr),
    ("region", AwsField::Other("region")),
    ("az-id", AwsField::Other("az-id")),
    ("sublocation-type", AwsField::Other("sublocation-type")),
    ("sublocation-id", AwsField::Other("sublocation-id")),
    (
        "pkt-src-aws-service",
        AwsField::Other("pkt-src-aws-service"),
    ),
    (
        "pkt-dst-aws-service",
        AwsField::Other("pkt-dst-aws-service"),
    ),
    ("flow-direction", AwsField::FlowDirection),
    ("traffic-path", AwsField::Other("traffic-path")),
    ("ecs-cluster-arn", AwsField::Other("ecs-cluster-arn")),
    ("ecs-cluster-name", AwsField::Other("ecs-cluster-name")),
    (
        "ecs-container-instance-arn",
        AwsField::Other("ecs-container-instance-arn"),
    ),
    (
        "ecs-container-instance-id",
        AwsField::Other("ecs-container-instance-id"),
    ),
    ("ecs-container-id", AwsField::Other("ecs-container-id")),
    (
        "ecs-second-container-id",
        AwsField::Other("ecs-second-container-id"),
    ),
    ("ecs-service-name", AwsField::Other("ecs-service-name")),
    (
        "ecs-task-definition-arn",
        AwsField::Other("ecs-task-definition-arn"),
    ),
    ("ecs-task-arn", AwsField::Other("ecs-task-arn")),
    ("ecs-task-id", AwsField::Other("ecs-task-id")),
    ("reject-reason", AwsField::Other("reject-reason")),
];

impl AwsField {
    /// The field of a name (`pkt-srcaddr`, `pkt_srcaddr`, `${pkt-srcaddr}`).
    pub fn from_name(name: &str) -> Option<AwsField> {
        let name = name
            .strip_prefix("${")
            .and_then(|n| n.strip_suffix('}'))
            .unwrap_or(name);
        NAMES
            .iter()
            .find(|(n, _)| {
                n.len() == name.len()
                    && n.bytes()
                        .zip(name.bytes())
                        .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
            })
            .map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

/// An ordered AWS field list: a header line or `--aws-fields`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AwsFields(pub Vec<AwsField>);

impl AwsFields {
    /// The 14 fields of the default (version 2) format.
    pub fn default_v2() -> AwsFields {
        AwsFields(
            [
                "version",
                "account-id",
                "interface-id",
                "srcaddr",
                "dstaddr",
                "srcport",
                "dstport",
                "protocol",
                "packets",
                "bytes",
                "start",
                "end",
                "action",
                "log-status",
            ]
            .iter()
            .filter_map(|n| AwsField::from_name(n))
            .collect(),
        )
    }

    /// A field list separated by spaces or commas, names as documented
    /// (`_` for `-` and `${…}` accepted). An unknown name is an error naming
    /// it; a list without `srcaddr`/`pkt-srcaddr`, `dstaddr`/`pkt-dstaddr`,
    /// `protocol`, `start` and `end` cannot describe a flow and is refused.
    pub fn parse(list: &str) -> Result<AwsFields, String> {
        let mut fields = Vec::new();
        for name in list.split([' ', ',', '\t']).filter(|n| !n.is_empty()) {
            match AwsField::from_name(name) {
                Some(f) => {
                    if fields.contains(&f) {
                        return Err(format!("the AWS field `{name}` is given twice"));
                    }
                    fields.push(f)
                }
                None => {
                    let near = NAMES
                        .iter()
                        .map(|(n, _)| *n)
                        .min_by_key(|n| edit_distance(n, name))
                        .filter(|n| edit_distance(n, name) <= 2);
                    return Err(match near {
                        Some(n) => {
                            format!("unknown AWS flow-log field `{name}` (did you mean `{n}`?)")
                        }
                        None => format!("unknown AWS flow-log field `{name}`"),
                    });
                }
            }
        }
        let fields = AwsFields(fields);
        fields.check()?;
        Ok(fields)
    }

    fn check(&self) -> Result<(), String> {
        let has = |f: AwsField| self.0.contains(&f);
        let mut missing = Vec::new();
        if !has(AwsField::SrcAddr) && !has(AwsField::PktSrcAddr) {
            missing.push("srcaddr");
        }
        if !has(AwsField::DstAddr) && !has(AwsField::PktDstAddr) {
            missing.push("dstaddr");
        }
        for f in [AwsField::Protocol, AwsField::Start, AwsField::End] {
            if !has(f) {
                missing.push(f.name());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the AWS field list lacks {} (needed to read a flow)",
                missing.join(", ")
            ))
        }
    }

    /// The list as a header line.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Positions of the fields the reader uses, in a record of `count` fields.
#[derive(Clone, Copy, Default)]
pub(crate) struct Layout {
    count: usize,
    interface: Option<usize>,
    src: Option<usize>,
    dst: Option<usize>,
    pkt_src: Option<usize>,
    pkt_dst: Option<usize>,
    src_port: Option<usize>,
    dst_port: Option<usize>,
    protocol: Option<usize>,
    packets: Option<usize>,
    bytes: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    action: Option<usize>,
    log_status: Option<usize>,
    tcp_flags: Option<usize>,
    direction: Option<usize>,
}

impl Layout {
    /// The layout of a field list that can describe a flow.
    pub(crate) fn of_checked(fields: &AwsFields) -> Result<Layout, String> {
        fields.check()?;
        Ok(Layout::of(fields))
    }

    fn of(fields: &AwsFields) -> Layout {
        let at = |f: AwsField| fields.0.iter().position(|g| *g == f);
        Layout {
            count: fields.0.len(),
            interface: at(AwsField::InterfaceId),
            src: at(AwsField::SrcAddr),
            dst: at(AwsField::DstAddr),
            pkt_src: at(AwsField::PktSrcAddr),
            pkt_dst: at(AwsField::PktDstAddr),
            src_port: at(AwsField::SrcPort),
            dst_port: at(AwsField::DstPort),
            protocol: at(AwsField::Protocol),
            packets: at(AwsField::Packets),
            bytes: at(AwsField::Bytes),
            start: at(AwsField::Start),
            end: at(AwsField::End),
            action: at(AwsField::Action),
            log_status: at(AwsField::LogStatus),
            tcp_flags: at(AwsField::TcpFlags),
            direction: at(AwsField::FlowDirection),
        }
    }
}

/// The most fields a record may have (all documented ones, and room).
const MAX_FIELDS: usize = 64;

pub(crate) struct AwsText {
    lines: Lines,
    ctx: Context,
    layout: Option<Layout>,
    /// Where a header-less file's layout came from, for messages.
    interner: Interner,
}

impl AwsText {
    pub(crate) fn new(lines: Lines, ctx: Context) -> AwsText {
        AwsText {
            lines,
            ctx,
            layout: None,
            interner: Interner::default(),
        }
    }
}

/// Split on spaces (tabs and runs of spaces tolerated); the number of
/// fields, or `None` beyond [`MAX_FIELDS`]. This runs on every record, so
/// separators are found eight bytes at a time ([`Separators`]).
fn split<'a>(line: &'a [u8], out: &mut [&'a [u8]; MAX_FIELDS]) -> Option<usize> {
    let mut n = 0;
    let mut start = 0;
    for end in Separators::new(line).chain(std::iter::once(line.len())) {
        if end > start {
            if n == MAX_FIELDS {
                return None;
            }
            out[n] = &line[start..end];
            n += 1;
        }
        start = end + 1;
    }
    Some(n)
}

/// The positions of the spaces and tabs of a line, ascending: each 8-byte
/// word is tested for both bytes at once (SWAR), then its matches are
/// taken off the mask one by one.
struct Separators<'a> {
    line: &'a [u8],
    /// Where the word of `mask` starts.
    base: usize,
    /// Where the next word starts.
    next: usize,
    /// The high bit of each matching byte of the current word.
    mask: u64,
}

impl<'a> Separators<'a> {
    fn new(line: &'a [u8]) -> Separators<'a> {
        Separators {
            line,
            base: 0,
            next: 0,
            mask: 0,
        }
    }
}

/// The high bit of each byte of `w` equal to `byte`, exactly (no false
/// positives: the low seven bits are added without a carry out of a byte).
fn matches(w: u64, byte: u8) -> u64 {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((x & LOW) + LOW) | x | LOW)
}

impl Iterator for Separators<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            if self.next >= self.line.len() {
                return None;
            }
            let rest = &self.line[self.next..];
            let w = match rest.first_chunk::<8>() {
                Some(chunk) => u64::from_le_bytes(*chunk),
                None => {
                    // The tail, padded with a byte that is no separator.
                    let mut chunk = [b'x'; 8];
                    chunk[..rest.len()].copy_from_slice(rest);
                    u64::from_le_bytes(chunk)
                }
            };
            self.mask = matches(w, b' ') | matches(w, b'\t');
            self.base = self.next;
            self.next += 8;
        }
        let at = self.base + self.mask.trailing_zeros() as usize / 8;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Whether a line is a header: its first field is a field name.
fn is_header(first: &[u8]) -> bool {
    // Records start with a number, an address or an id; names with a letter or `${`.
    matches!(first.first(), Some(b'a'..=b'z' | b'$'))
        && std::str::from_utf8(first).is_ok_and(|s| AwsField::from_name(s).is_some())
}

impl FileReader for AwsText {
    fn next_entry(&mut self, _: &mut Shared) -> Result<Option<Entry>, FlowError> {
        loop {
            let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
            let file = &self.ctx.file;
            let bad = |line: u64, message: String| Ok(Some(self.ctx.malformed(line, message)));
            let (number, line) = match self.lines.next_line() {
                Err(e) => return Err(E::read(file, self.ctx.gzip, &e)),
                Ok(None) => return Ok(None),
                Ok(Some((number, Line::TooLong(n)))) => {
                    let max = self.ctx.options.max_record_bytes;
                    return bad(number, format!("line of {n} bytes, longer than {max}"));
                }
                Ok(Some((number, Line::Text(t)))) => (number, t),
            };
            let Some(n) = split(line, &mut fields) else {
                return bad(number, format!("more than {MAX_FIELDS} fields"));
            };
            if n == 0 {
                continue;
            }
            if is_header(fields[0]) {
                let names: Vec<&str> = fields[..n]
                    .iter()
                    .map(|f| std::str::from_utf8(f).unwrap_or("\u{fffd}"))
                    .collect();
                let list = AwsFields::parse(&names.join(" "))
                    .map_err(|m| E::format(file, number, format!("invalid header line: {m}")))?;
                self.layout = Some(Layout::of(&list));
                continue;
            }
            let layout = match self.layout {
                Some(l) => l,
                None => {
                    let l = first_layout(&self.ctx, number, &fields[..n])?;
                    self.layout = Some(l);
                    l
                }
            };
            if n != layout.count {
                let m = format!("{n} fields where the header names {}", layout.count);
                return bad(number, m);
            }
            let origin = Origin {
                file: self.ctx.index,
                line: number,
            };
            return match record(&fields[..n], &layout, origin, &mut self.interner) {
                Ok(e) => Ok(Some(e)),
                Err(m) => bad(number, m),
            };
        }
    }
}

/// The layout of a file whose first record comes before any header.
fn first_layout(ctx: &Context, line: u64, first: &[&[u8]]) -> Result<Layout, FlowError> {
    if let Some(given) = &ctx.options.aws_fields {
        return Ok(Layout::of(given));
    }
    if first.len() == 14 && first[0] == b"2" {
        return Ok(Layout::of(&AwsFields::default_v2()));
    }
    let what = if first.iter().all(|f| f.iter().all(|c| c.is_ascii_graphic())) {
        format!(
            "no field header, and this record ({} fields, version `{}`) is not the default version-2 format",
            first.len(),
            shown(first[0])
        )
    } else {
        "this is not a flow-log text record (it holds non-printable bytes)".to_string()
    };
    Err(E::format(
        &ctx.file,
        line,
        format!(
            "{what}; give the field list with --aws-fields \"…\", or the format with --flow-format"
        ),
    ))
}

fn get<'a>(fields: &[&'a [u8]], at: Option<usize>) -> Option<&'a [u8]> {
    at.map(|i| fields[i]).filter(|f| *f != b"-")
}

fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
}

/// One record by its layout.
pub(crate) fn record(
    fields: &[&[u8]],
    l: &Layout,
    origin: Origin,
    interner: &mut Interner,
) -> Result<Entry, String> {
    let time = |at: Option<usize>, name: &str| -> Result<Timestamp, String> {
        let b = get(fields, at).ok_or_else(|| format!("no `{name}` time"))?;
        parse_i64(b)
            .map(Timestamp)
            .ok_or_else(|| format!("`{name}` is not a number of seconds: `{}`", shown(b)))
    };
    let start = time(l.start, "start")?;
    let end = time(l.end, "end")?;
    if end < start {
        return Err("`end` is before `start`".to_string());
    }
    let interface = get(fields, l.interface).map(|b| interner.get(b));
    let status = get(fields, l.log_status);
    let gap = match status {
        Some(b"OK") => None,
        Some(b"NODATA") => Some(GapKind::NoData),
        Some(b"SKIPDATA") => Some(GapKind::SkipData),
        Some(other) => return Err(format!("unknown log-status `{}`", shown(other))),
        None if get(fields, l.src).is_none()
            && get(fields, l.dst).is_none()
            && get(fields, l.pkt_src).is_none()
            && get(fields, l.pkt_dst).is_none() =>
        {
            Some(GapKind::SkipData)
        }
        None => None,
    };
    if let Some(kind) = gap {
        return Ok(Entry::Gap(CoverageGap {
            start,
            end,
            kind,
            interface,
            origin,
        }));
    }
    let addr = |pkt: Option<usize>, plain: Option<usize>, name: &str| {
        let b = get(fields, pkt)
            .or_else(|| get(fields, plain))
            .ok_or_else(|| format!("no {name} address"))?;
        parse_ip(b).ok_or_else(|| format!("invalid {name} address `{}`", shown(b)))
    };
    let src = addr(l.pkt_src, l.src, "source")?;
    let dst = addr(l.pkt_dst, l.dst, "destination")?;
    let protocol = match get(fields, l.protocol) {
        None => return Err("no protocol".to_string()),
        Some(b) => parse_u8(b).ok_or_else(|| format!("invalid protocol `{}`", shown(b)))?,
    };
    let port = |at: Option<usize>, name: &str| -> Result<Option<u16>, String> {
        match get(fields, at) {
            None => Ok(None),
            Some(b) => parse_u16(b)
                .map(Some)
                .ok_or_else(|| format!("invalid {name} `{}`", shown(b))),
        }
    };
    let (src_port, dst_port) = if has_ports(protocol) {
        (port(l.src_port, "srcport")?, port(l.dst_port, "dstport")?)
    } else {
        (None, None)
    };
    let count = |at: Option<usize>, name: &str| -> Result<Option<u64>, String> {
        match get(fields, at) {
            None => Ok(None),
            Some(b) => parse_u64(b)
                .map(Some)
                .ok_or_else(|| format!("invalid {name} `{}`", shown(b))),
        }
    };
    let verdict = match get(fields, l.action) {
        Some(b"ACCEPT") => Verdict::Allowed,
        Some(b"REJECT") => Verdict::Denied,
        None => Verdict::Unknown,
        Some(other) => return Err(format!("unknown action `{}`", shown(other))),
    };
    let tcp_flags = match get(fields, l.tcp_flags) {
        None => None,
        Some(b) => Some(parse_u8(b).ok_or_else(|| format!("invalid tcp-flags `{}`", shown(b)))?),
    };
    let observed = match get(fields, l.direction) {
        None => None,
        Some(b"ingress") => Some(Observed::Ingress),
        Some(b"egress") => Some(Observed::Egress),
        Some(other) => return Err(format!("unknown flow-direction `{}`", shown(other))),
    };
    Ok(Entry::Flow(Flow {
        start,
        end,
        src,
        dst,
        src_port,
        dst_port,
        protocol,
        verdict,
        packets: count(l.packets, "packets")?,
        bytes: count(l.bytes, "bytes")?,
        hints: Hints {
            tcp_flags,
            observed,
            ..Hints::default()
        },
        src_k8s: None,
        dst_k8s: None,
        interface,
        rule: None,
        origin,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_as_a_byte_loop_would() {
        let naive = |line: &[u8]| -> Vec<Vec<u8>> {
            line.split(|c| *c == b' ' || *c == b'\t')
                .filter(|f| !f.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        };
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b" ".to_vec(),
            b"a".to_vec(),
            b"2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.9 49152 443 6 10 840 1700000000 1700000060 ACCEPT OK".to_vec(),
            b"  lead\tand\t\ttrail  ".to_vec(),
            "\u{a0}x \u{2009}y\u{20}z".as_bytes().to_vec(),
        ];
        // Every byte value at every position of a 0-17 byte line.
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..18 {
            for _ in 0..200 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        [b' ', b'\t', b'a', 0x20 ^ 0x80, 0x09 ^ 0x80, 0, 0xff][rng as usize % 7]
                    })
                    .collect();
                cases.push(line);
            }
        }
        for line in cases {
            let mut out: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
            let n = split(&line, &mut out).expect("few fields");
            let got: Vec<Vec<u8>> = out[..n].iter().map(|f| f.to_vec()).collect();
            assert_eq!(got, naive(&line), "{line:?}");
        }
        let many = b"a ".repeat(MAX_FIELDS + 1);
        assert_eq!(split(&many, &mut [&[]; MAX_FIELDS]), None);
    }

    #[test]
    fn field_lists() {
        let f = AwsFields::parse("${version} ${srcaddr} dstaddr pkt_srcaddr protocol start end")
            .unwrap();
        assert_eq!(f.0[0], AwsField::Version);
        assert_eq!(f.0[3], AwsField::PktSrcAddr);
        assert_eq!(
            AwsFields::parse("srcaddr dstaddr protocl start end").unwrap_err(),
            "unknown AWS flow-log field `protocl` (did you mean `protocol`?)"
        );
        assert!(
            AwsFields::parse("srcaddr dstaddr")
                .unwrap_err()
                .contains("lacks protocol, start, end")
        );
        assert!(
            AwsFields::parse("srcaddr srcaddr")
                .unwrap_err()
                .contains("twice")
        );
        assert_eq!(AwsFields::default_v2().0.len(), 14);
        assert_eq!(AwsFields::default_v2().header().split(' ').count(), 14);
    }
}
