//! The message loop: documents, debounced analysis, and the answers.
//!
//! One thread handles every message in order. An edit marks its project dirty;
//! the project is checked once no edit has come for [`Config::debounce`] (or at
//! once when a request needs it) and its diagnostics are published. A request
//! that panics gets an error response; the server goes on.

use crate::position::LineIndex;
use crate::project::{Analysis, Host, Project, root_of};
use crate::query::{self, Slot, Target};
use crossbeam_channel::RecvTimeoutError;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CompletionItem,
    CompletionItemKind, CompletionParams, CompletionResponse, Diagnostic as LspDiagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, DidChangeTextDocumentParams,
    DidChangeWatchedFilesParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DocumentFormattingParams, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, Location, MarkupContent, MarkupKind, NumberOrString, Position,
    PublishDiagnosticsParams, Range, ReferenceParams, TextEdit, Url, WorkspaceEdit,
};
use seg_diag::{Diagnostic, FileId, Severity, Span};
use seg_syntax::ast::{Item, UsePath};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a session ended. The LSP specification asks for exit code 0 after a
/// `shutdown` request and 1 otherwise (an `exit` without it, or the client's
/// input closing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Shutdown,
    Abandoned,
}

#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Quiet time after an edit before the project is checked.
    pub debounce: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            debounce: Duration::from_millis(20),
        }
    }
}

struct Document {
    text: String,
    version: i32,
}

pub struct Server {
    host: Host,
    config: Config,
    conn: Connection,
    docs: HashMap<PathBuf, Document>,
    projects: HashMap<PathBuf, Project>,
    analyses: HashMap<PathBuf, Analysis>,
    /// Projects (or lone files, by their own path) to check, and since when.
    dirty: BTreeMap<PathBuf, Instant>,
    /// Open documents with no `seg.toml` above them: checked alone.
    loose_published: Vec<PathBuf>,
    /// What was last published for each file.
    last: HashMap<PathBuf, Vec<LspDiagnostic>>,
    stdlib_dir: PathBuf,
}

/// The capabilities announced at `initialize`.
pub fn capabilities() -> serde_json::Value {
    serde_json::json!({
        "positionEncoding": "utf-16",
        "textDocumentSync": { "openClose": true, "change": 2, "save": true },
        "hoverProvider": true,
        "definitionProvider": true,
        "referencesProvider": true,
        "completionProvider": { "triggerCharacters": [".", "{", "[", ","] },
        "documentFormattingProvider": true,
        "codeActionProvider": { "codeActionKinds": ["quickfix"] },
    })
}

impl Server {
    pub fn new(conn: Connection, host: Host, config: Config) -> Server {
        Server {
            host,
            config,
            conn,
            docs: HashMap::new(),
            projects: HashMap::new(),
            analyses: HashMap::new(),
            dirty: BTreeMap::new(),
            loose_published: Vec::new(),
            last: HashMap::new(),
            stdlib_dir: std::env::temp_dir().join(format!(
                "seg-lsp-std-{}-{}",
                env!("CARGO_PKG_VERSION"),
                std::process::id()
            )),
        }
    }

