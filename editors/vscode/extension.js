// The Seg extension: the grammar and language configuration come from
// package.json; this starts `seg lsp` and connects it to the editor.
const { workspace } = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const command = workspace.getConfiguration("seg").get("path", "seg");
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "seg",
    "Seg",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "seg" }] },
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
