// Measure the text of SVG pictures as headless Debian chromium lays it out.
//
// Input: a JSON list of SVG sources (file named by argv[2]).  Output: a JSON
// list, one {width, height, texts: [{text, x, y, w, h}]} per picture, each
// text's box from getBBox() in the picture's own units.  One browser start.
import { measureSvgs, readSources, run } from "./browser.mjs";

run("measure_svg", async () => measureSvgs(readSources(), (root) => ({
  texts: [...root.querySelectorAll("text")].map((t) => {
    const b = t.getBBox();
    return { text: t.textContent, x: b.x, y: b.y, w: b.width, h: b.height };
  }),
})));
