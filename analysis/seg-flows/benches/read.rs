//! Reader throughput: AWS VPC Flow Logs version-2 text, gzip-compressed and
//! plain, read to the end on one core (records per second).
//!
//! `cargo bench -p seg-flows --bench read` generates 500 000 default-format
//! records in memory (addresses over 5 000 hosts, about 8 % REJECT, a few
//! NODATA/SKIPDATA gaps, four interfaces per file), compresses them once, and
//! times `seg_flows::from_reader` over the bytes. `aws-v2-gzip` is the figure
//! the end-to-end audit target builds on; `aws-v2-plain` shows what
//! inflating costs; `seg-jsonl` is Seg's own JSON lines, for comparison.
//! `SEG_BENCH_RECORDS=N` changes the count.
//!
//! On a shared machine wall-clock figures mostly measure the other load, so
//! after criterion's timings each case is also run five times and the median
//! records per second of this process's own CPU time (user + system, from
//! `/proc/self/stat`) is printed (`SEG_BENCH_CPU=aws-v2-gzip,...` limits
//! these runs to the cases named).

use criterion::{Criterion, Throughput};
use seg_flows::{Entry, FormatChoice, ReaderOptions};
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// `n` version-2 records, deterministic.
fn aws_v2(n: usize) -> Vec<u8> {
    let mut out = String::with_capacity(n * 110);
    let mut seed: u64 = 0x5eed_f10e;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let start = 1_763_900_000u64;
    for i in 0..n {
        let window = start + (i as u64 / 10_000) * 60;
        let eni = format!("eni-0{:016x}", next(4));
        if next(5000) == 0 {
            let status = if next(2) == 0 { "NODATA" } else { "SKIPDATA" };
            out.push_str(&format!(
                "2 123456789012 {eni} - - - - - - - {window} {} - {status}\n",
                window + 60
            ));
            continue;
        }
        let src = next(5000);
        let dst = next(5000);
        let (sport, dport) = if next(2) == 0 {
            (
                32768 + next(28000),
                [443, 5432, 22, 53, 8080][next(5) as usize],
            )
        } else {
            (
                [443, 5432, 22, 53, 8080][next(5) as usize],
                32768 + next(28000),
            )
        };
        let action = if next(12) == 0 { "REJECT" } else { "ACCEPT" };
        out.push_str(&format!(
            "2 123456789012 {eni} 10.{}.{}.{} 10.{}.{}.{} {sport} {dport} 6 {} {} {window} {} {action} OK\n",
            src >> 16,
            (src >> 8) & 255,
            src & 255,
            dst >> 16,
            (dst >> 8) & 255,
            dst & 255,
            1 + next(40),
            60 + next(60_000),
            window + 60,
        ));
    }
    out.into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("in memory");
    gz.finish().expect("in memory")
}

/// Read everything; the number of flows.
fn read(bytes: &Arc<[u8]>, format: FormatChoice) -> u64 {
    let mut flows = 0u64;
    let reader = seg_flows::from_reader(
        "bench",
        std::io::Cursor::new(bytes.clone()),
        format,
        &ReaderOptions::default(),
    );
    for entry in reader {
        if let Entry::Flow(f) = entry.expect("generated records read") {
            flows += u64::from(f.dst_port.is_some());
        }
    }
    flows
}

fn main() {
    let n: usize = std::env::var("SEG_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let plain = aws_v2(n);
    let compressed = gzip(&plain);
    let entries: Vec<Entry> = seg_flows::from_reader(
        "bench",
        std::io::Cursor::new(plain.clone()),
        FormatChoice::Aws,
        &ReaderOptions::default(),
    )
    .collect::<Result<_, _>>()
    .expect("generated records read");
    let jsonl = seg_flows::write::render(FormatChoice::Seg, &entries);
    eprintln!(
        "{n} records: {} MB text, {} MB gzip, {} MB Seg JSON lines",
        plain.len() >> 20,
        compressed.len() >> 20,
        jsonl.len() >> 20
    );

    let plain: Arc<[u8]> = plain.into();
    let compressed: Arc<[u8]> = compressed.into();
    let jsonl: Arc<[u8]> = jsonl.into();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("aws-v2-gzip", |b| {
        b.iter(|| black_box(read(&compressed, FormatChoice::Auto)))
    });
    group.bench_function("aws-v2-plain", |b| {
        b.iter(|| black_box(read(&plain, FormatChoice::Auto)))
    });
    group.bench_function("seg-jsonl", |b| {
        b.iter(|| black_box(read(&jsonl, FormatChoice::Auto)))
    });
    group.finish();
    c.final_summary();

    let only = std::env::var("SEG_BENCH_CPU").unwrap_or_default();
    for (name, bytes) in [
        ("aws-v2-gzip", &compressed),
        ("aws-v2-plain", &plain),
        ("seg-jsonl", &jsonl),
    ] {
        if !only.is_empty() && !only.split(',').any(|o| o == name) {
            continue;
        }
        let mut rates: Vec<f64> = (0..5)
            .filter_map(|_| {
                let before = cpu_seconds()?;
                black_box(read(bytes, FormatChoice::Auto));
                let spent = cpu_seconds()? - before;
                (spent > 0.0).then(|| n as f64 / spent)
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        if let Some(median) = rates.get(rates.len() / 2) {
            eprintln!(
                "read/{name}: {:.2} M records per CPU second (median of {})",
                median / 1e6,
                rates.len()
            );
        }
    }
}

/// User + system CPU time of this process, in seconds (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at `) `.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
