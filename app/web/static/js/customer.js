// A customer's page: state, health score with its factor breakdown, health history and the
// event timeline (paged, newest first).

import * as api from "./api.js";
import { COLORS, drawChart, referenceLine } from "./charts.js";
import { clear, h, message, panelBody, scrollable, table } from "./dom.js";
import * as fmt from "./format.js";
import { change, tierBadge } from "./tables.js";

const TIMELINE_PAGE = 25;
const PANELS = ["state", "score", "factors", "history", "timeline"];

let generation = 0;

/** Drop whatever is still loading (after signing out or leaving the page). */
export function cancelCustomer() {
  generation += 1;
}

export async function renderCustomer(customerId) {
  const gen = ++generation;
  const path = `v1/customers/${encodeURIComponent(customerId)}`;
  document.getElementById("customer-title").textContent = `Customer ${customerId}`;
  for (const id of PANELS) clear(panelBody(`panel-${id}`)).append(message("Loading…", "muted"));

  const customer = api.get(path);
  const health = api.get(`${path}/health`);
  const settings = api.get("v1/settings/health").catch(() => null);
  const history = api.get(`${path}/health/history`);
  const show = async (id, request, render) => {
    try {
      const data = await request;
      if (gen === generation) await render(data);
    } catch (error) {
      if (gen !== generation) return;
      const text =
        error.status === 404
          ? `No customer ${customerId} in this tenant.`
          : `Could not load this: ${error.message}`;
      clear(panelBody(`panel-${id}`)).append(message(text, "error"));
      throw error;
    }
  };
  delete document.body.dataset.customer;
  const results = await Promise.allSettled([
    show("state", customer, renderState),
    show("score", health, renderScore),
    show("factors", health, renderFactors),
    show("history", Promise.all([history, settings]), renderHistory),
    show("timeline", Promise.resolve(null), () => startTimeline(gen, path)),
  ]);
  if (gen === generation) {
    document.body.dataset.customer = results.every((r) => r.status === "fulfilled")
      ? "ready"
      : "partial";
  }
}

function field(term, value) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", {}, term), h("dd", {}, value)];
}

function renderState(c) {
  const currency = c.currency ?? "USD";
  const pending = c.pending_cancellation;
  const list = h(
    "dl",
    { class: "facts" },
    field("Status", h("span", { class: `badge status-${c.status}` }, fmt.words(c.status))),
    field("Plan", c.plan ?? "—"),
    field("MRR", fmt.money(c.mrr, currency)),
    c.plan_mrr !== c.mrr ? field("Plan price", fmt.money(c.plan_mrr, currency)) : null,
    field("Subscribed", c.subscribed_at && fmt.dateTime(c.subscribed_at)),
    field("Reactivated", c.reactivated_at && fmt.dateTime(c.reactivated_at)),
    field("Paused until", c.paused_at && (c.paused_until ? fmt.dateTime(c.paused_until) : "no end set")),
    field(
      "Cancellation pending",
      pending &&
        `effective ${fmt.dateTime(pending.effective_at)}${pending.reason ? ` (${fmt.words(pending.reason)})` : ""}`,
    ),
    field(
      c.status === "cancelled" ? "Cancelled" : "Last cancelled",
      c.cancelled_at && fmt.dateTime(c.cancelled_at),
    ),
    field("Cancel reason", c.cancel_reason && fmt.words(c.cancel_reason)),
    field(
      "Discount",
      c.discount &&
        `until ${fmt.dateTime(c.discount.until)}, then ${fmt.money(c.discount.base_mrr, currency)}`,
    ),
    field("First seen", fmt.dateTime(c.first_seen_at)),
    field("Last seen", fmt.dateTime(c.last_seen_at)),
    field("Last usage", c.last_usage_at && fmt.dateTime(c.last_usage_at)),
    field("Last purchase", c.last_purchase_at && fmt.dateTime(c.last_purchase_at)),
    field("Revenue to date", fmt.money(c.revenue_total, currency)),
    field(
      "Events",
      `${fmt.number(c.counters.events)} (${fmt.number(c.counters.usage_events)} usage, ` +
        `${fmt.number(c.counters.purchases)} purchases, ${fmt.number(c.counters.payment_failures)} failed payments)`,
    ),
    field(
      "NPS",
      c.nps && `${c.nps.latest}${c.nps.previous !== null ? ` (previously ${c.nps.previous})` : ""}`,
    ),
  );
  clear(panelBody("panel-state")).append(list);
}

