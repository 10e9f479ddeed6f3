// Parse mermaid diagrams with mermaid's own parser (no browser needed), for tests and CI.
//
//   npm install --prefix DIR mermaid jsdom
//   MERMAID_MODULES=DIR/node_modules node scripts/check-mermaid.mjs FILE.mmd...
//
// Prints `FILE: ok (flowchart-v2)` or `FILE: INVALID ...` per file; exit 1 if any is invalid.
// The mermaid CLI (@mermaid-js/mermaid-cli) renders through a headless Chrome; this only
// parses, which is what a diagram must survive to render on GitHub or GitLab.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.env.MERMAID_MODULES || join(process.cwd(), "node_modules");
const require = createRequire(join(modules, "noop.js"));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);

const { JSDOM } = await load("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import(
  pathToFileURL(join(modules, "mermaid", "dist", "mermaid.core.mjs")).href
);
mermaid.initialize({ startOnLoad: false });
let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  try {
    const result = await mermaid.parse(text);
    console.log(`${file}: ok (${result.diagramType})`);
  } catch (error) {
    failed += 1;
    const message = String(error.message || error).split("\n").slice(0, 4).join(" | ");
    console.log(`${file}: INVALID ${message}`);
  }
}
process.exit(failed ? 1 : 0);
