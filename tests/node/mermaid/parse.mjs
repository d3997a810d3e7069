// Parse every Mermaid file named on the command line with Mermaid's own
// parser (in a jsdom window, which Mermaid expects). Prints one line per file:
// `ok <file> <diagram type> <nodes> <edges>` (the counts of a flowchart as
// Mermaid's database holds them) or `error <file>: <message>`; exits 1 on
// any error.
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
if (!globalThis.navigator) globalThis.navigator = dom.window.navigator;

const mermaid = (await import("mermaid")).default;
mermaid.initialize({ startOnLoad: false });

let failed = false;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  try {
    const result = await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const vertices = diagram.db.getVertices();
    const nodes = vertices instanceof Map ? vertices.size : Object.keys(vertices).length;
    const edges = diagram.db.getEdges().length;
    console.log(`ok ${file} ${result && result.diagramType ? result.diagramType : "?"} ${nodes} ${edges}`);
  } catch (e) {
    failed = true;
    console.log(`error ${file}: ${String(e && e.message ? e.message : e).split("\n").join(" ")}`);
  }
}
process.exit(failed ? 1 : 0);
