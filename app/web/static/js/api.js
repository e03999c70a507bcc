// The public JSON API, read with the signed-in key.
//
// The key lives in sessionStorage only: it survives a reload of this tab, not closing it, and is
// never put in a URL, a cookie or the console. Requests go to this origin, without cookies and
// without a Referer.

const STORAGE_KEY = "holdfast.readKey";
const MAX_RETRY_WAIT_S = 5;

export const keyStore = {
  get() {
    return sessionStorage.getItem(STORAGE_KEY);
  },
  set(key) {
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  clear() {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

/** An error answer: `status` (0 when the server could not be reached), the problem's title and
 * detail. */
export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

/** Called with the ApiError when the key is refused (401) during a session. */
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

function url(path, params) {
  // Relative to the page, so a Holdfast served under a path prefix works too.
  const target = new URL(path, document.baseURI);
  for (const [name, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    target.searchParams.set(name, value);
  }
  return target;
}

async function problem(response) {
  try {
    const body = await response.json();
    return new ApiError(response.status, body.title || response.statusText, body.detail || "");
  } catch {
    return new ApiError(response.status, response.statusText || "Error", "");
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET `path` (e.g. "v1/metrics/summary") with `params`; resolves to the parsed JSON. With
 * `key`, uses that key instead of the stored one (signing in) and does not report a 401. */
export async function get(path, params = {}, { key = null } = {}) {
  const token = key ?? keyStore.get();
  if (!token) {
    const error = new ApiError(401, "Not signed in", "Sign in with a read API key.");
    if (key === null) onUnauthorized(error);
    throw error;
  }
  for (let attempt = 0; ; attempt += 1) {
    let response;
    try {
      response = await fetch(url(path, params), {
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
      });
    } catch {
      throw new ApiError(0, "Holdfast is unreachable", "Check that the server is running.");
    }
    if (response.ok) return response.json();
    // Rate limited or the database is briefly away: the server says when to come back.
    if ((response.status === 429 || response.status === 503) && attempt === 0) {
      const wait = Number(response.headers.get("Retry-After")) || 1;
      if (wait <= MAX_RETRY_WAIT_S) {
        await sleep(wait * 1000);
        continue;
      }
    }
    const error = await problem(response);
    if (error.status === 401 && key === null) onUnauthorized(error);
    throw error;
  }
}

/** Human words for a refused sign-in. */
export function signInMessage(error) {
  if (error.status === 401) {
    return `That API key was not accepted: ${error.detail || "it is unknown or has been revoked."}`;
  }
  if (error.status === 403) {
    return "That API key lacks the read scope. Use a key with the read scope (holdfast demo prints one).";
  }
  if (error.status === 0) return `${error.title}. ${error.detail}`;
  return `Could not sign in: ${error.title}${error.detail ? ` (${error.detail})` : ""}.`;
}
