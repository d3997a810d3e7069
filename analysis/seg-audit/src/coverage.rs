//! Which identities the logs saw for the whole window, so that the absence
//! of traffic says something. An identity is covered when it existed for the
//! whole window (no `expires` inside it; its addresses held throughout), the
//! logs can show it (an address, or a Kubernetes binding when the logs carry
//! Kubernetes endpoints), a record of the window shows it (so its traffic is
//! logged at all), and no gap touches it (a gap of one of its capture points,
//! or a gap whose capture point is unknown or saw no identified end).

use crate::model::{Aggregate, Endpoint, Gap, GapCause};
use seg_check::inventory::Inventory;
use seg_check::manifest::NoDataMeaning;
use seg_flows::GapKind;
use seg_ir::{IdentityId, Timestamp};
use std::collections::BTreeSet;

/// Why each identity is not covered (`None`: covered).
pub struct Coverage {
    pub reasons: Vec<Option<String>>,
}

/// The gaps of an aggregate that are gaps under `[audit] nodata`: with
/// `idle`, a `NODATA` interval is the interface logged and idle, not a gap.
pub fn gaps(agg: &Aggregate, nodata: NoDataMeaning) -> Vec<&Gap> {
    agg.gaps
        .iter()
        .filter(|g| nodata == NoDataMeaning::Gap || g.cause != GapCause::Source(GapKind::NoData))
        .collect()
}

impl Coverage {
    /// `gaps`: those of `agg` that count ([`gaps`]).
    pub fn new(inventory: &Inventory, agg: &Aggregate, gaps: &[&Gap]) -> Coverage {
        let w = agg.window;
        let mut seen: BTreeSet<IdentityId> = BTreeSet::new();
        for k in agg.tuples.keys() {
            for e in [&k.src, &k.dst] {
                if let Endpoint::Identity(id) = e {
                    seen.insert(*id);
                }
            }
        }
        let labels_seen = agg.counters.by_labels > 0;
        // Gaps whose capture point is unknown, or saw no identified end, touch everyone.
        let global: Option<&Gap> = gaps.iter().copied().find(|g| {
            g.interface.as_ref().is_none_or(|i| {
                agg.interfaces.get(i).is_none_or(|x| {
                    !x.endpoints
                        .iter()
                        .any(|e| matches!(e, Endpoint::Identity(_)))
                })
            })
        });
        let mut touched: Vec<Option<&Gap>> = vec![None; inventory.identities.len()];
        for &g in gaps {
            let Some(x) = g.interface.as_ref().and_then(|i| agg.interfaces.get(i)) else {
                continue;
            };
            for e in &x.endpoints {
                if let Endpoint::Identity(id) = e
                    && let Some(slot) = touched.get_mut(id.0 as usize)
                    && slot.is_none()
                {
                    *slot = Some(g);
                }
            }
        }
        let reasons = inventory
            .identities
            .iter()
            .zip(&inventory.details)
            .map(|(identity, details)| {
                if let Some(e) = details.expires
                    && e.end() < w.until
                {
                    return Some(format!("it expires on {e}, within the window"));
                }
                if !details.held.is_empty() && details.held.iter().all(|h| h.windowed()) {
                    // The union of its holdings must cover the whole window.
                    let mut spans: Vec<(i64, i64)> = details
                        .held
                        .iter()
                        .map(|h| {
                            (
                                h.from.map_or(i64::MIN, |t| t.0),
                                h.until.map_or(i64::MAX, |t| t.0),
                            )
                        })
                        .collect();
                    spans.sort_unstable();
                    let mut at = w.since.0;
                    for (a, b) in spans {
                        if a <= at {
                            at = at.max(b);
                        }
                    }
                    if at < w.until.0 {
                        return Some(format!(
                            "it held its addresses only for part of the window (not at {})",
                            Timestamp(at)
                        ));
                    }
                }
                let observable = !identity.addresses.is_empty()
                    || !details.held.is_empty()
                    || (identity.kubernetes.is_some() && labels_seen);
                if !observable {
                    return Some("the logs cannot show it: it has no address".into());
                }
                if !seen.contains(&identity.id) {
                    return Some(
                        "no record of the window shows it, so its traffic may not be logged".into(),
                    );
                }
                if let Some(g) = touched[identity.id.0 as usize].or(global) {
                    return Some(gap_text(g));
                }
                None
            })
            .collect();
        Coverage { reasons }
    }

    pub fn covered(&self, id: IdentityId) -> bool {
        self.reasons.get(id.0 as usize).is_some_and(Option::is_none)
    }

    pub fn reason(&self, id: IdentityId) -> Option<&str> {
        self.reasons.get(id.0 as usize).and_then(|r| r.as_deref())
    }
}

/// `interface eni-1 has a skipdata gap from … to …`.
pub fn gap_text(g: &Gap) -> String {
    let what = match g.cause {
        crate::model::GapCause::Silence => "no record".to_string(),
        c => format!("a {} gap", c.name()),
    };
    match &g.interface {
        Some(i) => format!("interface {i} has {what} from {} to {}", g.start, g.end),
        None => format!("the logs have {what} from {} to {}", g.start, g.end),
    }
}
