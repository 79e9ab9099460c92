// Charts with Chart.js, tree-shaken to what the overview draws: bar charts
// on a category and a linear axis, with a legend and tooltips. Chart.js is
// kept up, draws on a <canvas> (no inline styles or SVG strings for the
// CSP to refuse), and bars alone cost ~60 KB minified.
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);
Chart.defaults.font.family = '-apple-system, BlinkMacSystemFont, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
Chart.defaults.font.size = 13;
Chart.defaults.color = "#1f2933";

// Okabe–Ito: told apart by people with the common colour-vision deficiencies.
export const palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

export interface Series {
  label: string;
  data: number[];
}

export function bars(canvas: HTMLCanvasElement, labels: string[], series: Series[], stacked = false): Chart {
  return new Chart(canvas, {
    type: "bar",
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.data,
        backgroundColor: palette[i % palette.length],
        borderWidth: 0,
        maxBarThickness: 48,
      })),
    },
    options: {
      // Drawn at once: the overview is measured from its request to its
      // drawn charts, and a chart that animates shows wrong bars meanwhile.
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 14, padding: 12 } } },
      scales: {
        x: { stacked, grid: { display: false } },
        y: { stacked, beginAtZero: true, ticks: { precision: 0 } },
      },
    },
  });
}
