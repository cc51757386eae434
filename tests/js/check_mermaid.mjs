// Parse and render Mermaid diagrams with the real mermaid library in headless
// Debian chromium (no browser download: playwright-core only drives it).
//
// Input: a JSON list of diagram sources, from the file named by argv[2] or
// from stdin. Output (stdout): a JSON list, one {ok, error, svg} per source.
// One browser start per batch. Exit status 0 when the checker itself worked,
// whatever the diagrams did; 2 on an internal failure (message on stderr).
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, "node_modules", "mermaid", "dist", "mermaid.min.js");
const executablePath = process.env.COTRACE_CHROMIUM || "/usr/bin/chromium";

function readInput() {
  const arg = process.argv[2];
  const text = arg && arg !== "-" ? readFileSync(arg, "utf8") : readFileSync(0, "utf8");
  const sources = JSON.parse(text);
  if (!Array.isArray(sources) || !sources.every((s) => typeof s === "string")) {
    throw new Error("input must be a JSON list of strings");
  }
  return sources;
}

async function main() {
  const sources = readInput();
  const profile = mkdtempSync(join(tmpdir(), "cotrace-chromium-"));
  let context;
  try {
    // A fresh temporary profile: the persistent context is what passes
    // --user-data-dir to chromium.
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = context.pages()[0] || (await context.newPage());
    // Nothing may leave the machine: every request but the blank page fails.
    await page.route("**/*", (route) => route.abort());
    await page.setContent("<!doctype html><html><body></body></html>");
    await page.addScriptTag({ path: bundle });
    const results = await page.evaluate(async (sources) => {
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
    process.stdout.write(JSON.stringify(results));
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`check_mermaid: ${e && e.stack ? e.stack : e}\n`);
  process.exit(2);
});
