// Measure the text of SVG pictures as headless Debian chromium lays it out.
//
// Input: a JSON list of SVG sources (file named by argv[2]).  Output: a JSON
// list, one {width, height, texts: [{text, x, y, w, h}]} per picture, each
// text's box from getBBox() in the picture's own units.  One browser start.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const executablePath = process.env.COTRACE_CHROMIUM || "/usr/bin/chromium";

async function main() {
  const sources = JSON.parse(readFileSync(process.argv[2], "utf8"));
  const profile = mkdtempSync(join(tmpdir(), "cotrace-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = context.pages()[0] || (await context.newPage());
    await page.route("**/*", (route) => route.abort());
    const out = [];
    for (const svg of sources) {
      await page.setContent("<!doctype html><html><body style='margin:0'></body></html>");
      out.push(await page.evaluate((svg) => {
        const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
        const root = document.importNode(doc.documentElement, true);
        document.body.appendChild(root);
        const texts = [...root.querySelectorAll("text")].map((t) => {
          const b = t.getBBox();
          return { text: t.textContent, x: b.x, y: b.y, w: b.width, h: b.height };
        });
        const box = root.viewBox.baseVal;
        root.remove();
        return { width: box.width, height: box.height, texts };
      }, svg));
    }
    process.stdout.write(JSON.stringify(out));
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`measure_svg: ${e && e.stack ? e.stack : e}\n`);
  process.exit(2);
});
