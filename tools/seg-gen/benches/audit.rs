//! `seg audit` end to end on generated flow logs: 10 million AWS VPC Flow
//! Logs version-2 records, gzip, over the 5k-identity estate (1k rules):
//! compile, read on two threads (inflate + parse, aggregate), attribute,
//! decide every tuple, find, and render the JSON report.
//!
//! `cargo bench -p seg-gen --bench audit` prints records per second (median
//! of the runs), the distinct tuples, and the peak resident memory of the
//! process (VmHWM; the generation before it streams to disk and stays small).
//! `SEG_BENCH_RECORDS=1000000` makes it smaller; `SEG_BENCH_RUNS=3` sets the
//! runs; `SEG_BENCH_KEEP=<dir>` writes the project and the log there and keeps them.
//!
//! The log: 150k conversations (client, server, service port) between
//! identities with addresses, picked with a skew (a few talk a lot); half
//! the records are the reply direction (server port first); 1 % rejected,
//! 0.5 % from addresses outside the inventory, NODATA records for idle
//! interfaces. Clients use ephemeral ports, so every record folds.

#[path = "../tests/stages/mod.rs"]
mod stages;

use seg_check::manifest::AuditSettings;
use seg_gen::{Spec, generate};
use std::io::Write;
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let records: u64 = std::env::var("SEG_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let runs: usize = std::env::var("SEG_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let estate = generate(&Spec {
        identities: 5_000,
        rules: 1_000,
        seed: 7,
    });
    let keep = std::env::var_os("SEG_BENCH_KEEP").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    estate.write(&dir).expect("estate written");

    let (map, program, diags) = stages::compile(&estate);
    let program = program.unwrap_or_else(|| panic!("estate compiles: {diags:?}"));
    let v4: Vec<String> = program
        .identities
        .iter()
        .filter_map(|i| i.addresses.iter().find(|n| n.addr().is_ipv4()))
        .map(|n| n.addr().to_string())
        .collect();
    eprintln!("{} identities with an IPv4 address", v4.len());

    // The log, streamed to a gzip file.
    let log = dir.join("flows.log.gz");
    let started = Instant::now();
    {
        let file =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&log).expect("log"));
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let ports = [443u16, 5432, 8443, 6379, 9092, 53, 8080, 22];
        let conversations: Vec<(usize, usize, u16)> = (0..150_000)
            .map(|_| {
                // Skew: a fifth of the identities are clients of most traffic.
                let c = if rng.below(4) == 0 {
                    rng.below(v4.len() as u64)
                } else {
                    rng.below(v4.len() as u64 / 5 + 1)
                } as usize;
                let s = rng.below(v4.len() as u64) as usize;
                (c, s, ports[rng.below(ports.len() as u64) as usize])
            })
            .collect();
        writeln!(gz, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status").expect("write");
        let t0 = 1_795_000_000u64;
        let mut line = String::with_capacity(160);
        for n in 0..records {
            line.clear();
            let at = t0 + n * 600_000 / records.max(1) * 1; // ten minutes of traffic per 1M records
            let (c, s, port) = conversations
                [(rng.below(conversations.len() as u64) as usize) % conversations.len()];
            let eph = 32_768 + rng.below(28_000) as u16;
            let proto = if port == 53 { 17 } else { 6 };
            let roll = rng.below(1000);
            use std::fmt::Write as _;
            if roll < 3 {
                let _ = writeln!(
                    line,
                    "2 123456789012 eni-{c:05x} - - - - - - - {at} {} - NODATA",
                    at + 60
                );
            } else {
                let client = if roll < 8 {
                    format!("203.0.113.{}", rng.below(250))
                } else {
                    v4[c].clone()
                };
                let action = if roll < 18 { "REJECT" } else { "ACCEPT" };
                let (sa, da, sp, dp) = if rng.below(2) == 0 || action == "REJECT" {
                    (client.as_str(), v4[s].as_str(), eph, port)
                } else {
                    (v4[s].as_str(), client.as_str(), port, eph)
                };
                let _ = writeln!(
                    line,
                    "2 123456789012 eni-{c:05x} {sa} {da} {sp} {dp} {proto} {} {} {at} {} {action} OK",
                    1 + rng.below(40),
                    60 + rng.below(60_000),
                    at + 60
                );
            }
            gz.write_all(line.as_bytes()).expect("write");
        }
        gz.finish().expect("gzip").flush().expect("flush");
    }
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "generated {records} records, {:.1} MiB gzip, in {:.1} s",
        size as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );

    let settings = AuditSettings::default();
    let inputs = vec![log.to_string_lossy().into_owned()];
    let mut times = Vec::new();
    let mut tuples = 0;
    let mut findings = 0;
    for _ in 0..runs {
        let t = Instant::now();
        // End to end: the front end, reading, the audit, the JSON report.
        let (map, program, _) = stages::compile(&estate);
        let program = program.expect("compiles");
        let mut d = seg_diag::Diagnostics::new();
        let mut m2 = seg_diag::SourceMap::default();
        let inventory = stages::inventory(&estate, &mut m2, &mut d).expect("inventory");
        let plan = seg_audit::plan::Plan::new(&program, &inventory, &settings, None, None);
        let agg = seg_audit::read(
            &plan,
            &inputs,
            seg_flows::FormatChoice::Auto,
            &seg_flows::ReaderOptions::default(),
            |_| {},
        )
        .expect("read");
        let report = seg_audit::audit(&program, &inventory, &map, &settings, &agg);
        let json = seg_audit::report::json(&report).to_string();
        std::hint::black_box(json.len());
        times.push(t.elapsed().as_secs_f64());
        tuples = agg.tuples.len();
        findings = report.findings.findings.len();
    }
    drop(map);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "audit: {records} records in {median:.2} s (median of {runs}: {times:.2?}) = {:.2} M records/s; {tuples} tuples, {findings} findings; peak RSS {:.0} MiB",
        records as f64 / median / 1e6,
        peak_rss_kib() as f64 / 1024.0
    );
}
