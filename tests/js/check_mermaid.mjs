// Parse and render Mermaid diagrams with the real mermaid library in headless
// Debian chromium.
//
// Input: a JSON list of diagram sources, from the file named by argv[2] or
// from stdin. Output (stdout): a JSON list, one {ok, error, svg} per source.
// One browser start per batch. Exit status 0 when the checker itself worked,
// whatever the diagrams did; 2 on an internal failure (message on stderr).
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readSources, run, withPage } from "./browser.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, "node_modules", "mermaid", "dist", "mermaid.min.js");

run("check_mermaid", async () => {
  const sources = readSources();
  return withPage(async (page) => {
    await page.setContent("<!doctype html><html><body></body></html>");
    await page.addScriptTag({ path: bundle });
    return page.evaluate(async (sources) => {
      const mermaid = globalThis.mermaid;
      mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      const out = [];
      for (let i = 0; i < sources.length; i++) {
        try {
          await mermaid.parse(sources[i]);
          const { svg } = await mermaid.render(`cotrace-check-${i}`, sources[i]);
          out.push({ ok: true, error: null, svg });
        } catch (e) {
          out.push({ ok: false, error: String((e && e.message) || e), svg: null });
        }
        // render() leaves a container behind on errors; keep the page clean
        document.querySelectorAll(`[id^="dcotrace-check-"]`).forEach((n) => n.remove());
      }
      return out;
    }, sources);
  });
});
