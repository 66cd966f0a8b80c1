// Drives the built page (scripts/web.sh) in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) the
// way a visitor would, and reads back what it drew:
//   - for each class asked (and "no class"): picks it, sets guidance, steps, solver, count and seed, clicks Generate,
//     waits for the page to finish, reads the canvas (getImageData) and maps it back to pixel levels from the centre of
//     each upscaled cell (every cell must be one flat colour, grey, and the layout the canvas states);
//   - the levels drawn must be the decoding k = clamp(floor(L (y + 1) / 2), 0, L - 1) of the float32 samples the page
//     reports (window.siLast), and the time the page shows is recorded;
//   - no request may leave localhost (such requests are blocked and reported), no console error, no script error.
// With --expect-refusal TEXT it only checks that the page refuses its model with a visible message containing TEXT.
// Usage: node check-page.mjs PAGE_DIR_OR_URL REPORT.json [--classes all|none|0,3,...] [--count N] [--guidance W]
//          [--steps N] [--solver S] [--seed N] [--no-class-run] [--expect-refusal TEXT] [--query Q]
// --query Q is added to the page's address (?Q), e.g. model=other.onnx for another model in the page's folder.
// A folder is served on a free localhost port by its own serve.mjs (the page's server). Exit 1 when any check fails,
// 2 for a bad command line.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const args = process.argv.slice(2);
const usage = (why) => { console.error(`check-page.mjs: error: ${why}\nusage: node check-page.mjs PAGE_DIR_OR_URL REPORT.json [--classes all|none|0,3] [--count N] [--guidance W] [--steps N] [--solver S] [--seed N] [--no-class-run] [--expect-refusal TEXT] [--query Q]`); process.exit(2); };
if (args.length < 2) usage("a page and a report file are required");
const [target, reportPath] = args;
const o = { classes: "all", count: 10, guidance: 2, steps: 20, solver: "heun", seed: 1, noClassRun: false, refusal: null, query: "" };
for (let i = 2; i < args.length; i++) {
  const a = args[i], v = args[i + 1];
  const need = () => { if (v === undefined) usage(`${a} needs a value`); i++; return v; };
  if (a === "--classes") o.classes = need();
  else if (a === "--count") o.count = Number(need());
  else if (a === "--guidance") o.guidance = Number(need());
  else if (a === "--steps") o.steps = Number(need());
  else if (a === "--solver") o.solver = need();
  else if (a === "--seed") o.seed = Number(need());
  else if (a === "--no-class-run") o.noClassRun = true;
  else if (a === "--expect-refusal") o.refusal = need();
  else if (a === "--query") o.query = need();
  else usage(`unknown option ${a}`);
}
if (![o.count, o.steps, o.seed].every(Number.isInteger) || !Number.isFinite(o.guidance)) usage("--count, --steps and --seed take whole numbers, --guidance a number");

const started = Date.now();
const failures = [];
const fail = (where, what) => failures.push(`${where}: ${what}`);
const report = { page: target, options: o, runs: [], failures, requests: 0 };
const write = () => { report.seconds = (Date.now() - started) / 1000; fs.writeFileSync(reportPath, JSON.stringify(report)); };

