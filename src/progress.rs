//! What seg is doing, for a person watching a terminal: one line on stderr, rewritten as
//! the work moves on and erased when it ends. Nothing at all when stderr is not a terminal
//! (CI logs, pipes, files), under `--quiet`, or with `TERM=dumb`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    enabled: bool,
    shown: bool,
    started: Instant,
}

impl Progress {
    /// A progress line if stderr is a terminal and the user did not ask for quiet.
    pub fn new(quiet: bool) -> Progress {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Progress::with(!quiet && !dumb && std::io::stderr().is_terminal())
    }

    /// A progress line that is shown or not, whatever stderr is.
    pub fn with(enabled: bool) -> Progress {
        Progress {
            enabled,
            shown: false,
            started: Instant::now(),
        }
    }

    /// Show `what` (one short line) in place of the previous one.
    pub fn show(&mut self, what: &str) {
        if !self.enabled {
            return;
        }
        // Keep to one line of a narrow terminal: the line must be erasable.
        let line: String = seg_diag::visible(what).chars().take(72).collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}…");
        let _ = err.flush();
        self.shown = true;
    }

    /// `[i/n] what`.
    pub fn step(&mut self, i: usize, n: usize, what: &str) {
        self.show(&format!("[{i}/{n}] {what}"));
    }

    /// Erase the line, before other output and at the end.
    pub fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }

    /// Time since the progress began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
