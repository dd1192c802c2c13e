// The dashboard's administration forms: keys, budgets, rate limits, cache
// TTLs and the audit log, through the server's admin API. The admin token
// is asked for once and kept in this tab's sessionStorage only; it goes
// out as Authorization: Bearer on the admin API's requests, never in a URL
// or a cookie.
"use strict";

const admin = { url: "", token: sessionStorage.getItem("conductorAdminToken") || "" };

async function adminCall(method, path, body) {
  const r = await fetch(admin.url + path, {
    method, cache: "no-store",
    headers: Object.assign({ Authorization: "Bearer " + admin.token }, body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const msg = (data && data.error && data.error.message) || r.status + " " + r.statusText;
    const e = new Error(msg);
    e.status = r.status;
    throw e;
  }
  return data;
}

function adminSay(msg, bad) {
  const m = document.getElementById("admin-message");
  m.textContent = msg;
  m.classList.toggle("bad", !!bad);
}

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text == null ? "" : String(text);
  return td;
}

function keyLimits(k) {
  const p = [];
  if (k.daily_usd) p.push("$" + k.daily_usd + "/day");
  if (k.monthly_usd) p.push("$" + k.monthly_usd + "/month");
  if (k.rpm) p.push(k.rpm + " rpm");
  if (k.tpm) p.push(k.tpm + " tpm");
  if (k.models && k.models.length) p.push("models " + k.models.join(","));
  if (k.gateways && k.gateways.length) p.push("gateways " + k.gateways.join(","));
  if (k.expires) p.push("expires " + k.expires.slice(0, 16).replace("T", " "));
  return p.join("; ") || "–";
}

async function loadKeys() {
  const keys = await adminCall("GET", "keys");
  const body = document.querySelector("#table-keys tbody");
  body.replaceChildren(...keys.map((k) => {
    const tr = document.createElement("tr");
    tr.dataset.key = k.name;
    tr.append(cell(k.name), cell(k.user || "–"), cell(k.team || "–"), cell(keyLimits(k)),
      cell("$" + (k.spent_today_usd || 0).toPrecision(3), "n"),
      cell(k.last_used ? new Date(k.last_used).toLocaleString("en-GB") : "never"), cell(k.status));
    const td = document.createElement("td");
    if (k.status === "active") {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "revoke";
      b.textContent = "Revoke";
      b.addEventListener("click", () => act(async () => {
        await adminCall("POST", "keys/" + encodeURIComponent(k.name) + "/revoke");
        adminSay("Revoked key " + k.name + ".");
      }));
      td.append(b);
    }
    tr.append(td);
    return tr;
  }));
}

async function loadAudit() {
  const rows = await adminCall("GET", "audit?limit=25");
  const body = document.querySelector("#table-audit tbody");
  body.replaceChildren(...rows.map((a) => {
    const tr = document.createElement("tr");
    tr.append(cell(new Date(a.time).toLocaleString("en-GB")), cell(a.who), cell(a.action), cell(a.kind + " " + a.name),
      cell(a.before ? JSON.stringify(a.before) : "", "json"), cell(a.after ? JSON.stringify(a.after) : "", "json"));
    return tr;
  }));
}

async function loadAll() {
  await Promise.all([loadKeys(), loadAudit()]);
}

// act runs a change, reports its failure, and reloads the tables.
async function act(fn) {
  try {
    await fn();
    await loadAll();
  } catch (e) {
    if (e.status === 401) lock("The admin token is not valid.");
    else adminSay(e.message, true);
  }
}

function lock(msg) {
  admin.token = "";
  sessionStorage.removeItem("conductorAdminToken");
  document.getElementById("admin-panels").hidden = true;
  adminSay(msg, true);
}

async function unlock() {
  try {
    await loadAll();
    document.getElementById("admin-panels").hidden = false;
    adminSay("Unlocked.");
  } catch (e) {
    lock(e.status === 401 ? "The admin token is not valid." : e.message);
  }
}

// fields reads a form: empty fields left out, numbers as numbers.
function fields(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.value === "") continue;
    out[el.name] = el.type === "number" ? Number(el.value) : el.value;
  }
  return out;
}

function onSubmit(id, fn) {
  document.getElementById(id).addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => fn(fields(ev.target), ev.target));
  });
}

async function startAdmin() {
  let cfg;
  try {
    const r = await fetch("api/config", { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) return;
    cfg = await r.json();
  } catch (_) {
    return;
  }
  if (!cfg.adminUrl) return;
  admin.url = cfg.adminUrl;
  document.getElementById("admin").hidden = false;
  document.getElementById("admin-login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    admin.token = document.getElementById("admin-token").value;
    sessionStorage.setItem("conductorAdminToken", admin.token);
    unlock();
  });
  onSubmit("form-key", async (f, form) => {
    if (f.models) f.models = f.models.split(",").map((s) => s.trim()).filter(Boolean);
    const k = await adminCall("POST", "keys", f);
    document.getElementById("new-key-value").textContent = k.key;
    document.getElementById("new-key").hidden = false;
    form.reset();
    adminSay("Created key " + k.name + ": copy it now, it is not shown again.");
  });
  onSubmit("form-budget", async (f) => {
    await adminCall("PUT", "budgets/" + encodeURIComponent(f.name), f);
    adminSay("Budget " + f.name + " is in force.");
  });
  onSubmit("form-rate", async (f) => {
    await adminCall("PUT", "rate-limits/" + encodeURIComponent(f.name), f);
    adminSay("Rate limit " + f.name + " is in force.");
  });
  onSubmit("form-ttl", async (f) => {
    const ttl = /^[0-9]+$/.test(f.cache_ttl) ? Number(f.cache_ttl) : f.cache_ttl;
    await adminCall("PUT", "gateways/" + encodeURIComponent(f.id), { cache_ttl: ttl });
    adminSay("Gateway " + f.id + " caches for " + f.cache_ttl + ".");
  });
  if (admin.token) unlock();
}

document.addEventListener("DOMContentLoaded", startAdmin);
