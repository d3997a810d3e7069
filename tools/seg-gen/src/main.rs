//! `seg-gen --identities 50000 --rules 10000 --seed 1 --out DIR`: write a
//! synthetic estate (seg.toml, inventory.yaml, policy/**/*.seg) to DIR.
//! `seg-gen --job pairs --rules 10000 --out DIR`: the comparison job
//! (2,000 identities owning ~5k CIDRs, 50 TCP services, random-pair rules).
//! `--edits 10,5` writes the estate after that many rule and inventory edits
//! (`seg_gen::edit`), the second version a `seg diff` benchmark compares.
//! `--peer aerleon` (pairs job) also writes the same job as Aerleon input
//! into DIR/aerleon (see `seg_gen::aerleon`).
//! `seg-gen --job collide --identities 80000 --out DIR`: identities whose
//! names share one hash under the unkeyed hasher seg's maps once used
//! (`seg_gen::collide`), a measure of resistance to crafted collisions.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a synthetic seg project of a chosen size (for benchmarks and scale tests).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// What to generate: a varied estate, the comparison job of random pairs, or crafted names.
    #[arg(long, value_enum, default_value_t = Job::Estate)]
    job: Job,
    /// Number of inventory identities [default: 5000, pairs: 2000, collide: 80000].
    #[arg(long)]
    identities: Option<usize>,
    /// Number of TCP services (pairs job only).
    #[arg(long, default_value_t = 50)]
    services: usize,
    /// Number of policy rules.
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    /// Seed: the same seed and sizes give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder to write the project into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Write the estate after RULES rule edits and INVENTORY inventory edits.
    #[arg(long, value_name = "RULES,INVENTORY")]
    edits: Option<String>,
    /// Also write the same job as input for another generator, in OUT/<peer> (pairs job only).
    #[arg(long, value_enum)]
    peer: Option<Peer>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Peer {
    /// Aerleon's definitions (.net, .svc) and policies (.pol) for iptables and k8s.
    Aerleon,
}

#[derive(Clone, Copy, ValueEnum)]
enum Job {
    Estate,
    Pairs,
    /// Identities named to collide under an unkeyed hash (`--identities` only).
    Collide,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.peer.is_some() && (!matches!(args.job, Job::Pairs) || args.edits.is_some()) {
        eprintln!("error: `--peer` writes the pairs job only, without `--edits`");
        return ExitCode::from(2);
    }
    if matches!(args.job, Job::Collide) && args.edits.is_some() {
        eprintln!("error: `--edits` does not apply to the collide job");
        return ExitCode::from(2);
    }
    if args.services == 0 || args.services > seg_gen::pairs::MAX_SERVICES {
        eprintln!(
            "error: `--services` must be 1 to {} (their ports start at 10000)",
            seg_gen::pairs::MAX_SERVICES
        );
        return ExitCode::from(2);
    }
    let mut peer_files = Vec::new();
    let mut estate = match args.job {
        Job::Estate => seg_gen::generate(&seg_gen::Spec {
            identities: args.identities.unwrap_or(5000),
            rules: args.rules,
            seed: args.seed,
        }),
        Job::Pairs => {
            let job = seg_gen::pairs::model(&seg_gen::PairsSpec {
                identities: args.identities.unwrap_or(2000),
                services: args.services,
                rules: args.rules,
                seed: args.seed,
            });
            if let Some(Peer::Aerleon) = args.peer {
                peer_files = seg_gen::aerleon::files(&job)
                    .into_iter()
                    .map(|(path, text)| (format!("aerleon/{path}"), text))
                    .collect();
            }
            seg_gen::pairs::estate(&job)
        }
        Job::Collide => seg_gen::collide::estate(args.identities.unwrap_or(80_000)),
    };
    if let Some(edits) = &args.edits {
        let Some((r, i)) = edits
            .split_once(',')
            .and_then(|(r, i)| Some((r.trim().parse().ok()?, i.trim().parse().ok()?)))
        else {
            eprintln!("error: `--edits {edits}` is not RULES,INVENTORY (two counts)");
            return ExitCode::from(2);
        };
        estate = seg_gen::edit(&estate, r, i, args.seed);
    }
    match estate
        .write(&args.out)
        .and_then(|()| seg_gen::write_files(&args.out, &peer_files))
    {
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