function renderScore(health) {
  const body = clear(panelBody("panel-score"));
  const trend = health.trend;
  body.append(
    h(
      "div",
      { class: "score-line" },
      h("p", { class: "score-value", id: "score-value" }, fmt.score(health.score)),
      h("div", {}, tierBadge(health.tier), h("p", { class: "muted" }, "out of 100")),
    ),
    h("p", { class: "score-summary" }, health.summary),
    h(
      "dl",
      { class: "facts" },
      field("Change over 7 days", trend ? change(trend.change_7d) : "—"),
      field("Change over 30 days", trend ? change(trend.change_30d) : "—"),
      field("Computed", fmt.dateTime(health.computed_at)),
      field("Model", `settings version ${health.model_version}, formulas revision ${health.model_revision}`),
    ),
  );
}

function renderFactors(health) {
  const body = clear(panelBody("panel-factors"));
  // Biggest drag first: the most points missed (weight x 100 is a factor's full share).
  const missed = (f) => f.weight * 100 - f.contribution;
  const factors = [...health.factors].sort((a, b) => missed(b) - missed(a));
  if (!factors.length) {
    body.append(message("No factor has data for this customer yet.", "muted"));
  } else {
    const labels = factors.map((f) => fmt.words(f.name));
    drawChart(body, {
      name: "factors",
      label:
        `Bar chart of the score's factors: ${factors
          .map((f, i) => `${labels[i]} ${f.contribution.toFixed(1)} of ${(f.weight * 100).toFixed(1)} points`)
          .join(", ")}. Total ${fmt.score(health.score)}.`,
      size: factors.length > 6 ? "tall" : "medium",
      config: {
        type: "bar",
        data: {
          labels,
          datasets: [
            {
              label: "Contribution (points)",
              data: factors.map((f) => f.contribution),
              backgroundColor: COLORS.blue,
              stack: "factor",
            },
            {
              label: "Points missed",
              data: factors.map((f) => Math.max(0, missed(f))),
              backgroundColor: "#f5c4c4",
              stack: "factor",
            },
          ],
        },
        options: {
          indexAxis: "y",
          scales: {
            x: { stacked: true, beginAtZero: true, title: { display: true, text: "Points" } },
            y: { stacked: true },
          },
          plugins: {
            legend: { position: "bottom" },
            tooltip: {
              callbacks: { afterBody: (items) => factors[items[0].dataIndex].detail },
            },
          },
        },
      },
    });
    body.append(
      scrollable(
        "Factors",
        table({
          caption: "Factors, biggest drag first",
          className: "data factors",
          columns: [
            { label: "Factor", rowHeader: true },
            { label: "Measured" },
            { label: "Sub-score", numeric: true },
            { label: "Weight", numeric: true },
            { label: "Contribution", numeric: true },
          ],
          rows: factors.map((f, i) => [
            labels[i],
            f.detail,
            fmt.number(f.score, 2),
            fmt.percent(f.weight * 100),
            `${f.contribution.toFixed(1)} pts`,
          ]),
        }),
      ),
    );
  }
  if (health.missing_factors.length) {
    body.append(
      h("h3", {}, "Left out for lack of data"),
      h(
        "ul",
        { class: "missing" },
        health.missing_factors.map((m) => h("li", {}, h("strong", {}, fmt.words(m.name)), `: ${m.reason}`)),
      ),
    );
  }
}

