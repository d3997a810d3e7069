//! `seg lsp`: the Seg language server (LSP 3.17 over stdio).
//!
//! Diagnostics as you type (debounced, with codes, related locations and the
//! fixes of "did you mean" helps as code actions), hovers on identities,
//! segments and services, go to definition (into the inventory and the
//! standard library too), find references, completion of names, attributes
//! and values, and formatting with `seg fmt`'s layout. See `docs/editors.md`.

pub mod position;
pub mod project;
pub mod query;
mod server;
pub mod transport;

pub use project::Host;
pub use server::{Config, Ending, Server, capabilities};

use lsp_server::Connection;

/// Serve one client over stdin/stdout until it exits.
pub fn run_stdio(host: Host) -> Result<Ending, String> {
    let (sender, receiver, writer) = transport::stdio();
    let conn = Connection { sender, receiver };
    let result = serve(conn, host, Config::default());
    writer.join();
    result
}

/// Serve one client over `conn` (stdio, or an in-memory pair in benchmarks).
pub fn serve(conn: Connection, host: Host, config: Config) -> Result<Ending, String> {
    let (id, _params) = match conn.initialize_start() {
        Ok(start) => start,
        // Input that ends before `initialize` is a client gone away, not a fault.
        Err(e) if e.channel_is_disconnected() => return Ok(Ending::Abandoned),
        Err(e) => return Err(e.to_string()),
    };
    let result = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "seg lsp", "version": env!("CARGO_PKG_VERSION") },
    });
    conn.initialize_finish(id, result)
        .map_err(|e| e.to_string())?;
    Server::new(conn, host, config).run()
}
