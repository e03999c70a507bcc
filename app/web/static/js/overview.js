// The overview page: headline figures, churn, MRR movements, health tiers and cancellation
// reasons (cohorts, the attention list and offer save rates are in tables.js). Each panel loads
// on its own and shows its own error, so one slow or failing query never blanks the page.

import * as api from "./api.js";
import { COLORS, TIER_COLORS, drawChart, referenceLine } from "./charts.js";
import { clear, h, message, panelBody } from "./dom.js";
import * as fmt from "./format.js";
import { initRiskTable, renderCohorts, renderOffers, resetRiskTable } from "./tables.js";

const BENCHMARKS = {
  healthy: { tone: "good", label: "Healthy: under 5% a month" },
  watch: { tone: "warn", label: "Watch: 5–10% a month" },
  needs_attention: { tone: "bad", label: "Needs attention: over 10% a month" },
};
const TIERS = ["healthy", "at_risk", "critical", "unscored"];

let generation = 0;

function current(gen) {
  return gen === generation;
}

/** Drop whatever is still loading (after signing out). */
export function cancelOverview() {
  generation += 1;
  resetRiskTable();
}

/** Load and draw every panel; resolves when all have settled. */
export async function renderOverview() {
  const gen = ++generation;
  const now = new Date();
  const thisMonth = fmt.monthStart(now);
  const fullMonths = { start: fmt.isoUTC(fmt.monthStart(now, -12)), end: fmt.isoUTC(thisMonth) };
  const lastTwelve = {
    start: fmt.isoUTC(fmt.monthStart(now, -11)),
    end: fmt.isoUTC(fmt.monthStart(now, 1)),
  };
  const yearAgo = new Date(now.getTime() - 365 * 86400e3);
  const flowRange = {
    start: fmt.isoUTC(yearAgo),
    end: fmt.isoUTC(new Date(now.getTime() + 60e3)),
  };

  for (const id of ["churn", "mrr", "tiers", "reasons", "cohorts", "risk", "offers"]) {
    clear(panelBody(`panel-${id}`)).append(message("Loading…", "muted"));
  }
  renderKpiSlots();

  const summary = api.get("v1/metrics/summary");
  const churn = api.get("v1/metrics/churn", { ...fullMonths, granularity: "month" });
  const flows = api.get("v1/cancellation-flows/report", flowRange);
  const panels = [
    panel(gen, "kpis", summary, renderSummaryKpis),
    panel(gen, "kpis", flows, renderSaveRateKpi),
    panel(gen, "kpis", api.get("v1/metrics/ltv", fullMonths), renderLtvKpi),
    panel(gen, "kpis", api.get("v1/metrics/repeat-purchases", lastTwelve), renderRepeatKpi),
    panel(gen, "panel-churn", churn, renderChurn),
    panel(gen, "panel-mrr", churn, renderMrr),
    panel(gen, "panel-tiers", Promise.all([summary, api.get("v1/health/tiers")]), renderTiers),
    panel(
      gen,
      "panel-reasons",
      api.get("v1/metrics/cancellations", lastTwelve),
      renderReasons,
    ),
    panel(
      gen,
      "panel-cohorts",
      api.get("v1/metrics/cohorts", { ...lastTwelve, granularity: "month" }),
      renderCohorts,
    ),
    panel(gen, "panel-offers", flows, renderOffers),
    panel(gen, "panel-risk", summary, (s) => initRiskTable(() => current(gen), s.currency)),
  ];
  delete document.body.dataset.overview;
  const results = await Promise.allSettled(panels);
  if (current(gen)) {
    document.body.dataset.overview = results.every((r) => r.status === "fulfilled")
      ? "ready"
      : "partial";
  }
}

async function panel(gen, id, request, render) {
  let data;
  try {
    data = await request;
  } catch (error) {
    if (current(gen)) showPanelError(id, error);
    throw error;
  }
  if (!current(gen)) return;
  try {
    await render(data);
  } catch (error) {
    showPanelError(id, error);
    throw error;
  }
}

