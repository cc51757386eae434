// What the node checkers share: their JSON input, and a page in headless
// Debian chromium (no browser download: playwright-core only drives it),
// with a fresh temporary profile and no network.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const executablePath = process.env.COTRACE_CHROMIUM || "/usr/bin/chromium";

// A JSON list of strings, from the file named by argv[2] or from stdin.
export function readSources() {
  const arg = process.argv[2];
  const text = arg && arg !== "-" ? readFileSync(arg, "utf8") : readFileSync(0, "utf8");
  const sources = JSON.parse(text);
  if (!Array.isArray(sources) || !sources.every((s) => typeof s === "string")) {
    throw new Error("input must be a JSON list of strings");
  }
  return sources;
}

// Run use(page) on one blank page; the browser and its profile go afterwards.
export async function withPage(use) {
  const profile = mkdtempSync(join(tmpdir(), "cotrace-chromium-"));
  let context;
  try {
    // The persistent context is what passes --user-data-dir to chromium.
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = context.pages()[0] || (await context.newPage());
    // Nothing may leave the machine: every request but the blank page fails.
    await page.route("**/*", (route) => route.abort());
    return await use(page);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// Runs in the page: lay out one SVG source and measure it.
function layOut(svg, measure) {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  const root = document.importNode(doc.documentElement, true);
  document.body.appendChild(root);
  try {
    const box = root.viewBox.baseVal;
    return Object.assign({ width: box.width, height: box.height }, measure(root));
  } finally {
    root.remove();
  }
}

// Each SVG source laid out in a blank page, one browser start for all:
// {width, height (its viewBox), ...what measure(root) returns}, in order.
// measure runs in the page (it sees nothing of this module but its argument).
export async function measureSvgs(sources, measure) {
  return withPage(async (page) => {
    const out = [];
    for (const svg of sources) {
      await page.setContent("<!doctype html><html><body style='margin:0'></body></html>");
      out.push(await page.evaluate(`(${layOut})(${JSON.stringify(svg)}, ${measure})`));
    }
    return out;
  });
}

// The checker's entry point: its result as JSON on stdout, exit 2 on an
// internal failure (message on stderr).
export function run(name, main) {
  main().then(
    (result) => process.stdout.write(JSON.stringify(result)),
    (e) => {
      process.stderr.write(`${name}: ${e && e.stack ? e.stack : e}\n`);
      process.exit(2);
    });
}
