//! The pieces of the audit on their own: what `.seg` text it writes parses
//! back, replies fold by each kind of evidence, the time slicer cuts where
//! decisions change, and attribution prefers evidence.

use seg_audit::fold::{Orientation, by_ports};
use seg_audit::plan::{Listening, Plan, Slicer};
use seg_audit::segtext;
use seg_ir::{CidrSet, PortRanges, PortSet, Protocol, Timestamp};

fn parses(src: &str) {
    let mut map = seg_diag::SourceMap::new();
    let file = map.add("x.seg", src);
    if let Err(d) = seg_syntax::parse(file, src) {
        panic!("does not parse: {src}\n{}", d.message);
    }
}

#[test]
fn written_names_sets_and_services_parse_back() {
    for (name, bare) in [
        ("payments-api", true),
        ("a", true),
        ("svc:payments/api", false),
        ("a--b", false),
        ("any", false),
        ("on", false),
        ("x-", false),
        ("Caps", false),
        ("a\"b", false),
        ("ledger_db-2", true),
    ] {
        assert_eq!(segtext::is_bare(name), bare, "{name}");
        let set = segtext::set(&[name], &CidrSet::empty()).expect("a set");
        parses(&format!(
            "policy p {{\n  owner \"o\"\n  allow {set} -> [b] on tcp/1\n}}\n"
        ));
    }
    let nets: Vec<ipnet::IpNet> = vec![
        "203.0.113.7/32".parse().expect("net"),
        "fd00::1/128".parse().expect("net"),
    ];
    let set = segtext::set(&["web-1", "svc:x"], &CidrSet::from_nets(&nets)).expect("a set");
    assert_eq!(
        set,
        "[web-1, \"svc:x\"] | network 203.0.113.7/32, fd00::1/128"
    );
    parses(&format!(
        "policy p {{\n  owner \"o\"\n  allow {set} -> [b] on tcp/1\n}}\n"
    ));
    assert_eq!(segtext::set(&[], &CidrSet::all()).as_deref(), Some("any"));
    let mut s =
        PortSet::ports(Protocol::Tcp, 8000, 8099).union(&PortSet::ports(Protocol::Udp, 53, 53));
    s.icmp = true;
    let text = segtext::services(&s).expect("writable");
    parses(&format!(
        "policy p {{\n  owner \"o\"\n  allow [a] -> [b] on {text}\n}}\n"
    ));
    assert_eq!(segtext::services(&PortSet::any()).as_deref(), Some("any"));
    let mut other = PortSet::empty();
    other.other = true;
    assert_eq!(
        segtext::services(&other),
        None,
        "other protocols alone cannot be written"
    );
}

fn plan(listening: Listening) -> Plan {
    Plan {
        since: None,
        until: None,
        slicer: Slicer::default(),
        listening,
        ephemeral: (32_768, 65_535),
        max_gap: 1200,
        addresses: Default::default(),
    }
}

#[test]
fn ports_tell_the_server_from_the_client() {
    let p = plan(Listening {
        tcp: PortRanges::range(40_000, 40_000),
        ..Listening::default()
    });
    assert_eq!(by_ports(6, 51_000, 443, &p), Orientation::AsWritten);
    assert_eq!(by_ports(6, 443, 51_000, &p), Orientation::Reply);
    // Both ephemeral: the port a rule names is the server's, else undetermined.
    assert_eq!(by_ports(6, 51_000, 40_000, &p), Orientation::AsWritten);
    assert_eq!(by_ports(6, 40_000, 51_000, &p), Orientation::Reply);
    assert_eq!(by_ports(6, 50_000, 51_000, &p), Orientation::Undetermined);
    assert_eq!(
        by_ports(17, 51_000, 40_000, &p),
        Orientation::Undetermined,
        "tcp only"
    );
    // Both below the range: as written, unless the source is the named one.
    assert_eq!(by_ports(6, 1000, 2000, &p), Orientation::AsWritten);
}

#[test]
fn slices_change_exactly_where_a_decision_can() {
    let s = Slicer {
        absolute: vec![Timestamp::parse("2026-11-19T00:00:00Z").expect("t").0],
        day: vec![3600, 3 * 3600],
        weekdays: true,
        epochs: vec![],
    };
    let t = |x: &str| s.slice(Timestamp::parse(x).expect("t"));
    assert_eq!(t("2026-11-17T01:00:00Z"), t("2026-11-17T02:59:59Z"));
    assert_ne!(t("2026-11-17T00:59:59Z"), t("2026-11-17T01:00:00Z"));
    assert_ne!(t("2026-11-17T02:59:59Z"), t("2026-11-17T03:00:00Z"));
    assert_ne!(
        t("2026-11-17T12:00:00Z"),
        t("2026-11-18T12:00:00Z"),
        "weekday"
    );
    assert_ne!(
        t("2026-11-18T23:59:59Z"),
        t("2026-11-19T00:00:00Z"),
        "expiry"
    );
    assert_eq!(t("2026-11-24T12:00:00Z"), t("2026-11-24T20:00:00Z"));
}
