/**
 * The monitoring page at `/admin`: server-rendered HTML and one small script, no build step. The
 * script asks for a token once (or takes it from the URL fragment, `/admin#token=...`, which never
 * reaches the server's logs), keeps it in the tab's session storage, and reads the API's
 * server-sent events (`/admin/events/live`) with it: stat cards, throughput over the last hour,
 * per-group lag and pending, the DLQ table with inspect, retry and delete (shown to admin and
 * owner only; the API enforces it either way), its filters, a warning near the DLQ limit, and the
 * replay jobs with their progress, cancel and resume, and a form to start one (admin and owner).
 *
 * Everything from events is untrusted: the script writes it with `textContent` only, never as
 * markup, and the server-rendered part carries no event data.
 *
 * @since 0.1.0
 */
import { HttpRouter, HttpServerResponse } from "effect/http"

const style = `
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0}#who{margin-left:auto;opacity:.8}
main{padding:16px 20px;display:grid;gap:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{background:#fff;border-radius:6px;padding:12px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:22px}.card span{opacity:.7}
section{background:#fff;border-radius:6px;padding:12px;box-shadow:0 1px 2px #0002}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
#chart{display:flex;align-items:flex-end;height:80px;gap:1px}#chart div{flex:1;background:#4c7ee8;min-height:1px}
#warning{background:#fff3cd;border:1px solid #e0b100;padding:8px 12px;border-radius:6px}
#detail{white-space:pre-wrap;word-break:break-all;background:#f0f0f0;padding:8px;max-height:300px;overflow:auto}
.err{color:#b00020}button{margin-right:4px}[hidden]{display:none!important}
progress{width:120px;vertical-align:middle}[data-testid=replay-percent]{white-space:nowrap}#replay-form{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:8px}
#replay-form label{display:flex;flex-direction:column;font-size:12px;opacity:.85}
`

const body = `
<header><h1>HYVVE event bus</h1><span id="status">connecting…</span><span id="who"></span></header>
<main>
  <form id="login" hidden><label>Admin token <input id="token" type="password" autocomplete="off"></label> <button>Open</button></form>
  <div id="warning" hidden data-testid="dlq-warning"></div>
  <div class="cards">
    <div class="card"><span>Stream length</span><b data-testid="stream-length">–</b></div>
    <div class="card"><span>Last minute</span><b data-testid="rate-minute">–</b></div>
    <div class="card"><span>Last hour</span><b data-testid="rate-hour">–</b></div>
    <div class="card"><span>Last 24 h</span><b data-testid="rate-day">–</b></div>
    <div class="card"><span>DLQ</span><b data-testid="dlq-size">–</b><span data-testid="dlq-percent"></span></div>
    <div class="card"><span>Updated</span><b data-testid="updated" style="font-size:14px">–</b></div>
  </div>
  <section><h2>Throughput, last hour (per minute)</h2><div id="chart" data-testid="chart"></div></section>
  <section><h2>Groups</h2><table><thead><tr><th>group</th><th>lag</th><th>pending</th><th>oldest pending</th><th>consumers (idle)</th></tr></thead>
    <tbody id="groups" data-testid="groups"></tbody></table></section>
  <section><h2>Dead-letter queue</h2>
    <form id="filters">type <input name="type"> group <input name="group"> tenant <input name="tenant"> <button>Filter</button></form>
    <table><thead><tr><th>id</th><th>type</th><th>group</th><th>tenant</th><th>error</th><th>moved</th><th></th></tr></thead>
    <tbody id="dlq" data-testid="dlq-rows"></tbody></table>
    <p id="action" data-testid="action"></p>
    <pre id="detail" data-testid="detail" hidden></pre>
  </section>
  <section><h2>Replay</h2>
    <form id="replay-form" data-testid="replay-form" hidden>
      <label>group (empty: every matching) <input name="group" data-testid="replay-group"></label>
      <label>types (comma-separated) <input name="types"></label>
      <label>pattern <input name="pattern" placeholder="approval.*"></label>
      <label>tenant <input name="tenant"></label>
      <label>from <input name="from" type="datetime-local" step="1"></label>
      <label>to <input name="to" type="datetime-local" step="1"></label>
      <label>batch size <input name="batchSize" type="number" min="1" max="10000"></label>
      <label>rate (events/s) <input name="rate" type="number" min="0" step="any"></label>
      <button data-testid="replay-start">Start replay</button>
    </form>
    <p id="replay-action" data-testid="replay-action"></p>
    <table><thead><tr><th>job</th><th>status</th><th>progress</th><th>replayed / matched</th><th>target</th><th>tenant</th><th>by</th><th>created</th><th></th></tr></thead>
    <tbody id="replays" data-testid="replay-rows"></tbody></table>
  </section>
</main>`

