//! Running network-config-analyzer (`nca --connectivity`) and reading its
//! `txt_no_fw_rules` output: one line per (source, destination) and
//! connection set, e.g. `ns/pod => ns/pod : {protocols:TCP,dst_ports:80-89}`,
//! `a.b.c.d-e.f.g.h => ns/pod : All connections`; a pair may take several
//! lines (one per protocol group), which are united here.
//!
//! Guards against the analyzer's habits: it must not invent pods ("adding
//! complementary" kube-dns when a selector matches nothing) nor namespaces
//! ("missing from the network configuration"), it must count exactly the
//! topology's pods and namespaces, and every line must parse.

use seg_ir::PortRanges;
use std::net::IpAddr;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    /// `namespace/pod`.
    Pod(String),
    /// An inclusive address range.
    Range(IpAddr, IpAddr),
}

/// The connections the analyzer reports between two endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conn {
    /// `All connections`: every protocol, ICMP and others included.
    pub all: bool,
    pub tcp: PortRanges,
    pub udp: PortRanges,
    pub sctp: PortRanges,
}

impl Conn {
    fn union(&mut self, o: &Conn) {
        self.all |= o.all;
        self.tcp = self.tcp.union(&o.tcp);
        self.udp = self.udp.union(&o.udp);
        self.sctp = self.sctp.union(&o.sctp);
    }

    pub fn ranges(&self, protocol: seg_ir::Protocol) -> &PortRanges {
        match protocol {
            seg_ir::Protocol::Udp => &self.udp,
            seg_ir::Protocol::Sctp => &self.sctp,
            _ => &self.tcp,
        }
    }
}

#[derive(Debug)]
pub struct Output {
    /// (source, destination) → connections, lines of one pair united.
    pub pairs: Vec<(End, End, Conn)>,
    pub raw: String,
}

/// Run the analyzer; `Err` with everything it said when a guard trips.
pub fn run(
    nca: &Path,
    topology: &Path,
    policies: &Path,
    pods: usize,
    namespaces: usize,
) -> Result<Output, String> {
    let out_file = policies.parent().unwrap_or(policies).join("nca-out.txt");
    let _ = std::fs::remove_file(&out_file);
    let args = [
        "--connectivity",
        "-r",
        &topology.display().to_string(),
        "-r",
        &policies.display().to_string(),
        "-o",
        "txt_no_fw_rules",
        "--output_endpoints",
        "pods",
        "-f",
        &out_file.display().to_string(),
    ]
    .map(|s| s.to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = super::tools::run(nca, &argv);
    let said = format!("exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    if code != 0 {
        return Err(format!("nca failed: {said}"));
    }
    for habit in [
        "complementary",
        "is missing from the network configuration",
        "Error",
        "rror:",
    ] {
        if stdout.contains(habit) || stderr.contains(habit) {
            return Err(format!("nca said `{habit}`: {said}"));
        }
    }
    let census = format!("cluster has {pods} unique endpoints, {namespaces} namespaces");
    if !stdout.contains(&census) {
        return Err(format!(
            "nca did not see the topology (`{census}` expected): {said}"
        ));
    }
    let raw = std::fs::read_to_string(&out_file)
        .map_err(|e| format!("no output file {}: {e}; {said}", out_file.display()))?;
    let mut pairs: Vec<(End, End, Conn)> = Vec::new();
    for line in raw.lines().filter(|l| !l.trim().is_empty()) {
        let (src, dst, conn) =
            parse_line(line).map_err(|e| format!("cannot parse `{line}`: {e}"))?;
        match pairs.iter_mut().find(|(s, d, _)| *s == src && *d == dst) {
            Some((_, _, c)) => c.union(&conn),
            None => pairs.push((src, dst, conn)),
        }
    }
    Ok(Output { pairs, raw })
}

fn parse_line(line: &str) -> Result<(End, End, Conn), String> {
    let (ends, conn) = line.split_once(" : ").ok_or("no ` : `")?;
    let (src, dst) = ends.split_once(" => ").ok_or("no ` => `")?;
    Ok((
        parse_end(src.trim())?,
        parse_end(dst.trim())?,
        parse_conn(conn.trim())?,
    ))
}

fn parse_end(s: &str) -> Result<End, String> {
    if let Some((lo, hi)) = s.split_once('-')
        && let (Ok(lo), Ok(hi)) = (lo.parse::<IpAddr>(), hi.parse::<IpAddr>())
    {
        return Ok(End::Range(lo, hi));
    }
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(End::Range(net.network(), net.broadcast()));
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(End::Range(a, a));
    }
    match s.split_once('/') {
        Some((ns, pod)) if !ns.is_empty() && !pod.is_empty() && !pod.contains('/') => {
            Ok(End::Pod(s.to_string()))
        }
        _ => Err(format!("unknown endpoint `{s}`")),
    }
}