function showPanelError(id, error) {
  const text = `Could not load this: ${error.message || error}`;
  if (id === "kpis") {
    document.getElementById("kpis").append(h("li", { class: "kpi" }, message(text, "error")));
    return;
  }
  clear(panelBody(id)).append(message(text, "error"));
}

// -- headline figures -------------------------------------------------------------------------

const KPI_SLOTS = [
  ["customers", "Customers"],
  ["mrr", "MRR"],
  ["churn", "Last month's churn"],
  ["nrr", "Net revenue retention"],
  ["save-rate", "Save rate of cancellation flows"],
  ["ltv", "Lifetime value"],
  ["repeat", "Repeat purchase rate"],
];

function renderKpiSlots() {
  const list = clear(document.getElementById("kpis"));
  for (const [id, label] of KPI_SLOTS) {
    list.append(
      h(
        "li",
        { class: "kpi", id: `kpi-${id}` },
        h("p", { class: "kpi-label" }, label),
        h("p", { class: "kpi-value" }, "…"),
      ),
    );
  }
}

function fillKpi(id, { value, badge = null, tone = null, details = [] }) {
  const item = document.getElementById(`kpi-${id}`);
  const label = item.querySelector(".kpi-label").textContent;
  item.className = `kpi${tone ? ` tone-${tone}` : ""}`;
  const figure = h("p", { class: "kpi-value" }, value);
  // The CSS sizes the figure by its length so a long amount still fits its card.
  figure.style.setProperty("--chars", String(value).length);
  item.replaceChildren(
    ...[
      h("p", { class: "kpi-label" }, label),
      figure,
      badge ? h("p", { class: "kpi-badge" }, badge) : null,
      ...details.map((text) => h("p", { class: "kpi-detail" }, text)),
    ].filter(Boolean),
  );
}

function renderSummaryKpis(summary) {
  const month = fmt.month(summary.last_month.start);
  const last = summary.last_month;
  fillKpi("customers", {
    value: fmt.number(summary.customers.active),
    details: [
      `active, and ${fmt.number(summary.customers.paused)} paused`,
      `${fmt.number(summary.customers.cancelled)} cancelled, ${fmt.number(summary.customers.lead)} leads`,
    ],
  });
  fillKpi("mrr", {
    value: fmt.money(summary.mrr, summary.currency),
    details: [
      `monthly recurring revenue in ${summary.currency}`,
      summary.other_currencies.length
        ? `not counted: customers in ${summary.other_currencies.join(", ")}`
        : null,
    ].filter(Boolean),
  });
  const benchmark = BENCHMARKS[summary.benchmark];
  fillKpi("churn", {
    value: fmt.percent(last.churn_rate),
    badge: benchmark ? benchmark.label : "No subscribers at the month's start",
    tone: benchmark ? benchmark.tone : null,
    details: [
      `${month}: ${fmt.number(last.churned)} of ${fmt.number(last.customers_at_start)} customers`,
      `revenue churn ${fmt.percent(last.revenue_churn_rate)}`,
    ],
  });
  fillKpi("nrr", {
    value: fmt.percent(last.net_revenue_retention),
    details: [`${month}: MRR kept from the month's starting customers, with expansion`],
  });
  const asOf = document.getElementById("as-of");
  asOf.textContent = `Data as of ${fmt.dateTime(summary.as_of)}`;
  asOf.hidden = false;
}

function renderSaveRateKpi(report) {
  const treatment = report.totals.treatment;
  if (report.totals.flows === 0) {
    fillKpi("save-rate", { value: "—", details: ["no cancellation flows in the last 12 months"] });
    return;
  }
  fillKpi("save-rate", {
    value: treatment.save_rate === null ? "—" : fmt.percent(treatment.save_rate * 100),
    details: [
      treatment.resolved
        ? `${fmt.number(treatment.saved)} saved of ${fmt.number(treatment.resolved)} flows with offers, last 12 months`
        : "no flow with offers has finished its keep window yet",
      `${fmt.number(report.totals.pending)} flows pending: their ${report.keep_days}-day keep window is not over`,
    ],
  });
}

