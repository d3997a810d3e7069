//! The `seg` command. Parsing, running and exit codes only; see `seg::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    cap_malloc_arenas();
    std::panic::set_hook(Box::new(|info| {
        // `seg test | head`: the reader has gone, so the rest of the output is unwanted.
        // `print!` reports that as a panic; end quietly and successfully, as `cat` would
        // without a signal.
        if closed_output(info) {
            std::process::exit(0);
        }
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

/// glibc gives each thread that allocates its own arena, up to eight per
/// core, and keeps what a thread freed in it: `seg build` (targets side by
/// side, then the writer's threads) peaked 13 % higher for that alone (188
/// MiB against 164 MiB at 10k rules, both targets) at no gain in time.
/// Two arenas serve the two threads that allocate much (one per target).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    // SAFETY: called first in `main`, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() {}

/// The panic of `print!`/`eprint!` on a pipe whose reader has gone.
fn closed_output(info: &std::panic::PanicHookInfo) -> bool {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    // The message ends with the OS error, `Broken pipe (os error 32)` (EPIPE).
    message.starts_with("failed printing to std")
        && message.to_ascii_lowercase().contains("broken pipe")
}
