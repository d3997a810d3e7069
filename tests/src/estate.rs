//! Random estates as SOURCE — `seg.toml`, `.seg` policy files and inventory
//! YAML/JSON — so that tests run the whole pipeline (parse, inventory load,
//! check, lower, capability pass, every backend) on them, and flows aimed at
//! their boundaries, named by identity or address.
//!
//! What an estate mixes (see `model` for the choices):
//! - inventory: every kind; attributes `team`, `env` (enum), `tier` (int),
//!   `pci` (bool) and labels; IPv4 hosts and blocks, IPv6; Kubernetes, AWS
//!   (created and existing groups), GCP and SPIFFE bindings; quoted names;
//!   disabled and expired identities (reached only through `where`, `any`
//!   and networks); shared and stale credentials; overlapping addresses;
//!   one YAML file or YAML plus JSON;
//! - policies: segments with `|`, `&`, `-`, `identities where`, lists,
//!   networks (host, /24, /31, /29, IPv6, fixed ranges, /0) and
//!   `std::segments`; services with ranges at the port edges, `icmp`, `any`,
//!   named and `std::services`; allows and denies, `<->`, denies carved out
//!   of allows; static (`source.`, `destination.`) and dynamic (time,
//!   days, mTLS, request, context) conditions; expiry (already expired,
//!   today, tomorrow, soon, later); `[enforcement] layered` settings; two
//!   policy files importing a common one;
//! - deliberate warnings: W0101–W0103, W0301–W0310, W04xx all occur.
//!
//! Every generated estate compiles without errors (a failure to is a
//! generator bug: `tests/tests/differential.rs` asserts it), and so does
//! every variant the minimiser ([`EstateModel::shrink_candidates`]) makes.
//! "Now" for every estate is [`now`], a Friday noon.

pub mod edits;
pub(crate) mod flows;
mod inventory;
pub mod model;
mod render;
mod shrink;
pub mod traffic;
pub mod variants;

pub use flows::{Endpoint, FlowSpec};
pub use model::{EstateConfig, EstateModel};
pub use render::seg_name;

use proptest::prelude::*;
use seg_ir::Timestamp;
use std::collections::BTreeMap;
use std::path::Path;

/// The build's "now" of every estate: Friday 2026-11-20, 12:00 UTC.
pub const NOW: &str = "2026-11-20T12:00:00Z";

pub fn now() -> Timestamp {
    Timestamp::parse(NOW).unwrap_or(Timestamp(0))
}

/// A generated project: its files and flows aimed at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estate {
    /// Path relative to the project folder → text.
    pub files: BTreeMap<String, String>,
    pub flows: Vec<FlowSpec>,
}

/// Where `Estate::write` puts the flows, next to `seg.toml`.
pub const FLOWS_FILE: &str = "flows.json";

impl Estate {
    /// Write every file under `dir` (created as needed), plus the flows as
    /// `flows.json`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        for (path, text) in &self.files {
            let p = dir.join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, text)?;
        }
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(FLOWS_FILE), self.flows_json())
    }

    pub fn flows_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.flows).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Read an estate folder written by [`Estate::write`] (or by hand):
    /// every file but `flows.json` is a project file; `flows.json` is optional.
    pub fn read(dir: &Path) -> std::io::Result<Estate> {
        fn walk(
            root: &Path,
            dir: &Path,
            out: &mut BTreeMap<String, String>,
        ) -> std::io::Result<()> {
            let mut entries: Vec<_> = std::fs::read_dir(dir)?
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    walk(root, &p, out)?;
                } else if let Ok(rel) = p.strip_prefix(root) {
                    let rel = rel.to_string_lossy().replace('\\', "/");
                    out.insert(rel, std::fs::read_to_string(&p)?);
                }
            }
            Ok(())
        }
        let mut files = BTreeMap::new();
        walk(dir, dir, &mut files)?;
        let flows = match files.remove(FLOWS_FILE) {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            None => Vec::new(),
        };
        Ok(Estate { files, flows })
    }
}

impl EstateModel {
    /// The project files and the flows (the pinned ones when set).
    pub fn render(&self) -> Estate {
        let rendered = render::render(self);
        let flows = match &self.pinned {
            Some(f) => f.clone(),
            None => flows::resolve(self, &rendered),
        };
        Estate {
            files: rendered.files,
            flows,
        }
    }

    /// The same estate with these flows fixed (for minimising a failure).
    pub fn pin(&self, flows: Vec<FlowSpec>) -> EstateModel {
        EstateModel {
            pinned: Some(flows),
            ..self.clone()
        }
    }
}

/// Random estate models (see the module docs); render with [`EstateModel::render`].
pub fn models(cfg: EstateConfig) -> BoxedStrategy<EstateModel> {
    model::model(cfg)
}

/// Random estates with `cfg`.
pub fn estate_with(cfg: EstateConfig) -> BoxedStrategy<Estate> {
    model::model(cfg).prop_map(|m| m.render()).boxed()
}

/// Random estates with the default configuration.
pub fn estate() -> BoxedStrategy<Estate> {
    estate_with(EstateConfig::default())
}
