// Entry point: sign-in, sign-out and the two pages (#/ and #/customers/{id}).

import * as api from "./api.js";
import { destroyAll } from "./charts.js";
import { cancelCustomer, renderCustomer } from "./customer.js";
import { clear } from "./dom.js";
import { cancelOverview, renderOverview } from "./overview.js";

const VIEWS = ["signin", "overview", "customer"];
let overviewLoaded = false;

function byId(id) {
  return document.getElementById(id);
}

function show(view) {
  byId("loading").hidden = true;
  for (const name of VIEWS) byId(`${name}-view`).hidden = name !== view;
  const signedIn = view !== "signin";
  byId("nav").hidden = !signedIn;
  byId("session-actions").hidden = !signedIn;
  if (!signedIn) byId("as-of").hidden = true;
  const current = byId("nav-overview");
  if (view === "overview") current.setAttribute("aria-current", "page");
  else current.removeAttribute("aria-current");
}

function focusHeading(id) {
  // Moving focus to the new page's heading tells screen readers the page changed.
  byId(id).focus({ preventScroll: false });
}

function customerFromHash() {
  const match = /^#\/customers\/(.+)$/.exec(window.location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

function route({ focus = true } = {}) {
  if (!api.keyStore.get()) {
    showSignIn();
    return;
  }
  const customerId = customerFromHash();
  if (customerId !== null) {
    show("customer");
    renderCustomer(customerId);
    if (focus) focusHeading("customer-title");
    window.scrollTo(0, 0);
    return;
  }
  cancelCustomer();
  destroyCustomerCharts();
  show("overview");
  document.title = "Holdfast dashboard";
  if (!overviewLoaded) {
    overviewLoaded = true;
    renderOverview();
  }
  if (focus) focusHeading("overview-title");
}

function destroyCustomerCharts() {
  for (const name of ["factors", "history"]) {
    window.holdfastCharts[name]?.destroy();
    delete window.holdfastCharts[name];
  }
}

function showSignIn(notice = null) {
  show("signin");
  const error = byId("signin-error");
  error.textContent = notice ?? "";
  error.hidden = !notice;
  document.title = "Sign in · Holdfast dashboard";
  focusHeading("signin-title");
}

/** Forget the key and everything shown with it. */
function signOut(notice = null) {
  api.keyStore.clear();
  cancelOverview();
  cancelCustomer();
  destroyAll();
  overviewLoaded = false;
  delete document.body.dataset.overview;
  delete document.body.dataset.customer;
  for (const body of document.querySelectorAll(".panel-body")) clear(body);
  clear(byId("kpis"));
  byId("as-of").textContent = "";
  showSignIn(notice);
}

async function signIn(event) {
  event.preventDefault();
  const input = byId("api-key");
  const submit = byId("signin-submit");
  const error = byId("signin-error");
  const key = input.value.trim();
  if (!key) {
    error.textContent = "Paste an API key with the read scope.";
    error.hidden = false;
    input.focus();
    return;
  }
  submit.disabled = true;
  submit.textContent = "Signing in…";
  error.hidden = true;
  try {
    // Any read endpoint proves the key: unknown and revoked keys get 401, others 403.
    await api.get("v1/metrics/summary", {}, { key });
    api.keyStore.set(key);
    input.value = "";
    overviewLoaded = false;
    route();
  } catch (failure) {
    error.textContent = api.signInMessage(failure);
    error.hidden = false;
    input.focus();
    input.select();
  } finally {
    submit.disabled = false;
    submit.textContent = "Sign in";
  }
}

function refresh() {
  if (customerFromHash() !== null) {
    route({ focus: false });
    return;
  }
  overviewLoaded = false;
  route({ focus: false });
}

api.setUnauthorizedHandler((error) => {
  if (!api.keyStore.get()) return;
  signOut(
    `Your API key is no longer accepted (${error.detail || error.title}). ` +
      "Sign in again with a valid read key.",
  );
});

byId("signin-form").addEventListener("submit", signIn);
byId("sign-out").addEventListener("click", () => signOut());
byId("refresh").addEventListener("click", refresh);
byId("risk-filters").addEventListener("submit", (event) => event.preventDefault());
window.addEventListener("hashchange", () => route());

if (!window.Chart) {
  byId("loading").textContent = "The chart library did not load; reload the page.";
} else {
  route({ focus: false });
}
