//! `seg schema inventory|manifest`: the JSON Schema (draft 2020-12) of an inventory file or
//! of `seg.toml`, for editors (docs/inventory.md, docs/manifest.md).

use super::Exit;
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Which {
    /// An inventory file (YAML or JSON).
    Inventory,
    /// The project manifest, seg.toml.
    Manifest,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  seg schema inventory > inventory.schema.json   # then in inventory.yaml:\n      # yaml-language-server: $schema=./inventory.schema.json\n  seg schema manifest > seg.schema.json          # then atop seg.toml: #:schema ./seg.schema.json"
)]
pub struct SchemaArgs {
    /// Which file's schema to print.
    pub which: Which,
}

pub fn run(args: &SchemaArgs) -> Exit {
    let schema = match args.which {
        Which::Inventory => seg_check::schema::inventory(),
        Which::Manifest => seg_check::schema::manifest(),
    };
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    print!("{text}");
    Exit::Ok
}
