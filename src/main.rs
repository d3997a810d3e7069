//! The `seg` command. Parsing, running and exit codes only; see `seg::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: seg crashed ({info})");
        eprintln!(
            "note: this is a bug in seg; please report it with the command and the input that caused it"
        );
    }));
    match std::panic::catch_unwind(seg::cli::main) {
        Ok(code) => code,
        Err(_) => ExitCode::from(seg::cli::Exit::Internal as u8),
    }
}
