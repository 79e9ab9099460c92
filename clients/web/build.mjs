// Builds dist/: the bundle of src/main.ts and src/style.css, each file
// named by a hash of its content (so the Go handler can let browsers cache
// them for a year), and index.html naming them, with no inline script or
// style (the CSP allows none). The charts are a chunk of their own, loaded
// by the overview only: a phone that opens a sign-in link does not wait
// for them. Same sources, same lock file: same bytes (CI diffs dist/).
//
// Then dist/app/: the volunteer app (src/app/main.ts), its SQLite worker
// (src/app/db-worker.ts) and SQLite's sqlite3.wasm, all content-hashed and
// flat in one folder, with dist/app/index.html naming the first. Each
// name reaches the file that loads it through a define, so a new wasm
// renames the worker, and a new worker renames the app's script. And
// dist/app/sw.js, the service worker that caches them (see sw.ts).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const assets = join(dist, "assets");

const result = await build({
  absWorkingDir: here,
  entryPoints: ["src/main.ts", "src/style.css"],
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  charset: "utf8",
  legalComments: "eof",
  sourcemap: false,
  outdir: assets,
  entryNames: "app-[hash]",
  chunkNames: "chunk-[hash]",
  write: false,
  metafile: true,
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});

const entry = (source) => {
  const found = Object.entries(result.metafile.outputs).filter(([, o]) => o.entryPoint === source);
  if (found.length !== 1) throw new Error(`expected one output for ${source}, got ${found.length}`);
  return basename(found[0][0]);
};
const js = entry("src/main.ts");
const css = entry("src/style.css");
// The chunks the entry imports statically load with it, not after it.
const preload = result.metafile.outputs[relative(here, join(assets, js))].imports
  .filter((i) => i.kind === "import-statement")
  .map((i) => `<link rel="modulepreload" href="assets/${basename(i.path)}">\n`)
  .join("");

const html = `<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="referrer" content="no-referrer">
<title>三村项目数据台 · villagesync</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/${css}">
${preload}<script type="module" src="assets/${js}"></script>
</head>
<body data-page="loading">
<noscript>此页面需要 JavaScript。This console needs JavaScript.</noscript>
</body>
</html>
`;

await rm(dist, { recursive: true, force: true });
await mkdir(assets, { recursive: true });
for (const f of result.outputFiles) await writeFile(f.path, f.contents);
await writeFile(join(dist, "index.html"), html);
for (const f of [...result.outputFiles].sort((a, b) => (a.path < b.path ? -1 : 1))) {
  console.log(`${relative(here, f.path)} ${f.contents.length} B`);
}

// The volunteer app. The wasm's name is its hash: the worker's loader
// takes a locateFile override (see db-worker.ts), so nothing asks for
// the package's fixed name "sqlite3.wasm".
const appDir = join(dist, "app");
const wasmSource = join(here, "node_modules/@sqlite.org/sqlite-wasm/dist/sqlite3.wasm");
const wasm = await readFile(wasmSource);
const wasmName = `sqlite3-${createHash("sha256").update(wasm).digest("hex").slice(0, 16)}.wasm`;

const common = {
  absWorkingDir: here,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  charset: "utf8",
  legalComments: "eof",
  sourcemap: false,
  outdir: appDir,
  write: false,
  metafile: true,
  logLevel: "warning",
};
const only = (res, source) => {
  const found = Object.entries(res.metafile.outputs).filter(([, o]) => o.entryPoint === source);
  if (found.length !== 1) throw new Error(`expected one output for ${source}, got ${found.length}`);
  return basename(found[0][0]);
};
const worker = await build({
  ...common,
  entryPoints: ["src/app/db-worker.ts"],
  entryNames: "db-worker-[hash]",
  define: { SQLITE_WASM_FILE: JSON.stringify(wasmName) },
});
const workerName = only(worker, "src/app/db-worker.ts");
const app = await build({
  ...common,
  entryPoints: ["src/app/main.ts", "src/app/style.css"],
  entryNames: "app-[hash]",
  define: { DB_WORKER_FILE: JSON.stringify(workerName) },
});
const appJs = only(app, "src/app/main.ts");
const appCss = only(app, "src/app/style.css");

