// The browser generator of a model written by `si export` (docs/guides/export.md, "In a web page").
// onnxruntime-web evaluates the network in WebAssembly; everything else is here and follows the .NET generator
// (src/StochasticInterpolants.Onnx/OnnxGenerator.cs) step for step, in float32:
//   X_0 ~ N(0, I) by Box–Muller from a seeded PRNG (mulberry32: small enough to be re-implemented bit for bit in C#);
//   dX/dt = b(t, X) on the library's grid t_k = k/N (the last time exactly 1) by Euler, Heun, midpoint or RK4, or a flow
//   map's jumps x_{k+1} = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k);
//   guidance b = b(x | none) + w (b(x | c) - b(x | none)) (w = 1: the plain conditional model, evaluated alone), the
//   conditional and the "no class" (-1) rows in ONE session.run of 2N rows;
//   pixels k = clamp(floor(L (y + 1) / 2), 0, L - 1), drawn with brightness k / (L - 1).
// Nothing is fetched from another host: the model, onnxruntime-web's module and its .wasm sit beside this file.
import * as ort from "./ort.wasm.min.mjs";

const $ = (id) => document.getElementById(id);
const state = { session: null, meta: null, dimension: 0, shape: null, classes: null, levels: 0, flowMap: false, inputs: [] };

// ---------- the ONNX file's metadata, read from its protobuf ----------
// ModelProto: field 14 is metadata_props, repeated StringStringEntryProto {1: key, 2: value}. Every other field is skipped
// by its wire type (the graph, field 7, is length-delimited: its bytes are jumped over, never parsed).
export function readOnnxMetadata(bytes) {
  const text = new TextDecoder("utf-8", { fatal: true });
  const varint = (buf, pos) => {
    let value = 0, scale = 1, b;
    do {
      if (pos.i >= buf.length) throw new Error("truncated varint");
      b = buf[pos.i++];
      value += (b & 0x7f) * scale; // by multiplication: exact to 2^53, where a length or a tag always is
      scale *= 128;
    } while (b & 0x80);
    return value;
  };
  const fields = (buf, onField) => {
    const pos = { i: 0 };
    while (pos.i < buf.length) {
      const tag = varint(buf, pos);
      const field = Math.floor(tag / 8), wire = tag % 8;
      if (wire === 0) varint(buf, pos);
      else if (wire === 1) pos.i += 8;
      else if (wire === 5) pos.i += 4;
      else if (wire === 2) {
        const length = varint(buf, pos);
        if (pos.i + length > buf.length) throw new Error(`field ${field} runs past the end of the file`);
        onField(field, buf.subarray(pos.i, pos.i + length));
        pos.i += length;
      } else throw new Error(`unsupported protobuf wire type ${wire} (field ${field})`);
      if (pos.i > buf.length) throw new Error("truncated file");
    }
  };
  const metadata = {};
  fields(bytes, (field, body) => {
    if (field !== 14) return;
    let key = "", value = "";
    fields(body, (f, b) => { if (f === 1) key = text.decode(b); else if (f === 2) value = text.decode(b); });
    metadata[key] = value;
  });
  return metadata;
}

