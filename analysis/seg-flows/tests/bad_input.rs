//! Hostile and broken inputs: a clear error or a counted malformed record,
//! never a panic, and never a line held in memory whole.

mod common;
use common::*;
use seg_diag::Code;
use seg_flows::*;
use std::io::{self, Read, Write};

const RECORD: &str = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK\n";

/// `len` bytes of `x`, then a newline and a valid record, produced on the fly.
struct HugeLine {
    left: u64,
    tail: io::Cursor<Vec<u8>>,
}

impl Read for HugeLine {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return self.tail.read(buf);
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].fill(b'x');
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_two_gigabyte_line_is_one_malformed_record() {
    let mut text = RECORD.to_string();
    for _ in 0..300 {
        text.push_str(RECORD);
    }
    let reader = io::Cursor::new(RECORD.as_bytes().to_vec()).chain(HugeLine {
        left: 2 << 30,
        tail: io::Cursor::new(format!("\n{text}").into_bytes()),
    });
    let entries: Vec<Entry> = seg_flows::from_reader(
        "huge.log",
        reader,
        FormatChoice::Auto,
        &ReaderOptions::default(),
    )
    .collect::<Result<_, _>>()
    .expect("one bad line of 302 is under the threshold");
    let bad = malformed(&entries);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 2);
    assert!(
        bad[0]
            .message
            .contains("line of 2147483648 bytes, longer than 67108864"),
        "{}",
        bad[0].message
    );
    assert_eq!(flows(&entries).len(), 302);
    assert_eq!(flows(&entries)[1].origin.line, 3);
}

#[test]
fn a_long_json_record_is_skipped_too() {
    let options = ReaderOptions {
        max_record_bytes: 1000,
        ..ReaderOptions::default()
    };
    let line = r#"{"start":1,"src":"10.0.0.1","dst":"10.0.0.2","protocol":6}"#;
    let mut text = format!("{line}\n{{\"src\":\"{}\"}}\n", "y".repeat(5000));
    for _ in 0..200 {
        text.push_str(line);
        text.push('\n');
    }
    let entries = read_with(text, FormatChoice::Auto, &options).unwrap();
    assert_eq!(flows(&entries).len(), 201);
    let Entry::Malformed(m) = &entries[1] else {
        panic!("{:?}", entries[1])
    };
    assert_eq!(m.line, 2);
    assert!(
        m.message.contains("longer than 1000 bytes"),
        "{}",
        m.message
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn truncated_gzip_stops_the_run() {
    let text = RECORD.repeat(5000);
    let gz = gzip(text.as_bytes());
    for cut in [gz.len() - 4, gz.len() / 2, 12] {
        let err = read_with(
            gz[..cut].to_vec(),
            FormatChoice::Auto,
            &ReaderOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), Code::FlowInputCorrupt, "cut at {cut}: {err}");
        assert!(
            err.to_string().contains("gzip stream is truncated"),
            "{err}"
        );
    }
    let mut corrupt = gz.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid..mid + 40].fill(0xAA);
    let err = read_with(corrupt, FormatChoice::Auto, &ReaderOptions::default()).unwrap_err();
    assert_eq!(err.code(), Code::FlowInputCorrupt, "{err}");
}

#[test]
fn binary_garbage_is_refused_clearly() {
    let mut seed: u32 = 7;
    let garbage: Vec<u8> = (0..100_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        })
        .collect();
    let err = read_with(
        garbage.clone(),
        FormatChoice::Auto,
        &ReaderOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), Code::FlowFormat, "{err}");
    assert!(
        err.to_string().contains("not a flow-log text record"),
        "{err}"
    );
    // Forced as a format, every line is malformed: the threshold stops it.
    for format in [FormatChoice::Aws, FormatChoice::Seg] {
        let mut g = garbage.clone();
        if format == FormatChoice::Seg {
            g.insert(0, b'{');
        }
        let options = ReaderOptions {
            aws_fields: Some(AwsFields::default_v2()),
            ..ReaderOptions::default()
        };
        let err = read_with(g, format, &options).unwrap_err();
        assert!(
            matches!(err.code(), Code::TooManyMalformedFlows | Code::FlowFormat),
            "{format}: {err}"
        );
    }
    let err = read_with(garbage, FormatChoice::AwsParquet, &ReaderOptions::default()).unwrap_err();
    assert_eq!(err.code(), Code::FlowFormat);
}

#[test]
fn broken_parquet_is_refused_clearly() {
    let mut bytes = b"PAR1".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 100));
    let err = read_with(bytes, FormatChoice::Auto, &ReaderOptions::default()).unwrap_err();
    assert_eq!(err.code(), Code::FlowFormat);
    assert!(
        err.to_string().contains("not a readable Parquet file"),
        "{err}"
    );
}

#[test]
fn a_file_with_no_header() {
    let custom = "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471\n";
    let err = read_with(custom, FormatChoice::Auto, &ReaderOptions::default()).unwrap_err();
    assert_eq!(err.code(), Code::FlowFormat);
    assert_eq!(
        err.to_string(),
        "input:1: no field header, and this record (11 fields, version `5`) is not the default \
         version-2 format; give the field list with --aws-fields \"…\", or the format with --flow-format"
    );
}

#[test]
fn formats_that_do_not_match_the_content() {
    let err = read_with(RECORD, FormatChoice::Hubble, &ReaderOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("expected hubble JSON records"),
        "{err}"
    );
    let err = read_with("{\"a\":1}\n", FormatChoice::Aws, &ReaderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("this is JSON"), "{err}");
    let err = read_with("{\"a\":1}\n", FormatChoice::Auto, &ReaderOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot detect the flow-log format from the first record's keys (a)"),
        "{err}"
    );
}

#[test]
fn empty_inputs_give_nothing() {
    for text in ["", "\n\n", "   "] {
        assert!(read(text).is_empty());
    }
    // A header alone.
    assert!(read("version srcaddr dstaddr protocol start end\n").is_empty());
}

#[test]
fn missing_files_and_globs_fail_up_front() {
    let dir = std::env::temp_dir().join(format!("seg-flows-bad-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/a.log"), RECORD).unwrap();
    std::fs::write(dir.join("b.log.gz"), gzip(RECORD.as_bytes())).unwrap();
    let o = ReaderOptions::default();
    let path = |p: &str| dir.join(p).to_string_lossy().into_owned();

    let err = seg_flows::open(&[path("nope.log")], FormatChoice::Auto, &o)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), Code::FlowInputUnreadable);
    let err = seg_flows::open(&[path("*.txt")], FormatChoice::Auto, &o)
        .err()
        .unwrap();
    assert!(
        err.to_string().ends_with("the pattern matches no file"),
        "{err}"
    );
    let err = seg_flows::open(&["-".into(), "-".into()], FormatChoice::Auto, &o)
        .err()
        .unwrap();
    assert!(err.to_string().contains("twice"), "{err}");

    // A directory is every file under it; a glob its matches, sorted.
    let all = seg_flows::open(&[path("")], FormatChoice::Auto, &o).unwrap();
    assert_eq!(all.files().len(), 2);
    let mut glob = seg_flows::open(&[path("**/*.log")], FormatChoice::Auto, &o).unwrap();
    assert_eq!(glob.files().len(), 1);
    assert_eq!(glob.by_ref().count(), 1);
    let mut both = seg_flows::open(
        &[path("sub/a.log"), path("b.log.gz")],
        FormatChoice::Auto,
        &o,
    )
    .unwrap();
    let entries: Vec<Entry> = both.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(flows(&entries)[1].origin.file, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