function renderLtvKpi(report) {
  const months = report.months.length;
  fillKpi("ltv", {
    value: report.ltv === null ? "—" : fmt.money(Math.round(report.ltv), report.currency),
    details: [
      report.arpa === null
        ? "no subscribers in the last 12 full months"
        : `ARPA ${fmt.money(Math.round(report.arpa), report.currency)} a month, ` +
          `churn ${fmt.percent(report.monthly_churn_rate, 2)} a month`,
      report.ltv === null && report.arpa !== null
        ? "no customer lost: no finite lifetime"
        : `ARPA / monthly churn over the last ${months} full months`,
    ],
  });
}

function renderRepeatKpi(report) {
  fillKpi("repeat", {
    value: report.repeat_purchase_rate === null ? "—" : fmt.percent(report.repeat_purchase_rate),
    details: [
      `${fmt.number(report.repeat_buyers)} of ${fmt.number(report.buyers)} buyers bought on 2+ days, last 12 months`,
      report.median_days_between_purchases === null
        ? "no repeat purchase yet"
        : `median ${fmt.number(report.median_days_between_purchases, 1)} days between purchases`,
    ],
  });
}

// -- churn and MRR ----------------------------------------------------------------------------

/** Periods from the first one with any subscriber (a young tenant has empty early months). */
function populated(periods) {
  const first = periods.findIndex(
    (p) => p.customers_at_start > 0 || p.new > 0 || p.reactivated > 0,
  );
  return first === -1 ? [] : periods.slice(first);
}

function renderChurn(series) {
  const body = clear(panelBody("panel-churn"));
  const periods = populated(series.periods);
  if (!periods.length) {
    body.append(message("No subscribers in the last 12 months yet.", "muted"));
    return;
  }
  const labels = periods.map((p) => fmt.month(p.start));
  const last = periods[periods.length - 1];
  const rates = periods.map((p) => p.churn_rate).filter((r) => r !== null);
  const average = rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : null;
  drawChart(body, {
    name: "churn",
    label:
      `Line chart of monthly churn from ${labels[0]} to ${labels[labels.length - 1]}. ` +
      `${labels[labels.length - 1]}: customer churn ${fmt.percent(last.churn_rate)}, revenue ` +
      `churn ${fmt.percent(last.revenue_churn_rate)}. Average customer churn ` +
      `${fmt.percent(average)}. Benchmarks: 5% and 10% a month.`,
    config: {
      type: "line",
      data: {
        labels,
        datasets: [
          {
            label: "Customer churn",
            data: periods.map((p) => p.churn_rate),
            borderColor: COLORS.blue,
            backgroundColor: COLORS.blue,
            pointRadius: 3,
            order: 1,
          },
          {
            label: "Revenue churn",
            data: periods.map((p) => p.revenue_churn_rate),
            borderColor: COLORS.orange,
            backgroundColor: COLORS.orange,
            borderDash: [3, 3],
            pointStyle: "rectRot",
            pointRadius: 4,
            order: 1,
          },
          referenceLine("5% benchmark", 5, labels.length, COLORS.muted),
          referenceLine("10% benchmark", 10, labels.length, COLORS.darkRed),
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          y: {
            beginAtZero: true,
            suggestedMax: 12,
            title: { display: true, text: "% per month" },
            ticks: { callback: (v) => `${v}%` },
          },
        },
        plugins: {
          tooltip: {
            callbacks: { label: (c) => `${c.dataset.label}: ${fmt.percent(c.parsed.y)}` },
          },
        },
      },
    },
    data: {
      caption: "Churn by month (UTC calendar months)",
      columns: [
        { label: "Month", rowHeader: true },
        { label: "Customers at start", numeric: true },
        { label: "Churned", numeric: true },
        { label: "Churn rate", numeric: true },
        { label: "Revenue churn", numeric: true },
        { label: "Net revenue retention", numeric: true },
      ],
      rows: periods.map((p, i) => [
        labels[i],
        fmt.number(p.customers_at_start),
        fmt.number(p.churned),
        fmt.percent(p.churn_rate),
        fmt.percent(p.revenue_churn_rate),
        fmt.percent(p.net_revenue_retention),
      ]),
    },
  });
}

