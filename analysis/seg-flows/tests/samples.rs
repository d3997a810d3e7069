//! Every reader on the public sample records quoted in the flow-log notes
//! (GCP: elastic/beats' test file; Hubble: a captured flow quoted in a
//! public test; Azure: the VNet and NSG flow-log overviews). Elided parts
//! (`…`) are filled with values of the documented shape.

mod common;
use common::*;
use seg_flows::*;
use seg_ir::Timestamp;

#[test]
fn gcp_vpc_flow_sample() {
    let line = include_str!("data/gcp-vpc.json");
    let entries = read(line);
    let f = flows(&entries);
    assert_eq!(f.len(), 1);
    let f = f[0];
    assert_eq!((f.src, f.dst), (ip("10.87.40.76"), ip("198.51.100.248")));
    assert_eq!(
        (f.src_port, f.dst_port, f.protocol),
        (Some(33880), Some(9200), 6)
    );
    assert_eq!((f.packets, f.bytes), (Some(30), Some(15169)));
    assert_eq!(f.start, Timestamp::parse("2019-06-14T03:40:08Z").unwrap());
    assert_eq!(f.end, Timestamp::parse("2019-06-14T03:49:51Z").unwrap());
    assert_eq!(f.verdict, Verdict::Unknown);
    assert_eq!(f.hints.observed, Some(Observed::Egress));
    assert_eq!(f.interface.as_deref(), Some("kibana"));
}

