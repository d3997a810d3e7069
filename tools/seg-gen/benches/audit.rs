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
//! `SEG_BENCH_RUNS=0 SEG_BENCH_KEEP=<dir>` only writes them, to time the `seg
//! audit` binary on its own (`docs/performance.md` gives the commands).
//!
//! The log: six hours of 150k conversations (client, server, service port)
//! between identities with addresses, 98 % of them allowed by an
//! unconditional rule of the policy, 2 % by none; half the records are the
//! reply direction (server port first, on the server's interface); the
//! conversations of one client in a hundred rejected, 0.5 % of the records
//! from addresses outside the inventory, 0.3 % NODATA records. Clients use ephemeral ports, so every record folds.

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

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    (field(11) + field(12)) / 100.0
}

/// A writer that only counts bytes.
struct Counted(usize);
impl Write for Counted {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// A memory figure of `/proc/self/status`, KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
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
        let _ = &stages::now;
        // Conversations the policy allows (an unconditional allow: a source
        // and a destination of its sets with addresses, a TCP port of its
        // services), and 2 % no rule allows.
        let addr_of: Vec<Option<String>> = program
            .identities
            .iter()
            .map(|i| {
                i.addresses
                    .iter()
                    .find(|n| n.addr().is_ipv4())
                    .map(|n| n.addr().to_string())
            })
            .collect();
        let index: std::collections::HashMap<&str, usize> = v4
            .iter()
            .enumerate()
            .map(|(i, a)| (a.as_str(), i))
            .collect();
        let rules: Vec<(Vec<usize>, Vec<usize>, u16)> = program
            .rules
            .iter()
            .filter(|r| {
                r.action == seg_ir::Action::Allow
                    && r.condition == seg_ir::Condition::True
                    && r.expires.is_none()
            })
            .filter_map(|r| {
                let ends = |ids: &std::collections::BTreeSet<seg_ir::IdentityId>| -> Vec<usize> {
                    ids.iter()
                        .filter_map(|i| {
                            addr_of[i.0 as usize]
                                .as_deref()
                                .and_then(|a| index.get(a).copied())
                        })
                        .collect()
                };
                let port = r.services.tcp.ranges().first().map(|(lo, _)| *lo)?;
                let (s, d) = (ends(&r.src.identities), ends(&r.dst.identities));
                (!s.is_empty() && !d.is_empty() && port > 0 && port < 32_768)
                    .then_some((s, d, port))
            })
            .collect();
        eprintln!(
            "{} unconditional allow rules with addressed ends",
            rules.len()
        );
        let conversations: Vec<(usize, usize, u16)> = (0..150_000)
            .map(|k| {
                if k % 50 == 0 || rules.is_empty() {
                    let n = v4.len() as u64;
                    return (
                        rng.below(n) as usize,
                        rng.below(n) as usize,
                        8000 + rng.below(50) as u16,
                    );
                }
                let (s, d, port) = &rules[rng.below(rules.len() as u64) as usize];
                (
                    s[rng.below(s.len() as u64) as usize],
                    d[rng.below(d.len() as u64) as usize],
                    *port,
                )
            })
            .collect();
        writeln!(gz, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status").expect("write");
        let t0 = 1_795_000_000u64;
        let mut line = String::with_capacity(160);
        for n in 0..records {
            line.clear();
            // Six hours of traffic.
            let at = t0 + n * 21_600 / records.max(1);
            let (c, s, port) = conversations
                [(rng.below(conversations.len() as u64) as usize) % conversations.len()];
            let eph = 32_768 + rng.below(28_000) as u16;
            let proto = 6;
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
                // Rejections: the conversations one in a hundred clients try.
                let action = if c % 100 == 7 { "REJECT" } else { "ACCEPT" };
                // The request on the client's interface, the reply on the server's.
                let (sa, da, sp, dp, eni) = if rng.below(2) == 0 || action == "REJECT" {
                    (client.as_str(), v4[s].as_str(), eph, port, c)
                } else {
                    (v4[s].as_str(), client.as_str(), port, eph, s)
                };
                let _ = writeln!(
                    line,
                    "2 123456789012 eni-{eni:05x} {sa} {da} {sp} {dp} {proto} {} {} {at} {} {action} OK",
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

    eprintln!(
        "before the runs: RSS {} MiB (the bench's estate, program and generator state)",
        status_kib("VmRSS:") / 1024
    );
    let settings = AuditSettings::default();
    let inputs = vec![log.to_string_lossy().into_owned()];
    let mut times = Vec::new();
    let mut tuples = 0;
    let mut findings = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let cpu0 = cpu_seconds();
        // End to end: the front end, reading, the audit, the JSON report.
        let (map, program, _) = stages::compile(&estate);
        let program = program.expect("compiles");
        let mut d = seg_diag::Diagnostics::new();
        let mut m2 = seg_diag::SourceMap::default();
        let inventory = stages::inventory(&estate, &mut m2, &mut d).expect("inventory");
        let compiled = t.elapsed().as_secs_f64();
        let cpu_compiled = cpu_seconds();
        let plan = seg_audit::plan::Plan::new(&program, &inventory, &settings, None, None);
        let agg = seg_audit::read(
            &plan,
            &inputs,
            seg_flows::FormatChoice::Auto,
            &seg_flows::ReaderOptions::default(),
            |_| {},
        )
        .expect("read");
        let read = t.elapsed().as_secs_f64();
        let cpu_read = cpu_seconds();
        let (rss_read, hwm_read) = (status_kib("VmRSS:") / 1024, peak_rss_kib() / 1024);
        let report = seg_audit::audit(&program, &inventory, &map, &settings, &agg);
        let audited = t.elapsed().as_secs_f64();
        let cpu_audited = cpu_seconds();
        let rss_audited = status_kib("VmRSS:") / 1024;
        // Streamed as the command line writes it, to a sink that counts.
        let mut bytes = Counted(0);
        seg_audit::report::write_json(&report, &mut bytes).expect("report");
        std::hint::black_box(bytes.0);
        let cpu_end = cpu_seconds();
        eprintln!(
            "  compile {compiled:.2} s, read + aggregate {:.2} s, audit {:.2} s, report {:.2} s; CPU s (both threads): {:.2}, {:.2}, {:.2}, {:.2} = {:.2}; RSS after reading {rss_read} MiB (peak {hwm_read}), after the audit {rss_audited} MiB, peak {} MiB",
            read - compiled,
            audited - read,
            t.elapsed().as_secs_f64() - audited,
            cpu_compiled - cpu0,
            cpu_read - cpu_compiled,
            cpu_audited - cpu_read,
            cpu_end - cpu_audited,
            cpu_end - cpu0,
            peak_rss_kib() / 1024
        );
        times.push(t.elapsed().as_secs_f64());
        tuples = agg.tuples.len();
        findings = report.findings.findings.len();
    }
    drop(map);
    if times.is_empty() {
        // `SEG_BENCH_RUNS=0`: only the project and the log (with `SEG_BENCH_KEEP`).
        return;
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "audit: {records} records in {median:.2} s (median of {runs}: {times:.2?}) = {:.2} M records/s; {tuples} tuples, {findings} findings; peak RSS {:.0} MiB",
        records as f64 / median / 1e6,
        peak_rss_kib() as f64 / 1024.0
    );
}
