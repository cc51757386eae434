// Measure the text of SVG pictures as headless Debian chromium lays it out.
//
// Input: a JSON list of SVG sources (file named by argv[2]).  Output: a JSON
// list, one {width, height, texts: [{text, x, y, w, h}]} per picture, each
// text's box from getBBox() in the picture's own units.  One browser start.
import { readSources, run, withPage } from "./browser.mjs";

run("measure_svg", async () => {
  const sources = readSources();
  return withPage(async (page) => {
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
    return out;
  });
});
