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

use crate::Stats;
use crate::aws::{self, AwsField, AwsFields};
use crate::detect::{Context, FileReader};
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
    let reader = SerializedFileReader::new(file).map_err(bad)?;
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
    fn next_entry(&mut self, _: &mut Stats) -> Result<Option<Entry>, FlowError> {
        let Some(row) = self.rows.next() else {
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
            aws::record(&fields, &self.layout, origin, &mut self.interner).unwrap_or_else(
                |message| {
                    Entry::Malformed(Malformed {
                        file: self.ctx.file.clone(),
                        line: self.row,
                        message,
                    })
                },
            ),
        ))
    }
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