fn parse_conn(s: &str) -> Result<Conn, String> {
    if s == "All connections" {
        return Ok(Conn {
            all: true,
            ..Conn::default()
        });
    }
    let mut conn = Conn::default();
    let mut rest = s;
    while !rest.is_empty() {
        let open = rest.find('{').ok_or("no `{`")?;
        let close = rest.find('}').ok_or("no `}`")?;
        if !rest[..open]
            .trim_matches(|c: char| c == ',' || c.is_whitespace())
            .is_empty()
            || close < open
        {
            return Err(format!("unexpected text in `{rest}`"));
        }
        group(&rest[open + 1..close], &mut conn)?;
        rest = rest[close + 1..].trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    Ok(conn)
}

/// `protocols:TCP, UDP` with an optional `,dst_ports:1-79,81-65535`.
fn group(body: &str, conn: &mut Conn) -> Result<(), String> {
    let body = body
        .strip_prefix("protocols:")
        .ok_or_else(|| format!("unknown group `{body}`"))?;
    let (protocols, ports) = match body.split_once(",dst_ports:") {
        Some((p, ports)) => (p, Some(ports)),
        None => (body, None),
    };
    let ranges = match ports {
        None => PortRanges::all(),
        Some(list) => {
            let mut v = Vec::new();
            for item in list.split(',') {
                let (lo, hi) = item.split_once('-').unwrap_or((item, item));
                let lo: u16 = lo
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad port `{item}`"))?;
                let hi: u16 = hi
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad port `{item}`"))?;
                v.push((lo, hi));
            }
            PortRanges::from_unsorted(v)
        }
    };
    for p in protocols.split(',') {
        let target = match p.trim() {
            "TCP" => &mut conn.tcp,
            "UDP" => &mut conn.udp,
            "SCTP" => &mut conn.sctp,
            other => return Err(format!("unknown protocol `{other}`")),
        };
        *target = target.union(&ranges);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_formats_seen() {
        let (s, d, c) =
            parse_line("web/fe => payments/api : {protocols:TCP,dst_ports:8001,8003-8050,8080}")
                .unwrap();
        assert_eq!(s, End::Pod("web/fe".into()));
        assert_eq!(d, End::Pod("payments/api".into()));
        assert_eq!(c.tcp.ranges(), [(8001, 8001), (8003, 8050), (8080, 8080)]);
        let (s, _, c) =
            parse_line("0.0.0.0-9.255.255.255 => payments/api : All connections").unwrap();
        assert_eq!(
            s,
            End::Range("0.0.0.0".parse().unwrap(), "9.255.255.255".parse().unwrap())
        );
        assert!(c.all);
        let (_, d, c) = parse_line(
            "a/b => fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff : {protocols:TCP, UDP, SCTP}",
        )
        .unwrap();
        assert!(matches!(d, End::Range(IpAddr::V6(_), IpAddr::V6(_))));
        assert!(c.tcp.is_all() && c.udp.is_all() && c.sctp.is_all() && !c.all);
        assert!(parse_line("a/b => c/d : {protocols:TCP,src_ports:1}").is_err());
        assert!(parse_line("a/b => c/d : {protocols:ICMP}").is_err());
    }
}
