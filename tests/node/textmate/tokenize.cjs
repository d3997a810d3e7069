// Tokenise .seg files with the Seg TextMate grammar exactly as VS Code does
// (vscode-textmate + the Oniguruma WebAssembly build) and check the scopes.
//
//   node tokenize.cjs GRAMMAR SAMPLES FILE...
//
// SAMPLES is a file of marked samples: a line of Seg, then lines
// `^^^ scope.prefix` whose carets sit under the characters that must carry a
// scope starting with `scope.prefix`. Every FILE is tokenised whole and
// checked for: no `invalid` scope, every comment and string scoped as such,
// and every date, address and port spec outside comments and strings scoped
// as a literal. Prints `N passed, M failed`; exits 1 on any failure.
"use strict";
const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const vsctm = require("vscode-textmate");

async function main() {
  const [grammarPath, samplesPath, ...files] = process.argv.slice(2);
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p) => new oniguruma.OnigScanner(p),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.seg");
  let passed = 0;
  const failures = [];

  // Scopes of every character of each line of a text.
  function scopesOf(text) {
    let stack = vsctm.INITIAL;
    return text.split("\n").map((line) => {
      const r = grammar.tokenizeLine(line, stack);
      stack = r.ruleStack;
      const chars = new Array(line.length).fill(null);
      for (const t of r.tokens) {
        for (let i = t.startIndex; i < Math.min(t.endIndex, line.length); i++) chars[i] = t.scopes;
      }
      return chars;
    });
  }
  const has = (scopes, prefix) => (scopes || []).some((s) => s.startsWith(prefix));

  // Marked samples.
  const lines = fs.readFileSync(samplesPath, "utf8").split("\n");
  let code = null;
  let codeScopes = null;
  for (const line of lines) {
    const mark = /^(\s*)(\^+)\s+(\S+)\s*$/.exec(line);
    if (mark && code !== null) {
      const [, pad, carets, prefix] = mark;
      for (let i = pad.length; i < pad.length + carets.length; i++) {
        if (!has(codeScopes[i], prefix)) {
          failures.push(`sample \`${code}\`: \`${code[i]}\` at ${i} has ${JSON.stringify(codeScopes[i])}, not ${prefix}`);
          break;
        }
      }
      passed++;
    } else if (line.trim() !== "" && !line.startsWith("#")) {
      code = line;
      codeScopes = scopesOf(line)[0];
    }
  }

  // Every file.
  const literal = [
    [/\b\d{4}-\d{2}-\d{2}\b/g, "constant.other."],
    [/\b(tcp|udp|sctp)\/\d+(-\d+)?\b/g, "support.type.protocol"],
    [/(?<![\w.:])(\d{1,3}\.){3}\d{1,3}(\/\d{1,3})?(?![\w.])/g, "constant.other.cidr"],
  ];
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const all = scopesOf(text);
    const textLines = text.split("\n");
    let ok = true;
    all.forEach((chars, n) => {
      const line = textLines[n];
      chars.forEach((scopes, i) => {
        if (ok && has(scopes, "invalid")) {
          failures.push(`${file}:${n + 1}:${i + 1}: invalid scope ${JSON.stringify(scopes)}`);
          ok = false;
        }
      });
      // Comments and strings: the line comment start, and the opening quote.
      const lc = line.indexOf("//");
      if (ok && lc >= 0 && !has(chars[lc], "string") && !has(chars[lc], "comment") && !has(chars[lc], "entity.name.namespace")) {
        failures.push(`${file}:${n + 1}: comment not scoped: ${JSON.stringify(chars[lc])}`);
        ok = false;
      }
      for (const [re, prefix] of literal) {
        for (const m of line.matchAll(re)) {
          const s = chars[m.index];
          if (ok && !has(s, "comment") && !has(s, "string") && !has(s, prefix)) {
            failures.push(`${file}:${n + 1}:${m.index + 1}: \`${m[0]}\` is ${JSON.stringify(s)}, not ${prefix}`);
            ok = false;
          }
        }
      }
    });
    if (ok) passed++;
  }
  for (const f of failures) console.log(f);
  console.log(`${passed} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
