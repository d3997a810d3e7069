//! `seg lsp` driven over stdio by an LSP client built from `lsp-types`
//! messages: the real binary, on a copy of the bank example. Diagnostics
//! appear with their code and range and clear when fixed; hover, definition,
//! references, completion, formatting and code actions answer; bad input
//! (invalid UTF-8 frames, a 10 MB document, a 20,000-deep expression) gets an
//! error and the server goes on.

use lsp_types::{
    CompletionResponse, Diagnostic, GotoDefinitionResponse, Hover, HoverContents, Location,
    Position, PublishDiagnosticsParams, TextEdit, Url,
};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// Notifications seen while waiting for something else.
    pending: Vec<Value>,
    next_id: i64,
}

impl Client {
    fn start(root: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_seg-cli"))
            .arg("lsp")
            // A fixed "now": the bank example's lints depend on the date.
            .env("SOURCE_DATE_EPOCH", "1795478400")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start seg lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    return;
                };
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let mut c = Client {
            child,
            stdin,
            incoming,
            pending: Vec::new(),
            next_id: 1,
        };
        let root_uri = Url::from_file_path(root).expect("uri");
        let init = c.request(
            "initialize",
            json!({ "processId": null, "rootUri": root_uri, "capabilities": {} }),
        );
        assert_eq!(init["capabilities"]["hoverProvider"], json!(true));
        c.notify("initialized", json!({}));
        c
    }

    fn send_raw(&mut self, body: &[u8]) {
        let head = format!("Content-Length: {}\r\n\r\n", body.len());
        self.stdin.write_all(head.as_bytes()).expect("write");
        self.stdin.write_all(body).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn send(&mut self, v: &Value) {
        let body = serde_json::to_vec(v).expect("json");
        self.send_raw(&body);
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The response to a request (`Err` for an error response).
    fn try_request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + WAIT;
        loop {
            let msg = self.next(deadline).expect("a response in time");
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return match msg.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(msg["result"].clone()),
                };
            }
            if msg.get("method").is_some() && msg.get("id").is_none() {
                self.pending.push(msg);
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.try_request(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    fn next(&mut self, deadline: Instant) -> Option<Value> {
        let wait = deadline.saturating_duration_since(Instant::now());
        self.incoming.recv_timeout(wait).ok()
    }

    /// The next notification `method` matching `pred` (earlier ones first).
    fn wait_for(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m["method"] == method && pred(&m["params"]))
        {
            return self.pending.remove(i)["params"].clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let msg = self
                .next(deadline)
                .unwrap_or_else(|| panic!("no {method} in time"));
            if msg["method"] == method && pred(&msg["params"]) {
                return msg["params"].clone();
            }
        }
    }

    fn diagnostics(&mut self, uri: &Url, version: i32) -> Vec<Diagnostic> {
        let p = self.wait_for("textDocument/publishDiagnostics", |p| {
            p["uri"] == json!(uri) && p["version"] == json!(version)
        });
        let p: PublishDiagnosticsParams = serde_json::from_value(p).expect("diagnostics");
        p.diagnostics
    }

    fn open(&mut self, uri: &Url, text: &str, version: i32) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "seg", "version": version, "text": text } }),
        );
    }

    fn change(&mut self, uri: &Url, text: &str, version: i32) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
    }

    fn at(&mut self, method: &str, uri: &Url, pos: Position) -> Value {
        self.request(
            method,
            json!({ "textDocument": { "uri": uri }, "position": pos, "context": { "includeDeclaration": true, "triggerKind": 1 } }),
        )
    }

    fn stop(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let status = self.exit_status();
        assert!(status.success(), "seg lsp exited with {status}");
    }

    fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "seg lsp did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A copy of the bank example.
fn bank() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = repo().join("examples/bank");
    for rel in ["seg.toml", "inventory.yaml", "policy/payments.seg"] {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from.join(rel), to).expect("copy");
    }
    dir
}

/// The position of the `nth` occurrence of `needle` in `text`, plus `shift` characters.
fn pos(text: &str, needle: &str, nth: usize, shift: u32) -> Position {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} not in the text"));
    let line = text[..at].matches('\n').count() as u32;
    let col = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u32;
    Position::new(line, col + shift)
}

fn hover_text(v: Value) -> String {
    let h: Hover = serde_json::from_value(v).expect("a hover");
    match h.contents {
        HoverContents::Markup(m) => m.value,
        other => panic!("unexpected hover {other:?}"),
    }
}

fn location(v: Value) -> Location {
    match serde_json::from_value::<GotoDefinitionResponse>(v).expect("a definition") {
        GotoDefinitionResponse::Scalar(l) => l,
        other => panic!("unexpected definition {other:?}"),
    }
}

