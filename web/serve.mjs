// A static file server for the built page (scripts/web.sh --serve, and web/check-page.mjs): node alone, no package.
// Usage: node serve.mjs DIR [PORT] [HOST]     (default port 8081, host 127.0.0.1; port 0 picks a free one)
// It prints "serving DIR on http://HOST:PORT/" once listening. Only files inside DIR are served; .wasm goes out as
// application/wasm so the browser compiles it while it downloads.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const types = { ".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".onnx": "application/octet-stream", ".json": "application/json", ".png": "image/png", ".ico": "image/x-icon" };

export function serve(dir, port = 8081, host = "127.0.0.1") {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    let p;
    try { p = decodeURIComponent(new URL(req.url, "http://x").pathname); } catch { res.writeHead(400).end("bad path"); return; }
    let f = path.join(root, p);
    if (f !== root && !f.startsWith(root + path.sep)) { res.writeHead(403).end("forbidden"); return; }
    if (fs.existsSync(f) && fs.statSync(f).isDirectory()) f = path.join(f, "index.html");
    if (!fs.existsSync(f)) { res.writeHead(404, { "content-type": "text/plain" }).end("not found"); return; }
    res.writeHead(200, { "content-type": types[path.extname(f)] ?? "application/octet-stream", "cache-control": "no-cache" });
    fs.createReadStream(f).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [dir, port = "8081", host = "127.0.0.1"] = process.argv.slice(2);
  if (!dir || !fs.existsSync(path.join(dir, "index.html"))) {
    console.error(`serve.mjs: error: ${dir ? `no index.html in ${dir}` : "usage: node serve.mjs DIR [PORT] [HOST]"}`);
    process.exit(2);
  }
  try {
    const server = await serve(dir, Number(port), host);
    console.log(`serving ${path.resolve(dir)} on http://${host === "127.0.0.1" ? "localhost" : host}:${server.address().port}/ (Ctrl-C stops)`);
  } catch (e) {
    console.error(`serve.mjs: error: cannot listen on ${host}:${port}: ${e.message}`);
    process.exit(1);
  }
}
