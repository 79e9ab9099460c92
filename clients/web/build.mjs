// Builds dist/: the bundle of src/main.ts and src/style.css, each named by
// a hash of its bytes (so the Go handler can cache them for a year), and
// index.html naming them, with no inline script or style (the CSP allows
// none). Same sources, same lock file: same bytes (CI diffs dist/).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  target: "es2020",
  write: false,
  logLevel: "warning",
  legalComments: "eof",
  charset: "utf8",
  sourcemap: false,
};

const js = await build({
  ...common,
  entryPoints: ["src/main.ts"],
  format: "esm",
  platform: "browser",
  outfile: "out.js",
  define: { "process.env.NODE_ENV": '"production"' },
});
const css = await build({ ...common, entryPoints: ["src/style.css"], outfile: "out.css" });

const pick = (result, ext) => {
  const files = result.outputFiles.filter((f) => f.path.endsWith(ext));
  if (files.length !== 1) throw new Error(`expected one ${ext} output, got ${files.length}`);
  return Buffer.from(files[0].contents);
};
const named = (bytes, ext) => `app-${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}${ext}`;

const jsBytes = pick(js, ".js");
const cssBytes = pick(css, ".css");
const jsName = named(jsBytes, ".js");
const cssName = named(cssBytes, ".css");

const html = `<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="referrer" content="no-referrer">
<title>三村项目数据台 · villagesync</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/${cssName}">
<script type="module" src="assets/${jsName}"></script>
</head>
<body data-page="loading">
<noscript>此页面需要 JavaScript。This console needs JavaScript.</noscript>
</body>
</html>
`;

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "assets"), { recursive: true });
await writeFile(join(dist, "assets", jsName), jsBytes);
await writeFile(join(dist, "assets", cssName), cssBytes);
await writeFile(join(dist, "index.html"), html);
console.log(`dist/index.html, dist/assets/${jsName} (${jsBytes.length} B), dist/assets/${cssName} (${cssBytes.length} B)`);
