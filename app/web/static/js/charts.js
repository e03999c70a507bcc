// Charts (Chart.js 4, vendored) with a text alternative each: the canvas is an image whose
// aria-label states the key numbers, and a "Data table" disclosure holds every value.
//
// Every chart is registered in window.holdfastCharts by name, so that tests (and curious
// people in the console) can see what was drawn.

import { h, scrollable, table } from "./dom.js";

export const charts = {};
window.holdfastCharts = charts;

export const COLORS = {
  ink: "#1f2328",
  muted: "#57606a",
  grid: "#d8dee4",
  blue: "#0a3069",
  brightBlue: "#0969da",
  orange: "#bc4c00",
  green: "#1a7f37",
  lightGreen: "#4ac26b",
  red: "#cf222e",
  darkRed: "#a40e26",
  amber: "#d4a72c",
  grey: "#8c959f",
  lightOrange: "#f0883e",
};

export const TIER_COLORS = {
  healthy: COLORS.green,
  at_risk: COLORS.amber,
  critical: COLORS.red,
  unscored: COLORS.grey,
};

let configured = false;

function configure() {
  if (configured) return;
  const { Chart } = window;
  Chart.defaults.animation = false; // charts appear at once; nothing moves for motion-sensitive eyes
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.color = COLORS.ink;
  Chart.defaults.borderColor = COLORS.grid;
  Chart.defaults.font.family =
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  Chart.defaults.font.size = 12;
  Chart.defaults.plugins.legend.labels.boxWidth = 14;
  Chart.defaults.plugins.tooltip.backgroundColor = COLORS.ink;
  configured = true;
}

export function destroyAll() {
  for (const name of Object.keys(charts)) {
    charts[name].destroy();
    delete charts[name];
  }
}

/**
 * Append a chart to `parent` and draw it.
 *   name:   registry name (window.holdfastCharts[name])
 *   label:  the text alternative: what the chart shows and its key numbers
 *   config: a Chart.js configuration
 *   data:   {caption, columns, rows} for the data table
 *   size:   "short" | "medium" | "tall"
 */
export function drawChart(parent, { name, label, config, data, size = "medium" }) {
  configure();
  charts[name]?.destroy();
  const canvas = h("canvas", { role: "img", "aria-label": label }, label);
  const figure = h(
    "figure",
    { class: "chart", "data-chart": name },
    h("div", { class: `chart-box ${size}` }, canvas),
    data
      ? h(
          "details",
          { class: "chart-data" },
          h("summary", {}, "Data table"),
          scrollable(data.caption, table({ ...data, captionHidden: false })),
        )
      : null,
  );
  parent.append(figure);
  charts[name] = new window.Chart(canvas, config);
  return charts[name];
}

/** A horizontal dashed line at `value` across a line or bar chart, as a dataset. */
export function referenceLine(label, value, count, color) {
  return {
    type: "line",
    label,
    data: Array(count).fill(value),
    borderColor: color,
    borderDash: [6, 4],
    borderWidth: 1.5,
    pointRadius: 0,
    pointHitRadius: 0,
    fill: false,
    order: 0,
  };
}