let server = null, url = target;
if (!/^https?:\/\//.test(target)) {
  const dir = path.resolve(target);
  if (!fs.existsSync(path.join(dir, "index.html")) || !fs.existsSync(path.join(dir, "serve.mjs"))) usage(`${target} is not a page built by scripts/web.sh (no index.html and serve.mjs)`);
  const { serve } = await import(pathToFileURL(path.join(dir, "serve.mjs")).href);
  server = await serve(dir, 0, "127.0.0.1");
  url = `http://127.0.0.1:${server.address().port}/`;
}
if (o.query) url += (url.includes("?") ? "&" : "?") + o.query;
report.url = url;
const local = (u) => { try { const h = new URL(u).hostname; return h === "127.0.0.1" || h === "localhost" || h === "[::1]"; } catch { return false; } };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.route("**/*", (route) => {
    const u = route.request().url();
    report.requests++;
    if (local(u) || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
    fail("network", `the page asked for ${u} (blocked: it must fetch nothing from another host)`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") fail("console", m.text().split("\n")[0]); });
  page.on("pageerror", (e) => fail("script", e.message.split("\n")[0]));
  page.on("response", (r) => { if (r.status() >= 400) fail("network", `${r.status()} for ${r.url()}`); });

  const loadStart = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  // The page is ready (or has refused its model) when #status leaves "loading".
  await page.waitForFunction(() => document.getElementById("status")?.dataset.state !== "loading", null, { timeout: 90000 });
  report.loadSeconds = (Date.now() - loadStart) / 1000;
  const status = await page.evaluate(() => ({ state: document.getElementById("status").dataset.state, text: document.getElementById("status").textContent }));
  report.model = await page.evaluate(() => document.getElementById("model").textContent);
  report.status = status;

  if (o.refusal !== null) {
    if (status.state !== "error") fail("refusal", `the page accepted the model (status: ${status.text})`);
    else if (!status.text.includes(o.refusal)) fail("refusal", `the page refused with "${status.text}", not a message containing "${o.refusal}"`);
    else if (!(await page.isVisible("#status"))) fail("refusal", "the refusal is not visible");
    // A refusal is an expected error: the console errors it may cause are not failures of the check.
    report.failures = failures.filter((f) => !f.startsWith("console"));
    failures.length = 0; failures.push(...report.failures);
  } else if (status.state !== "ready") {
    fail("load", `the page did not become ready: ${status.text}`);
  } else {
    const classNames = await page.$$eval("#class option", (os) => os.map((x) => ({ value: Number(x.value), name: x.textContent })));
    report.classNames = classNames;
    let wanted = classNames.filter((c) => c.value >= 0).map((c) => c.value);
    if (o.classes === "none") wanted = [];
    else if (o.classes !== "all") wanted = o.classes.split(",").map(Number);
    const runs = wanted.map((c) => ({ cls: c, seed: o.seed + c }));
    if (o.noClassRun || wanted.length === 0) runs.push({ cls: -1, seed: o.seed + 1000 });
    for (const run of runs) {
      const where = `class ${run.cls}`;
      try {
        await page.selectOption("#class", String(run.cls));
        // A range input takes its value by script plus an input event (what dragging the slider fires).
        await page.$eval("#guidance", (e, w) => { e.value = String(w); e.dispatchEvent(new Event("input", { bubbles: true })); }, o.guidance);
        if (await page.isEnabled("#solver")) await page.selectOption("#solver", o.solver);
        await page.fill("#steps", String(o.steps));
        await page.fill("#count", String(o.count));
        await page.fill("#seed", String(run.seed));
        await page.evaluate(() => { document.getElementById("status").dataset.state = "clicked"; });
        await page.click("#generate");
        await page.waitForFunction(() => ["done", "error"].includes(document.getElementById("status").dataset.state), null, { timeout: 120000 });
        const result = await page.evaluate(() => {
          const s = document.getElementById("status"), c = document.getElementById("digits");
          const g = c.getContext("2d");
          // The RGBA bytes as base64: a plain array of a large canvas is slow to pass out of the page.
          const bytes = c.width && c.height ? g.getImageData(0, 0, c.width, c.height).data : new Uint8ClampedArray(0);
          let binary = "";
          for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
          const data = btoa(binary);
          return {
            state: s.dataset.state, text: s.textContent, width: c.width, height: c.height, layout: { ...c.dataset }, data,
            ms: Number(document.getElementById("time").dataset.ms), timeText: document.getElementById("time").textContent,
            guidanceShown: document.getElementById("guidance-value").textContent, last: window.siLast ?? null,
          };
        });
        if (result.state !== "done") { fail(where, `generation failed: ${result.text}`); continue; }
        result.data = Buffer.from(result.data, "base64");
        const pixels = readCanvas(result, where);
        const shown = Number(result.guidanceShown);
        if (Math.abs(shown - o.guidance) > 0.05 + 1e-9) fail(where, `the guidance shown is ${result.guidanceShown}, not ${o.guidance}`);
        const samples = result.last?.samples ?? [];
        const levels = Number(result.layout.levels);
        if (pixels && samples.length === pixels.flat().length) {
          const decoded = decode(samples, levels);
          const wrong = pixels.flat().filter((k, i) => k !== decoded[i]).length;
          if (wrong) fail(where, `${wrong} pixels drawn differ from the decoding of the samples the page reports`);
        } else if (pixels) fail(where, `the page reports ${samples.length} sample values for ${pixels.flat().length} pixels`);
        report.runs.push({ class: run.cls, className: classNames.find((c) => c.value === run.cls)?.name ?? null, seed: run.seed,
          guidance: o.guidance, steps: o.steps, solver: o.solver, count: o.count, ms: result.ms, timeText: result.timeText,
          status: result.text, pixels, samples });
      } catch (e) {
        fail(where, e.message.split("\n")[0]);
      }
    }
  }
} catch (e) {
  fail("page", e.message.split("\n")[0]);
} finally {
  await browser.close();
  server?.close();
}
write();
const times = report.runs.map((r) => r.ms);
console.log(`check-page: ${report.runs.length} generations, ${report.runs.reduce((s, r) => s + (r.pixels?.length ?? 0), 0)} images` +
  (times.length ? `, ${Math.min(...times).toFixed(0)}-${Math.max(...times).toFixed(0)} ms each` : "") +
  `, ${failures.length} failures (${report.seconds.toFixed(1)} s) -> ${reportPath}`);
for (const f of failures) console.log(`  FAIL ${f}`);
process.exit(failures.length ? 1 : 0);

// The pixel levels of each image drawn, from the canvas: the centre of each upscaled cell, with every cell checked to
// be flat (one colour: smoothing off) and grey for one channel.
function readCanvas(r, where) {
  const L = Number(r.layout.levels), scale = Number(r.layout.scale), gap = Number(r.layout.gap), columns = Number(r.layout.columns);
  const n = Number(r.layout.count), c = Number(r.layout.channels), h = Number(r.layout.height), w = Number(r.layout.width);
  if (![L, scale, gap, columns, n, c, h, w].every((v) => Number.isInteger(v) && v > 0)) { fail(where, `the canvas does not state its layout (${JSON.stringify(r.layout)})`); return null; }
  const rows = Math.ceil(n / columns);
  const wantW = columns * w * scale + (columns - 1) * gap, wantH = rows * h * scale + (rows - 1) * gap;
  if (r.width !== wantW || r.height !== wantH) { fail(where, `the canvas is ${r.width} x ${r.height}, not the ${wantW} x ${wantH} its layout gives`); return null; }
  const at = (x, y, ch) => r.data[4 * (y * r.width + x) + ch];
  const images = [];
  let uneven = 0, notGrey = 0, offLevel = 0;
  for (let s = 0; s < n; s++) {
    const ox = (s % columns) * (w * scale + gap), oy = Math.floor(s / columns) * (h * scale + gap);
    const k = new Array(c * h * w);
    for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) {
      const x0 = ox + xx * scale, y0 = oy + yy * scale, cx = x0 + Math.floor(scale / 2), cy = y0 + Math.floor(scale / 2);
      for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++)
        for (let ch = 0; ch < 3; ch++) if (at(x0 + dx, y0 + dy, ch) !== at(cx, cy, ch)) uneven++;
      if (c === 1 && (at(cx, cy, 0) !== at(cx, cy, 1) || at(cx, cy, 0) !== at(cx, cy, 2))) notGrey++;
      for (let ch = 0; ch < c; ch++) {
        const v = at(cx, cy, ch);
        const level = Math.round((v * (L - 1)) / 255);
        if (Math.round((255 * level) / (L - 1)) !== v) offLevel++;
        k[ch * h * w + yy * w + xx] = level;
      }
    }
    images.push(k);
  }
  if (uneven) fail(where, `${uneven} canvas values differ from their cell's centre (the upscaling is smoothed or misplaced)`);
  if (notGrey) fail(where, `${notGrey} cells of a one-channel image are not grey`);
  if (offLevel) fail(where, `${offLevel} cells have a brightness that is no pixel level k * 255 / (L - 1)`);
  return images;
}

// k = clamp(floor(L (y + 1) / 2), 0, L - 1), in float32 as the page and ImageScaling.Decode compute it.
function decode(y, L) {
  const half = Math.fround(L / 2);
  return y.map((v) => Math.min(L - 1, Math.max(0, Math.floor(Math.fround(Math.fround(v + 1) * half)))));
}