// What this page can generate, from the metadata; throws with the one-line reason otherwise.
function describe(meta) {
  const field = meta["si.field"];
  if (!field) throw new Error("this file was not written by si export (no si.field metadata)");
  if (field !== "velocity" && field !== "flow-map") throw new Error(`this file holds a ${field}, not a velocity or a flow map`);
  if ((meta["si.base"] ?? "") !== "gaussian") throw new Error(`the model starts from the base '${meta["si.base"] ?? "(none given)"}'; this page draws from N(0, I) only`);
  // Every exported network is integrated over [0, 1] (si.interval); another interval would need another grid.
  if (meta["si.interval"] !== undefined && JSON.stringify(JSON.parse(meta["si.interval"])) !== "[0,1]") throw new Error(`the model is sampled over the times ${meta["si.interval"]}; this page integrates from t = 0 to t = 1 only`);
  if (meta["si.decoding"] !== "image") throw new Error(`the model generates ${meta["si.decoding"] === "table" ? "table rows" : "points"}, not images: this page draws images only`);
  const shape = JSON.parse(meta["si.shape"] ?? "null");
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s > 0)) throw new Error(`si.shape ${meta["si.shape"]} is not an image shape [c, h, w]`);
  if (shape[0] !== 1 && shape[0] !== 3) throw new Error(`images of ${shape[0]} channels: this page draws grey (1) or colour (3) images`);
  const levels = Number(meta["si.image-levels"]);
  if (!Number.isInteger(levels) || levels < 2 || levels > 256) throw new Error(`si.image-levels ${meta["si.image-levels"]} is not a number of pixel levels in 2..256`);
  const classes = meta["si.classes"] ? JSON.parse(meta["si.classes"]) : null;
  return { field, shape, levels, classes, flowMap: field === "flow-map", dimension: shape[0] * shape[1] * shape[2] };
}

// ---------- randomness: mulberry32 and Box–Muller ----------
/** mulberry32: 32-bit state, uniform doubles k / 2^32 in [0, 1). Re-implemented in the test (WebPageTests.cs). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n*d standard normals, as OnnxGenerator.Sample draws them: pairs r cos a, r sin a in double, rounded to float32. */
export function gaussian(count, random) {
  const x = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const a = 2 * Math.PI * random();
    x[i] = r * Math.cos(a);
    if (i + 1 < count) x[i + 1] = r * Math.sin(a);
  }
  return x;
}

// ---------- the network and the solvers ----------
// x + a y elementwise in float32, the scale rounded to float32 first (a Float32Array store rounds the double sum of
// two float32 numbers correctly: double has more than 2 x 24 + 2 bits).
function axpy(x, a, y) {
  const s = Math.fround(a), r = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) r[i] = x[i] + Math.fround(s * y[i]);
  return r;
}

// The network at (t, tEnd) for n rows, guided for a class: one session.run of 2n rows (the classes, then n times -1)
// when w != 1, of n rows otherwise.
async function field(x, n, t, tEnd, classes, w) {
  const d = state.dimension;
  const guided = classes !== null && w !== 1;
  const rows = guided ? 2 * n : n;
  const input = guided ? new Float32Array(2 * n * d) : x;
  if (guided) { input.set(x, 0); input.set(x, n * d); }
  const feeds = {
    x: new ort.Tensor("float32", input, [rows, d]),
    t: new ort.Tensor("float32", new Float32Array(rows).fill(t), [rows]),
  };
  if (state.flowMap) feeds.t_end = new ort.Tensor("float32", new Float32Array(rows).fill(tEnd), [rows]);
  if (state.inputs.includes("class")) {
    const c = new BigInt64Array(rows).fill(-1n);
    if (classes !== null) for (let i = 0; i < n; i++) c[i] = BigInt(classes[i]);
    feeds.class = new ort.Tensor("int64", c, [rows]);
  }
  const out = await state.session.run(feeds);
  const y = out.y.data;
  for (let i = 0; i < y.length; i++) if (!Number.isFinite(y[i])) throw new Error(`the exported ${state.flowMap ? "flow map" : "velocity"} is not finite at t = ${t}`);
  if (!guided) return Float32Array.from(y);
  // b = b(x | none) + w (b(x | c) - b(x | none)), each operation rounded to float32 as OnnxGenerator does.
  const b = new Float32Array(n * d), ws = Math.fround(w);
  for (let i = 0; i < n * d; i++) {
    const none = y[n * d + i];
    b[i] = none + Math.fround(ws * Math.fround(y[i] - none));
  }
  return b;
}

