// The table panels of the overview: the cohort heatmap, the attention list (paged) and the
// offer save rates; and the tier badge and score change shared with the customer page.

import * as api from "./api.js";
import { clear, h, message, panelBody, scrollable, table } from "./dom.js";
import * as fmt from "./format.js";

const RISK_PAGE = 15;

// -- cohorts ----------------------------------------------------------------------------------

// Six steps of one blue, each with the text colour that keeps at least 4.5:1 contrast on it.
const HEAT_STEPS = [
  { from: 90, background: "#0a3069", text: "on-dark" },
  { from: 75, background: "#2b6cb8", text: "on-dark" },
  { from: 60, background: "#6fa6e6", text: "on-light" },
  { from: 40, background: "#a8caf2", text: "on-light" },
  { from: 20, background: "#d3e4f9", text: "on-light" },
  { from: -Infinity, background: "#f1f6fd", text: "on-light" },
];

function heat(cell, value) {
  if (value === null || value === undefined) return;
  const step = HEAT_STEPS.find((s) => value >= s.from);
  cell.style.backgroundColor = step.background;
  cell.classList.add(step.text);
}

function heatLegend() {
  const labels = ["90% and more", "75–90%", "60–75%", "40–60%", "20–40%", "under 20%"];
  return h(
    "ul",
    { class: "heat-legend", "aria-label": "Colour scale" },
    HEAT_STEPS.map((step, i) => {
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.backgroundColor = step.background;
      return h("li", {}, swatch, labels[i]);
    }),
  );
}

export function renderCohorts(matrix) {
  const body = clear(panelBody("panel-cohorts"));
  const cohorts = matrix.cohorts.filter((c) => c.customers > 0);
  if (!cohorts.length) {
    body.append(message("No customer signed up in the last 12 months.", "muted"));
    return;
  }
  const width = Math.max(...cohorts.map((c) => c.periods.length));
  const select = h(
    "select",
    { id: "cohort-measure" },
    h("option", { value: "customer_retention" }, "Customers retained"),
    h("option", { value: "revenue_retention" }, "Revenue retained"),
  );
  const holder = scrollable("Cohort retention table", null);
  holder.id = "cohort-table";
  const draw = () => {
    const measure = select.value;
    const grid = table({
      caption: `${select.selectedOptions[0].textContent} by signup month (UTC), % of the cohort`,
      className: "data heatmap",
      columns: [
        { label: "Signup month", rowHeader: true },
        { label: "Customers", numeric: true },
        ...Array.from({ length: width }, (_, k) => ({ label: `Month ${k}`, numeric: true })),
      ],
      rows: cohorts.map((c) => [
        fmt.month(c.start),
        fmt.number(c.customers),
        ...Array.from({ length: width }, (_, k) =>
          c.periods[k] ? fmt.percent(c.periods[k][measure], 0) : "",
        ),
      ]),
    });
    const bodyRows = grid.tBodies[0].rows;
    cohorts.forEach((c, r) => {
      c.periods.forEach((cell, k) => heat(bodyRows[r].cells[k + 2], cell[measure]));
    });
    holder.replaceChildren(grid);
  };
  select.addEventListener("change", draw);
  body.append(
    h("div", { class: "inline-field" }, h("label", { for: "cohort-measure" }, "Show"), select),
    holder,
    heatLegend(),
  );
  draw();
}

// -- the attention list -----------------------------------------------------------------------

let riskState = null;

/** Forget the list's paging (after signing out). */
export function resetRiskTable() {
  riskState = null;
}

/** Load the attention list's first page; `isCurrent` says whether the page that asked for it
 * is still the one shown. */
export function initRiskTable(isCurrent, currency) {
  riskState = { isCurrent, currency, cursors: [null], page: 0 };
  const status = document.getElementById("risk-status");
  const tier = document.getElementById("risk-tier");
  status.onchange = tier.onchange = () => {
    riskState.cursors = [null];
    riskState.page = 0;
    return loadRiskPage();
  };
  return loadRiskPage();
}

