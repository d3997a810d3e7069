//! `seg-gen --identities 50000 --rules 10000 --seed 1 --out DIR`: write a
//! synthetic estate (seg.toml, inventory.yaml, policy/**/*.seg) to DIR.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a synthetic seg project of a chosen size (for benchmarks and scale tests).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Number of inventory identities.
    #[arg(long, default_value_t = 5000)]
    identities: usize,
    /// Number of policy rules.
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    /// Seed: the same seed and sizes give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder to write the project into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let spec = seg_gen::Spec {
        identities: args.identities,
        rules: args.rules,
        seed: args.seed,
    };
    let estate = seg_gen::generate(&spec);
    match estate.write(&args.out) {
        Ok(()) => {
            println!(
                "wrote {} ({} policy files, {} bytes)",
                args.out.display(),
                estate.policies.len(),
                estate.bytes()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write `{}`: {e}", args.out.display());
            ExitCode::from(2)
        }
    }
}
