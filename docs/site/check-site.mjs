// Checks the built site the way a reader meets it: every page served on localhost and opened in headless Chromium
// (Debian's, driven by playwright-core), plus a static pass over every link.
//   - every page answers 200, raises no script error, and every image on it decodes;
//   - nothing is fetched from another host when a page is viewed (such requests are blocked and reported);
//   - every internal link and image points at a file of the site, and every #anchor at an id on its page;
//   - no math is left unrendered (no \( \) or $$ outside code, no KaTeX error);
//   - every animated PNG is read by Chromium as an animation (more than one frame, first and last frames differ);
//   - the tutorial's first figure is photographed and its pixels measured (it must not be blank).
// Usage: node check-site.mjs SITE_DIR REPORT.json [SCREENSHOT.png]     exit 1 when any check fails.
import fs from "node:fs";
import path from "node:path";
import http from "node:http";
import { chromium } from "playwright-core";

const site = path.resolve(process.argv[2] ?? "../../artifacts/site");
const reportPath = path.resolve(process.argv[3] ?? path.join(site, "..", "site-check.json"));
const screenshotPath = path.resolve(process.argv[4] ?? path.join(path.dirname(reportPath), "tutorial-first-figure.png"));
const started = Date.now();
const failures = [];
const fail = (where, what) => failures.push(`${where}: ${what}`);

const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p); else files.push(p);
  }
})(site);
const rel = (p) => path.relative(site, p).split(path.sep).join("/");
const pages = files.filter((f) => f.endsWith(".html")).map(rel).sort();
// docfx writes toc.html fragments that pages load into their navigation; they are not pages of their own.
const readerPages = pages.filter((p) => !p.endsWith("toc.html"));

// ---- static pass: links, images, anchors, external resources ----
const idsOf = new Map();
const ids = (page) => {
  if (!idsOf.has(page)) {
    const html = fs.readFileSync(path.join(site, page), "utf8");
    idsOf.set(page, new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1])));
  }
  return idsOf.get(page);
};
let internalLinks = 0, externalLinks = 0, anchorsChecked = 0;
for (const page of pages) {
  const html = fs.readFileSync(path.join(site, page), "utf8");
  for (const m of html.matchAll(/<(a|img|script|link|source|iframe)\b[^>]*?\s(href|src)="([^"]*)"/g)) {
    const [, tag, , raw] = m;
    const url = raw.replace(/&amp;/g, "&");
    if (/^(mailto:|javascript:|data:)/.test(url)) continue;
    if (/^(https?:)?\/\//.test(url)) {
      if (tag !== "a") fail(page, `<${tag}> loads ${url} from another host at view time`);
      else externalLinks++;
      continue;
    }
    const [target, hash] = url.split("#");
    if (target === "" && hash === undefined) continue;
    if (target === "" && (hash === "" || hash === undefined)) continue;
    let file = target === "" ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), decodeURIComponent(target.split("?")[0])));
    if (file.endsWith("/") || file === ".") file = path.posix.join(file, "index.html");
    internalLinks++;
    if (file.startsWith("..") || !fs.existsSync(path.join(site, file)) || fs.statSync(path.join(site, file)).isDirectory()) {
      fail(page, `broken ${tag === "img" ? "image" : "link"} ${raw}`);
      continue;
    }
    if (hash && file.endsWith(".html") && tag === "a") {
      anchorsChecked++;
      if (!ids(file).has(decodeURIComponent(hash))) fail(page, `link ${raw}: no id "${hash}" on ${file}`);
    }
  }
}

// ---- animated PNGs: an acTL chunk before the first IDAT ----
const apngs = files.filter((f) => f.endsWith(".png")).filter((f) => {
  const b = fs.readFileSync(f);
  const actl = b.indexOf("acTL"), idat = b.indexOf("IDAT");
  return actl > 0 && (idat < 0 || actl < idat);
}).map(rel);