function renderHistory([history, settings]) {
  const body = clear(panelBody("panel-history"));
  const snapshots = history.snapshots;
  // The rescore writes one a day, but a backfill (the demo's) may space them a week apart.
  const cadence = fmt.cadence(snapshots.map((s) => s.day));
  const taken = cadence ? `, taken ${cadence}` : "";
  document.getElementById("history-note").textContent =
    `Snapshots of the score${taken} (UTC days), with the tier thresholds.`;
  if (!snapshots.length) {
    body.append(message("No daily snapshot yet: the periodic rescore writes one a day.", "muted"));
    return;
  }
  const tiers = settings?.settings?.tiers ?? { healthy_min: 70, at_risk_min: 40 };
  const labels = snapshots.map((s) => fmt.day(s.day));
  const first = snapshots[0];
  const last = snapshots[snapshots.length - 1];
  drawChart(body, {
    name: "history",
    label:
      `Line chart of the health score on ${snapshots.length} days (UTC): ` +
      `${fmt.day(first.day)} ${fmt.score(first.score)}, ${fmt.day(last.day)} ` +
      `${fmt.score(last.score)} (${fmt.tierLabel(last.tier).toLowerCase()}).`,
    config: {
      type: "line",
      data: {
        labels,
        datasets: [
          {
            label: "Score",
            data: snapshots.map((s) => s.score),
            borderColor: COLORS.blue,
            backgroundColor: COLORS.blue,
            pointRadius: snapshots.length > 60 ? 0 : 3,
            order: 1,
          },
          referenceLine(`Healthy from ${tiers.healthy_min}`, tiers.healthy_min, labels.length, COLORS.green),
          referenceLine(`Critical below ${tiers.at_risk_min}`, tiers.at_risk_min, labels.length, COLORS.red),
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: { y: { min: 0, max: 100, title: { display: true, text: "Score" } } },
      },
    },
    data: {
      caption: `Health snapshots${taken} (UTC days)`,
      columns: [
        { label: "Day", rowHeader: true },
        { label: "Score", numeric: true },
        { label: "Tier" },
      ],
      rows: snapshots.map((s, i) => [labels[i], fmt.score(s.score), fmt.tierLabel(s.tier)]),
    },
  });
}

// -- timeline ---------------------------------------------------------------------------------

function eventDetails(e) {
  const currency = e.currency ?? "USD";
  const parts = [];
  if (e.amount !== null) parts.push(fmt.money(e.amount, currency));
  if (e.plan !== null) parts.push(`plan ${e.plan}`);
  if (e.mrr !== null) parts.push(`MRR ${fmt.money(e.mrr, currency)}`);
  if (e.type === "usage") parts.push(`${fmt.number(e.quantity)} × ${e.feature ?? "use"}`);
  if (e.reason !== null) parts.push(`reason: ${fmt.words(e.reason)}`);
  if (e.effective_at !== null) parts.push(`effective ${fmt.dateTime(e.effective_at)}`);
  if (e.resume_at !== null) parts.push(`resumes ${fmt.dateTime(e.resume_at)}`);
  if (e.nps !== null) parts.push(`NPS ${e.nps}`);
  if (e.discount_until !== null) parts.push(`discount until ${fmt.dateTime(e.discount_until)}`);
  if (e.comment) parts.push(`“${e.comment}”`);
  return parts.join(" · ");
}

function startTimeline(gen, path) {
  const body = clear(panelBody("panel-timeline"));
  const list = h("ol", { class: "timeline", id: "timeline" });
  const more = h("button", { type: "button", class: "button secondary", id: "timeline-more" }, "Older events");
  const status = h("p", { class: "muted", role: "status" });
  body.append(list, status, more);
  let cursor = null;
  const load = async () => {
    more.disabled = true;
    let page;
    try {
      page = await api.get(`${path}/events`, { limit: TIMELINE_PAGE, cursor });
    } catch (error) {
      status.textContent = `Could not load events: ${error.message}`;
      more.disabled = false;
      throw error;
    }
    if (gen !== generation) return;
    for (const e of page.items) {
      list.append(
        h(
          "li",
          { class: `event type-${e.type}` },
          h("time", { datetime: e.occurred_at }, fmt.dateTime(e.occurred_at)),
          h("span", { class: "event-type" }, fmt.words(e.type)),
          h("span", { class: "event-details" }, eventDetails(e)),
        ),
      );
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
    status.textContent = list.childElementCount
      ? `${list.childElementCount} events shown${cursor ? "" : ", the oldest included"}.`
      : "No events.";
  };
  more.addEventListener("click", () => load().catch(() => {}));
  return load();
}