#[test]
fn gcp_reports_from_both_ends_count_once() {
    let report = |reporter: &str, start: &str, end: &str| {
        format!(
            r#"{{"jsonPayload":{{"connection":{{"src_ip":"10.0.0.1","src_port":40000,"dest_ip":"10.0.0.2","dest_port":443,"protocol":6}},"reporter":"{reporter}","start_time":"{start}","end_time":"{end}","bytes_sent":"10","packets_sent":"1"}}}}"#
        )
    };
    let text = [
        report("SRC", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"),
        report("DEST", "2026-01-01T00:00:01Z", "2026-01-01T00:00:06Z"),
        // The next window of the same connection, reported by both ends.
        report("DEST", "2026-01-01T00:10:01Z", "2026-01-01T00:10:06Z"),
        report("SRC", "2026-01-01T00:10:00Z", "2026-01-01T00:10:05Z"),
        // Only one end logged this window.
        report("SRC", "2026-01-01T01:00:00Z", "2026-01-01T01:00:05Z"),
    ]
    .join("\n");
    let mut flows_read = seg_flows::from_reader(
        "gcp.json",
        std::io::Cursor::new(text.clone()),
        FormatChoice::Auto,
        &ReaderOptions::default(),
    );
    let entries: Vec<Entry> = flows_read.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(flows(&entries).len(), 3);
    let stats = flows_read.stats();
    assert_eq!((stats.records, stats.flows, stats.duplicates), (5, 3, 2));
    let off = ReaderOptions {
        gcp_dedupe: false,
        ..ReaderOptions::default()
    };
    assert_eq!(
        flows(&read_with(text, FormatChoice::Gcp, &off).unwrap()).len(),
        5
    );
}

#[test]
fn gcp_firewall_log_and_gcloud_array() {
    let text = include_str!("data/gcp-firewall.json");
    let entries = read(text);
    let f = flows(&entries)[0];
    assert_eq!(f.verdict, Verdict::Denied);
    assert_eq!(
        f.rule.as_deref(),
        Some("network:example-net/firewall:rule-a")
    );
    assert_eq!(f.hints.observed, Some(Observed::Egress));
    assert_eq!(f.interface.as_deref(), Some("vm1"));
    assert_eq!(
        (f.start, f.end),
        (Timestamp::parse("2026-03-01T12:00:00Z").unwrap(), f.start)
    );
    assert_eq!(f.origin.line, 2);
}

const HUBBLE_DROP: &str = include_str!("data/hubble-bare.json");

#[test]
fn hubble_jsonpb_and_bare() {
    let jsonpb = format!(
        r#"{{"flow":{HUBBLE_DROP},"node_name":"kind-worker","time":"2024-05-02T08:21:40.123456789Z"}}"#
    );
    for text in [jsonpb.as_str(), HUBBLE_DROP] {
        let entries = read(text);
        let f = flows(&entries);
        assert_eq!(f.len(), 1, "{text}");
        let f = f[0];
        assert_eq!((f.src, f.dst), (ip("10.0.1.235"), ip("10.0.0.21")));
        assert_eq!(
            (f.src_port, f.dst_port, f.protocol),
            (Some(60524), Some(80), 6)
        );
        assert_eq!(f.verdict, Verdict::Denied);
        assert_eq!(f.hints.tcp_flags, Some(2));
        assert_eq!(f.hints.observed, Some(Observed::Egress));
        assert_eq!(f.rule.as_deref(), Some("net-lab/deny-tg-to-echo"));
        assert_eq!(f.interface.as_deref(), Some("kind-worker"));
        assert_eq!(f.start, Timestamp::parse("2024-05-02T08:21:40Z").unwrap());
        let s = f.src_k8s.as_ref().unwrap();
        assert_eq!(s.namespace.as_deref(), Some("net-lab"));
        assert_eq!(s.service_account.as_deref(), Some("traffic-gen"));
        assert_eq!(
            s.labels[0],
            ("app".to_string(), "traffic-generator".to_string())
        );
        assert_eq!(s.identity, Some(24753));
        assert_eq!(s.workloads, ["Deployment/traffic-generator"]);
        assert_eq!(f.dst_k8s.as_ref().unwrap().labels[0].1, "echo-server");
    }
}

#[test]
fn hubble_verdicts_replies_and_other_events() {
    let flow = |verdict: &str, extra: &str| {
        format!(
            r#"{{"flow":{{"time":"2026-01-01T00:00:00Z","verdict":"{verdict}","IP":{{"source":"10.0.0.1","destination":"10.0.0.2"}},"l4":{{"UDP":{{"source_port":5353,"destination_port":53}}}}{extra}}}}}"#
        )
    };
    let text = [
        flow("FORWARDED", r#","is_reply":true"#),
        flow("AUDIT", r#","is_reply":{"value":false}"#),
        flow("DROPPED", r#","drop_reason_desc":"CT_MAP_INSERTION_FAILED""#),
        flow("ERROR", ""),
        r#"{"node_status":{"state_change":"NODE_CONNECTED","node_names":["n1"]},"time":"2026-01-01T00:00:00Z"}"#.to_string(),
        r#"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"12","cpu":null},"node_name":"n1","time":"2026-01-01T00:00:09Z"}"#.to_string(),
        r#"{"flow":{"time":"2026-01-01T00:00:00Z","verdict":"FORWARDED","ethernet":{"source":"aa:bb"}}}"#.to_string(),
    ]
    .join("\n");
    let mut stream = seg_flows::from_reader(
        "hubble.json",
        std::io::Cursor::new(text),
        FormatChoice::Hubble,
        &ReaderOptions::default(),
    );
    let entries: Vec<Entry> = stream.by_ref().collect::<Result<_, _>>().unwrap();
    let f = flows(&entries);
    assert_eq!(f.len(), 3);
    assert_eq!(
        (f[0].verdict, f[0].hints.is_reply),
        (Verdict::Allowed, Some(true))
    );
    assert_eq!(
        (f[1].verdict, f[1].hints.is_reply),
        (Verdict::Audit, Some(false))
    );
    assert_eq!(f[2].verdict, Verdict::Unknown);
    assert_eq!(f[0].protocol, 17);
    let Entry::Gap(g) = &entries[3] else {
        panic!("{entries:?}")
    };
    assert_eq!(
        (g.kind, g.interface.as_deref()),
        (GapKind::SkipData, Some("n1"))
    );
    assert_eq!(stream.stats().skipped, 3);
}

#[test]
fn azure_vnet_sample_tuples() {
    let blob = include_str!("data/azure-vnet.json");
    let entries = read(blob);
    let f = flows(&entries);
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].hints.state, Some(FlowState::Begin));
    let e = f[1];
    assert_eq!((e.src, e.dst), (ip("10.0.0.6"), ip("52.239.184.180")));
    assert_eq!(
        (e.src_port, e.dst_port, e.protocol),
        (Some(23956), Some(443), 6)
    );
    // Epoch milliseconds, as in the documentation's sample.
    assert_eq!(e.start, Timestamp(1663146003));
    assert_eq!((e.packets, e.bytes), (Some(5), Some(2347)));
    assert_eq!(e.hints.observed, Some(Observed::Egress));
    assert_eq!(e.verdict, Verdict::Allowed);
    assert_eq!(e.rule.as_deref(), Some("DefaultRule_AllowInternetOutBound"));
    assert_eq!(e.interface.as_deref(), Some("112233445566"));
    let d = f[2];
    assert_eq!(
        (d.verdict, d.hints.state),
        (Verdict::Denied, Some(FlowState::Denied))
    );
    assert_eq!((d.packets, d.bytes), (None, None));
    assert_eq!(d.hints.observed, Some(Observed::Ingress));
}

#[test]
fn azure_nsg_v2_sample_tuple() {
    let blob = include_str!("data/azure-nsg.json");
    let entries = read(blob);
    let f = flows(&entries)[0];
    assert_eq!(f.start, Timestamp(1542110379));
    assert_eq!((f.src, f.dst), (ip("10.5.16.4"), ip("203.0.113.117")));
    assert_eq!(
        (f.protocol, f.verdict, f.hints.state),
        (6, Verdict::Allowed, Some(FlowState::End))
    );
    assert_eq!((f.packets, f.bytes), (Some(2), Some(132)));
    assert_eq!(f.interface.as_deref(), Some("000D3AF87856"));
}