function renderMrr(series) {
  const body = clear(panelBody("panel-mrr"));
  const periods = populated(series.periods);
  if (!periods.length) {
    body.append(message("No MRR in the last 12 months yet.", "muted"));
    return;
  }
  const currency = series.currency;
  const major = (minor) => fmt.toMajor(minor, currency);
  const labels = periods.map((p) => fmt.month(p.start));
  const net = periods.map((p) => p.mrr_at_end - p.mrr_at_start);
  const last = periods[periods.length - 1];
  const bar = (label, values, color) => ({
    label,
    data: values.map(major),
    backgroundColor: color,
    stack: "movements",
    order: 2,
  });
  drawChart(body, {
    name: "mrr",
    label:
      `Stacked bar chart of MRR movements by month in ${currency}, ${labels[0]} to ` +
      `${labels[labels.length - 1]}. ${labels[labels.length - 1]}: new ` +
      `${fmt.money(last.mrr_new, currency)}, expansion ${fmt.money(last.mrr_expansion, currency)}, ` +
      `contraction ${fmt.money(-last.mrr_contraction, currency)}, churned ` +
      `${fmt.money(-last.mrr_churned, currency)}, net change ` +
      `${fmt.money(net[net.length - 1], currency)}.`,
    config: {
      type: "bar",
      data: {
        labels,
        datasets: [
          {
            type: "line",
            label: "Net change",
            data: net.map(major),
            borderColor: COLORS.blue,
            backgroundColor: COLORS.blue,
            pointRadius: 3,
            stack: "net",
            order: 0,
          },
          bar("New", periods.map((p) => p.mrr_new), COLORS.green),
          bar("Expansion", periods.map((p) => p.mrr_expansion), COLORS.lightGreen),
          bar("Contraction", periods.map((p) => -p.mrr_contraction), COLORS.lightOrange),
          bar("Churned", periods.map((p) => -p.mrr_churned), COLORS.red),
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true },
          y: {
            stacked: true,
            title: { display: true, text: `MRR (${currency})` },
            ticks: {
              callback: (v) =>
                fmt.money(v * 10 ** fmt.fractionDigits(currency), currency, { compact: true }),
            },
          },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (c) =>
                `${c.dataset.label}: ${fmt.money(
                  Math.round(c.parsed.y * 10 ** fmt.fractionDigits(currency)),
                  currency,
                )}`,
            },
          },
        },
      },
    },
    data: {
      caption: `MRR movements by month (${currency})`,
      columns: [
        { label: "Month", rowHeader: true },
        { label: "New", numeric: true },
        { label: "Expansion", numeric: true },
        { label: "Contraction", numeric: true },
        { label: "Churned", numeric: true },
        { label: "Net change", numeric: true },
        { label: "MRR at end", numeric: true },
      ],
      rows: periods.map((p, i) => [
        labels[i],
        fmt.money(p.mrr_new, currency),
        fmt.money(p.mrr_expansion, currency),
        fmt.money(-p.mrr_contraction, currency),
        fmt.money(-p.mrr_churned, currency),
        fmt.money(net[i], currency),
        fmt.money(p.mrr_at_end, currency),
      ]),
    },
  });
}

// -- health tiers -----------------------------------------------------------------------------