#[test]
fn diagnostics_appear_with_code_and_range_and_clear_when_fixed() {
    let dir = bank();
    let path = dir.path().join("policy/payments.seg");
    let good = std::fs::read_to_string(&path).expect("read");
    let uri = Url::from_file_path(&path).expect("uri");
    let mut c = Client::start(dir.path());

    let bad = good.replacen("allow payments -> ledger", "allow paymnts -> ledger", 1);
    c.open(&uri, &bad, 1);
    let diags = c.diagnostics(&uri, 1);
    let d = diags
        .iter()
        .find(|d| d.code == Some(lsp_types::NumberOrString::String("E0201".into())))
        .unwrap_or_else(|| panic!("no E0201 in {diags:?}"));
    assert_eq!(d.range.start, pos(&bad, "paymnts", 0, 0));
    assert_eq!(d.range.end, pos(&bad, "paymnts", 0, 7));
    assert!(
        d.message.contains("did you mean `payments`?"),
        "{}",
        d.message
    );

    // The "did you mean" help is a code action that writes the fix.
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": d.range, "context": { "diagnostics": [d] } }),
    );
    let edit: Vec<TextEdit> =
        serde_json::from_value(actions[0]["edit"]["changes"][uri.as_str()].clone())
            .expect("an edit");
    assert_eq!(edit[0].new_text, "payments");
    assert_eq!(edit[0].range, d.range);

    // A syntax error: E0001 at the unexpected token.
    let broken = good.replacen(
        "allow partners -> payments-api",
        "allow partners payments-api",
        1,
    );
    c.change(&uri, &broken, 2);
    let diags = c.diagnostics(&uri, 2);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(
        diags[0].code,
        Some(lsp_types::NumberOrString::String("E0001".into()))
    );
    assert_eq!(
        diags[0].range.start,
        pos(&broken, "payments-api on ledger-api", 0, 0)
    );

    c.change(&uri, &good, 3);
    assert_eq!(c.diagnostics(&uri, 3), Vec::new());
    c.stop();
}

#[test]
fn hover_definition_references_completion_and_formatting_on_the_bank_example() {
    let dir = bank();
    let path = dir.path().join("policy/payments.seg");
    let text = std::fs::read_to_string(&path).expect("read");
    let uri = Url::from_file_path(&path).expect("uri");
    let mut c = Client::start(dir.path());
    c.open(&uri, &text, 1);
    c.diagnostics(&uri, 1);

    // Hover: an identity, a segment, a service.
    let h = hover_text(c.at(
        "textDocument/hover",
        &uri,
        pos(&text, "ledger-postgres", 1, 2),
    ));
    assert!(
        h.contains("**identity** `ledger-postgres` — workload"),
        "{h}"
    );
    assert!(h.contains("owner: `team-ledger`"), "{h}");
    assert!(h.contains("`10.1.3.5/32`"), "{h}");
    assert!(
        h.contains("spiffe://bank.example/vm/ledger-postgres"),
        "{h}"
    );
    assert!(h.contains("inventory.yaml:32"), "{h}");
    let h = hover_text(c.at("textDocument/hover", &uri, pos(&text, "-> ledger on", 0, 4)));
    assert!(h.contains("**segment** `ledger`"), "{h}");
    assert!(
        h.contains("2 identities: `ledger-postgres`, `ledger-replica`"),
        "{h}"
    );
    let h = hover_text(c.at(
        "textDocument/hover",
        &uri,
        pos(&text, "on ledger-api", 0, 4),
    ));
    assert!(
        h.contains("**service** `ledger-api`") && h.contains("tcp/8443"),
        "{h}"
    );

    // Definition: a segment in the file, a stdlib service, an identity in the inventory.
    let l = location(c.at(
        "textDocument/definition",
        &uri,
        pos(&text, "-> ledger on", 0, 4),
    ));
    assert_eq!(l.uri, uri);
    assert_eq!(l.range.start, pos(&text, "segment ledger", 0, 8));
    let l = location(c.at(
        "textDocument/definition",
        &uri,
        pos(&text, "on postgres", 0, 4),
    ));
    let std_path = l.uri.to_file_path().expect("a file");
    assert!(std_path.ends_with("std/services.seg"), "{std_path:?}");
    let std_text = std::fs::read_to_string(&std_path).expect("the stdlib file");
    assert!(std_text.contains("service postgres"));
    let l = location(c.at(
        "textDocument/definition",
        &uri,
        pos(&text, "ledger-postgres", 1, 2),
    ));
    assert!(l.uri.as_str().ends_with("inventory.yaml"), "{}", l.uri);
    assert_eq!(l.range.start.line, 31);

    // References of the `ledger` segment: its definition and every rule using it.
    let refs: Vec<Location> = serde_json::from_value(c.at(
        "textDocument/references",
        &uri,
        pos(&text, "segment ledger", 0, 9),
    ))
    .expect("locations");
    assert_eq!(
        refs.len(),
        1 + text.matches("-> ledger on").count(),
        "{refs:?}"
    );

    // Completion: services after `on`, identities in a test, enum values after `==`.
    let edited = text.replacen(
        "allow payments -> kube-dns on dns",
        "allow payments -> kube-dns on po",
        1,
    ) + "segment reports = [reporting-key]\n";
    c.change(&uri, &edited, 2);
    // The credential state of an identity.
    let h = hover_text(c.at(
        "textDocument/hover",
        &uri,
        pos(&edited, "reporting-key", 0, 1),
    ));
    assert!(
        h.contains("overdue for rotation") && h.contains("**shared**"),
        "{h}"
    );
    let items = completion_labels(c.at(
        "textDocument/completion",
        &uri,
        pos(&edited, "kube-dns on po", 0, 14),
    ));
    assert!(items.contains(&"postgres".to_string()), "{items:?}");
    assert!(!items.contains(&"ledger-postgres".to_string()), "{items:?}");
    let items = completion_labels(c.at(
        "textDocument/completion",
        &uri,
        pos(&edited, "expect deny  web-frontend", 0, 13),
    ));
    assert!(
        items.contains(&"web-frontend".to_string())
            && items.contains(&"ledger-postgres".to_string()),
        "{items:?}"
    );
    let items = completion_labels(c.at(
        "textDocument/completion",
        &uri,
        pos(&edited, "env == \"prod\"", 0, 7),
    ));
    assert!(
        items.contains(&"\"prod\"".to_string()) && items.contains(&"\"dev\"".to_string()),
        "{items:?}"
    );

    // Formatting: the canonical layout, as `seg fmt` writes it.
    // (The shipped example is formatted; unsort a `use` list and squeeze a space.)
    let messy = text.replace(
        "use std::services::{dns, https, postgres}",
        "use std::services::{postgres,https, dns}",
    );
    assert_ne!(messy, text, "the bank example's `use` line moved");
    c.change(&uri, &messy, 3);
    let edits: Vec<TextEdit> = serde_json::from_value(c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    ))
    .expect("edits");
    let expected = seg_fmt::format(seg_diag::FileId(0), &messy).expect("formats");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].new_text, expected);
    assert!(
        edits[0]
            .new_text
            .contains("use std::services::{dns, https, postgres}")
    );
    c.stop();
}

