// Measure Graphviz's SVG pictures as headless Debian chromium lays them out:
// does every node's label fit inside the node's own shape?
//
// Input: a JSON list of SVG sources (file named by argv[2]).  Output: a JSON
// list, one {width, height, nodes: [{title, shape: {x, y, w, h},
// texts: [{text, x, y, w, h}]}], others: [{text, x, y, w, h, group}]} per picture:
// each node (g.node) with the box of its outline (polygon, ellipse, path) and
// of each of its texts, and the texts outside nodes (edge labels, the graph's
// title), in the picture's own units (Graphviz's transform applied).  One
// browser start.
import { measureSvgs, readSources, run } from "./browser.mjs";

run("measure_nodes", async () => measureSvgs(readSources(), (root) => {
  // boxes in the root's user units: through each element's CTM
  const rootInv = root.getScreenCTM().inverse();
  const boxOf = (el) => {
    const b = el.getBBox();
    const m = rootInv.multiply(el.getScreenCTM());
    const pts = [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height], [b.x + b.width, b.y + b.height]]
      .map(([x, y]) => new DOMPoint(x, y).matrixTransform(m));
    const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
    const x = Math.min(...xs), y = Math.min(...ys);
    return { x, y, w: Math.max(...xs) - x, h: Math.max(...ys) - y };
  };
  // a text's box without its leading and trailing spaces (what is seen)
  const textBox = (t) => {
    const box = Object.assign({ text: t.textContent }, boxOf(t));
    const s = t.textContent, n = t.getNumberOfChars();
    let first = 0, last = n - 1;
    while (first < n && /\s/.test(s[first])) first++;
    while (last > first && /\s/.test(s[last])) last--;
    if (n && (first > 0 || last < n - 1) && first <= last) {
      const m = rootInv.multiply(t.getScreenCTM());
      const a = new DOMPoint(t.getExtentOfChar(first).x, 0).matrixTransform(m).x;
      const e = t.getExtentOfChar(last);
      const b = new DOMPoint(e.x + e.width, 0).matrixTransform(m).x;
      box.x = Math.min(a, b);
      box.w = Math.abs(b - a);
    }
    return box;
  };
  const nodes = [...root.querySelectorAll("g.node")].map((g) => {
    const outline = g.querySelector("polygon, ellipse, path, rect");
    return {
      title: (g.querySelector("title") || {}).textContent || "",
      shape: outline ? boxOf(outline) : null,
      texts: [...g.querySelectorAll("text")].filter((t) => t.textContent.trim()).map(textBox),
    };
  });
  // each with its group (an edge's or a cluster's g, by document order): the lines of one label
  const groups = [...root.querySelectorAll("g")];
  const others = [...root.querySelectorAll("text")].filter((t) => !t.closest("g.node") && t.textContent.trim())
    .map((t) => Object.assign(textBox(t), { group: groups.indexOf(t.closest("g.edge, g.cluster, g.graph")) }));
  return { nodes, others };
}));
