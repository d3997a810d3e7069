//! AWS VPC Flow Logs text records, on the public samples (awsdocs
//! flow-logs-records-examples.md) and the edges of the format.

mod common;
use common::*;
use seg_diag::Code;
use seg_flows::*;
use seg_ir::Timestamp;

const V2: &str = include_str!("data/aws-v2.log");

#[test]
fn default_v2_records_and_gaps() {
    let entries = read(V2);
    assert_eq!(entries.len(), 4);
    let Entry::Flow(f) = &entries[0] else {
        panic!("{:?}", entries[0])
    };
    assert_eq!((f.src, f.dst), (ip("172.31.16.139"), ip("172.31.16.21")));
    assert_eq!(
        (f.src_port, f.dst_port, f.protocol),
        (Some(20641), Some(22), 6)
    );
    assert_eq!((f.packets, f.bytes), (Some(20), Some(4249)));
    assert_eq!(
        (f.start, f.end),
        (Timestamp(1418530010), Timestamp(1418530070))
    );
    assert_eq!(f.verdict, Verdict::Allowed);
    assert_eq!(f.interface.as_deref(), Some("eni-1235b8ca123456789"));
    assert_eq!(f.origin.line, 1);
    let Entry::Flow(f) = &entries[1] else {
        panic!()
    };
    assert_eq!(f.verdict, Verdict::Denied);
    let Entry::Gap(g) = &entries[2] else { panic!() };
    assert_eq!(g.kind, GapKind::NoData);
    assert_eq!(
        (g.start, g.end),
        (Timestamp(1431280876), Timestamp(1431280934))
    );
    let Entry::Gap(g) = &entries[3] else { panic!() };
    assert_eq!(g.kind, GapKind::SkipData);
    assert_eq!(g.interface.as_deref(), Some("eni-11111111aaaaaaaaa"));
}

const V5: &str = include_str!("data/aws-v5.log");

fn v5() -> (&'static str, &'static str) {
    let (header, record) = V5.trim_end().split_once('\n').unwrap();
    (header, record)
}

#[test]
fn custom_v5_by_header() {
    let entries = read(V5);
    let f = flows(&entries);
    assert_eq!(f.len(), 1);
    let f = f[0];
    assert_eq!((f.src, f.dst), (ip("10.0.0.71"), ip("52.95.128.179")));
    assert_eq!((f.src_port, f.dst_port), (Some(34210), Some(80)));
    assert_eq!(f.hints.tcp_flags, Some(3));
    assert_eq!(f.hints.observed, Some(Observed::Egress));
    assert_eq!((f.packets, f.bytes), (Some(7), Some(471)));
    assert_eq!(f.origin.line, 2);
}

#[test]
fn pkt_addresses_win_over_interface_addresses() {
    let text = "version interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport dstport protocol start end action log-status\n\
                3 eni-1 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5 443 55000 6 100 160 ACCEPT OK\n\
                3 eni-1 10.0.1.5 10.0.0.220 - - 443 55000 6 100 160 ACCEPT OK\n";
    let entries = read(text);
    let f = flows(&entries);
    assert_eq!(f[0].dst, ip("203.0.113.5"));
    assert_eq!(f[1].dst, ip("10.0.0.220"));
}

#[test]
fn headerless_custom_needs_fields() {
    let (header, record) = v5();
    let err = read_with(record, FormatChoice::Auto, &ReaderOptions::default()).unwrap_err();
    assert_eq!(err.code(), Code::FlowFormat);
    assert!(err.to_string().contains("--aws-fields"), "{err}");
    let options = ReaderOptions {
        aws_fields: Some(AwsFields::parse(header).unwrap()),
        ..ReaderOptions::default()
    };
    let entries = read_with(record, FormatChoice::Aws, &options).unwrap();
    assert_eq!(flows(&entries)[0].dst_port, Some(80));
}

#[test]
fn dashes_icmp_and_unknown_action() {
    let text = "srcaddr dstaddr srcport dstport protocol packets bytes start end action\n\
                10.0.0.1 10.0.0.2 0 0 1 - - 10 20 -\n\
                10.0.0.1 10.0.0.2 - 53 17 1 60 10 20 ACCEPT\n";
    let entries = read(text);
    let f = flows(&entries);
    assert_eq!(
        (f[0].src_port, f[0].dst_port, f[0].packets),
        (None, None, None)
    );
    assert_eq!(f[0].verdict, Verdict::Unknown);
    assert_eq!((f[1].src_port, f[1].dst_port), (None, Some(53)));
}

#[test]
fn malformed_records_are_counted_and_located() {
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "2 1 eni-1 10.0.0.1 10.0.0.2 {} 443 6 1 60 100 160 ACCEPT OK\n",
            1000 + i
        ));
    }
    text.push_str("2 1 eni-1 10.0.0.999 10.0.0.2 1 443 6 1 60 100 160 ACCEPT OK\n");
    let options = ReaderOptions::default();
    let entries = read_with(text.clone(), FormatChoice::Auto, &options).unwrap();
    let bad = malformed(&entries);
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].file.as_ref(), bad[0].line), ("input", 201));
    assert!(
        bad[0]
            .message
            .contains("invalid source address `10.0.0.999`"),
        "{}",
        bad[0].message
    );

    // Past the threshold (1 of 201 > 0.1 %), the run fails and says why.
    let strict = ReaderOptions {
        max_malformed_share: 0.001,
        ..ReaderOptions::default()
    };
    let err = read_with(text, FormatChoice::Auto, &strict).unwrap_err();
    assert_eq!(err.code(), Code::TooManyMalformedFlows);
    let msg = err.to_string();
    assert!(
        msg.starts_with("1 of 201 flow records are malformed"),
        "{msg}"
    );
    assert!(msg.contains("input:201: invalid source address"), "{msg}");
}
