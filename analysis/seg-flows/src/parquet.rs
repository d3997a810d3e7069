//! AWS VPC Flow Logs delivered as Parquet.
//!
//! The columns are the text format's fields with `_` for `-`
//! (`interface_id`, `pkt_srcaddr`, `log_status`, ...), matched by name;
//! each row is mapped exactly as a text record is (see [`crate::aws`]),
//! a null being `-`. Columns that are not flow-log fields (partition
//! columns such as `date`) are ignored. Rows are numbered from 1 as lines.
//!
//! Parquet needs to seek: a file on disk is read in place; standard input
//! or a gzip-wrapped file is first copied to an anonymous temporary file.
//!
//! The `parquet` crate decodes untrusted metadata and pages; should it panic
//! on a damaged file, the panic is caught and the file reported as corrupt
//! (E0171) rather than ending the process.

use crate::aws::{self, AwsField, AwsFields};
use crate::detect::{Context, FileReader, Shared};
use crate::error::FlowError;
use crate::record::*;
use crate::source::Opened;
use crate::text::Interner;
use parquet::file::reader::{FileReader as _, SerializedFileReader};
use parquet::record::{Field, Row};
use std::fs::File;

pub(crate) fn reader(ctx: Context, opened: Opened) -> Result<Box<dyn FileReader>, FlowError> {
    let file = match (&ctx.path, opened.gzip) {
        (Some(path), false) => File::open(path).map_err(|e| FlowError::Unreadable {
            file: ctx.file.clone(),
            message: e.to_string(),
        })?,
        _ => {
            let mut tmp = tempfile::tempfile().map_err(|e| FlowError::Unreadable {
                file: ctx.file.clone(),
                message: format!("cannot create a temporary file to read Parquet from: {e}"),
            })?;
            let mut src = opened.reader;
            std::io::copy(&mut src, &mut tmp)
                .map_err(|e| FlowError::read(&ctx.file, opened.gzip, &e))?;
            tmp
        }
    };
    let bad = |e: parquet::errors::ParquetError| {
        FlowError::format(&ctx.file, 0, format!("not a readable Parquet file: {e}"))
    };
    let reader = guard(&ctx, || SerializedFileReader::new(file))?.map_err(bad)?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let columns: Vec<Option<AwsField>> = schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| AwsField::from_name(f.name()))
        .collect();
    let fields = AwsFields(
        columns
            .iter()
            .map(|c| c.unwrap_or(AwsField::Other("(not a flow-log field)")))
            .collect(),
    );
    let layout = aws::Layout::of_checked(&fields).map_err(|m| {
        FlowError::format(
            &ctx.file,
            0,
            format!("the Parquet columns are not AWS flow-log fields: {m}"),
        )
    })?;
    let rows = reader.into_iter();
    Ok(Box::new(ParquetReader {
        rows: Box::new(rows),
        ctx,
        layout,
        row: 0,
        interner: Interner::default(),
        values: Vec::new(),
    }))
}

type Rows = Box<dyn Iterator<Item = parquet::errors::Result<Row>> + Send>;

struct ParquetReader {
    rows: Rows,
    ctx: Context,
    layout: aws::Layout,
    row: u64,
    interner: Interner,
    values: Vec<Vec<u8>>,
}

impl FileReader for ParquetReader {
    fn next_entry(&mut self, _: &mut Shared) -> Result<Option<Entry>, FlowError> {
        let rows = &mut self.rows;
        let Some(row) = guard(&self.ctx, || rows.next())? else {
            return Ok(None);
        };
        self.row += 1;
        let row = row.map_err(|e| FlowError::Corrupt {
            file: self.ctx.file.clone(),
            message: format!("row {}: {e}", self.row),
        })?;
        self.values.resize(row.len(), Vec::new());
        for (value, (_, field)) in self.values.iter_mut().zip(row.get_column_iter()) {
            value.clear();
            render(field, value);
        }
        let fields: Vec<&[u8]> = self.values.iter().map(Vec::as_slice).collect();
        let origin = Origin {
            file: self.ctx.index,
            line: self.row,
        };
        Ok(Some(
            aws::record(&fields, &self.layout, origin, &mut self.interner)
                .unwrap_or_else(|m| self.ctx.malformed(self.row, m)),
        ))
    }
}

/// Run a call into the `parquet` crate, turning a panic into an error.
fn guard<T>(ctx: &Context, call: impl FnOnce() -> T) -> Result<T, FlowError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        FlowError::Corrupt {
            file: ctx.file.clone(),
            message: format!("the Parquet file is damaged (its decoder failed: {why})"),
        }
    })
}

/// A value as the text format would print it (`-` for null).
fn render(field: &Field, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = match field {
        Field::Null => write!(out, "-"),
        Field::Bool(b) => write!(out, "{b}"),
        Field::Byte(n) => write!(out, "{n}"),
        Field::Short(n) => write!(out, "{n}"),
        Field::Int(n) => write!(out, "{n}"),
        Field::Long(n) => write!(out, "{n}"),
        Field::UByte(n) => write!(out, "{n}"),
        Field::UShort(n) => write!(out, "{n}"),
        Field::UInt(n) => write!(out, "{n}"),
        Field::ULong(n) => write!(out, "{n}"),
        Field::Str(s) => write!(out, "{s}"),
        Field::Bytes(b) => out.write_all(b.data()),
        // Types flow logs do not use: shown as they are, then refused by the
        // field's parser as malformed.
        other => write!(out, "{other}"),
    };
}

#[cfg(test)]
mod tests {
    use crate::{Entry, FormatChoice, ReaderOptions};
    use parquet::basic::Compression;

    #[test]
    fn snappy_and_uncompressed_columns_are_read() {
        let text = "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 3 180 100 160 ACCEPT OK\n\
                    2 1 eni-1 - - - - - - - 100 160 - SKIPDATA\n";
        let entries: Vec<Entry> = crate::from_reader(
            "t",
            std::io::Cursor::new(text),
            FormatChoice::Aws,
            &ReaderOptions::default(),
        )
        .collect::<Result<_, _>>()
        .unwrap();
        for codec in [Compression::SNAPPY, Compression::UNCOMPRESSED] {
            let bytes = crate::write::aws_parquet_with(&entries, codec).unwrap();
            let back: Vec<Entry> = crate::from_reader(
                "t.parquet",
                std::io::Cursor::new(bytes),
                FormatChoice::Auto,
                &ReaderOptions::default(),
            )
            .collect::<Result<_, _>>()
            .unwrap();
            let strip = |e: &Entry| crate::write::as_written(FormatChoice::AwsParquet, e);
            let want: Vec<_> = entries.iter().filter_map(strip).collect();
            let got: Vec<_> = back.iter().filter_map(strip).collect();
            assert_eq!(got, want, "{codec:?}");
        }
    }
}
