//! Writes fuzz seeds for the flow-log readers: a small record set rendered
//! in every format, plain and gzip-compressed, into `DIR/flows_<target>/`.
//! Used by `fuzz/seeds.sh`; the public samples are copied from
//! `tests/data/` by the script.
//!
//! `cargo run -p seg-flows --example fuzz_seeds -- DIR`

use seg_flows::*;
use seg_ir::Timestamp;
use std::io::Write;
use std::sync::Arc;

fn entries() -> Vec<Entry> {
    let mut out = Vec::new();
    let verdicts = [
        Verdict::Allowed,
        Verdict::Denied,
        Verdict::Audit,
        Verdict::Unknown,
    ];
    for i in 0..8u16 {
        let protocol = [6u8, 17, 1, 58][usize::from(i % 4)];
        let ports = matches!(protocol, 6 | 17);
        out.push(Entry::Flow(Flow {
            start: Timestamp(1_763_900_000 + i64::from(i) * 60),
            end: Timestamp(1_763_900_030 + i64::from(i) * 60),
            src: format!("10.0.0.{}", i + 1).parse().expect("address"),
            dst: if i == 5 {
                "2001:db8::5".parse()
            } else {
                "10.1.0.9".parse()
            }
            .expect("address"),
            src_port: ports.then_some(40000 + i),
            dst_port: ports.then_some(443),
            protocol,
            verdict: verdicts[usize::from(i % 4)],
            packets: Some(u64::from(i) * 3),
            bytes: Some(u64::from(i) * 180),
            hints: Hints {
                tcp_flags: (protocol == 6).then_some(2),
                is_reply: Some(i % 2 == 1),
                observed: Some(if i % 2 == 0 {
                    Observed::Egress
                } else {
                    Observed::Ingress
                }),
                state: None,
            },
            src_k8s: (i == 0).then(|| {
                Arc::new(K8sEndpoint {
                    namespace: Some("shop".into()),
                    pod: Some("web-0".into()),
                    service_account: Some("web".into()),
                    labels: vec![("app".into(), "web".into())],
                    identity: Some(4242),
                    workloads: vec!["Deployment/web".into()],
                })
            }),
            dst_k8s: None,
            interface: Some(Arc::from("eni-0a1b2c3d")),
            rule: (i % 3 == 0).then(|| Arc::from("shop/allow-web")),
            origin: Origin::default(),
        }));
    }
    out.push(Entry::Gap(CoverageGap {
        start: Timestamp(1_763_900_600),
        end: Timestamp(1_763_900_660),
        kind: GapKind::SkipData,
        interface: Some(Arc::from("eni-0a1b2c3d")),
        origin: Origin::default(),
    }));
    out
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).expect("usage: fuzz_seeds DIR");
    let entries = entries();
    for (target, format) in [
        ("flows_aws", FormatChoice::Aws),
        ("flows_parquet", FormatChoice::AwsParquet),
        ("flows_gcp", FormatChoice::Gcp),
        ("flows_hubble", FormatChoice::Hubble),
        ("flows_azure", FormatChoice::Azure),
        ("flows_seg", FormatChoice::Seg),
    ] {
        let folder = std::path::Path::new(&dir).join(target);
        std::fs::create_dir_all(&folder)?;
        let bytes = write::render(format, &entries);
        std::fs::write(folder.join("rendered"), &bytes)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes)?;
        std::fs::write(folder.join("rendered.gz"), gz.finish()?)?;
    }
    let bare = write::hubble_lines(&entries, false);
    std::fs::write(
        std::path::Path::new(&dir).join("flows_hubble/rendered-bare"),
        bare,
    )?;
    Ok(())
}