// The home-screen icon, drawn here rather than kept as a binary: a green
// tile with a white exercise book, at the two sizes installability wants.
// Full-bleed, so it also serves as a maskable icon. PNG by hand (zlib and a
// CRC table): Node 20 has no zlib.crc32, and a dependency for two squares
// is not worth its lock entry.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
};
function icon(size) {
  const green = [0x1f, 0x6f, 0x3a];
  const white = [0xff, 0xff, 0xff];
  const line = [0x9c, 0xc7, 0xa8];
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3); // filter byte 0: none
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      let px = green;
      if (u > 0.28 && u < 0.72 && v > 0.22 && v < 0.78) {
        px = white;
        if (u > 0.36 && u < 0.64 && [0.36, 0.46, 0.56, 0.66].some((l) => Math.abs(v - l) < 0.018)) px = line;
        if (u < 0.33) px = line; // the spine
      }
      row.set(px, 1 + x * 3);
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
const hashed = (prefix, ext, bytes) => `${prefix}-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.${ext}`;
const icons = [192, 512].map((size) => {
  const bytes = icon(size);
  return { size, bytes, name: hashed(`icon-${size}`, "png", bytes) };
});
const themeColor = "#1f6f3a";
const manifest = new TextEncoder().encode(JSON.stringify({
  name: "三村项目 · 志愿者",
  short_name: "三村志愿者",
  description: "夜间7点钟课堂、环境整治和图书借阅的离线记录 · Offline records of the village programs",
  lang: "zh",
  start_url: "./",
  scope: "./",
  display: "standalone",
  background_color: "#f6f7f5",
  theme_color: themeColor,
  icons: icons.map((i) => ({ src: i.name, sizes: `${i.size}x${i.size}`, type: "image/png", purpose: "any maskable" })),
}, null, 2) + "\n");
const manifestName = hashed("manifest", "webmanifest", manifest);

const appHtml = `<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="referrer" content="no-referrer">
<meta name="theme-color" content="${themeColor}">
<title>三村志愿者 · villagesync</title>
<link rel="manifest" href="${manifestName}">
<link rel="icon" href="${icons[0].name}">
<link rel="apple-touch-icon" href="${icons[0].name}">
<link rel="stylesheet" href="${appCss}">
<script type="module" src="${appJs}"></script>
</head>
<body data-db="loading">
<noscript>此页面需要 JavaScript。This app needs JavaScript.</noscript>
</body>
</html>
`;

await mkdir(appDir, { recursive: true });
const appFiles = [...worker.outputFiles, ...app.outputFiles].map((f) => [f.path, f.contents]);
appFiles.push([join(appDir, wasmName), wasm], [join(appDir, "index.html"), new TextEncoder().encode(appHtml)],
  [join(appDir, manifestName), manifest], ...icons.map((i) => [join(appDir, i.name), i.bytes]));

// The service worker keeps its fixed name (the browser looks for an
// update at that URL); its body names the build: the version is a hash
// of every app file, so any change makes a new sw.js, and the list is
// what it precaches, the index as "./" (the URL the app is opened at).
appFiles.sort((a, b) => (a[0] < b[0] ? -1 : 1));
const version = createHash("sha256");
for (const [path, contents] of appFiles) version.update(basename(path)).update("\0").update(contents).update("\0");
const precache = appFiles.map(([path]) => basename(path)).map((n) => (n === "index.html" ? "./" : n));
const sw = await build({
  ...common,
  entryPoints: ["src/app/sw.ts"],
  entryNames: "sw",
  define: { SW_VERSION: JSON.stringify(version.digest("hex").slice(0, 16)), SW_FILES: JSON.stringify(precache) },
});
appFiles.push(...sw.outputFiles.map((f) => [f.path, f.contents]));
for (const [path, contents] of appFiles) await writeFile(path, contents);
for (const [path, contents] of appFiles.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
  console.log(`${relative(here, path)} ${contents.length} B`);
}