/** Carries x0 (n rows) from t = 0 to 1: `steps` steps of the solver, or `steps` jumps of a flow map. */
export async function integrate(x0, n, solver, steps, classes, w) {
  let x = x0;
  const B = (t, s) => field(s, n, t, t, classes, w);
  for (let k = 0; k < steps; k++) {
    // The library's StepGrid: t_k = k / N, the last time exactly 1.
    const t = k / steps;
    const h = (k === steps - 1 ? 1 : (k + 1) / steps) - t;
    if (state.flowMap) { x = axpy(x, h, await field(x, n, t, t + h, classes, w)); continue; }
    if (solver === "euler") x = axpy(x, h, await B(t, x));
    else if (solver === "midpoint") x = axpy(x, h, await B(t + h / 2, axpy(x, h / 2, await B(t, x))));
    else if (solver === "heun") {
      const k1 = await B(t, x);
      const k2 = await B(t + h, axpy(x, h, k1));
      x = axpy(axpy(x, h / 2, k1), h / 2, k2);
    } else if (solver === "rk4") {
      const k1 = await B(t, x);
      const k2 = await B(t + h / 2, axpy(x, h / 2, k1));
      const k3 = await B(t + h / 2, axpy(x, h / 2, k2));
      const k4 = await B(t + h, axpy(x, h, k3));
      const sum = axpy(axpy(axpy(k1, 2, k2), 2, k3), 1, k4);
      x = axpy(x, h / 6, sum);
    } else throw new Error(`unknown solver ${solver}`);
  }
  return x;
}

/** Pixel levels k = clamp(floor(L (y + 1) / 2), 0, L - 1) (ImageScaling.Decode: in float32). */
export function decode(y, levels) {
  const k = new Uint8Array(y.length), half = Math.fround(levels / 2);
  for (let i = 0; i < y.length; i++) {
    const v = Math.floor(Math.fround(Math.fround(y[i] + 1) * half));
    k[i] = Math.min(levels - 1, Math.max(0, v));
  }
  return k;
}

// ---------- drawing ----------
// Each image is drawn at an integer scale with smoothing off, one cell (of scale x scale pixels) per pixel, images in a
// grid of `columns` with a gap of `gap` pixels; the layout is written on the canvas (data-*) for whoever reads it back.
function draw(pixels, n) {
  const [c, h, w] = state.shape, L = state.levels;
  const scale = Math.max(1, Math.floor(64 / Math.max(h, w))), gap = scale;
  const columns = Math.min(n, 10), rows = Math.ceil(n / columns);
  const small = document.createElement("canvas");
  small.width = columns * (w + 1) - 1; small.height = rows * (h + 1) - 1;
  const g = small.getContext("2d");
  const image = g.createImageData(small.width, small.height);
  image.data.fill(255); // the gaps: white, opaque
  const d = c * h * w;
  for (let s = 0; s < n; s++) {
    const ox = (s % columns) * (w + 1), oy = Math.floor(s / columns) * (h + 1);
    for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) {
      const o = 4 * ((oy + yy) * small.width + ox + xx);
      for (let ch = 0; ch < 3; ch++) {
        const k = pixels[s * d + (c === 3 ? ch : 0) * h * w + yy * w + xx];
        image.data[o + ch] = Math.round((255 * k) / (L - 1));
      }
    }
  }
  g.putImageData(image, 0, 0);
  const canvas = $("digits");
  // The gap is one small-canvas pixel, so it becomes `scale` screen pixels like the image cells.
  canvas.width = small.width * scale; canvas.height = small.height * scale;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  Object.assign(canvas.dataset, { scale, gap, columns, count: n, channels: c, height: h, width: w, levels: L });
}

// ---------- the page ----------
function setStatus(kind, text) {
  const s = $("status");
  s.dataset.state = kind; s.textContent = text;
  s.className = kind === "error" ? "error" : "";
}

function readControls() {
  const n = Number($("count").value), steps = Number($("steps").value), seed = Number($("seed").value);
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error("how many: a whole number from 1 to 200");
  if (!Number.isInteger(steps) || steps < 1 || steps > 1000) throw new Error(`${state.flowMap ? "jumps" : "steps"}: a whole number from 1 to 1000`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 4294967295) throw new Error("seed: a whole number from 0 to 4294967295");
  const cls = state.classes ? Number($("class").value) : -1;
  return { n, steps, seed, cls, w: Number($("guidance").value), solver: state.flowMap ? "jumps" : $("solver").value };
}