    /// Handle messages until `exit` (or the client goes away).
    pub fn run(mut self) -> Result<Ending, String> {
        self.watch_files();
        loop {
            let wait = self
                .dirty
                .values()
                .min()
                .map_or(Duration::from_secs(3600), |since| {
                    (*since + self.config.debounce).saturating_duration_since(Instant::now())
                });
            match self.conn.receiver.recv_timeout(wait) {
                Ok(Message::Request(req)) => {
                    if self.conn.handle_shutdown(&req).map_err(|e| e.to_string())? {
                        return Ok(Ending::Shutdown);
                    }
                    self.request(req);
                }
                Ok(Message::Notification(n)) => {
                    if n.method == "exit" {
                        return Ok(Ending::Abandoned);
                    }
                    self.notification(n);
                }
                Ok(Message::Response(_)) => {}
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(Ending::Abandoned),
            }
            let now = Instant::now();
            let due: Vec<PathBuf> = self
                .dirty
                .iter()
                .filter(|(_, since)| **since + self.config.debounce <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for key in due {
                self.refresh(&key);
            }
        }
    }

    fn send(&self, msg: Message) {
        let _ = self.conn.sender.send(msg);
    }

    /// Ask the client to tell us when project files change on disk.
    fn watch_files(&self) {
        let watchers: Vec<serde_json::Value> = ["**/seg.toml", "**/*.seg", "**/*.{yaml,yml,json}"]
            .iter()
            .map(|g| serde_json::json!({ "globPattern": g }))
            .collect();
        let params = serde_json::json!({ "registrations": [{
            "id": "seg-files",
            "method": "workspace/didChangeWatchedFiles",
            "registerOptions": { "watchers": watchers },
        }]});
        self.send(Message::Request(Request::new(
            RequestId::from("seg-watch".to_string()),
            "client/registerCapability".into(),
            params,
        )));
    }

    // ---- notifications ------------------------------------------------------

    fn notification(&mut self, n: Notification) {
        use lsp_types::notification::{
            DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument,
            DidOpenTextDocument, DidSaveTextDocument,
        };
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params)
                    && let Some(path) = path_of(&p.text_document.uri)
                {
                    self.docs.insert(
                        path.clone(),
                        Document {
                            text: p.text_document.text,
                            version: p.text_document.version,
                        },
                    );
                    self.touch(&path);
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params)
                    && let Some(path) = path_of(&p.text_document.uri)
                    && let Some(doc) = self.docs.get_mut(&path)
                {
                    for change in p.content_changes {
                        match change.range {
                            Some(r) => {
                                let idx = LineIndex::new(&doc.text);
                                let start = idx.offset(&doc.text, r.start);
                                let end = idx.offset(&doc.text, r.end).max(start);
                                doc.text.replace_range(start..end, &change.text);
                            }
                            None => doc.text = change.text,
                        }
                    }
                    doc.version = p.text_document.version;
                    self.touch(&path);
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params)
                    && let Some(path) = path_of(&p.text_document.uri)
                {
                    self.docs.remove(&path);
                    self.touch(&path);
                }
            }
            DidSaveTextDocument::METHOD => {
                if let Some(path) = n
                    .params
                    .pointer("/textDocument/uri")
                    .and_then(|u| serde_json::from_value::<Url>(u.clone()).ok())
                    .and_then(|u| path_of(&u))
                {
                    self.touch(&path);
                }
            }
            crate::transport::TRANSPORT_ERROR => {
                let params = serde_json::json!({ "type": 1, "message": n.params.get("message") });
                self.send(Message::Notification(Notification::new(
                    lsp_types::notification::LogMessage::METHOD.into(),
                    params,
                )));
            }
            DidChangeWatchedFiles::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidChangeWatchedFilesParams>(n.params) {
                    for change in p.changes {
                        if let Some(path) = path_of(&change.uri) {
                            self.touch(&path);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// A file changed: its project (or, outside any, the file) is checked soon.
    fn touch(&mut self, path: &Path) {
        let now = Instant::now();
        let mut hit = false;
        for root in self.projects.keys() {
            if path.starts_with(root) {
                self.dirty.insert(root.clone(), now);
                hit = true;
            }
        }
        if !hit {
            let key = root_of(path).unwrap_or_else(|| path.to_path_buf());
            if key.is_dir() {
                self.projects
                    .entry(key.clone())
                    .or_insert_with(|| Project::new(key.clone()));
            }
            self.dirty.insert(key, now);
        }
    }

    // ---- analysis and diagnostics -------------------------------------------

    /// Check a project (or a lone file) now and publish its diagnostics.
    fn refresh(&mut self, key: &Path) {
        self.dirty.remove(key);
        if !key.is_dir() {
            self.refresh_loose(key);
            return;
        }
        let Some(project) = self.projects.get_mut(key) else {
            return;
        };
        let docs = &self.docs;
        let open = |p: &Path| docs.get(p).map(|d| d.text.clone());
        let analysis = project.analyze(&self.host, &open, clock_now());
        let by_file = self.group(&analysis);
        let mut published = std::collections::BTreeSet::new();
        for (path, diags) in by_file {
            published.insert(path.clone());
            // A file not open in the editor is sent again only when its list changed.
            if !self.docs.contains_key(&path) && self.last.get(&path) == Some(&diags) {
                continue;
            }
            self.publish(&path, diags.clone());
            self.last.insert(path, diags);
        }
        // Open documents of the project and files cleared since last time.
        let mut clear: Vec<PathBuf> = self
            .docs
            .keys()
            .filter(|p| p.starts_with(key) && !published.contains(*p))
            .cloned()
            .collect();
        if let Some(project) = self.projects.get_mut(key) {
            clear.extend(project.published.difference(&published).cloned());
            project.published = published;
        }
        clear.sort();
        clear.dedup();
        for p in clear {
            self.last.remove(&p);
            self.publish(&p, Vec::new());
        }
        self.analyses.insert(key.to_path_buf(), analysis);
    }

    /// A `.seg` file outside any project: its syntax alone.
    fn refresh_loose(&mut self, path: &Path) {
        let Some(doc) = self.docs.get(path) else {
            if self.loose_published.contains(&path.to_path_buf()) {
                self.publish(path, Vec::new());
                self.loose_published.retain(|p| p != path);
            }
            return;
        };
        let mut map = seg_diag::SourceMap::new();
        let file = map.add(path.display().to_string(), doc.text.clone());
        let diags = match seg_syntax::parse(file, &doc.text) {
            Ok(_) => Vec::new(),
            Err(d) => {
                let idx = LineIndex::new(&doc.text);
                vec![to_lsp(&d, &map, &idx, &doc.text, &|_| None)]
            }
        };
        self.loose_published.push(path.to_path_buf());
        self.publish(path, diags);
    }

    fn publish(&self, path: &Path, diagnostics: Vec<LspDiagnostic>) {
        let Ok(uri) = Url::from_file_path(path) else {
            return;
        };
        let version = self.docs.get(path).map(|d| d.version);
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Message::Notification(Notification::new(
            lsp_types::notification::PublishDiagnostics::METHOD.into(),
            params,
        )));
    }

    /// The path on disk of a file of an analysis (the stdlib is written out).
    fn path_of_file(&self, a: &Analysis, file: FileId) -> Option<PathBuf> {
        let name = a.map.name(file);
        if let Some(rest) = name.strip_prefix("<std>/") {
            return self.stdlib_file(rest);
        }
        Some(a.root.join(name))
    }

    /// A standard-library module written to a temporary folder, for "go to definition".
    fn stdlib_file(&self, rest: &str) -> Option<PathBuf> {
        let module = seg_stdlib::MODULES
            .iter()
            .find(|m| m.file_name.strip_prefix("<std>/") == Some(rest))?;
        let path = self.stdlib_dir.join("std").join(rest);
        if !path.is_file() {
            std::fs::create_dir_all(path.parent()?).ok()?;
            std::fs::write(&path, module.source).ok()?;
        }
        Some(path)
    }

    fn group(&self, a: &Analysis) -> BTreeMap<PathBuf, Vec<LspDiagnostic>> {
        let mut out: BTreeMap<PathBuf, Vec<LspDiagnostic>> = BTreeMap::new();
        // One line index per file that diagnostics point into.
        let mut indexes: HashMap<FileId, LineIndex> = HashMap::new();
        for d in &a.diags {
            for l in &d.labels {
                indexes
                    .entry(l.span.file)
                    .or_insert_with(|| LineIndex::new(a.map.text(l.span.file)));
            }
        }
        indexes
            .entry(a.manifest)
            .or_insert_with(|| LineIndex::new(a.map.text(a.manifest)));
        let locate = |span: Span| -> Option<Location> {
            let text = a.map.text(span.file);
            let idx = indexes.get(&span.file)?;
            let uri = Url::from_file_path(self.path_of_file(a, span.file)?).ok()?;
            Some(Location::new(
                uri,
                idx.range(text, span.start as usize, span.end as usize),
            ))
        };
        for d in &a.diags {
            let span = d
                .primary_span()
                .unwrap_or_else(|| crate::project::fallback_span(a.manifest));
            if a.map.name(span.file).starts_with("<std>/") {
                continue;
            }
            let Some(path) = self.path_of_file(a, span.file) else {
                continue;
            };
            let text = a.map.text(span.file);
            let Some(idx) = indexes.get(&span.file) else {
                continue;
            };
            let mut d = d.clone();
            if d.primary_span().is_none() {
                d = d.with_primary(span, "");
            }
            out.entry(path)
                .or_default()
                .push(to_lsp(&d, &a.map, idx, text, &locate));
        }
        out
    }

    // ---- requests -------------------------------------------------------------

    fn request(&mut self, req: Request) {
        let id = req.id.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.answer(req)));
        let response = match outcome {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
            Err(_) => Response::new_err(
                id,
                ErrorCode::InternalError as i32,
                "seg lsp: internal error while answering; please report it".into(),
            ),
        };
        self.send(Message::Response(response));
    }

