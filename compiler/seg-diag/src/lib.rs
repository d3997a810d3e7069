//! Spans, the source map and diagnostics shared by every stage of seg.
//!
//! Every stage reports problems as [`Diagnostic`] values collected in a
//! [`Diagnostics`] list; nothing here prints or exits. The driver renders the
//! list at the edge (human text through codespan-reporting, JSON or SARIF).

mod code;
mod diagnostic;
mod render;
mod source;

pub use code::{Code, LintLevel};
pub use diagnostic::{
    Diagnostic, Diagnostics, Label, SHOWN_MEMBERS, Severity, did_you_mean, summarise,
};
pub use render::{ColorChoice, LocatedDiagnostic, Location, hidden, render_human, visible};
pub use source::{FileId, SourceFile, SourceMap, Span};