async function generate() {
  let o;
  try { o = readControls(); } catch (e) { setStatus("error", e.message); return; }
  $("generate").disabled = true;
  setStatus("running", "generating…");
  await new Promise((r) => setTimeout(r, 0)); // let the status show before the work starts
  try {
    const started = performance.now();
    const x0 = gaussian(o.n * state.dimension, mulberry32(o.seed));
    const classes = state.classes && o.cls >= 0 ? new Array(o.n).fill(o.cls) : null;
    const y = await integrate(x0, o.n, o.solver, o.steps, classes, o.w);
    const pixels = decode(y, state.levels);
    draw(pixels, o.n);
    const ms = performance.now() - started;
    const time = $("time");
    time.dataset.ms = ms.toFixed(1);
    time.textContent = `${o.n} in ${ms < 1000 ? ms.toFixed(0) + " ms" : (ms / 1000).toFixed(2) + " s"} (${(ms / o.n).toFixed(1)} ms each)`;
    // For a program reading the page (web/check-page.mjs): the float32 samples beside the pixels drawn.
    window.siLast = { options: o, samples: Array.from(y), ms };
    const what = classes ? `class ${state.classes[o.cls]}${o.w === 1 ? "" : `, w = ${o.w}`}` : "no class";
    setStatus("done", `${o.n} ${o.n === 1 ? "image" : "images"} (${what}, ${o.steps} ${state.flowMap ? "jumps" : o.solver + " steps"}, seed ${o.seed})`);
  } catch (e) {
    setStatus("error", `generation failed: ${e.message}`);
  } finally {
    $("generate").disabled = false;
  }
}

async function start() {
  const params = new URLSearchParams(location.search);
  const url = params.get("model") ?? "model.onnx";
  try {
    setStatus("loading", `loading ${url}…`);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const meta = readOnnxMetadata(bytes);
    Object.assign(state, describe(meta), { meta });
    // One thread unless ?threads=N asks for more and the page is cross-origin isolated (threads need SharedArrayBuffer,
    // which a plain static server does not enable). One is the default because for the small networks of 8 x 8 digits
    // four threads were slower (measured 60 ms against 130-200 ms for 10 digits, 20 Heun steps, on a loaded 2-core machine).
    const asked = Number(params.get("threads") ?? 1);
    state.threads = globalThis.crossOriginIsolated && Number.isInteger(asked) && asked > 1 ? Math.min(asked, navigator.hardwareConcurrency || 1) : 1;
    ort.env.wasm.numThreads = state.threads;
    state.session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    state.inputs = state.session.inputNames;
    if (state.classes && !state.inputs.includes("class")) throw new Error("si.classes is set but the graph has no class input");
  } catch (e) {
    setStatus("error", `cannot generate from ${url}: ${e.message}`);
    return;
  }
  const [c, h, w] = state.shape;
  $("model").textContent = `${url}: ${state.field === "flow-map" ? "a flow map" : "a velocity"}, images ${c} x ${h} x ${w}, ${state.levels} levels, ` +
    (state.classes ? `${state.classes.length} classes` : "unconditional") + `; onnxruntime-web, ${state.threads} ${state.threads === 1 ? "thread" : "threads"}`;
  const pick = $("class");
  if (state.classes) {
    state.classes.forEach((name, i) => pick.add(new Option(name, String(i))));
    pick.add(new Option("no class", "-1"));
  } else {
    pick.add(new Option("(unconditional model)", "-1"));
    pick.disabled = true; $("guidance").disabled = true;
  }
  if (state.flowMap) {
    $("solver").replaceChildren(new Option("jumps", "jumps"));
    $("solver").disabled = true;
    $("steps-label").textContent = "jumps";
    $("steps").value = "4";
  }
  const showW = () => { $("guidance-value").textContent = Number($("guidance").value).toFixed(1); };
  $("guidance").addEventListener("input", showW);
  showW();
  $("generate").addEventListener("click", generate);
  $("generate").disabled = false;
  setStatus("ready", "ready");
}

start();
