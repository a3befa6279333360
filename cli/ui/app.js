// The dashboard: views over the API, through ctrack ui's /api/… (same origin, the session
// cookie; ctrack signs the requests). Every value is put on the page as text, never as HTML.

const view = document.getElementById("view");
const dateInput = document.getElementById("date");
const EXPECTED_PORTS = new Set([443, 0]);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

// The view and its filters live in the URL (#/view?key=value…): links can be shared.
function route() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  return { name: path.replace(/^\//, "") || "overview", params: new URLSearchParams(query || "") };
}

function go(name, params) {
  location.hash = `#/${name}?${params.toString()}`;
}

async function api(path, params = new URLSearchParams()) {
  const response = await fetch(`/api${path}?${params.toString()}`, { credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const message = body && body.message ? body.message : `HTTP ${response.status}`;
    const hint = response.status === 401 || response.status === 403
      ? " — the API refused ctrack's credentials (check AWS credentials or --token)."
      : "";
    throw new Error(message + hint);
  }
  return { body, next: response.headers.get("x-next-cursor") };
}

function today() { return new Date().toISOString().slice(0, 10); }

function table(columns, rows, rowClass = () => "") {
  if (!rows.length) return el("p", { class: "empty" }, "Nothing here for this day.");
  const body = el("tbody");
  const render = (list) => {
    body.replaceChildren(...list.map((row) => {
      const tr = el("tr", { class: rowClass(row) });
      for (const c of columns) tr.append(el("td", { class: c.num ? "num" : "" }, c.cell ? c.cell(row) : row[c.key]));
      return tr;
    }));
  };
  let order = { key: null, dir: 1 };
  const head = el("tr", {}, ...columns.map((c) => {
    const button = el("button", { type: "button" }, c.title);
    button.addEventListener("click", () => {
      order = { key: c.key, dir: order.key === c.key ? -order.dir : (c.num ? -1 : 1) };
      const sorted = [...rows].sort((a, b) => (a[c.key] > b[c.key] ? 1 : a[c.key] < b[c.key] ? -1 : 0) * order.dir);
      render(sorted);
    });
    return el("th", { class: c.num ? "num" : "", scope: "col" }, button);
  }));
  render(rows);
  return el("table", {}, el("thead", {}, head), body);
}

function flatten(byPair) {
  const rows = [];
  for (const [pair, list] of Object.entries(byPair || {})) {
    const [account_id, region] = pair.split("/");
    for (const item of list) rows.push({ account_id, region, ...item });
  }
  return rows;
}

const views = {
  async overview(params) {
    const date = params.get("date") || today();
    const [accounts, top, changes] = await Promise.all([
      api("/accounts"),
      api("/connections", new URLSearchParams({ date, limit: "10" })),
      api("/changes", new URLSearchParams({ date })),
    ]);
    const list = Object.entries(accounts.body).map(([id, a]) => ({ id, ...a }));
    if (!list.length) {
      return [el("p", { class: "empty" }, "No accounts are monitored yet: add some with ctrack accounts add, or give the stack an organization.")];
    }
    const newCount = Object.values(changes.body.changes).reduce((n, c) => n + c.new_connections.length, 0);
    const cards = el("div", { class: "cards" },
      el("div", { class: "card" }, el("b", {}, list.length), "accounts monitored"),
      el("div", { class: "card" }, el("b", {}, newCount), `new connections on ${date}`),
      el("div", { class: "card" }, el("b", {}, list.filter((a) => !a.last_update).length), "accounts without data yet"));
    return [cards,
      el("h2", {}, "Accounts"),
      table([
        { key: "id", title: "account" }, { key: "name", title: "name" },
        { key: "source", title: "from" }, { key: "last_update", title: "last update", cell: (r) => r.last_update || "never" },
      ], list),
      el("h2", {}, `Top connections on ${date}`),
      connectionsTable(flatten(top.body))];
  },

  async exposure(params) {
    const date = params.get("date") || today();
    const { body } = await api("/public-endpoints", new URLSearchParams({ date }));
    const rows = flatten(body).map((e) => ({ ...e, addresses: (e.public_ips || []).join(" "), traffic: e.score || 0 }));
    const search = el("input", { type: "search", placeholder: "filter…", "aria-label": "Filter endpoints", value: params.get("q") || "" });
    const holder = el("div");
    const show = () => {
      const q = search.value.toLowerCase();
      const shown = rows.filter((r) => !q || JSON.stringify(r).toLowerCase().includes(q));
      holder.replaceChildren(table([
        { key: "account_id", title: "account" }, { key: "region", title: "region" },
        { key: "name", title: "endpoint" }, { key: "kind", title: "kind" },
        { key: "addresses", title: "addresses" }, { key: "traffic", title: "score", num: true },
      ], shown, (r) => (r.traffic ? "" : "idle")));
    };
    search.addEventListener("input", show);
    show();
    return [el("p", {}, "Every public interface the refresh found; endpoints without traffic on this day are greyed."),
      el("div", { class: "filters" }, search), holder];
  },

  async connections(params) {
    const date = params.get("date") || today();
    const query = new URLSearchParams({ date, limit: "200" });
    for (const key of ["dest", "port", "source", "cursor"]) if (params.get(key)) query.set(key, params.get(key));
    const { body, next } = await api("/connections", query);
    const filters = el("form", { class: "filters" });
    for (const key of ["dest", "port", "source"]) {
      filters.append(el("label", {}, `${key} `, el("input", { name: key, value: params.get(key) || "", size: key === "port" ? "6" : "24" })));
    }
    filters.append(el("button", { type: "submit" }, "Filter"));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const p = new URLSearchParams({ date });
      for (const [k, v] of new FormData(filters)) if (v) p.set(k, v);
      go("connections", p);
    });
    const parts = [filters, connectionsTable(flatten(body))];
    if (next) {
      const p = new URLSearchParams(params); p.set("cursor", next);
      parts.push(el("p", {}, el("a", { href: `#/connections?${p}` }, "Next page →")));
    }
    return parts;
  },

  async endpoint(params) {
    const dest = params.get("dest") || "";
    const port = params.get("port") || "";
    const to = params.get("date") || today();
    const days = [];
    for (let i = 6; i >= 0; i--) {
      const d = new Date(`${to}T00:00:00Z`);
      d.setUTCDate(d.getUTCDate() - i);
      days.push(d.toISOString().slice(0, 10));
    }
    const range = new URLSearchParams({ from: days[0], to, dest, port });
    const [sources, endpoints, ...perDay] = await Promise.all([
      api("/connections", range),
      api("/endpoints", range),
      ...days.map((date) => api("/connections", new URLSearchParams({ date, dest, port }))),
    ]);
    const rows = flatten(sources.body).map((r) => ({
      ...r,
      kind: r.source.startsWith("other") ? "the rest, folded" : /\/(24|48)$/.test(r.source) ? "prefix (folded)" : "",
    }));
    const estimate = flatten(endpoints.body).reduce((m, e) => Math.max(m, e.distinct_sources || 0), 0);
    const totals = perDay.map((d) => flatten(d.body).reduce((n, r) => n + r.score, 0));
    const max = Math.max(1, ...totals);
    const chart = el("div", { class: "chart", role: "img", "aria-label": `records per day, ${days[0]} to ${to}` },
      ...days.map((d, i) => {
        const bar = el("span", { class: "bar", title: `${d}: ${totals[i]}` });
        bar.style.height = `${Math.round((totals[i] / max) * 100)}%`;
        return el("div", { class: "day" }, bar, el("small", {}, d.slice(5)));
      }));
    return [el("h2", {}, `${dest} port ${port}`),
      el("div", { class: "cards" },
        el("div", { class: "card" }, el("b", {}, rows.reduce((n, r) => n + r.score, 0)), `records, ${days[0]} to ${to}`),
        el("div", { class: "card" }, el("b", {}, estimate), "distinct sources (estimate, busiest day)")),
      chart,
      el("h2", {}, "Sources"),
      table([{ key: "source", title: "source" }, { key: "kind", title: "" }, { key: "score", title: "score", num: true }], rows)];
  },

  async changes(params) {
    const date = params.get("date") || today();
    const baseline = params.get("baseline_days") || "7";
    const { body } = await api("/changes", new URLSearchParams({ date, baseline_days: baseline }));
    const endpoints = [];
    const connections = [];
    for (const [pair, c] of Object.entries(body.changes)) {
      const [account_id, region] = pair.split("/");
      for (const e of c.new_endpoints) endpoints.push({ account_id, region, ...e, what: e.new_dest ? "new endpoint" : "new port" });
      for (const x of c.new_connections) connections.push({ account_id, region, ...x });
    }
    return [el("p", {}, `Seen on ${body.date} but not from ${body.baseline.from} to ${body.baseline.to}.`),
      el("h2", {}, "New endpoints and ports"),
      table([{ key: "account_id", title: "account" }, { key: "region", title: "region" }, { key: "dest", title: "destination" },
        { key: "dest_port", title: "port", num: true }, { key: "what", title: "" }], endpoints),
      el("h2", {}, "New sources"),
      connectionsTable(connections)];
  },
};

function connectionsTable(rows) {
  return table([
    { key: "account_id", title: "account" }, { key: "region", title: "region" },
    { key: "dest", title: "destination", cell: (r) => el("a", { href: `#/endpoint?${new URLSearchParams({ dest: r.dest, port: r.dest_port, date: dateInput.value || today() })}` }, r.dest) },
    { key: "dest_port", title: "port", num: true, cell: (r) => el("span", { class: EXPECTED_PORTS.has(r.dest_port) ? "" : "suspicious" }, r.dest_port) },
    { key: "source", title: "source" }, { key: "score", title: "score", num: true },
  ], rows);
}

async function render() {
  const { name, params } = route();
  const show = views[name] ? name : "overview";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${show}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  dateInput.value = params.get("date") || today();
  view.replaceChildren(el("p", {}, "Loading…"));
  try {
    view.replaceChildren(...(await views[show](params)));
  } catch (error) {
    view.replaceChildren(el("div", { class: "error", role: "alert" },
      el("strong", {}, "Cannot show this view. "), error.message || String(error)));
  }
}

dateInput.addEventListener("change", () => {
  const { name, params } = route();
  params.set("date", dateInput.value);
  params.delete("cursor");
  go(name, params);
});
window.addEventListener("hashchange", render);
render();
