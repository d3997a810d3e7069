//! Helpers shared by the reader tests.
#![allow(dead_code)]

use seg_flows::*;

pub fn read_with(
    text: impl Into<Vec<u8>>,
    format: FormatChoice,
    options: &ReaderOptions,
) -> Result<Vec<Entry>, FlowError> {
    let bytes: Vec<u8> = text.into();
    seg_flows::from_reader("input", std::io::Cursor::new(bytes), format, options).collect()
}

pub fn read(text: impl Into<Vec<u8>>) -> Vec<Entry> {
    read_with(text, FormatChoice::Auto, &ReaderOptions::default()).expect("reads")
}

pub fn flows(entries: &[Entry]) -> Vec<&Flow> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Flow(f) => Some(f),
            _ => None,
        })
        .collect()
}

pub fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

pub fn malformed(entries: &[Entry]) -> Vec<&Malformed> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Malformed(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Everything under `dir`, detected: the entries and the stream (for its stats and files).
pub fn read_dir(dir: &std::path::Path) -> (Vec<Entry>, Flows) {
    let mut stream = seg_flows::open(
        &[dir.to_string_lossy().into_owned()],
        FormatChoice::Auto,
        &ReaderOptions::default(),
    )
    .unwrap();
    let entries = stream.by_ref().collect::<Result<_, _>>().unwrap();
    (entries, stream)
}
