//! Choosing a reader for one opened file: by `--flow-format`, or by its
//! first bytes and first record.

use crate::error::FlowError;
use crate::json::{JsonRecords, Piece};
use crate::lines::Lines;
use crate::record::Entry;
use crate::source::Opened;
use crate::{FormatChoice, ReaderOptions, Stats};

/// State that outlives one file: the counts, and GCP's unmatched reports
/// (the two ends of a connection may be in different files).
#[derive(Default)]
pub(crate) struct Shared {
    pub stats: Stats,
    pub gcp: crate::gcp::Dedupe,
}
use std::path::PathBuf;
use std::sync::Arc;

/// What a reader knows of its file.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    pub file: Arc<str>,
    /// The file on disk (`None` for standard input): Parquet reopens it to seek.
    #[allow(dead_code)]
    pub path: Option<PathBuf>,
    /// Index into [`crate::Flows::files`].
    pub index: u32,
    pub options: ReaderOptions,
    pub gzip: bool,
}

impl Context {
    /// A malformed record of this file.
    pub(crate) fn malformed(&self, line: u64, message: String) -> Entry {
        Entry::Malformed(crate::record::Malformed {
            file: self.file.clone(),
            line,
            message,
        })
    }
}

/// A reader of one file.
pub(crate) trait FileReader: Send {
    /// The next entry; `None` at the end of the file. Records that yield no
    /// entry (skipped, duplicates) are counted in `shared.stats` directly.
    fn next_entry(&mut self, shared: &mut Shared) -> Result<Option<Entry>, FlowError>;
}

/// A file without content.
struct Empty;

impl FileReader for Empty {
    fn next_entry(&mut self, _: &mut Shared) -> Result<Option<Entry>, FlowError> {
        Ok(None)
    }
}

/// The first byte that is not whitespace or a byte-order mark.
fn first_byte(head: &[u8]) -> Option<u8> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.iter().copied().find(|b| !b.is_ascii_whitespace())
}

pub(crate) fn reader(
    mut ctx: Context,
    opened: Opened,
    choice: FormatChoice,
) -> Result<Box<dyn FileReader>, FlowError> {
    ctx.gzip = opened.gzip;
    let max = ctx.options.max_record_bytes;
    let Some(first) = first_byte(&opened.head) else {
        return Ok(Box::new(Empty));
    };
    let parquet = opened.head.starts_with(b"PAR1");
    let json = matches!(first, b'{' | b'[');
    let file = ctx.file.clone();
    let expect = |what: &str, hint: &str| {
        Err(FlowError::format(
            &file,
            0,
            format!("expected {what} ({hint})"),
        ))
    };
    match choice {
        FormatChoice::AwsParquet if !parquet => {
            return expect("a Parquet file", "it does not start with `PAR1`");
        }
        FormatChoice::Aws if parquet => {
            return expect(
                "AWS text records",
                "this is a Parquet file: --flow-format aws-parquet",
            );
        }
        FormatChoice::Aws if json => {
            return expect("AWS text records", "this is JSON");
        }
        FormatChoice::Gcp | FormatChoice::Hubble | FormatChoice::Azure | FormatChoice::Seg
            if !json =>
        {
            return expect(
                &format!("{} JSON records", choice.name()),
                "the file does not start with `{` or `[`",
            );
        }
        _ => {}
    }
    if parquet {
        return crate::parquet::reader(ctx, opened);
    }
    if !json {
        let lines = Lines::new(opened.reader, max);
        return Ok(Box::new(crate::aws::AwsText::new(lines, ctx)));
    }
    let mut records = JsonRecords::new(opened.reader, max);
    let format = match choice {
        FormatChoice::Auto => match classify_first(&mut records, &ctx)? {
            Some(f) => f,
            None => return Ok(Box::new(Empty)),
        },
        other => other,
    };
    json_reader(format, records, ctx)
}

fn json_reader(
    format: FormatChoice,
    records: JsonRecords,
    ctx: Context,
) -> Result<Box<dyn FileReader>, FlowError> {
    Ok(match format {
        FormatChoice::Seg => Box::new(crate::segjson::SegReader::new(records, ctx)),
        FormatChoice::Gcp => Box::new(crate::gcp::GcpReader::new(records, ctx)),
        FormatChoice::Hubble => Box::new(crate::hubble::HubbleReader::new(records, ctx)),
        FormatChoice::Azure => Box::new(crate::azure::AzureReader::new(records, ctx)),
        // `reader` sends text and Parquet elsewhere; an error rather than a panic all the same.
        FormatChoice::Auto | FormatChoice::Aws | FormatChoice::AwsParquet => {
            return Err(FlowError::format(
                &ctx.file,
                0,
                format!("{} records are not JSON", format.name()),
            ));
        }
    })
}

/// The format of a JSON file, from the keys of its first record.
fn classify_first(
    records: &mut JsonRecords,
    ctx: &Context,
) -> Result<Option<FormatChoice>, FlowError> {
    let piece = records
        .peek()
        .map_err(|e| FlowError::read(&ctx.file, ctx.gzip, &e))?;
    let (line, bytes) = match piece {
        None => return Ok(None),
        Some((line, Piece::Bad(m))) => {
            return Err(FlowError::format(
                &ctx.file,
                line,
                format!(
                    "cannot detect the flow-log format: the first record is malformed ({m}); give --flow-format"
                ),
            ));
        }
        Some((line, Piece::Record(b))) => (line, b),
    };
    let keys: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| {
            FlowError::format(
                &ctx.file,
                line,
                format!("cannot detect the flow-log format: the first record is not a JSON object ({e}); give --flow-format"),
            )
        })?;
    classify(&keys).map(Some).ok_or_else(|| {
        let mut names: Vec<&str> = keys.keys().map(String::as_str).take(8).collect();
        names.sort_unstable();
        FlowError::format(
            &ctx.file,
            line,
            format!(
                "cannot detect the flow-log format from the first record's keys ({}); give --flow-format",
                names.join(", ")
            ),
        )
    })
}

/// Which JSON format an object belongs to.
pub(crate) fn classify(o: &serde_json::Map<String, serde_json::Value>) -> Option<FormatChoice> {
    let has = |k: &str| o.contains_key(k);
    if has("jsonPayload") {
        Some(FormatChoice::Gcp)
    } else if has("flowRecords")
        || has("flowLogVersion")
        || (has("properties") && has("macAddress"))
        || (has("properties") && has("category") && has("resourceId"))
    {
        Some(FormatChoice::Azure)
    } else if has("flow")
        || has("lost_events")
        || has("node_status")
        || has("agent_event")
        || has("debug_event")
        || (has("verdict") && (has("IP") || has("l4") || has("Type")))
    {
        Some(FormatChoice::Hubble)
    } else if (has("src") && has("dst")) || has("gap") {
        Some(FormatChoice::Seg)
    } else {
        None
    }
}