// ---- the browser pass ----
const types = { ".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript", ".json": "application/json",
  ".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".woff2": "font/woff2", ".woff": "font/woff", ".map": "application/json" };
const server = http.createServer((req, res) => {
  const p = decodeURIComponent(new URL(req.url, "http://x").pathname);
  let f = path.join(site, p);
  if (!f.startsWith(site)) { res.writeHead(403).end(); return; }
  if (fs.existsSync(f) && fs.statSync(f).isDirectory()) f = path.join(f, "index.html");
  if (!fs.existsSync(f)) { res.writeHead(404).end("not found"); return; }
  res.writeHead(200, { "content-type": types[path.extname(f)] ?? "application/octet-stream" });
  fs.createReadStream(f).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.route("**/*", (route) => {
  const u = route.request().url();
  if (u.startsWith(origin) || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
  fail("view time", `a page asked for ${u} (blocked: the site must not fetch from another host)`);
  return route.abort();
});

let mathRendered = 0, imagesLoaded = 0;
// Four tabs, each reused for its share of the pages (opening a tab per page costs more than the page).
async function worker(queue) {
  const page = await context.newPage();
  let current = "";
  page.on("pageerror", (e) => fail(current, `script error: ${e.message.split("\n")[0]}`));
  page.on("response", (r) => { if (r.status() >= 400 && r.url().startsWith(origin)) fail(current, `${r.status()} for ${r.url().slice(origin.length)}`); });
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText ?? "";
    // A navigation to the next page cancels what the last one still had in flight: not a failure of either.
    if (r.url().startsWith(origin) && !why.includes("ERR_ABORTED")) fail(current, `request failed: ${r.url().slice(origin.length)} (${why})`);
  });
  while (queue.length) {
    current = queue.shift();
    try {
      const response = await page.goto(`${origin}/${current}`, { waitUntil: "load", timeout: 30000 });
      if (!response || response.status() !== 200) fail(current, `answered ${response?.status()}`);
      const r = await page.evaluate(() => {
        const broken = [...document.images].filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.getAttribute("src"));
        const article = document.querySelector("article") ?? document.body;
        const clone = article.cloneNode(true);
        clone.querySelectorAll("pre, code, .katex, script, style").forEach((e) => e.remove());
        const text = clone.textContent ?? "";
        return {
          broken, images: document.images.length,
          raw: document.querySelectorAll("span.math, div.math").length,
          errors: document.querySelectorAll(".katex-error").length,
          katex: document.querySelectorAll(".katex").length,
          leftover: (text.match(/\\\(|\\\[|\$\$|(^|[^\w$])\$[^$\s][^$]*\$(?!\w)/g) ?? []).slice(0, 3),
        };
      });
      for (const b of r.broken) fail(current, `image did not load: ${b}`);
      if (r.raw || r.errors) fail(current, `${r.raw} math element(s) left unrendered, ${r.errors} KaTeX error(s)`);
      if (r.leftover.length) fail(current, `LaTeX left as text: ${r.leftover.join(" | ")}`);
      mathRendered += r.katex; imagesLoaded += r.images - r.broken.length;
    } catch (e) {
      fail(current, `did not load: ${e.message.split("\n")[0]}`);
    }
  }
  await page.close();
}
const queue = [...readerPages];
await Promise.all(Array.from({ length: 4 }, () => worker(queue)));

// Animations: Chromium's own decoder must see several frames, and the last must differ from the first.
const animations = [];
{
  const page = await context.newPage();
  await page.goto(`${origin}/index.html`, { waitUntil: "load" });
  for (const a of apngs) {
    const r = await page.evaluate(async (url) => {
      const data = await (await fetch(url)).arrayBuffer();
      const decoder = new ImageDecoder({ data, type: "image/png" });
      await decoder.tracks.ready;
      const track = decoder.tracks.selectedTrack;
      await decoder.completed;
      const pixels = async (i) => {
        const { image } = await decoder.decode({ frameIndex: i });
        const c = new OffscreenCanvas(image.displayWidth, image.displayHeight);
        const g = c.getContext("2d"); g.drawImage(image, 0, 0); image.close();
        return g.getImageData(0, 0, c.width, c.height).data;
      };
      const first = await pixels(0), last = await pixels(track.frameCount - 1);
      let differ = 0;
      for (let i = 0; i < first.length; i++) if (first[i] !== last[i]) differ++;
      return { frames: track.frameCount, animated: track.animated, differingBytes: differ };
    }, `/${a}`).catch((e) => ({ error: e.message }));
    animations.push({ file: a, ...r });
    if (r.error) fail(a, `Chromium could not decode the animation: ${r.error}`);
    else if (!r.animated || r.frames < 2) fail(a, `Chromium reads ${r.frames} frame(s): not an animation`);
    else if (r.differingBytes === 0) fail(a, "first and last frames are identical: nothing moves");
  }
  await page.close();
}

// The tutorial's first figure, photographed as a reader sees it.
let figure = null;
if (readerPages.includes("tutorial/index.html")) {
  const page = await context.newPage();
  await page.goto(`${origin}/tutorial/index.html`, { waitUntil: "load" });
  const img = page.locator("article img").first();
  if (await img.count() === 0) fail("tutorial/index.html", "has no figure");
  else {
    await img.scrollIntoViewIfNeeded();
    await img.screenshot({ path: screenshotPath });
    figure = await img.evaluate((i) => {
      const c = document.createElement("canvas"); c.width = i.naturalWidth; c.height = i.naturalHeight;
      const g = c.getContext("2d"); g.drawImage(i, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let sum = 0, sq = 0; const colours = new Set();
      for (let k = 0; k < d.length; k += 4) {
        const y = 0.299 * d[k] + 0.587 * d[k + 1] + 0.114 * d[k + 2];
        sum += y; sq += y * y; if (colours.size < 5000) colours.add((d[k] << 16) | (d[k + 1] << 8) | d[k + 2]);
      }
      const n = d.length / 4, mean = sum / n;
      return { src: i.getAttribute("src"), width: c.width, height: c.height, lumaStd: Math.sqrt(Math.max(0, sq / n - mean * mean)), colours: colours.size };
    });
    if (figure.lumaStd < 5 || figure.colours < 8) fail("tutorial/index.html", `first figure looks blank: ${JSON.stringify(figure)}`);
  }
  await page.close();
}

await browser.close();
server.close();
const bytes = files.reduce((s, f) => s + fs.statSync(f).size, 0);
const report = {
  pages: readerPages.length, htmlFiles: pages.length, files: files.length, bytes,
  internalLinks, anchorsChecked, externalLinks, imagesLoaded, mathRendered,
  animations, figure, screenshot: figure ? screenshotPath : null,
  seconds: (Date.now() - started) / 1000, failures,
};
fs.writeFileSync(reportPath, JSON.stringify(report, null, 2));
console.log(`check-site: ${readerPages.length} pages, ${internalLinks} internal links (${anchorsChecked} anchors), ${externalLinks} external links, ` +
  `${imagesLoaded} images, ${mathRendered} formulas, ${animations.length} animations, ${report.seconds.toFixed(1)} s: ` +
  (failures.length ? `${failures.length} failure(s)` : "all good"));
for (const f of failures.slice(0, 40)) console.log(`  FAIL ${f}`);
if (failures.length > 40) console.log(`  ... and ${failures.length - 40} more (see ${reportPath})`);
process.exit(failures.length ? 1 : 0);
