// Renders the LaTeX of every page into HTML with KaTeX, at build time, so a page needs no script and fetches
// nothing to show its mathematics. docfx's markdig writes $...$ as <span class="math">\(...\)</span> and a
// $$...$$ block as <div class="math">\[...\]</div>, with <, > and & escaped; those elements are replaced by
// KaTeX's markup, and pages that had math get a link to the KaTeX style sheet copied into the site.
// Usage: node render-math.mjs SITE_DIR      (exit 1 naming the page and the expression if KaTeX rejects one)
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import katex from "katex";

const site = path.resolve(process.argv[2] ?? "../../artifacts/site");
const require = createRequire(import.meta.url);
const katexDist = path.dirname(require.resolve("katex/dist/katex.min.css"));

const entities = { "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'", "&#x27;": "'", "&nbsp;": "\u00a0" };
const decode = (s) => s.replace(/&(lt|gt|amp|quot|nbsp|#39|#x27);/g, (m) => entities[m]);

const htmlFiles = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith(".html")) htmlFiles.push(p);
  }
})(site);

const mathElement = /<(span|div) class="math">([\s\S]*?)<\/\1>/g;
let pages = 0, expressions = 0;
const failures = [];
for (const file of htmlFiles) {
  const html = fs.readFileSync(file, "utf8");
  if (!html.includes('class="math"')) continue;
  const apiPage = path.relative(site, file).startsWith("api" + path.sep);
  const out = html.replace(mathElement, (whole, tag, body) => {
    const display = tag === "div";
    // The XML docs write formulas in plain text, so a $ on an API page is literal (a shell variable, say): put it back.
    if (apiPage) return body.trim().replace(/^\\\(([\s\S]*)\\\)$/, "$$$1$$").replace(/^\\\[([\s\S]*)\\\]$/, "$$$$$1$$$$");
    let tex = decode(body).trim();
    const open = display ? "\\[" : "\\(", close = display ? "\\]" : "\\)";
    if (tex.startsWith(open) && tex.endsWith(close)) tex = tex.slice(2, -2).trim();
    try {
      expressions++;
      return katex.renderToString(tex, { displayMode: display, throwOnError: true, strict: "error", output: "html" });
    } catch (e) {
      failures.push(`${path.relative(site, file)}: ${e.message.split("\n")[0]} in: ${tex.slice(0, 120)}`);
      return whole;
    }
  });
  const css = path.relative(path.dirname(file), path.join(site, "public", "katex", "katex.min.css")).split(path.sep).join("/");
  fs.writeFileSync(file, apiPage ? out : out.replace("</head>", `  <link rel="stylesheet" href="${css}">\n</head>`));
  pages++;
}
if (failures.length) {
  console.error(`render-math: ${failures.length} expression(s) KaTeX could not typeset:\n  ` + failures.join("\n  "));
  process.exit(1);
}
// The style sheet and only the fonts it asks for first (woff2, which every current browser reads).
const target = path.join(site, "public", "katex");
fs.mkdirSync(path.join(target, "fonts"), { recursive: true });
const cssText = fs.readFileSync(path.join(katexDist, "katex.min.css"), "utf8")
  .replace(/,url\(fonts\/[^)]+\.woff\) format\("woff"\),url\(fonts\/[^)]+\.ttf\) format\("truetype"\)/g, "");
fs.writeFileSync(path.join(target, "katex.min.css"), cssText);
for (const f of fs.readdirSync(path.join(katexDist, "fonts")).filter((f) => f.endsWith(".woff2")))
  fs.copyFileSync(path.join(katexDist, "fonts", f), path.join(target, "fonts", f));
console.log(`render-math: ${expressions} expressions on ${pages} pages`);