// The page's script. Plain ES2020; data reaches the DOM through textContent only.
const script = `
"use strict";
const $ = (name) => document.getElementById(name) || document.querySelector('[data-testid="' + name + '"]');
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) { sessionStorage.setItem("hyvve-token", fromHash); history.replaceState(null, "", location.pathname); }
let token = sessionStorage.getItem("hyvve-token");
let canMutate = false;
let controller;
const cell = (text) => { const td = document.createElement("td"); td.textContent = text === undefined ? "" : String(text); return td; };
const api = (method, path, body) => fetch(path, {
  method, headers: Object.assign({ authorization: "Bearer " + token }, body === undefined ? {} : { "content-type": "application/json" }),
  body: body === undefined ? undefined : JSON.stringify(body)
}).then(async (r) => { const json = await r.json().catch(() => ({})); if (!r.ok) throw new Error((json && (json.message || (json.errors && json.errors.map((e) => e.path.join(".") + ": " + e.message).join("; ")) || json.detail || json._tag)) || ("HTTP " + r.status)); return json; });
const ago = (ms) => ms === undefined ? "" : ms < 1000 ? ms + " ms" : ms < 60000 ? Math.round(ms / 1000) + " s" : Math.round(ms / 60000) + " min";
function render(update) {
  const s = update.stats;
  $("stream-length").textContent = s.stream.length;
  $("rate-minute").textContent = s.throughput.lastMinute;
  $("rate-hour").textContent = s.throughput.lastHour;
  $("rate-day").textContent = s.throughput.last24h + (s.throughput.exact ? "" : "+");
  $("dlq-size").textContent = s.dlq.size + " / " + s.dlq.maxLength;
  $("dlq-percent").textContent = s.dlq.percent.toFixed(1) + " % of limit";
  $("updated").textContent = new Date(s.at).toLocaleTimeString();
  const warning = $("warning");
  warning.hidden = !s.dlq.nearLimit;
  warning.textContent = s.dlq.nearLimit ? "The DLQ is at " + s.dlq.percent.toFixed(1) + " % of its limit (" + s.dlq.size + " of " + s.dlq.maxLength + ")" : "";
  const max = Math.max(1, ...s.throughput.perMinute);
  $("chart").replaceChildren(...s.throughput.perMinute.map((n, i) => { const d = document.createElement("div"); d.style.height = (100 * n / max) + "%"; d.title = (59 - i) + " min ago: " + n; return d; }));
  $("groups").replaceChildren(...s.groups.map((g) => { const tr = document.createElement("tr");
    tr.append(cell(g.name), cell(g.lag), cell(g.pending), cell(ago(g.oldestPendingAgeMs)), cell(g.consumers.map((c) => c.name + " (" + ago(c.idleMs) + ")").join(", "))); return tr; }));
  $("dlq").replaceChildren(...update.dlq.entries.map((e) => { const tr = document.createElement("tr"); tr.dataset.id = e.id;
    tr.append(cell(e.id), cell(e.type), cell(e.group), cell(e.tenantId), cell(e.errorTag + ": " + e.errorMessage), cell(e.movedAt));
    const actions = document.createElement("td");
    const button = (label, testid, onClick) => { const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset.testid = testid; b.addEventListener("click", onClick); actions.append(b); };
    button("Inspect", "inspect", () => api("GET", "/admin/events/dlq/" + encodeURIComponent(e.id)).then((d) => { $("detail").hidden = false; $("detail").textContent = JSON.stringify(d, null, 2); }, report));
    if (canMutate) {
      button("Retry", "retry", () => api("POST", "/admin/events/dlq/" + encodeURIComponent(e.id) + "/retry", {}).then((r) => { $("action").textContent = "Retried " + r.id + " to " + (r.group || "its group"); tr.remove(); }, report));
      button("Delete", "delete", () => { if (confirm("Delete DLQ entry " + e.id + "?")) api("DELETE", "/admin/events/dlq/" + encodeURIComponent(e.id)).then((r) => { $("action").textContent = "Deleted " + r.id; tr.remove(); }, report); });
    }
    tr.append(actions); return tr; }));
  $("replays").replaceChildren(...(update.replays || []).map((v) => { const j = v.job, p = v.progress; const tr = document.createElement("tr"); tr.dataset.id = j.id; tr.dataset.status = j.status;
    const bar = document.createElement("progress"); bar.max = 100; bar.value = p.percent;
    const pct = cell(""); pct.append(bar, document.createTextNode(" " + p.percent.toFixed(1) + " %")); pct.dataset.testid = "replay-percent";
    const target = j.target._tag === "Group" ? j.target.group : j.target._tag.toLowerCase();
    tr.append(cell(j.id), cell(j.status), pct, cell(j.replayed + " / " + j.matched + (j.failed ? " (" + j.failed + " failed)" : "")), cell(target), cell(j.tenantId || "all"), cell(j.createdBy), cell(new Date(j.createdAt).toLocaleString()));
    const actions = document.createElement("td");
    const button = (label, testid, onClick) => { const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset.testid = testid; b.addEventListener("click", onClick); actions.append(b); };
    if (canMutate && (j.status === "running" || j.status === "pending")) button("Cancel", "replay-cancel", () => api("POST", "/admin/events/replay/" + encodeURIComponent(j.id) + "/cancel").then((r) => { $("replay-action").textContent = "Cancelled " + r.job.id; }, reportReplay));
    if (canMutate && (j.status === "cancelled" || j.status === "failed")) button("Resume", "replay-resume", () => api("POST", "/admin/events/replay/" + encodeURIComponent(j.id) + "/resume").then((r) => { $("replay-action").textContent = "Resumed " + r.job.id; }, reportReplay));
    tr.append(actions); return tr; }));
}
function reportReplay(error) { $("replay-action").className = "err"; $("replay-action").textContent = String(error && error.message || error); }
$("replay-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const form = new FormData($("replay-form")); const body = {};
  const text = (name) => { const v = String(form.get(name) || "").trim(); return v === "" ? undefined : v; };
  if (text("group")) body.group = text("group");
  if (text("types")) body.types = text("types").split(",").map((t) => t.trim()).filter((t) => t !== "");
  if (text("pattern")) body.pattern = text("pattern");
  if (text("tenant")) body.tenant = text("tenant");
  if (text("from")) body.from = new Date(text("from")).getTime();
  if (text("to")) body.to = new Date(text("to")).getTime();
  if (text("batchSize")) body.batchSize = Number(text("batchSize"));
  if (text("rate")) body.rate = Number(text("rate"));
  api("POST", "/admin/events/replay", body).then((r) => { $("replay-action").className = ""; $("replay-action").textContent = "Started " + r.job.id; $("replay-action").dataset.jobId = r.job.id; }, reportReplay);
});
function report(error) { $("action").className = "err"; $("action").textContent = String(error && error.message || error); }
async function live() {
  if (controller) controller.abort();
  controller = new AbortController();
  const query = new URLSearchParams([...new FormData($("filters")).entries()].filter(([, v]) => v !== ""));
  try {
    const res = await fetch("/admin/events/live?" + query, { headers: { authorization: "Bearer " + token, accept: "text/event-stream" }, signal: controller.signal });
    if (res.status === 401) { sessionStorage.removeItem("hyvve-token"); token = null; return login(); }
    if (!res.ok) throw new Error("HTTP " + res.status);
    $("status").textContent = "live";
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const data = block.split("\\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\\n");
        if (data) render(JSON.parse(data));
      }
    }
  } catch (error) { if (error.name === "AbortError") return; $("status").textContent = "disconnected: " + error.message; }
  setTimeout(live, 2000);
}
function login() { $("login").hidden = false; $("status").textContent = "token needed"; }
$("login").addEventListener("submit", (ev) => { ev.preventDefault(); token = $("token").value; sessionStorage.setItem("hyvve-token", token); $("login").hidden = true; start(); });
$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); live(); });
async function start() {
  try {
    const me = await api("GET", "/admin/events/me");
    canMutate = me.role === "admin" || me.role === "owner";
    $("who").textContent = me.id + " (" + me.role + (me.tenantId ? ", tenant " + me.tenantId : "") + ")";
    document.body.dataset.role = me.role;
    $("replay-form").hidden = !canMutate;
    live();
  } catch (error) { sessionStorage.removeItem("hyvve-token"); token = null; login(); }
}
if (token) start(); else login();
`

/**
 * The page's HTML.
 *
 * @category rendering
 * @since 0.1.0
 */
export const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>HYVVE event bus</title><link rel="icon" href="data:,"><style>${style}</style></head>
<body>${body}<script>${script}</script></body></html>`

/**
 * `GET /admin`: the page. Its data comes from the API with the token the user gives, so the page
 * itself needs none; a strict content security policy allows only its own inline script and
 * requests to its own origin.
 *
 * @category routes
 * @since 0.1.0
 */
export const routes = HttpRouter.add(
  "GET",
  "/admin",
  HttpServerResponse.html(html).pipe(
    HttpServerResponse.setHeaders({
      "content-security-policy":
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer"
    })
  )
)
