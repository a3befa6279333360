// The dashboard: views over the API, through ctrack ui's /api/… (same origin, the session
// cookie; ctrack signs the requests). Every value is put on the page as text, never as HTML.

const view = document.getElementById("view");
const dateInput = document.getElementById("date");
const daysSelect = document.getElementById("days");
const SVG = "http://www.w3.org/2000/svg";
// The server's rules, from ctrack ui's settings.json before the first view renders:
// --expected-ports, the API's longest range, and when a refresh counts as stale.
let EXPECTED_PORTS = new Set();
let MAX_RANGE_DAYS = 1;
let STALE_AFTER_MS = 0;

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
  return getJson(`/api${path}?${params.toString()}`);
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
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

// The `n` days up to `to` (YYYY-MM-DD), oldest first.
function daysUpTo(to, n) {
  const days = [];
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(`${to}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() - i);
    days.push(d.toISOString().slice(0, 10));
  }
  return days;
}

// A bar per day; heights through the CSSOM (no inline style under the CSP).
function barChart(days, values, what) {
  const max = Math.max(1, ...values);
  return el("div", { class: "chart", role: "img", "aria-label": `${what} per day, ${days[0]} to ${days[days.length - 1]}` },
    ...days.map((d, i) => {
      const bar = el("span", { class: "bar", title: `${d}: ${values[i]} ${what}` });
      bar.style.height = `${Math.round((values[i] / max) * 100)}%`;
      // A week: month-day under each bar; longer: the day of the month.
      return el("div", { class: "day" }, bar, el("small", {}, days.length > 7 ? d.slice(8) : d.slice(5)));
    }));
}

// The range a view shows: the chosen day, or the `days` (up to the API's longest range) that end on it, as the
// header's picker and the link say. `query` is what the API takes for it.
function rangeOf(params, fallbackDays = 1) {
  const to = params.get("date") || today();
  const n = Math.min(MAX_RANGE_DAYS, Math.max(1, Number(params.get("days")) || fallbackDays));
  const days = daysUpTo(to, n);
  const query = n > 1 ? { from: days[0], to } : { date: to };
  return { to, from: days[0], n, days, query, text: n > 1 ? `${days[0]} to ${to}` : to };
}

// "3 min ago", "2 h ago", "4 d ago".
function ago(time) {
  const s = Math.max(0, (Date.now() - Date.parse(time)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// An account's refresh health from its regions: failing, never refreshed, stale (no refresh
// for an hour: the schedule is every few minutes), or ok.
function health(account) {
  const regions = Object.entries(account.regions || {});
  const failing = regions.filter(([, r]) => r.refresh_failure);
  if (failing.length) {
    return { state: "failing", text: failing.map(([name, r]) => `${name}: ${r.refresh_failure.kind} (${r.refresh_failure.error}), ${ago(r.refresh_failure.at)}`).join("; ") };
  }
  const refreshes = regions.map(([, r]) => r.last_refresh).filter(Boolean);
  if (!refreshes.length) return { state: "never", text: "never refreshed" };
  const oldest = refreshes.sort()[0];
  if (Date.now() - Date.parse(oldest) > STALE_AFTER_MS) return { state: "stale", text: `stale: refreshed ${ago(oldest)}` };
  return { state: "ok", text: `refreshed ${ago(oldest)}` };
}

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
      // A folded port ("other") sorts after every real one.
      const value = (row) => (c.num && typeof row[c.key] === "string" ? Infinity : row[c.key]);
      const sorted = [...rows].sort((a, b) => (value(a) > value(b) ? 1 : value(a) < value(b) ? -1 : 0) * order.dir);
      render(sorted);
    });
    return el("th", { class: c.num ? "num" : "", scope: "col" }, button);
  }));
  render(rows);
  return el("table", {}, el("thead", {}, head), body);
}

// Rows of an answer keyed by account/region, each with its pair as the server wrote it.
function flatten(byPair) {
  const rows = [];
  for (const [pair, list] of Object.entries(byPair || {})) {
    for (const item of list) rows.push({ pair, ...item });
  }
  return rows;
}

const views = {
  async overview(params) {
    const range = rangeOf(params);
    const date = range.to;
    const days = daysUpTo(date, 14);
    const [accounts, top, changes, perDay] = await Promise.all([
      api("/accounts"),
      api("/connections", new URLSearchParams({ ...range.query, limit: "10" })),
      api("/changes", new URLSearchParams({ date })),
      api("/days", new URLSearchParams({ from: days[0], to: date })),
    ]);
    const list = Object.entries(accounts.body).map(([id, a]) => {
      const h = health(a);
      return { id, ...a, health: h, state: h.state };
    });
    if (!list.length) {
      return [el("p", { class: "empty" }, "No accounts are monitored yet: add some with ctrack accounts add, or give the stack an organization.")];
    }
    const newCount = Object.values(changes.body.changes).reduce((n, c) => n + c.new_connections.length, 0);
    const counts = perDay.body.map((d) => d.connections);
    const onDay = perDay.body.find((d) => d.date === date);
    const failing = list.filter((a) => a.state === "failing" || a.state === "stale").length;
    const cards = el("div", { class: "cards" },
      el("div", { class: "card" }, el("b", {}, list.length), "accounts monitored"),
      el("div", { class: `card${failing ? " alert" : ""}` }, el("b", {}, failing), "accounts whose refresh fails or is stale"),
      el("div", { class: "card" }, el("b", {}, onDay ? onDay.connections : 0), `connections on ${date}`),
      el("div", { class: "card" }, el("b", {}, newCount), `new connections on ${date}`),
      el("div", { class: "card" }, el("b", {}, list.filter((a) => !a.last_update).length), "accounts without data yet"));
    return [cards,
      el("h2", {}, "Connections per day"),
      barChart(days, counts, "connections"),
      el("h2", {}, "Accounts"),
      table([
        { key: "id", title: "account", cell: (r) => el("a", { href: `#/connections?${new URLSearchParams({ account: r.id, date })}` }, r.id) },
        { key: "name", title: "name" },
        { key: "source", title: "from" },
        { key: "last_update", title: "last batch", cell: (r) => (r.last_update ? ago(r.last_update) : "never") },
        { key: "state", title: "refresh", cell: (r) => el("span", { class: `health ${r.state}` }, r.health.text) },
      ], list, (r) => (r.state === "ok" ? "" : "attention")),
      el("h2", {}, `Top connections, ${range.text}`),
      connectionsTable(flatten(top.body)),
      el("p", { class: "note" }, "Records ingest rejected or skipped, by reason, are CloudWatch metrics (namespace ConnectionTracker: Rejected.*, Skipped.*) on the stack's dashboard; the API does not serve them.")];
  },

  async exposure(params) {
    const range = rangeOf(params);
    // The rules are judged over the picked range; with no day picked, over the whole retention
    // (the API's default: its sums, the last day's rows); for one past day, over the API's
    // longest range up to it: a day without traffic says little about a rule.
    const retention = { query: {}, text: "the whole retention (top sources: the last day)" };
    const reviewed = range.n > 1 ? range
      : !params.get("date") ? retention
        : rangeOf(new URLSearchParams({ date: range.to, days: String(MAX_RANGE_DAYS) }));
    const [endpoints, review] = await Promise.all([
      api("/public-endpoints", new URLSearchParams(range.query)),
      reviewOf(reviewed, range),
    ]);
    const rows = flatten(endpoints.body).map((e) => ({ ...e, addresses: (e.public_ips || []).join(" "), traffic: e.score || 0 }));
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
    return [el("p", {}, `Every public interface the refresh found; endpoints without traffic (${range.text}) are greyed.`),
      el("div", { class: "filters" }, search), holder,
      ...rulesReview(review, params)];
  },

  async connections(params) {
    const range = rangeOf(params);
    const date = range.to;
    const query = new URLSearchParams({ ...range.query, limit: params.get("limit") || "200" });
    for (const key of ["account", "dest", "port", "source", "cursor"]) if (params.get(key)) query.set(key, params.get(key));
    const { body, next } = await api("/connections", query);
    const filters = el("form", { class: "filters" });
    for (const key of ["account", "dest", "port", "source"]) {
      filters.append(el("label", {}, `${key} `, el("input", { name: key, value: params.get(key) || "", size: key === "port" ? "6" : key === "account" ? "13" : "24" })));
    }
    filters.append(el("button", { type: "submit" }, "Filter"));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const p = new URLSearchParams({ date });
      for (const keep of ["days", "limit"]) if (params.get(keep)) p.set(keep, params.get(keep));
      for (const [k, v] of new FormData(filters)) if (v) p.set(k, v);
      go("connections", p);
    });
    const rows = flatten(body);
    const parts = [filters,
      el("p", { class: "note" }, `${rows.length} rows${params.get("cursor") ? " (a later page)" : ""}, ${range.text}${range.n > 1 ? ", summed over the days" : ""}.`),
      connectionsTable(rows)];
    if (next) {
      const p = new URLSearchParams(params); p.set("cursor", next);
      parts.push(el("p", {}, el("a", { href: `#/connections?${p}` }, "Next page →")));
    }
    return parts;
  },

  async endpoint(params) {
    const dest = params.get("dest") || "";
    const port = params.get("port") || "";
    // A week to the day unless the link says otherwise.
    const { to, days } = rangeOf(params, 7);
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
    const chart = barChart(days, totals, "records");
    return [el("h2", {}, `${dest} port ${port}`),
      el("div", { class: "cards" },
        el("div", { class: "card" }, el("b", {}, rows.reduce((n, r) => n + r.score, 0)), `records, ${days[0]} to ${to}`),
        el("div", { class: "card" }, el("b", {}, estimate), "distinct sources (estimate, busiest day)")),
      chart,
      el("h2", {}, "Sources"),
      table([{ key: "source", title: "source" }, { key: "kind", title: "" }, { key: "score", title: "score", num: true }], rows)];
  },

  async graph(params) {
    const range = rangeOf(params);
    const { to: date, text: what } = range;
    const perRegion = params.get("per_region") === "true";
    const query = new URLSearchParams(range.query);
    if (perRegion) query.set("per_region", "true");
    const { body } = await getJson(`/graph.json?${query}`);
    const controls = el("form", { class: "filters" });
    const regionBox = el("input", { type: "checkbox", name: "per_region" });
    regionBox.checked = perRegion;
    controls.append(el("label", {}, regionBox, " a node per account and region"));
    controls.addEventListener("change", () => {
      const p = new URLSearchParams(params);
      if (regionBox.checked) p.set("per_region", "true");
      else p.delete("per_region");
      go("graph", p);
    });
    if (!body.nodes.length) return [controls, el("p", { class: "empty" }, `No accounts, and no connections between them, ${what}.`)];
    const link = (extra) => `#/connections?${new URLSearchParams({ date, ...extra })}`;
    // An account node links to the account's connections, another to its source's.
    const accountOf = new Map(body.nodes.map((n) => [n.id, n.account_id]));
    const nodeLink = (id) => (accountOf.get(id) ? { account: accountOf.get(id) } : { source: id });
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${body.width} ${body.height}`);
    svg.setAttribute("width", String(Math.round(body.width * 1.25)));
    svg.setAttribute("class", "graph");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `Connections between accounts, ${what}`);
    const s = (tag, attrs = {}, text) => {
      const node = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = String(text);
      return node;
    };
    const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.append(s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }));
    svg.append(s("defs", {}, undefined), s("title", {}, `Connections between accounts, ${what}`));
    svg.firstChild.append(marker);
    for (const e of body.edges) {
      const from = nodeLink(e.from);
      const filter = from.account ? { source: `${e.from}/*` } : { source: e.from };
      const a = s("a", { href: link({ ...nodeLink(e.to), ...filter }), class: "edge" });
      a.append(s("title", {}, `${e.from} → ${e.to}: ${e.score}`),
        s("path", { d: e.path, "stroke-width": e.width, [e.head_at_start ? "marker-start" : "marker-end"]: "url(#arrow)" }),
        s("text", { x: e.label_x + 6, y: e.label_y, "text-anchor": "start", "dominant-baseline": "central" }, e.score));
      svg.append(a);
    }
    for (const n of body.nodes) {
      const a = s("a", { href: link(nodeLink(n.id)), class: n.account ? "node account" : "node other" });
      a.append(s("title", {}, n.label),
        n.account
          ? s("rect", { x: n.x, y: n.y, width: n.width, height: n.height, rx: 4 })
          : s("ellipse", { cx: n.x + n.width / 2, cy: n.y + n.height / 2, rx: n.width / 2, ry: n.height / 2 }),
        s("text", { x: n.x + n.width / 2, y: n.y + n.height / 2, "text-anchor": "middle", "dominant-baseline": "central" }, n.label));
      svg.append(a);
    }
    return [controls,
      el("p", {}, `Who of ours connects to whom, ${what}: an arrow from the source account to the account it reached, its width the records' share. Click an account for its connections, an arrow for those it carries.`),
      el("div", { class: "graph-holder" }, svg)];
  },

  async changes(params) {
    const date = params.get("date") || today();
    const baseline = params.get("baseline_days") || "7";
    const { body } = await api("/changes", new URLSearchParams({ date, baseline_days: baseline }));
    const endpoints = [];
    const connections = [];
    for (const [pair, c] of Object.entries(body.changes)) {
      for (const e of c.new_endpoints) endpoints.push({ pair, ...e, what: e.new_dest ? "new endpoint" : "new port" });
      for (const x of c.new_connections) connections.push({ pair, ...x });
    }
    return [el("p", {}, `Seen on ${body.date} but not from ${body.baseline.from} to ${body.baseline.to}.`),
      el("h2", {}, "New endpoints and ports"),
      table([{ key: "pair", title: "account/region" }, { key: "dest", title: "destination" },
        { key: "dest_port", title: "port", num: true }, { key: "what", title: "" }], endpoints),
      el("h2", {}, "New sources"),
      connectionsTable(connections)];
  },
};

// The exposure review: each rule that opens an endpoint to the internet, its verdict and what
// to do, and the traffic no rule explains; the verdict filter lives in the URL.
const VERDICTS = ["unused", "narrow", "used", "no_flow_log", "not_counted", "unexplained"];

function ruleLines(byPair) {
  const lines = [];
  for (const e of flatten(byPair)) {
    for (const r of e.rules) {
      const rule = r.rule;
      const source = rule.source.cidr || rule.source.group || (rule.source.prefix_list ? `${rule.source.prefix_list.id} (${rule.source.prefix_list.cidrs.join(" ")})` : "");
      const ports = rule.protocol === "-1" ? "all" : rule.from_port === rule.to_port ? `${rule.protocol}/${rule.from_port}` : `${rule.protocol}/${rule.from_port}-${rule.to_port}`;
      lines.push({ pair: e.pair, endpoint: e.name, group: rule.group_id, rule: rule.rule_id, ports, source,
        verdict: r.verdict, score: r.score, sources: r.distinct_sources ?? "", last_day: r.last_day || "", suggestion: r.suggestion });
    }
    for (const c of e.unexplained) {
      lines.push({ pair: e.pair, endpoint: e.name, group: "", rule: "", ports: String(c.dest_port), source: c.source,
        verdict: "unexplained", score: c.score, sources: "", last_day: "", suggestion: "no rule that opens it to the internet lets this in" });
    }
  }
  return lines;
}

// The review over `wide`; when the API refuses it (more rows than it reads for one request),
// over the picked range instead, saying so; when that fails too, the reason, in place of it.
async function reviewOf(wide, picked) {
  try {
    return { body: (await api("/exposure", new URLSearchParams(wide.query))).body, text: wide.text };
  } catch (error) {
    if (wide === picked) return { body: {}, text: picked.text, error: error.message };
    try {
      const { body } = await api("/exposure", new URLSearchParams(picked.query));
      return { body, text: picked.text, note: `The review of ${wide.text} was refused (${error.message}); this is ${picked.text} only.` };
    } catch (again) {
      return { body: {}, text: picked.text, error: again.message };
    }
  }
}

function rulesReview(review, params) {
  const { body: byPair, text } = review;
  if (review.error) {
    return [el("h2", {}, `Rules open to the internet, ${text}`),
      el("div", { class: "error", role: "alert" }, el("strong", {}, "Cannot review the rules. "), review.error)];
  }
  const lines = ruleLines(byPair);
  const wanted = params.get("verdict") || "";
  const select = el("select", { "aria-label": "Verdict", id: "verdict" },
    el("option", { value: "" }, "every verdict"), ...VERDICTS.map((v) => el("option", { value: v }, v)));
  select.value = wanted;
  select.addEventListener("change", () => {
    const p = new URLSearchParams(params);
    if (select.value) p.set("verdict", select.value); else p.delete("verdict");
    go("exposure", p);
  });
  const shown = lines.filter((l) => !wanted || l.verdict === wanted);
  const count = (v) => lines.filter((l) => l.verdict === v).length;
  return [el("h2", {}, `Rules open to the internet, ${text}`),
    ...(review.note ? [el("p", { class: "note" }, review.note)] : []),
    el("div", { class: "cards" },
      el("div", { class: `card${count("unused") ? " alert" : ""}` }, el("b", {}, count("unused")), "unused: close them"),
      el("div", { class: "card" }, el("b", {}, count("narrow")), "used only by our networks: narrow them"),
      el("div", { class: "card" }, el("b", {}, count("unexplained")), "connections no rule explains")),
    el("div", { class: "filters" }, el("label", {}, "verdict ", select)),
    table([
      { key: "pair", title: "account/region" }, { key: "endpoint", title: "endpoint" },
      { key: "group", title: "group" }, { key: "rule", title: "rule" }, { key: "ports", title: "ports" },
      { key: "source", title: "from" },
      { key: "verdict", title: "verdict", cell: (l) => el("span", { class: `verdict ${l.verdict}` }, l.verdict) },
      { key: "score", title: "score", num: true },
      { key: "sources", title: "sources (est.)", num: true }, { key: "last_day", title: "last used" },
      { key: "suggestion", title: "suggestion", cell: (l) => el("code", {}, l.suggestion) },
    ], shown)];
}

function connectionsTable(rows) {
  return table([
    { key: "pair", title: "account/region" },
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
  // What's new compares one day with the days before it: no range there.
  daysSelect.value = String(rangeOf(params, show === "endpoint" ? 7 : 1).n);
  daysSelect.disabled = show === "changes";
  view.replaceChildren(el("p", {}, "Loading…"));
  try {
    view.replaceChildren(...(await views[show](params)));
  } catch (error) {
    view.replaceChildren(el("div", { class: "error", role: "alert" },
      el("strong", {}, "Cannot show this view. "), error.message || String(error)));
  }
}

// The header's pickers: a new day or range starts the view's pages over.
for (const [input, key] of [[dateInput, "date"], [daysSelect, "days"]]) {
  input.addEventListener("change", () => {
    const { name, params } = route();
    params.set(key, input.value);
    params.delete("cursor");
    go(name, params);
  });
}
window.addEventListener("hashchange", render);
getJson("/settings.json")
  .then(({ body }) => {
    EXPECTED_PORTS = new Set(body.expected_ports);
    MAX_RANGE_DAYS = body.max_range_days;
    STALE_AFTER_MS = body.stale_after_seconds * 1000;
  })
  .catch(() => {})
  .finally(render);
