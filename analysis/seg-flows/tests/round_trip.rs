//! Round trips: a varied record set rendered in every format by
//! `seg_flows::write` and read back (detected and forced) equals what the
//! format can hold (`write::as_written`).

mod common;
use common::*;
use seg_flows::*;
use seg_ir::Timestamp;
use std::sync::Arc;

/// A deterministic mix: every protocol, verdict, hint and option shape.
fn sample() -> Vec<Entry> {
    let mut out = Vec::new();
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let verdicts = [
        Verdict::Allowed,
        Verdict::Denied,
        Verdict::Audit,
        Verdict::Unknown,
    ];
    let protocols = [6u8, 17, 1, 58, 132, 47];
    for i in 0..120u64 {
        let protocol = protocols[next(6) as usize];
        let start = 1_763_900_000 + i as i64 * 60;
        let v6 = i % 7 == 3;
        let src = if v6 {
            format!("2001:db8::{:x}", i + 1)
        } else {
            format!("10.0.{}.{}", i % 4, i + 1)
        };
        let dst = if v6 {
            "2001:db8:1::9".to_string()
        } else {
            format!("10.1.0.{}", next(250) + 1)
        };
        let k8s = |ns: &str, sa: Option<&str>| {
            Some(Arc::new(K8sEndpoint {
                namespace: Some(ns.to_string()),
                pod: Some(format!("{ns}-pod-{i}")),
                service_account: sa.map(str::to_string),
                labels: vec![
                    ("app".into(), ns.into()),
                    ("reserved:host".into(), String::new()),
                ],
                identity: Some(1000 + i as u32),
                workloads: vec![format!("Deployment/{ns}")],
            }))
        };
        let ports = matches!(protocol, 6 | 17 | 132);
        out.push(Entry::Flow(Flow {
            start: Timestamp(start),
            end: Timestamp(start + next(3) as i64 * 30),
            src: ip(&src),
            dst: ip(&dst),
            // Distinct source ports keep GCP's dedupe out of the way.
            src_port: ports.then_some(30000 + i as u16),
            dst_port: if ports && i % 11 != 0 {
                Some([443u16, 53, 5432, 22][next(4) as usize])
            } else {
                None
            },
            protocol,
            verdict: verdicts[next(4) as usize],
            packets: (i % 5 != 0).then(|| next(1000)),
            bytes: (i % 5 != 0).then(|| next(1_000_000)),
            hints: Hints {
                tcp_flags: (protocol == 6 && i % 3 != 0)
                    .then(|| [2u8, 18, 3, 19, 27][next(5) as usize]),
                is_reply: [None, Some(true), Some(false)][next(3) as usize],
                observed: [None, Some(Observed::Egress), Some(Observed::Ingress)][next(3) as usize],
                state: [
                    None,
                    Some(FlowState::Begin),
                    Some(FlowState::Continuing),
                    Some(FlowState::End),
                ][next(4) as usize],
            },
            src_k8s: if i % 4 == 0 {
                k8s("shop", Some("checkout"))
            } else {
                None
            },
            dst_k8s: if i % 4 == 0 { k8s("db", None) } else { None },
            interface: (i % 6 != 5).then(|| Arc::from(format!("eni-{:04x}", i / 10).as_str())),
            rule: (i % 3 == 0).then(|| {
                Arc::from(if i % 2 == 0 {
                    "ns/allow-web"
                } else {
                    "allow-db"
                })
            }),
            origin: Origin::default(),
        }));
        if i % 25 == 7 {
            out.push(Entry::Gap(CoverageGap {
                start: Timestamp(start),
                end: Timestamp(start + 60),
                kind: if i % 2 == 0 {
                    GapKind::NoData
                } else {
                    GapKind::SkipData
                },
                interface: Some(Arc::from("eni-gap")),
                origin: Origin::default(),
            }));
        }
    }
    out
}

fn strip(entries: Vec<Entry>) -> Vec<Entry> {
    entries
        .into_iter()
        .map(|mut e| {
            match &mut e {
                Entry::Flow(f) => f.origin = Origin::default(),
                Entry::Gap(g) => g.origin = Origin::default(),
                Entry::Malformed(_) => {}
            }
            e
        })
        .collect()
}

fn round_trip(format: FormatChoice) {
    let entries = sample();
    let bytes = write::render(format, &entries);
    let expected: Vec<Entry> = entries
        .iter()
        .filter_map(|e| write::as_written(format, e))
        .collect();
    assert!(expected.len() > 60, "{format}: too little survives to test");
    for choice in [FormatChoice::Auto, format] {
        let got = read_with(bytes.clone(), choice, &ReaderOptions::default())
            .unwrap_or_else(|e| panic!("{format} read as {choice}: {e}"));
        let got = strip(got);
        assert_eq!(got.len(), expected.len(), "{format} read as {choice}");
        for (g, x) in got.iter().zip(&expected) {
            assert_eq!(g, x, "{format} read as {choice}");
        }
    }
}