async function loadRiskPage() {
  const state = riskState;
  const body = panelBody("panel-risk");
  const params = {
    order: "score",
    limit: RISK_PAGE,
    status: document.getElementById("risk-status").value,
    tier: document.getElementById("risk-tier").value,
    cursor: state.cursors[state.page],
  };
  let page;
  try {
    page = await api.get("v1/customers", params);
  } catch (error) {
    if (state === riskState) clear(body).append(message(`Could not load this: ${error.message}`, "error"));
    throw error;
  }
  if (state !== riskState || !state.isCurrent()) return;
  state.cursors[state.page + 1] = page.next_cursor;
  clear(body);
  if (!page.items.length) {
    body.append(message("No customer matches these filters.", "muted"));
  } else {
    body.append(
      scrollable(
        "Table of customers needing attention",
        table({
          caption: `Customers by health score, lowest first (page ${state.page + 1})`,
          captionHidden: true,
          className: "data risk",
          columns: [
            { label: "Customer", rowHeader: true },
            { label: "Status" },
            { label: "Plan" },
            { label: "MRR", numeric: true },
            { label: "Score", numeric: true },
            { label: "Tier" },
            { label: "30-day change", numeric: true },
            { label: "Biggest drag" },
          ],
          rows: page.items.map((c) => [
            h("a", { href: `#/customers/${encodeURIComponent(c.customer_id)}` }, c.customer_id),
            fmt.words(c.status),
            c.plan ?? "—",
            fmt.money(c.mrr, c.currency ?? state.currency),
            fmt.score(c.score),
            tierBadge(c.tier),
            change(c.change_30d),
            c.summary ?? "—",
          ]),
        }),
      ),
    );
  }
  const pager = h("div", { class: "pager" });
  if (state.page > 0) {
    pager.append(
      h(
        "button",
        {
          type: "button",
          class: "button secondary",
          on: {
            click: () => {
              state.page -= 1;
              return loadRiskPage();
            },
          },
        },
        "Previous page",
      ),
    );
  }
  if (page.next_cursor) {
    pager.append(
      h(
        "button",
        {
          type: "button",
          class: "button secondary",
          on: {
            click: () => {
              state.page += 1;
              return loadRiskPage();
            },
          },
        },
        "Next page",
      ),
    );
  }
  if (pager.childElementCount) body.append(pager);
}

export function tierBadge(tier) {
  return h("span", { class: `badge tier-${tier ?? "unscored"}` }, fmt.tierLabel(tier));
}

export function change(value) {
  if (value === null || value === undefined) return "—";
  const direction = value <= -1 ? "down" : value >= 1 ? "up" : "flat";
  const arrow = { down: "▼", up: "▲", flat: "■" }[direction];
  return h(
    "span",
    { class: `change ${direction}` },
    h("span", { "aria-hidden": "true" }, `${arrow} `),
    fmt.signed(value, 1),
    h("span", { class: "visually-hidden" }, " points"),
  );
}

// -- offer save rates -------------------------------------------------------------------------

function rateText(rate) {
  return rate === null || rate === undefined ? "—" : fmt.percent(rate * 100);
}

function liftText(lift) {
  if (!lift) return "—";
  const points = (x) => fmt.signed(x * 100, 1);
  return `${points(lift.difference)} pts (95% CI ${points(lift.ci_low)} to ${points(lift.ci_high)})${
    lift.significant ? "" : ", not significant"
  }`;
}

export function renderOffers(report) {
  const body = clear(panelBody("panel-offers"));
  const totals = report.totals;
  if (totals.flows === 0) {
    body.append(
      message(
        "No cancellation flow started in the last 12 months. Your billing system starts one " +
          "with POST /v1/customers/{id}/cancellation-flows when a customer asks to cancel.",
        "muted",
      ),
    );
    return;
  }
  body.append(
    h(
      "p",
      { class: "totals" },
      `${fmt.number(totals.flows)} flows: ${fmt.number(totals.accepted)} accepted an offer, ` +
        `${fmt.number(totals.declined)} declined, ${fmt.number(totals.abandoned)} abandoned, ` +
        `${fmt.number(totals.pending)} pending (keep window of ${report.keep_days} days). ` +
        `Save rate with offers ${rateText(totals.treatment.save_rate)}, in the holdout ` +
        `${rateText(totals.holdout.save_rate)}; lift ${liftText(totals.lift)}.`,
    ),
    scrollable(
      "Save rates",
      table({
        caption: "Save rates by offer kind, reason and variant",
        className: "data",
        columns: [
          { label: "Offer kind", rowHeader: true },
          { label: "Reason" },
          { label: "Variant" },
          { label: "Flows", numeric: true },
          { label: "Resolved", numeric: true },
          { label: "Accepted", numeric: true },
          { label: "Saved", numeric: true },
          { label: "Save rate", numeric: true },
          { label: "Lift over holdout" },
        ],
        rows: report.rows.map((r) => [
          r.kind === null ? "No offer" : fmt.words(r.kind),
          fmt.words(r.reason),
          fmt.words(r.variant),
          fmt.number(r.flows),
          fmt.number(r.resolved),
          fmt.number(r.accepted),
          fmt.number(r.saved),
          rateText(r.save_rate),
          liftText(r.lift),
        ]),
      }),
    ),
  );
}