fn completion_labels(v: Value) -> Vec<String> {
    match serde_json::from_value::<CompletionResponse>(v).expect("completions") {
        CompletionResponse::Array(items) => items.into_iter().map(|i| i.label).collect(),
        CompletionResponse::List(l) => l.items.into_iter().map(|i| i.label).collect(),
    }
}

#[test]
fn bad_input_gets_an_error_and_the_server_goes_on() {
    let dir = bank();
    let path = dir.path().join("policy/payments.seg");
    let text = std::fs::read_to_string(&path).expect("read");
    let uri = Url::from_file_path(&path).expect("uri");
    let mut c = Client::start(dir.path());

    // A frame that is not UTF-8: reported, not fatal.
    c.send_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"\xff\xfe\"}");
    let log = c.wait_for("window/logMessage", |_| true);
    assert!(
        log["message"].as_str().unwrap_or("").contains("not UTF-8"),
        "{log}"
    );

    // A 20,000-deep expression: E0003.
    let deep = format!(
        "segment s = {}a{}\n",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    c.open(&uri, &deep, 1);
    let diags = c.diagnostics(&uri, 1);
    assert_eq!(
        diags[0].code,
        Some(lsp_types::NumberOrString::String("E0003".into()))
    );

    // 10 MB of tokens that do not parse: a syntax error, in time.
    let mut big = String::with_capacity(10 * 1024 * 1024);
    let mut i = 0u32;
    while big.len() < 10 * 1024 * 1024 {
        big.push_str(["segment", "x", "=", "allow", "->", "{", "}", "on"][(i % 8) as usize]);
        big.push(if i.is_multiple_of(11) { '\n' } else { ' ' });
        i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
    }
    c.change(&uri, &big, 2);
    let diags = c.diagnostics(&uri, 2);
    assert!(
        diags
            .iter()
            .any(|d| d.severity == Some(lsp_types::DiagnosticSeverity::ERROR))
    );

    // Unknown methods get an error response; hover still answers.
    let err = c
        .try_request("seg/unknown", json!({}))
        .expect_err("an error");
    assert_eq!(err["code"], json!(-32601));
    c.change(&uri, &text, 3);
    assert!(c.diagnostics(&uri, 3).is_empty());
    let h = hover_text(c.at(
        "textDocument/hover",
        &uri,
        pos(&text, "ledger-postgres", 1, 2),
    ));
    assert!(h.contains("identity"));
    c.stop();
}

/// The LSP specification's exit codes: 0 after a `shutdown` request (see
/// `stop`), 1 when the client sends `exit` without it or its input ends;
/// never the internal-error code.
#[test]
fn a_client_that_leaves_without_shutdown_gets_exit_code_one() {
    let dir = bank();
    let mut c = Client::start(dir.path());
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_status().code(), Some(1));

    for input in [&b""[..], &b"Content-Length: 2\r\n\r\n{}"[..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_seg-cli"))
            .arg("lsp")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().expect("stdin").write_all(input)?;
                child.wait_with_output()
            })
            .expect("run seg lsp");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("without a `shutdown`"), "{stderr}");
    }
}
