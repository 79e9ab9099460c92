// The enrollment link as a QR code: uqr encodes it, and the modules become
// one SVG path built as DOM (no markup string, no style attribute).
import { encode } from "uqr";
import { svg } from "./dom";

export function qrCode(text: string, label: string): SVGSVGElement {
  // M: survives a smudged or crumpled printout; the link is short enough
  // that the code stays coarse.
  const qr = encode(text, { ecc: "M", border: 4 });
  const n = qr.size;
  let d = "";
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (qr.data[y]![x]) d += `M${x} ${y}h1v1h-1z`;
    }
  }
  const root = svg("svg", {
    viewBox: `0 0 ${n} ${n}`,
    role: "img",
    "aria-label": label,
    "shape-rendering": "crispEdges",
    class: "qr",
    "data-test": "enroll-qr",
  });
  root.appendChild(svg("rect", { width: n, height: n, fill: "#ffffff" }));
  root.appendChild(svg("path", { d, fill: "#000000" }));
  return root;
}
