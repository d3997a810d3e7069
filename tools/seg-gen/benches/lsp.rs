//! `seg lsp` latency: from a `didChange` to the `publishDiagnostics` of that
//! version, on a generated project of 5,000 identities and 1,000 rules.
//!
//! `cargo bench -p seg-gen --bench lsp`. The server runs in this process over
//! an in-memory connection (the same loop `seg lsp` runs over stdio), with its
//! default 20 ms debounce, which is part of every figure. Each edit renames a
//! segment reference back and forth in the largest policy file, so that every
//! other check reports an unknown name (E0201): the whole project is checked
//! each time. Prints the cold first check and the median, p90 and extremes of
//! `SEG_BENCH_EDITS` (default 40) edits.

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn main() {
    let spec = seg_gen::Spec {
        identities: 5_000,
        rules: 1_000,
        seed: 7,
    };
    let estate = seg_gen::generate(&spec);
    let dir = tempfile::tempdir().expect("tempdir");
    estate.write(dir.path()).expect("write estate");
    let (rel, text) = estate
        .policies
        .iter()
        .max_by_key(|(_, t)| t.len())
        .cloned()
        .expect("a policy");
    let path = dir.path().join(&rel);
    let uri = format!("file://{}", path.display());

    let (server, client) = Connection::memory();
    let host = seg_lsp::Host {
        expand_globs: seg::driver::expand_globs,
        resolve_import: seg::driver::resolve_import,
    };
    let thread =
        std::thread::spawn(move || seg_lsp::serve(server, host, seg_lsp::Config::default()));
    let send = |m: Message| client.sender.send(m).expect("send");
    send(Message::Request(Request::new(
        RequestId::from(1),
        "initialize".into(),
        json!({ "processId": null, "capabilities": {} }),
    )));
    loop {
        if let Ok(Message::Response(r)) = client.receiver.recv()
            && r.id == RequestId::from(1)
        {
            break;
        }
    }
    send(Message::Notification(Notification::new(
        "initialized".into(),
        json!({}),
    )));

    let wait = |version: i32| -> usize {
        loop {
            match client.receiver.recv_timeout(Duration::from_secs(120)) {
                Ok(Message::Notification(n))
                    if n.method == "textDocument/publishDiagnostics"
                        && n.params["uri"] == json!(uri)
                        && n.params["version"] == json!(version) =>
                {
                    return n.params["diagnostics"].as_array().map_or(0, Vec::len);
                }
                Ok(_) => {}
                Err(e) => panic!("no diagnostics for version {version}: {e}"),
            }
        }
    };

    let t = Instant::now();
    send(Message::Notification(Notification::new(
        "textDocument/didOpen".into(),
        json!({ "textDocument": { "uri": uri, "languageId": "seg", "version": 1, "text": text } }),
    )));
    let n = wait(1);
    let cold = t.elapsed();

    // A segment referenced in a rule: renamed to a name that does not exist and back.
    let needle = text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("allow ")
                .and_then(|r| r.split(" -> ").next())
                .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
                .map(|s| format!("allow {s} ->"))
        })
        .expect("a rule with a named source");
    let broken = text.replacen(&needle, &needle.replacen("allow ", "allow zz", 1), 1);
    let edits: usize = std::env::var("SEG_BENCH_EDITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut times = Vec::new();
    let mut counts = (0, 0);
    for i in 0..edits {
        let version = i as i32 + 2;
        let body = if i % 2 == 0 { &broken } else { &text };
        let t = Instant::now();
        send(Message::Notification(Notification::new(
            "textDocument/didChange".into(),
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": body }] }),
        )));
        let n = wait(version);
        times.push(t.elapsed());
        if i % 2 == 0 {
            counts.0 = n
        } else {
            counts.1 = n
        }
    }
    times.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "lsp latency, {} identities / {} rules ({} bytes of policy, edited file {} bytes):",
        spec.identities,
        spec.rules,
        estate.bytes(),
        text.len()
    );
    println!(
        "  cold open (inventory load, parse, check): {} ({n} diagnostics)",
        ms(cold)
    );
    println!(
        "  edit -> diagnostics over {edits} edits: median {}, p90 {}, min {}, max {} (diagnostics in the file: {} broken, {} fixed)",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        counts.0,
        counts.1,
    );
    send(Message::Request(Request::new(
        RequestId::from(2),
        "shutdown".into(),
        Value::Null,
    )));
    send(Message::Notification(Notification::new(
        "exit".into(),
        Value::Null,
    )));
    let _ = thread.join();
}
