//! Errors that stop a run. A single bad record is not one: it becomes an
//! [`Entry::Malformed`](crate::Entry::Malformed) and the stream goes on.

use crate::record::Malformed;
use seg_diag::{Code, Diagnostic};
use std::fmt;
use std::sync::Arc;

/// A reason to stop reading flow logs.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowError {
    /// An input cannot be opened or read, or a glob matched nothing (E0170).
    Unreadable { file: Arc<str>, message: String },
    /// A compressed input is truncated or corrupt (E0171).
    Corrupt { file: Arc<str>, message: String },
    /// The format cannot be detected, a file lacks what its format needs, or
    /// an option is invalid (E0172). `line` is 0 when not tied to one.
    Format {
        file: Arc<str>,
        line: u64,
        message: String,
    },
    /// The share of malformed records passed the threshold (E0173).
    TooManyMalformed {
        malformed: u64,
        records: u64,
        max_share: f64,
        /// The first few, for the message.
        first: Vec<Malformed>,
    },
}

impl FlowError {
    /// The diagnostic code (`docs/diagnostics/<CODE>.md`).
    pub fn code(&self) -> Code {
        match self {
            FlowError::Unreadable { .. } => Code::FlowInputUnreadable,
            FlowError::Corrupt { .. } => Code::FlowInputCorrupt,
            FlowError::Format { .. } => Code::FlowFormat,
            FlowError::TooManyMalformed { .. } => Code::TooManyMalformedFlows,
        }
    }

    /// The error as a diagnostic (flow logs are not in the source map: no label).
    pub fn diagnostic(&self) -> Diagnostic {
        let help = match self {
            FlowError::Unreadable { .. } => {
                "check the path, or quote a glob so that seg expands it (`'logs/**/*.gz'`)"
            }
            FlowError::Corrupt { .. } => "fetch the file again: seg does not audit part of it",
            FlowError::Format { .. } => {
                "name the format with `--flow-format`, or for AWS text without a header give `--aws-fields`"
            }
            FlowError::TooManyMalformed { .. } => {
                "check the format of the files, or accept more with `--max-malformed SHARE`"
            }
        };
        Diagnostic::error(self.code(), self.to_string()).with_help(help)
    }

    pub(crate) fn format(file: &Arc<str>, line: u64, message: impl Into<String>) -> FlowError {
        FlowError::Format {
            file: file.clone(),
            line,
            message: message.into(),
        }
    }

    /// An error while reading an opened input: a broken compressed stream is
    /// `Corrupt`, anything else `Unreadable`.
    pub(crate) fn read(file: &Arc<str>, gzip: bool, err: &std::io::Error) -> FlowError {
        use std::io::ErrorKind;
        if gzip
            && matches!(
                err.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::InvalidInput | ErrorKind::InvalidData
            )
        {
            let what = if err.kind() == ErrorKind::UnexpectedEof {
                "the gzip stream is truncated".to_string()
            } else {
                format!("the gzip stream is corrupt ({err})")
            };
            FlowError::Corrupt {
                file: file.clone(),
                message: what,
            }
        } else {
            FlowError::Unreadable {
                file: file.clone(),
                message: err.to_string(),
            }
        }
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::Unreadable { file, message } => write!(f, "{file}: {message}"),
            FlowError::Corrupt { file, message } => write!(f, "{file}: {message}"),
            FlowError::Format {
                file,
                line: 0,
                message,
            } => write!(f, "{file}: {message}"),
            FlowError::Format {
                file,
                line,
                message,
            } => write!(f, "{file}:{line}: {message}"),
            FlowError::TooManyMalformed {
                malformed,
                records,
                max_share,
                first,
            } => {
                write!(
                    f,
                    "{malformed} of {records} flow records are malformed, more than the accepted {}%",
                    max_share * 100.0
                )?;
                for m in first {
                    write!(f, "\n  {}:{}: {}", m.file, m.line, m.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for FlowError {}