#[test]
fn seg_json_lines() {
    round_trip(FormatChoice::Seg);
}

#[test]
fn aws_text() {
    round_trip(FormatChoice::Aws);
}

#[test]
fn aws_parquet() {
    round_trip(FormatChoice::AwsParquet);
}

#[test]
fn gcp() {
    round_trip(FormatChoice::Gcp);
}

#[test]
fn hubble() {
    round_trip(FormatChoice::Hubble);
}

#[test]
fn azure() {
    round_trip(FormatChoice::Azure);
}

#[test]
fn gzip_is_detected_by_content() {
    use std::io::Write;
    let entries = sample();
    let text = write::render(FormatChoice::Aws, &entries);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gz = gz.finish().unwrap();
    let plain = strip(read(text));
    assert_eq!(strip(read(gz.clone())), plain);
    // Two members, as `cat a.gz b.gz` makes.
    let mut twice = gz.clone();
    twice.extend_from_slice(&gz);
    assert_eq!(strip(read(twice)).len(), plain.len() * 2);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn files_on_disk_in_every_format() {
    let dir = std::env::temp_dir().join(format!("seg-flows-disk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let entries = sample();
    let formats = [
        FormatChoice::Seg,
        FormatChoice::Aws,
        FormatChoice::AwsParquet,
        FormatChoice::Gcp,
        FormatChoice::Hubble,
        FormatChoice::Azure,
    ];
    let mut expected = std::collections::BTreeMap::new();
    for (i, format) in formats.into_iter().enumerate() {
        let bytes = write::render(format, &entries);
        let kept: Vec<Entry> = entries
            .iter()
            .filter_map(|e| write::as_written(format, e))
            .collect();
        // Plain (Parquet read in place) and gzip (Parquet spooled to a temporary file).
        for (suffix, content) in [("plain", bytes.clone()), ("gz", gzip(&bytes))] {
            let name = dir.join(format!("{i}-{format}.{suffix}"));
            std::fs::write(&name, content).unwrap();
            expected.insert(name.to_string_lossy().into_owned(), kept.clone());
        }
    }
    let (got, stream) = read_dir(&dir);
    let files: Vec<String> = stream.files().iter().map(|f| f.to_string()).collect();
    assert_eq!(files.len(), 12);
    for (index, file) in files.iter().enumerate() {
        let of_file: Vec<Entry> = got
            .iter()
            .filter(|e| match e {
                Entry::Flow(f) => f.origin.file as usize == index,
                Entry::Gap(g) => g.origin.file as usize == index,
                Entry::Malformed(_) => true,
            })
            .cloned()
            .collect();
        assert_eq!(strip(of_file), expected[file], "{file}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gcp_twins_in_two_files_count_once() {
    let dir = std::env::temp_dir().join(format!("seg-flows-gcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flow = |observed, start| {
        Entry::Flow(Flow {
            start: Timestamp(start),
            end: Timestamp(start + 5),
            src: ip("10.0.0.1"),
            dst: ip("10.0.0.2"),
            src_port: Some(40000),
            dst_port: Some(443),
            protocol: 6,
            verdict: Verdict::Unknown,
            packets: Some(1),
            bytes: Some(60),
            hints: Hints {
                observed: Some(observed),
                ..Hints::default()
            },
            src_k8s: None,
            dst_k8s: None,
            interface: Some(Arc::from("vm")),
            rule: None,
            origin: Origin::default(),
        })
    };
    let src = [flow(Observed::Egress, 100), flow(Observed::Egress, 1000)];
    let dst = [flow(Observed::Ingress, 101)];
    std::fs::write(dir.join("a.json"), write::render(FormatChoice::Gcp, &src)).unwrap();
    std::fs::write(dir.join("b.json"), write::render(FormatChoice::Gcp, &dst)).unwrap();
    let (got, stream) = read_dir(&dir);
    assert_eq!(flows(&got).len(), 2);
    assert_eq!(stream.stats().duplicates, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `-` reads standard input (gzip included): this test runs itself again as a
/// child process with the records piped in.
#[test]
fn standard_input() {
    if std::env::var_os("SEG_FLOWS_STDIN_CHILD").is_some() {
        let mut stream = seg_flows::open(
            &["-".to_string()],
            FormatChoice::Auto,
            &ReaderOptions::default(),
        )
        .unwrap();
        let got: Vec<Entry> = stream.by_ref().collect::<Result<_, _>>().unwrap();
        println!("flows={} files={:?}", flows(&got).len(), stream.files());
        return;
    }
    use std::io::Write;
    use std::process::{Command, Stdio};
    let entries = sample();
    let want = entries
        .iter()
        .filter_map(|e| write::as_written(FormatChoice::Aws, e))
        .filter(|e| matches!(e, Entry::Flow(_)))
        .count();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "standard_input",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SEG_FLOWS_STDIN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = gzip(&write::render(FormatChoice::Aws, &entries));
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("flows={want} files=[\"-\"]")),
        "{stdout}"
    );
}
