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

/// The bank example (policy, inventory, standard library), compiled.
fn bank() -> (
    seg_diag::SourceMap,
    seg_ir::Program,
    seg_check::inventory::Inventory,
) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bank");
    let policy = std::fs::read_to_string(format!("{root}/policy/payments.seg")).expect("policy");
    let inventory = std::fs::read_to_string(format!("{root}/inventory.yaml")).expect("inventory");
    let now = Timestamp(1_795_478_400);
    let mut map = seg_diag::SourceMap::new();
    let mut diags = seg_diag::Diagnostics::new();
    let mut units = Vec::new();
    for m in seg_stdlib::MODULES {
        let file = map.add(m.file_name, m.source);
        units.push(seg_check::Unit {
            file,
            path: m.file_name.to_string(),
            module: Some(m.path.to_string()),
            ast: seg_syntax::parse(file, m.source).expect("stdlib").into(),
        });
    }
    let file = map.add("policy/payments.seg", &policy);
    units.push(seg_check::Unit {
        file,
        path: "policy/payments.seg".to_string(),
        module: None,
        ast: seg_syntax::parse(file, &policy).expect("policy").into(),
    });
    let inv_file = map.add("inventory.yaml", &inventory);
    let inv = seg_check::inventory::load(
        &[(inv_file, &inventory)],
        &seg_ir::Now::new(now),
        &mut diags,
    )
    .expect("inventory");
    let input = seg_check::CheckInput {
        units: &units,
        inventory: &inv,
        map: &map,
        project: "bank",
        source_hash: "0",
        now: &seg_ir::Now::new(now),
        jit: None,
    };
    let program = seg_check::check(&input, &mut diags).expect("the bank example checks");
    (map, program, inv)
}

/// `--aggregated` input: the committed results (also the fuzz seeds) read,
/// hostile ones refused with file:line, and whatever is read goes through
/// the audit, the draft and every report without a panic.
#[test]
fn aggregated_results_are_read_or_refused_with_file_and_line() {
    let (map, program, inventory) = bank();
    let settings = seg_check::manifest::AuditSettings::default();
    let plan = Plan::new(&program, &inventory, &settings, None, None);
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/aggregated");
    let mut cases: Vec<(String, String)> = std::fs::read_dir(data)
        .expect("data")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("text"))
        })
        .collect();
    cases.sort();
    let header = seg_audit::sql::COLUMNS.join(",");
    let tuple = |first: &str, last: &str, records: &str| {
        format!(
            "{header}\ntuple,,payments-api,10.1.2.10,ledger-postgres,10.1.3.5,6,5432,allowed,0,{records},1,1,0,{first},{last}\n"
        )
    };
    let hostile = [
        ("backwards.csv", tuple("1795478460", "1795478400", "1")),
        ("max-time.csv", tuple("0", &i64::MAX.to_string(), "1")),
        ("min-time.csv", tuple(&i64::MIN.to_string(), "0", "1")),
        (
            "sum-overflow.csv",
            format!(
                "{}{}",
                tuple("1795478400", "1795478401", &i64::MAX.to_string()),
                tuple("1795478400", "1795478401", &i64::MAX.to_string())
                    .split_once('\n')
                    .expect("header")
                    .1
            ),
        ),
    ];
    let mut read = 0;
    for (name, text) in cases
        .iter()
        .cloned()
        .chain(hostile.map(|(n, t)| (n.to_string(), t)))
    {
        match seg_audit::aggregated::read(&name, &text, &plan, &inventory) {
            Ok(agg) => {
                read += 1;
                for (k, c) in &agg.tuples {
                    assert!(c.first_seen <= c.last_seen, "{name}: {k:?} {c:?}");
                }
                assert!(agg.window.since <= agg.window.until, "{name}");
                let report = seg_audit::audit(&program, &inventory, &map, &settings, &agg);
                let mut json = Vec::new();
                seg_audit::report::write_json(&report, &mut json).expect("json");
                serde_json::from_slice::<serde_json::Value>(&json).expect("valid JSON");
                let _ = seg_audit::report::human(&report);
                let _ = seg_audit::report::markdown(&report);
                let _ = seg_audit::draft::draft(&inventory, &agg, program.now);
            }
            Err(e) => assert!(e.starts_with(&format!("{name}:")), "{e}"),
        }
    }
    assert!(read >= 3, "the committed results are read");
    let err = |text: &str| seg_audit::aggregated::read("a.csv", text, &plan, &inventory).err();
    assert!(
        err("kind,src\ntuple,\"unclosed\n").is_some_and(|e| e.starts_with("a.csv:2:")),
        "an unclosed quote"
    );
    assert!(
        err(&tuple("1795478460", "1795478400", "1")).is_some_and(|e| e.contains("before")),
        "last_seen before first_seen"
    );
}
