//! The `seg` command. Parsing, running and exit codes only; see `seg::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        // `seg test | head`: the reader has gone, so the rest of the output is unwanted.
        // `print!` reports that as a panic; it unwinds quietly (a half-made output
        // folder is removed on the way) and seg ends successfully, as `cat` would
        // without a signal.
        if closed_output(info.payload()) {
            return;
        }
        eprintln!("error: internal error: seg crashed ({info})");
        eprintln!(
            "note: this is a bug in seg; please report it with the command and the input that caused it"
        );
    }));
    match std::panic::catch_unwind(seg::cli::main) {
        Ok(code) => code,
        Err(payload) if closed_output(&*payload) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(seg::cli::Exit::Internal as u8),
    }
}

/// The panic of `print!`/`eprint!` on a pipe whose reader has gone.
fn closed_output(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    // The message ends with the OS error, `Broken pipe (os error 32)` (EPIPE).
    message.starts_with("failed printing to std")
        && message.to_ascii_lowercase().contains("broken pipe")
}
