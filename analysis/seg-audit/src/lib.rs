//! `seg audit`: observed flows held against the policy.
//!
//! Pipeline: flow-log entries (`seg_flows`) → [`aggregate::Aggregator`]
//! (fold replies into connections, attribute ends to identities, count
//! distinct tuples) → [`model::Aggregate`], the one boundary every input path
//! gives (the emitted SQL's result is read back by [`aggregated`]) →
//! evaluation against the program → findings → a report, or a draft policy.

pub mod aggregate;
pub mod aggregated;
pub mod attribute;
pub mod coverage;
pub mod draft;
pub mod evaluate;
pub mod findings;
pub mod fold;
pub mod model;
pub mod plan;
pub mod report;
pub mod segtext;
pub mod services;
pub mod sql;

use model::Aggregate;
use seg_check::inventory::Inventory;
use seg_check::manifest::AuditSettings;
use seg_diag::SourceMap;
use seg_flows::{Entry, FlowError, FormatChoice, Malformed, ReaderOptions};
use seg_ir::Program;

/// Read flow logs and aggregate them, reading on a second thread while this
/// one aggregates. `on_malformed` sees every malformed record (the caller
/// shows the first few). An `Err` is fatal: nothing should be written then.
pub fn read(
    plan: &plan::Plan,
    inputs: &[String],
    format: FormatChoice,
    options: &ReaderOptions,
    mut on_malformed: impl FnMut(&Malformed),
) -> Result<Aggregate, FlowError> {
    // Small batches, few in flight: enough to keep both threads busy, and
    // a few MiB at most (an entry is about 200 bytes).
    const BATCH: usize = 1024;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Entry>, FlowError>>(4);
    let inputs = inputs.to_vec();
    let options = options.clone();
    let reader = std::thread::spawn(move || {
        let flows = match seg_flows::open(&inputs, format, &options) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut batch = Vec::with_capacity(BATCH);
        for entry in flows {
            match entry {
                Ok(e) => {
                    batch.push(e);
                    if batch.len() == BATCH
                        && tx
                            .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                            .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Ok(std::mem::take(&mut batch)));
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        let _ = tx.send(Ok(batch));
    });
    let mut agg = aggregate::Aggregator::new(plan);
    let mut failure = None;
    for msg in rx {
        match msg {
            Ok(batch) => {
                for e in &batch {
                    if let Entry::Malformed(m) = e {
                        on_malformed(m);
                    }
                    agg.add(e);
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if reader.join().is_err() {
        return Err(FlowError::Unreadable {
            file: "-".into(),
            message: "the flow-log reader stopped unexpectedly".into(),
        });
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(agg.finish()),
    }
}

/// Hold an aggregate against the program: the report.
pub fn audit(
    program: &Program,
    inventory: &Inventory,
    map: &SourceMap,
    settings: &AuditSettings,
    agg: &Aggregate,
) -> report::Report {
    let found = findings::find(&findings::Input {
        program,
        inventory,
        map,
        settings,
        aggregate: agg,
    });
    report::Report::new(&program.project, agg, found)
}
