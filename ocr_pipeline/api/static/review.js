// The review desk page: plain DOM, no build step. Every call to the API carries the bearer token the
// reviewer typed (kept in sessionStorage: this tab only, gone when it closes). Paths are relative to
// the page, so the desk works under a proxy prefix as well. Text is only ever set as textContent.
"use strict";

const PAGE_SIZE = 20;
const store = window.sessionStorage;
let offset = 0;
let previewUrl = null;

const $ = (id) => document.getElementById(id);
const show = (id, visible) => { $(id).hidden = !visible; };
const say = (text) => { $("message").textContent = text || ""; };

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers, { Authorization: "Bearer " + (store.getItem("token") || "") });
  const response = await fetch(path.replace(/^\//, ""), Object.assign({}, options, { headers }));
  if (response.status === 401) {
    store.removeItem("token");
    route();
    throw new Error("the token was refused");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (text instanceof Node) td.appendChild(text); else td.textContent = text == null ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function reasons(list) {
  const span = document.createElement("span");
  for (const code of list || []) {
    const tag = document.createElement("span");
    tag.className = "reason";
    tag.textContent = code;
    span.appendChild(tag);
  }
  return span;
}

const verdictText = (v) => (v === true ? "accepted" : v === false ? "rejected" : "—");
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

async function showQueue() {
  show("case", false);
  show("queue", true);
  const body = await (await api(`v1/reviews?limit=${PAGE_SIZE}&offset=${offset}`)).json();
  const rows = $("queue-rows");
  rows.replaceChildren();
  for (const item of body.items) {
    const tr = document.createElement("tr");
    tr.dataset.requestId = item.request_id;
    const link = document.createElement("a");
    link.href = `#case=${item.request_id}`;
    link.textContent = `#${item.request_id}`;
    cell(tr, link);
    cell(tr, item.document_type);
    cell(tr, verdictText(item.verdict));
    cell(tr, reasons(item.review_reasons));
    cell(tr, when(item.completed_at));
    rows.appendChild(tr);
  }
  $("queue-total").textContent = `(${body.total})`;
  show("queue-empty", body.total === 0);
  $("prev-page").disabled = offset === 0;
  $("next-page").disabled = offset + body.items.length >= body.total;
  $("page-info").textContent = body.total ? `${offset + 1}–${offset + body.items.length} of ${body.total}` : "";
}

async function showCase(requestId) {
  show("queue", false);
  const c = await (await api(`v1/reviews/${requestId}`)).json();
  $("case-id").textContent = `#${c.request_id}`;
  $("case-name").textContent = c.applicant_name;
  $("case-iin").textContent = c.iin_masked;
  $("case-doctype").textContent = c.document_type || "";
  $("case-verdict").textContent = verdictText(c.verdict);
  $("case-confidence").textContent = c.confidence == null ? "" : c.confidence.toFixed(2);
  $("case-reasons").replaceChildren(reasons(c.review_reasons));
  $("case-errors").textContent = (c.errors || []).map((e) => e.code).join(", ") || "none";
  const checks = $("case-checks");
  checks.replaceChildren();
  for (const [name, check] of Object.entries(c.checks || {})) {
    const tr = document.createElement("tr");
    cell(tr, name);
    cell(tr, check.matched ? "yes" : "no");
    cell(tr, check.page);
    cell(tr, check.snippet);
    checks.appendChild(tr);
  }
  const reviews = $("case-reviews");
  reviews.replaceChildren();
  for (const r of c.reviews) {
    const tr = document.createElement("tr");
    cell(tr, when(r.decided_at));
    cell(tr, r.reviewer);
    cell(tr, r.decision);
    cell(tr, `${verdictText(r.engine_verdict)} → ${verdictText(r.final_verdict)}`);
    cell(tr, r.comment);
    reviews.appendChild(tr);
  }
  show("decision-form", c.awaiting_review);
  show("case-decided", !c.awaiting_review);
  $("case-decided").textContent = c.reviewed_at
    ? `Decided: ${verdictText(c.final_verdict)} by ${c.reviewed_by} at ${when(c.reviewed_at)}`
    : "Not awaiting review.";
  $("comment").value = "";
  $("case").dataset.requestId = c.request_id;
  show("case", true);
  await loadPreview(c.preview_url);
}

async function loadPreview(url) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  const img = $("preview");
  img.hidden = true;
  show("no-preview", false);
  if (!url) { show("no-preview", true); return; }
  try {
    const blob = await (await api(url)).blob();
    previewUrl = URL.createObjectURL(blob);
    await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = previewUrl; });
    img.hidden = false;
  } catch (error) {
    show("no-preview", true);
  }
}

async function decide(decision) {
  const requestId = $("case").dataset.requestId;
  say("");
  $("accept").disabled = $("reject").disabled = true;
  try {
    await api(`v1/requests/${requestId}/review`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ decision, reviewer: store.getItem("reviewer"), comment: $("comment").value }),
    });
    await showCase(requestId);
  } catch (error) {
    say(`Not recorded: ${error.message}`);
  } finally {
    $("accept").disabled = $("reject").disabled = false;
  }
}

async function route() {
  say("");
  const signedIn = Boolean(store.getItem("token")) && Boolean(store.getItem("reviewer"));
  show("login", !signedIn);
  show("sign-out", signedIn);
  $("who").textContent = signedIn ? `Reviewer: ${store.getItem("reviewer")}` : "";
  if (!signedIn) { show("queue", false); show("case", false); return; }
  const match = location.hash.match(/^#case=(\d+)$/);
  try {
    if (match) await showCase(match[1]); else await showQueue();
  } catch (error) {
    say(error.message);
  }
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  store.setItem("token", $("token").value.trim());
  store.setItem("reviewer", $("reviewer").value.trim());
  route();
});
$("sign-out").addEventListener("click", () => { store.clear(); route(); });
$("to-queue").addEventListener("click", (event) => { event.preventDefault(); location.hash = ""; route(); });
$("prev-page").addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); showQueue().catch((e) => say(e.message)); });
$("next-page").addEventListener("click", () => { offset += PAGE_SIZE; showQueue().catch((e) => say(e.message)); });
$("accept").addEventListener("click", () => decide("accept"));
$("reject").addEventListener("click", () => decide("reject"));
window.addEventListener("hashchange", route);
route();