function renderTiers([summary, trend]) {
  const body = clear(panelBody("panel-tiers"));
  const now = summary.health;
  const total = TIERS.reduce((sum, t) => sum + now[t], 0);
  const split = h("div", { class: "split" });
  const left = h("div", { class: "split-narrow" }, h("h3", {}, "Now"));
  const right = h("div", { class: "split-wide" }, h("h3", {}, "Trend"));
  split.append(left, right);
  body.append(split);

  const tierText = TIERS.map((t) => `${fmt.number(now[t])} ${fmt.tierLabel(t).toLowerCase()}`);
  if (total === 0) {
    left.append(message("No subscribers have a score yet.", "muted"));
  } else {
    drawChart(left, {
      name: "tiersNow",
      size: "short",
      label: `Doughnut chart of ${fmt.number(total)} subscribers by health tier now: ${tierText.join(", ")}.`,
      config: {
        type: "doughnut",
        data: {
          labels: TIERS.map(fmt.tierLabel),
          datasets: [
            {
              data: TIERS.map((t) => now[t]),
              backgroundColor: TIERS.map((t) => TIER_COLORS[t]),
              borderColor: "#ffffff",
            },
          ],
        },
        options: { plugins: { legend: { position: "bottom" } } },
      },
      data: {
        caption: "Subscribers by health tier now",
        columns: [
          { label: "Tier", rowHeader: true },
          { label: "Subscribers", numeric: true },
          { label: "Share", numeric: true },
        ],
        rows: TIERS.map((t) => [
          fmt.tierLabel(t),
          fmt.number(now[t]),
          fmt.percent((now[t] / total) * 100),
        ]),
      },
    });
  }

  const days = trend.days;
  if (!days.length) {
    right.append(
      message(
        "No health snapshots in the last 90 days yet: the periodic rescore writes one a day.",
        "muted",
      ),
    );
    return;
  }
  const labels = days.map((d) => fmt.day(d.day));
  const first = days[0];
  const last = days[days.length - 1];
  const describe = (d) =>
    `${fmt.day(d.day)}: ${fmt.number(d.healthy)} healthy, ${fmt.number(d.at_risk)} at risk, ` +
    `${fmt.number(d.critical)} critical`;
  drawChart(right, {
    name: "tiersTrend",
    label: `Stacked bar chart of subscribers by health tier on ${days.length} days (UTC). ${describe(first)}. ${describe(last)}.`,
    config: {
      type: "bar",
      data: {
        labels,
        datasets: TIERS.map((t) => ({
          label: fmt.tierLabel(t),
          data: days.map((d) => d[t]),
          backgroundColor: TIER_COLORS[t],
          stack: "tiers",
        })),
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "Subscribers" } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    },
    data: {
      caption: "Subscribers by health tier per day (UTC)",
      columns: [
        { label: "Day", rowHeader: true },
        ...TIERS.map((t) => ({ label: fmt.tierLabel(t), numeric: true })),
        { label: "Subscribers", numeric: true },
      ],
      rows: days.map((d, i) => [
        labels[i],
        ...TIERS.map((t) => fmt.number(d[t])),
        fmt.number(d.subscribers),
      ]),
    },
  });
}

// -- cancellation reasons ---------------------------------------------------------------------

function renderReasons(report) {
  const body = clear(panelBody("panel-reasons"));
  const rows = report.by_reason;
  if (!rows.length) {
    body.append(message("No cancellation took effect in the last 12 months.", "muted"));
    return;
  }
  const currency = report.currency;
  const labels = rows.map((r) => (r.reason === null ? "No reason given" : fmt.words(r.reason)));
  const top = rows
    .slice(0, 3)
    .map((r, i) => `${labels[i]} ${fmt.number(r.cancellations)}`)
    .join(", ");
  drawChart(body, {
    name: "reasons",
    label: `Bar chart of ${fmt.number(report.cancellations)} cancellations by reason since ${fmt.month(report.start)}. Most frequent: ${top}.`,
    config: {
      type: "bar",
      data: {
        labels,
        datasets: [
          {
            label: "Cancellations",
            data: rows.map((r) => r.cancellations),
            backgroundColor: COLORS.brightBlue,
          },
        ],
      },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              afterLabel: (c) => `MRR lost: ${fmt.money(rows[c.dataIndex].mrr_lost, currency)}`,
            },
          },
        },
      },
    },
    data: {
      caption: `Cancellations by reason since ${fmt.month(report.start)}`,
      columns: [
        { label: "Reason", rowHeader: true },
        { label: "Cancellations", numeric: true },
        { label: `MRR lost (${currency})`, numeric: true },
      ],
      rows: rows.map((r, i) => [
        labels[i],
        fmt.number(r.cancellations),
        fmt.money(r.mrr_lost, currency),
      ]),
    },
  });
}
