//! `seg targets`: the targets and what each can enforce. `expires` is
//! `clock` where the target stops an expired rule itself, `rebuild` where the
//! rule stays in force until the output is rebuilt and applied.

use super::Exit;
use crate::driver::{TARGETS, backend_for};

pub fn run() -> Exit {
    let row = |cells: [&str; 8]| {
        let line = format!(
            "{:<12} {:<6} {:<6} {:<6} {:<8} {:<8} {:<8} {}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]
        );
        println!("{}", line.trim_end());
    };
    row([
        "target", "deny", "time", "mtls", "request", "context", "layered", "expires",
    ]);
    for name in TARGETS {
        let Some(b) = backend_for(name) else {
            println!("{name:<12} (the checked IR as JSON)");
            continue;
        };
        let c = b.capabilities();
        let yn = |v: bool| if v { "yes" } else { "no" };
        let deny = if c.deny { "native" } else { "carved" };
        row([
            name,
            deny,
            yn(c.time),
            yn(c.mtls),
            yn(c.request),
            yn(c.context),
            yn(c.honours_layered),
            if c.clock { "clock" } else { "rebuild" },
        ]);
    }
    Exit::Ok
}
