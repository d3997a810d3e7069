//! Streaming readers of flow logs, all normalised to one record.
//!
//! ```no_run
//! use seg_flows::{Entry, FormatChoice, ReaderOptions};
//! let inputs = vec!["logs/**/*.log.gz".to_string(), "-".to_string()];
//! let mut flows = seg_flows::open(&inputs, FormatChoice::Auto, &ReaderOptions::default())?;
//! for entry in &mut flows {
//!     match entry? {
//!         Entry::Flow(flow) => { /* attribute, match against rules, count */ }
//!         Entry::Gap(gap) => { /* the interface had no or partial data then */ }
//!         Entry::Malformed(bad) => eprintln!("{}:{}: {}", bad.file, bad.line, bad.message),
//!     }
//! }
//! println!("{} flows from {} files", flows.stats().flows, flows.files().len());
//! # Ok::<(), seg_flows::FlowError>(())
//! ```
//!
//! # Shape
//!
//! - [`open`] resolves the inputs (files, directories, globs, `-` for
//!   standard input) and returns [`Flows`], an iterator of
//!   `Result<`[`Entry`]`, `[`FlowError`]`>` that reads one file after the other
//!   and holds one record at a time (Parquet: one row group of one column
//!   set). After an `Err` the iterator ends: errors are fatal, bad records are
//!   not.
//! - An [`Entry`] is a [`Flow`] (the normalised record), a [`CoverageGap`]
//!   (AWS `NODATA`/`SKIPDATA`, Hubble lost events) or a [`Malformed`] record
//!   (file, line, message; every one is yielded, the consumer shows the first
//!   few). [`Flows::stats`] counts what was read.
//! - **Malformed threshold:** when the stream ends, if more than
//!   [`ReaderOptions::max_malformed_share`] (default 1 %) of the records read
//!   were malformed, the last item is [`FlowError::TooManyMalformed`] with the
//!   first five. A line longer than [`ReaderOptions::max_record_bytes`]
//!   (default 64 MiB) is one malformed record, skipped without being held in
//!   memory; JSON documents are split into records as they stream, under the
//!   same bound.
//! - **Compression** is detected by content: a gzip stream (one or several
//!   members) is inflated whatever the file is called. A truncated or corrupt
//!   one is [`FlowError::Corrupt`].
//! - **Formats** ([`FormatChoice`], the `--flow-format` values): `auto`
//!   detects per file from its first bytes and record (Parquet magic; JSON
//!   keys; AWS header or a v2 record); the others force one format. AWS text
//!   needs a header line, or a v2 default record, or
//!   [`ReaderOptions::aws_fields`] (`--aws-fields "…"`). See each module for
//!   its mapping: [`aws`], [`parquet`], [`gcp`], [`hubble`], [`azure`],
//!   [`segjson`].
//! - **Direction:** records are not folded. Each keeps what its source says
//!   ([`Hints`]: TCP flags, Hubble `is_reply`, ingress/egress, Azure state)
//!   so the consumer can fold replies into connections client → server.
//! - **Duplicates:** GCP reports a connection once per logged end; the GCP
//!   reader drops the second report of the same 5-tuple over an overlapping
//!   window (see [`gcp`]), counted in [`Stats::duplicates`]. Other sources
//!   are passed as they are.
//! - [`write`] renders records in every format (text lines, JSON lines, a
//!   Parquet file), for generated test estates and round trips.
//!
//! Errors carry codes E0170–E0173 of `seg_diag::Code` ([`FlowError::code`],
//! [`FlowError::diagnostic`]); a single [`Malformed`] record is the warning
//! E0174 ([`Malformed::diagnostic`]).

pub mod aws;
pub mod azure;
mod detect;
mod error;
pub mod gcp;
pub mod hubble;
mod json;
mod lines;
pub mod parquet;
mod record;
pub mod segjson;
mod source;
mod text;
pub mod write;

pub use aws::AwsFields;
pub use error::FlowError;
pub use record::*;

use std::io::Read;
use std::str::FromStr;
use std::sync::Arc;

/// Which format the inputs are in (`--flow-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FormatChoice {
    /// Detect per file.
    #[default]
    Auto,
    /// AWS VPC Flow Logs, space-separated text (S3 or CloudWatch export).
    Aws,
    /// AWS VPC Flow Logs delivered as Parquet.
    AwsParquet,
    /// GCP VPC Flow Logs (and firewall-rule logs) from Cloud Logging: JSON
    /// lines (or a JSON array) of LogEntry objects with `jsonPayload`.
    Gcp,
    /// Cilium Hubble `hubble observe -o json` or `-o jsonpb`.
    Hubble,
    /// Azure VNet flow logs (and NSG flow logs v1/v2).
    Azure,
    /// Seg's own normalised JSON lines (`docs/audit.md`).
    Seg,
}

impl FormatChoice {
    /// Every value, as written on the command line.
    pub const NAMES: &'static [&'static str] = &[
        "auto",
        "aws",
        "aws-parquet",
        "gcp",
        "hubble",
        "azure",
        "seg",
    ];

    pub fn name(self) -> &'static str {
        match self {
            FormatChoice::Auto => "auto",
            FormatChoice::Aws => "aws",
            FormatChoice::AwsParquet => "aws-parquet",
            FormatChoice::Gcp => "gcp",
            FormatChoice::Hubble => "hubble",
            FormatChoice::Azure => "azure",
            FormatChoice::Seg => "seg",
        }
    }
}

