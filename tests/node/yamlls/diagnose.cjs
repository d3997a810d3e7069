// The YAML language server as an editor runs it, over stdio: opens each file given on the
// command line and prints, as one JSON object, the diagnostics the server published for each
// (file -> [{ line, message, severity }], line 1-based). The schema comes from the files'
// own `yaml-language-server: $schema=...` modelines; the schema store is off and any HTTP
// request would go to a closed loopback port, so nothing leaves the machine.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const files = process.argv.slice(2).map((f) => path.resolve(f));
const server = spawn(
  process.execPath,
  [require.resolve('yaml-language-server/bin/yaml-language-server'), '--stdio'],
  { stdio: ['pipe', 'pipe', 'inherit'] }
);

let nextId = 1;
const pending = new Map();
const published = new Map();
let lastPublish = Date.now();

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
  server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  server.stdin.write(body);
}

function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((resolve) => pending.set(id, resolve));
}

function receive(message) {
  if (message.id !== undefined && message.method === undefined) {
    const resolve = pending.get(message.id);
    pending.delete(message.id);
    if (resolve) resolve(message.result);
  } else if (message.id !== undefined) {
    // A request from the server (configuration, capability registration, progress): no answer
    // carries anything it needs.
    send({ id: message.id, result: null });
  } else if (message.method === 'textDocument/publishDiagnostics') {
    published.set(message.params.uri, message.params.diagnostics);
    lastPublish = Date.now();
  }
}

let buffer = Buffer.alloc(0);
server.stdout.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const header = buffer.subarray(0, end).toString('ascii');
    const length = Number(/Content-Length: (\d+)/i.exec(header)?.[1]);
    if (buffer.length < end + 4 + length) return;
    receive(JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString('utf8')));
    buffer = buffer.subarray(end + 4 + length);
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const deadline = Date.now() + 60_000;
  await request('initialize', {
    processId: process.pid,
    rootUri: null,
    workspaceFolders: null,
    capabilities: { textDocument: { publishDiagnostics: {} } },
  });
  send({ method: 'initialized', params: {} });
  send({
    method: 'workspace/didChangeConfiguration',
    params: {
      settings: {
        yaml: { validate: true, hover: false, completion: false, schemaStore: { enable: false } },
        http: { proxy: 'http://127.0.0.1:9', proxyStrictSSL: true },
      },
    },
  });
  const uris = files.map((f) => pathToFileURL(f).href);
  files.forEach((f, i) => {
    send({
      method: 'textDocument/didOpen',
      params: {
        textDocument: { uri: uris[i], languageId: 'yaml', version: 1, text: fs.readFileSync(f, 'utf8') },
      },
    });
  });
  // Every file answered, then quiet for a while (a schema loaded late publishes again).
  while (Date.now() < deadline && (uris.some((u) => !published.has(u)) || Date.now() - lastPublish < 1000)) {
    await sleep(100);
  }
  const missing = uris.filter((u) => !published.has(u));
  if (missing.length > 0) {
    console.error(`no diagnostics published for ${missing.join(', ')}`);
    process.exit(3);
  }
  const out = {};
  files.forEach((f, i) => {
    out[f] = published.get(uris[i]).map((d) => ({
      line: d.range.start.line + 1,
      message: d.message,
      severity: d.severity,
    }));
  });
  console.log(JSON.stringify(out));
  await request('shutdown', null);
  send({ method: 'exit', params: null });
}

main().catch((e) => {
  console.error(e);
  process.exit(3);
});