    fn answer(&mut self, req: Request) -> Result<serde_json::Value, (ErrorCode, String)> {
        use lsp_types::request::{
            CodeActionRequest, Completion, Formatting, GotoDefinition, HoverRequest, References,
        };
        let bad = |e: serde_json::Error| (ErrorCode::InvalidParams, e.to_string());
        let json = |v: serde_json::Result<serde_json::Value>| {
            v.map_err(|e| (ErrorCode::InternalError, e.to_string()))
        };
        match req.method.as_str() {
            HoverRequest::METHOD => {
                let p: HoverParams = serde_json::from_value(req.params).map_err(bad)?;
                json(serde_json::to_value(self.hover(
                    &p.text_document_position_params.text_document.uri,
                    p.text_document_position_params.position,
                )))
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = serde_json::from_value(req.params).map_err(bad)?;
                json(serde_json::to_value(self.definition(
                    &p.text_document_position_params.text_document.uri,
                    p.text_document_position_params.position,
                )))
            }
            References::METHOD => {
                let p: ReferenceParams = serde_json::from_value(req.params).map_err(bad)?;
                json(serde_json::to_value(self.references(
                    &p.text_document_position.text_document.uri,
                    p.text_document_position.position,
                    p.context.include_declaration,
                )))
            }
            Completion::METHOD => {
                let p: CompletionParams = serde_json::from_value(req.params).map_err(bad)?;
                json(serde_json::to_value(self.completion(
                    &p.text_document_position.text_document.uri,
                    p.text_document_position.position,
                )))
            }
            Formatting::METHOD => {
                let p: DocumentFormattingParams =
                    serde_json::from_value(req.params).map_err(bad)?;
                json(serde_json::to_value(self.format(&p.text_document.uri)))
            }
            CodeActionRequest::METHOD => {
                let p: CodeActionParams = serde_json::from_value(req.params).map_err(bad)?;
                json(serde_json::to_value(self.code_actions(&p)))
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("seg lsp does not answer `{other}`"),
            )),
        }
    }

    /// Bring the analysis of the project holding `path` up to date; its root
    /// and the path's unit.
    fn ensure(&mut self, path: &Path) -> Option<(PathBuf, Option<usize>)> {
        let root = root_of(path)?;
        if self.dirty.contains_key(&root) || !self.analyses.contains_key(&root) {
            self.projects
                .entry(root.clone())
                .or_insert_with(|| Project::new(root.clone()));
            self.refresh(&root);
        }
        let a = self.analyses.get(&root)?;
        let unit = relative(&root, path).and_then(|rel| a.unit_of(&rel));
        Some((root, unit))
    }

    fn offset(&self, path: &Path, a: &Analysis, unit: usize, pos: Position) -> usize {
        let text = self
            .docs
            .get(path)
            .map_or_else(|| a.map.text(a.units[unit].file), |d| d.text.as_str());
        LineIndex::new(text).offset(text, pos)
    }

    fn location(&self, a: &Analysis, span: Span) -> Option<Location> {
        let text = a.map.text(span.file);
        let idx = LineIndex::new(text);
        let uri = Url::from_file_path(self.path_of_file(a, span.file)?).ok()?;
        Some(Location::new(
            uri,
            idx.range(text, span.start as usize, span.end as usize),
        ))
    }

    fn target_at(&mut self, uri: &Url, pos: Position) -> Option<(PathBuf, Target, Span)> {
        let path = path_of(uri)?;
        let (root, unit) = self.ensure(&path)?;
        let a = self.analyses.get(&root)?;
        let unit = unit?;
        let offset = self.offset(&path, a, unit, pos);
        let occ = query::at(a, unit, offset)?;
        let target = query::resolve(a, &self.host, &occ)?;
        Some((path, target, occ.span))
    }

    fn hover(&mut self, uri: &Url, pos: Position) -> Option<Hover> {
        let (path, target, span) = self.target_at(uri, pos)?;
        let root = root_of(&path)?;
        let a = self.analyses.get(&root)?;
        let text = a.map.text(span.file);
        let range = LineIndex::new(text).range(text, span.start as usize, span.end as usize);
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: query::hover(a, &target),
            }),
            range: Some(range),
        })
    }

    fn definition(&mut self, uri: &Url, pos: Position) -> Option<GotoDefinitionResponse> {
        let path = path_of(uri)?;
        // A `use ./file.seg` path goes to the file.
        if let Some(loc) = self.use_path_at(&path, pos) {
            return Some(GotoDefinitionResponse::Scalar(loc));
        }
        let (path, target, _) = self.target_at(uri, pos)?;
        let root = root_of(&path)?;
        let a = self.analyses.get(&root)?;
        let span = query::definition(a, &target)?;
        self.location(a, span).map(GotoDefinitionResponse::Scalar)
    }

    fn use_path_at(&mut self, path: &Path, pos: Position) -> Option<Location> {
        let host = self.host;
        let (root, unit) = self.ensure(path)?;
        let a = self.analyses.get(&root)?;
        let unit = unit?;
        let offset = self.offset(path, a, unit, pos);
        let u = a.units.get(unit)?;
        for item in &u.ast.items {
            if let Item::Use(us) = item
                && (us.path.span.start as usize) <= offset
                && offset <= us.path.span.end as usize
            {
                let t = a.import_target(&host, unit, &us.path.node)?;
                return self.location(a, Span::new(a.units[t].file, 0, 0));
            }
        }
        None
    }

    fn references(&mut self, uri: &Url, pos: Position, with_decl: bool) -> Option<Vec<Location>> {
        let (path, target, _) = self.target_at(uri, pos)?;
        let root = root_of(&path)?;
        let host = self.host;
        let a = self.analyses.get(&root)?;
        let decl = query::definition(a, &target);
        let spans = query::references(a, &host, &target);
        Some(
            spans
                .into_iter()
                .filter(|s| with_decl || Some(*s) != decl)
                .filter_map(|s| self.location(a, s))
                .collect(),
        )
    }

    fn format(&self, uri: &Url) -> Option<Vec<TextEdit>> {
        let path = path_of(uri)?;
        let text = match self.docs.get(&path) {
            Some(d) => d.text.clone(),
            None => std::fs::read_to_string(&path).ok()?,
        };
        let formatted = seg_fmt::format(FileId(0), &text).ok()?;
        if formatted == text {
            return Some(Vec::new());
        }
        let idx = LineIndex::new(&text);
        Some(vec![TextEdit::new(
            idx.range(&text, 0, text.len()),
            formatted,
        )])
    }

    fn code_actions(&self, p: &CodeActionParams) -> Vec<CodeActionOrCommand> {
        let mut out = Vec::new();
        for d in &p.context.diagnostics {
            let Some(data) = &d.data else { continue };
            let (title, edit) = if let Some(new) = data.get("replace").and_then(|v| v.as_str()) {
                let range = data
                    .get("range")
                    .and_then(|r| serde_json::from_value::<Range>(r.clone()).ok())
                    .unwrap_or(d.range);
                (
                    format!("Replace with `{new}`"),
                    TextEdit::new(range, new.to_string()),
                )
            } else if let Some(line) = data.get("import").and_then(|v| v.as_str()) {
                let at = data
                    .get("at")
                    .and_then(|r| serde_json::from_value::<Position>(r.clone()).ok())
                    .unwrap_or_default();
                (
                    format!("Add `{line}`"),
                    TextEdit::new(Range::new(at, at), format!("{line}\n")),
                )
            } else {
                continue;
            };
            let mut changes = HashMap::new();
            changes.insert(p.text_document.uri.clone(), vec![edit]);
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                edit: Some(WorkspaceEdit::new(changes)),
                is_preferred: Some(true),
                ..CodeAction::default()
            }));
        }
        out
    }

    fn completion(&mut self, uri: &Url, pos: Position) -> Option<CompletionResponse> {
        let path = path_of(uri)?;
        let text = self.docs.get(&path)?.text.clone();
        let idx = LineIndex::new(&text);
        let offset = idx.offset(&text, pos);
        let slot = query::slot(&text, offset);
        // The part being typed: after the last `.` for paths, else the word.
        let before = &text[..offset];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '"'))
            .map_or(0, |i| i + 1);
        let range = idx.range(&text, start, offset);
        let host = self.host;
        let (root, unit) = self.ensure(&path)?;
        let a = self.analyses.get(&root)?;
        let inv = a.inventory.as_deref();
        let mut items: Vec<(String, CompletionItemKind, String)> = Vec::new();
        let segments_services = |segment: bool| -> Vec<String> {
            let mut names = Vec::new();
            match unit {
                Some(u) => {
                    for item in &a.units[u].ast.items {
                        match item {
                            Item::Segment(s) if segment => names.push(s.name.node.text.clone()),
                            Item::Service(s) if !segment => names.push(s.name.node.text.clone()),
                            Item::Use(us) => names.extend(
                                us.names
                                    .iter()
                                    .filter(|n| {
                                        query::defining_unit(a, &host, u, &n.node.text, segment)
                                            .is_some()
                                    })
                                    .map(|n| n.node.text.clone()),
                            ),
                            _ => {}
                        }
                    }
                }
                // The file does not parse: every project definition.
                None => {
                    for u in a.units.iter().filter(|u| u.module.is_none()) {
                        for item in &u.ast.items {
                            match item {
                                Item::Segment(s) if segment => names.push(s.name.node.text.clone()),
                                Item::Service(s) if !segment => {
                                    names.push(s.name.node.text.clone())
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            names.sort();
            names.dedup();
            names
        };
        let identities = || {
            inv.map(|i| {
                i.identities
                    .iter()
                    .map(|x| (query::written(&x.name), x.kind.as_str().to_string()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        };
        match &slot {
            Slot::SetOperand | Slot::Identity => {
                if slot == Slot::SetOperand {
                    for s in segments_services(true) {
                        items.push((
                            query::written(&s),
                            CompletionItemKind::MODULE,
                            "segment".into(),
                        ));
                    }
                    for k in ["any", "network", "identities where"] {
                        items.push((k.into(), CompletionItemKind::KEYWORD, String::new()));
                    }
                }
                for (name, kind) in identities() {
                    items.push((
                        name,
                        CompletionItemKind::VARIABLE,
                        format!("identity ({kind})"),
                    ));
                }
            }
            Slot::Service => {
                for s in segments_services(false) {
                    items.push((
                        query::written(&s),
                        CompletionItemKind::INTERFACE,
                        "service".into(),
                    ));
                }
                for k in ["tcp/", "udp/", "icmp", "any"] {
                    items.push((k.into(), CompletionItemKind::KEYWORD, "port spec".into()));
                }
            }
            Slot::Attribute => {
                for b in ["name", "kind", "owner", "labels."] {
                    items.push((b.into(), CompletionItemKind::FIELD, "built-in".into()));
                }
                if let Some(inv) = inv {
                    for (name, decl) in &inv.attributes {
                        items.push((name.clone(), CompletionItemKind::FIELD, decl.ty.describe()));
                    }
                }
                let word_start = before
                    .rfind(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                    })
                    .map_or(0, |i| i + 1);
                if !before[word_start..].contains('.') && in_when(before) {
                    for k in [
                        "source.",
                        "destination.",
                        "mtls",
                        "time",
                        "days",
                        "request.method",
                        "request.path",
                        "context.",
                    ] {
                        items.push((k.into(), CompletionItemKind::KEYWORD, String::new()));
                    }
                }
            }
            Slot::Label => {
                let mut keys: Vec<&String> = inv
                    .map(|i| i.identities.iter().flat_map(|x| x.labels.keys()).collect())
                    .unwrap_or_default();
                keys.sort();
                keys.dedup();
                for k in keys {
                    items.push((query::written(k), CompletionItemKind::FIELD, "label".into()));
                }
            }
            Slot::Value(attr) => {
                for v in query::values_of(inv, attr) {
                    items.push((v, CompletionItemKind::ENUM_MEMBER, attr.clone()));
                }
            }
            Slot::Context => {
                for u in &a.units {
                    for item in &u.ast.items {
                        if let Item::Context(c) = item {
                            for i in &c.inputs {
                                items.push((
                                    i.name.node.text.clone(),
                                    CompletionItemKind::FIELD,
                                    "context input".into(),
                                ));
                            }
                        }
                    }
                }
            }
            Slot::Import(from) => {
                let target = match (from, unit) {
                    (UsePath::Module(_), _) => a.import_target(&host, 0, from),
                    (UsePath::File(_), Some(u)) => a.import_target(&host, u, from),
                    (UsePath::File(f), None) => relative(&a.root, &path)
                        .and_then(|rel| (host.resolve_import)(&rel, f))
                        .and_then(|p| a.unit_of(&p)),
                };
                if let Some(t) = target {
                    for item in &a.units[t].ast.items {
                        match item {
                            Item::Segment(s) => items.push((
                                s.name.node.text.clone(),
                                CompletionItemKind::MODULE,
                                "segment".into(),
                            )),
                            Item::Service(s) => items.push((
                                s.name.node.text.clone(),
                                CompletionItemKind::INTERFACE,
                                "service".into(),
                            )),
                            _ => {}
                        }
                    }
                }
            }
        }
        let items = items
            .into_iter()
            .map(|(label, kind, detail)| CompletionItem {
                text_edit: Some(lsp_types::CompletionTextEdit::Edit(TextEdit::new(
                    range,
                    label.clone(),
                ))),
                label,
                kind: Some(kind),
                detail: (!detail.is_empty()).then_some(detail),
                ..CompletionItem::default()
            })
            .collect();
        Some(CompletionResponse::Array(items))
    }
}

/// Whether the cursor is in a `when` condition (the last clause word before it).
fn in_when(before: &str) -> bool {
    let w = before.rfind(" when ");
    let other = ["where ", "allow ", "deny ", "segment "]
        .iter()
        .filter_map(|k| before.rfind(k))
        .max();
    match (w, other) {
        (Some(w), Some(o)) => w > o,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The diagnostic as LSP has it, with the fix of a "did you mean" help in `data`.
fn to_lsp(
    d: &Diagnostic,
    map: &seg_diag::SourceMap,
    idx: &LineIndex,
    text: &str,
    locate: &dyn Fn(Span) -> Option<Location>,
) -> LspDiagnostic {
    let span = d
        .primary_span()
        .unwrap_or_else(|| Span::new(FileId(0), 0, 0));
    let range = idx.range(text, span.start as usize, span.end as usize);
    let mut message = d.message.clone();
    for n in &d.notes {
        message.push_str(&format!("\nnote: {n}"));
    }
    if let Some(h) = &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .filter(|l| !l.primary)
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: locate(l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    LspDiagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Bug | Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Note => DiagnosticSeverity::INFORMATION,
        }),
        code: d.code.map(|c| NumberOrString::String(c.to_string())),
        source: Some("seg".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        data: fix(d, map, idx, text, span),
        ..LspDiagnostic::default()
    }
}

/// The edit a help line asks for: `did you mean `X`?` replaces the name the
/// message is about; `import it: `use …`` adds the line.
fn fix(
    d: &Diagnostic,
    map: &seg_diag::SourceMap,
    idx: &LineIndex,
    text: &str,
    span: Span,
) -> Option<serde_json::Value> {
    let help = d.help.as_deref()?;
    if let Some(line) = help
        .strip_prefix("import it: `")
        .and_then(|r| r.strip_suffix('`'))
    {
        // Before the first line that is not a comment.
        let at = text
            .lines()
            .scan(0usize, |off, l| {
                let start = *off;
                *off += l.len() + 1;
                Some((start, l))
            })
            .find(|(_, l)| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with("//")
            })
            .map_or(0, |(s, _)| s);
        return Some(serde_json::json!({ "import": line, "at": idx.position(text, at) }));
    }
    let new = help.strip_prefix("did you mean `")?.strip_suffix("`?")?;
    let wrong = d.message.split('`').nth(1)?;
    let snippet = map.snippet(span);
    let (start, end, replacement) = if snippet == wrong {
        (span.start as usize, span.end as usize, query::written(new))
    } else if snippet.starts_with('"') && snippet.trim_matches('"') == wrong {
        (
            span.start as usize,
            span.end as usize,
            serde_json::to_string(new).ok()?,
        )
    } else if let Some(prefix) = snippet.strip_suffix(wrong) {
        let s = span.start as usize + prefix.len();
        (s, span.end as usize, new.to_string())
    } else {
        return None;
    };
    Some(serde_json::json!({
        "replace": replacement,
        "range": idx.range(text, start, end),
    }))
}

fn path_of(uri: &Url) -> Option<PathBuf> {
    uri.to_file_path().ok()
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// "Now": `SOURCE_DATE_EPOCH` when set (as the CLI), else the clock.
fn clock_now() -> seg_ir::Timestamp {
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        return seg_ir::Timestamp(t);
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    seg_ir::Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}