impl FromStr for FormatChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<FormatChoice, String> {
        Ok(match s {
            "auto" => FormatChoice::Auto,
            "aws" => FormatChoice::Aws,
            "aws-parquet" => FormatChoice::AwsParquet,
            "gcp" => FormatChoice::Gcp,
            "hubble" => FormatChoice::Hubble,
            "azure" => FormatChoice::Azure,
            "seg" => FormatChoice::Seg,
            _ => {
                return Err(format!(
                    "unknown flow-log format `{s}` (expected one of: {})",
                    FormatChoice::NAMES.join(", ")
                ));
            }
        })
    }
}

impl std::fmt::Display for FormatChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to read.
#[derive(Clone, Debug, PartialEq)]
pub struct ReaderOptions {
    /// The AWS field list for text files without a header line
    /// (`--aws-fields`, see [`AwsFields::parse`]). A file's own header wins.
    pub aws_fields: Option<AwsFields>,
    /// The share of malformed records (0.0–1.0) above which the run fails.
    pub max_malformed_share: f64,
    /// The longest line (or JSON record) read; longer ones are malformed.
    pub max_record_bytes: usize,
    /// Drop the second report of a GCP connection (see [`gcp`]).
    pub gcp_dedupe: bool,
}

/// The default share of malformed records a run accepts: 1 %.
pub const DEFAULT_MAX_MALFORMED_SHARE: f64 = 0.01;
/// The default longest record: 64 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 << 20;

impl Default for ReaderOptions {
    fn default() -> ReaderOptions {
        ReaderOptions {
            aws_fields: None,
            max_malformed_share: DEFAULT_MAX_MALFORMED_SHARE,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            gcp_dedupe: true,
        }
    }
}

/// What a stream has read so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every record read: flows, gaps, malformed, skipped and duplicates.
    pub records: u64,
    pub flows: u64,
    pub gaps: u64,
    pub malformed: u64,
    /// Well-formed records that carry no flow: Hubble non-IP or non-L4
    /// events, `ERROR` verdicts, node status lines.
    pub skipped: u64,
    /// GCP second reports of a connection, dropped.
    pub duplicates: u64,
}

/// Open flow-log inputs for streaming. Globs and directories are resolved
/// now (one that matches nothing is an error); each file is opened, and its
/// format detected, when the iteration reaches it.
pub fn open(
    inputs: &[String],
    format: FormatChoice,
    options: &ReaderOptions,
) -> Result<Flows, FlowError> {
    let inputs = source::resolve(inputs)?;
    Ok(Flows::new(inputs, format, options))
}

/// Read one byte stream (tests, fuzzing, embedding): as [`open`] with a
/// single input called `name`.
pub fn from_reader(
    name: &str,
    reader: impl Read + Send + 'static,
    format: FormatChoice,
    options: &ReaderOptions,
) -> Flows {
    let mut flows = Flows::new(
        vec![source::Input {
            name: Arc::from(name),
            path: None,
        }],
        format,
        options,
    );
    flows.given = Some(Box::new(reader));
    flows
}

/// The stream of entries over all inputs; see the crate documentation.
pub struct Flows {
    inputs: Vec<source::Input>,
    files: Vec<Arc<str>>,
    format: FormatChoice,
    options: ReaderOptions,
    next_input: usize,
    current: Option<Box<dyn detect::FileReader>>,
    given: Option<Box<dyn Read + Send>>,
    shared: detect::Shared,
    first_malformed: Vec<Malformed>,
    done: bool,
}

impl Flows {
    fn new(inputs: Vec<source::Input>, format: FormatChoice, options: &ReaderOptions) -> Flows {
        Flows {
            files: inputs.iter().map(|i| i.name.clone()).collect(),
            inputs,
            format,
            options: options.clone(),
            next_input: 0,
            current: None,
            given: None,
            shared: detect::Shared::default(),
            first_malformed: Vec::new(),
            done: false,
        }
    }

    /// The files in reading order; [`Origin::file`] indexes this list.
    pub fn files(&self) -> &[Arc<str>] {
        &self.files
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    fn step(&mut self) -> Result<Option<Entry>, FlowError> {
        loop {
            if let Some(reader) = &mut self.current {
                match reader.next_entry(&mut self.shared)? {
                    Some(entry) => return Ok(Some(entry)),
                    None => self.current = None,
                }
            }
            let Some(input) = self.inputs.get(self.next_input) else {
                return Ok(None);
            };
            let index = u32::try_from(self.next_input).unwrap_or(u32::MAX);
            self.next_input += 1;
            let opened = match self.given.take() {
                Some(r) => source::from_reader(&input.name, r)?,
                None => source::open(input)?,
            };
            let ctx = detect::Context {
                file: input.name.clone(),
                path: input.path.clone(),
                index,
                options: self.options.clone(),
                gzip: false,
            };
            self.current = Some(detect::reader(ctx, opened, self.format)?);
        }
    }

    fn check_threshold(&self) -> Result<(), FlowError> {
        let s = &self.shared.stats;
        if s.malformed > 0
            && s.malformed as f64 > self.options.max_malformed_share * s.records as f64
        {
            return Err(FlowError::TooManyMalformed {
                malformed: s.malformed,
                records: s.records,
                max_share: self.options.max_malformed_share,
                first: self.first_malformed.clone(),
            });
        }
        Ok(())
    }
}

impl Iterator for Flows {
    type Item = Result<Entry, FlowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(entry)) => {
                let s = &mut self.shared.stats;
                s.records += 1;
                match &entry {
                    Entry::Flow(_) => s.flows += 1,
                    Entry::Gap(_) => s.gaps += 1,
                    Entry::Malformed(m) => {
                        s.malformed += 1;
                        if self.first_malformed.len() < 5 {
                            self.first_malformed.push(m.clone());
                        }
                    }
                }
                Some(Ok(entry))
            }
            Ok(None) => {
                self.done = true;
                self.check_threshold().err().map(Err)
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
