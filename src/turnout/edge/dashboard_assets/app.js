// The turnout dashboard: renders the snapshot from /dashboard/state, then follows
// /dashboard/events. No framework and no innerHTML: every server text goes in as textContent.
"use strict";

(() => {
  const I18N = {
    en: {
      other: "中文", connecting: "connecting…", live: "live", offline: "reconnecting…",
      requests: "requests since start", failed: "failed since start",
      since: "since {time}", pathsOut: "paths out of service",
      overheadP50: "turnout overhead p50", routes: "Routes and paths",
      traffic: "Attempts per path, last 30 minutes", trafficHint: "per minute; red: failed attempts",
      latency: "Latency", failures: "Latest failures", usage: "Tokens and cost",
      byDay: "Per day", byKey: "Per key", byPath: "Per path",
      ok: "healthy", cooling: "cooling down", gated: "gated",
      resetsIn: "turnout probes it again in", resetDue: "probe due: the next request tries it",
      providerReset: "the provider says it resets at", noProviderReset: "the provider gave no reset time",
      gateMeaning: "Gated: the provider refuses this path until its reset (its own time, when it gives one); restarting or logging in again does not lift it. When turnout's own timer ends, one request probes the path. Cooling down: transient failures; it is tried again soon.",
      credential: "every model of this provider", noFailures: "No failures. All good.",
      noTraffic: "No traffic yet.", noRows: "Nothing recorded yet.",
      ledgerOff: "The ledger is off: no usage history.",
      usageHint: "last {days} days, from the ledger (with the gateway's earlier runs): {n} requests, {f} failed",
      latencyHint: "requests in the last {min} minutes: {n}",
      total: "total latency", overhead: "turnout's own overhead", upstream: "upstream",
      group: "", reqs: "requests", fails: "failed", tin: "tokens in", tout: "tokens out",
      cached: "cached", cost: "cost", recovered: "served by", requests2: "attempts",
      errors: "failed", model: "model", legendReq: "attempts", legendErr: "failed",
    },
    zh: {
      other: "English", connecting: "连接中…", live: "实时", offline: "正在重新连接…",
      requests: "启动以来的请求", failed: "启动以来的失败",
      since: "自 {time} 起", pathsOut: "停用中的路径",
      overheadP50: "turnout 自身开销 p50", routes: "路由与路径",
      traffic: "各路径的尝试次数(最近 30 分钟)", trafficHint: "每分钟;红色为失败的尝试",
      latency: "延迟", failures: "最近的失败", usage: "用量与费用",
      byDay: "按天", byKey: "按密钥", byPath: "按路径",
      ok: "正常", cooling: "冷却中", gated: "已暂停",
      resetsIn: "turnout 将再次试探,倒计时", resetDue: "已到期:下一个请求会试探它",
      providerReset: "服务商说重置时间为", noProviderReset: "服务商没有给出重置时间",
      gateMeaning: "已暂停:服务商在重置之前拒绝这条路径(服务商给出时间时以其为准);重启或重新登录都解除不了。turnout 自己的计时结束后,会让一个请求去试探。冷却中:暂时性故障,稍后会再试。",
      credential: "该服务商的所有模型", noFailures: "没有失败,一切正常。",
      noTraffic: "还没有流量。", noRows: "还没有记录。",
      ledgerOff: "账本已关闭:没有用量历史。",
      usageHint: "最近 {days} 天,来自账本(含网关之前的运行):{n} 个请求,{f} 个失败",
      latencyHint: "最近 {min} 分钟内的 {n} 个请求",
      total: "总延迟", overhead: "turnout 自身开销", upstream: "上游",
      group: "", reqs: "请求", fails: "失败", tin: "输入 token", tout: "输出 token",
      cached: "缓存", cost: "费用", recovered: "最终由", requests2: "尝试",
      errors: "失败", model: "模型", legendReq: "尝试", legendErr: "失败",
    },
  };
  const STORAGE_KEY = "turnout.lang";
  let lang = pickLanguage();
  let state = null;
  let receivedAt = 0;

  function pickLanguage() {
    let saved = null;
    try { saved = window.localStorage.getItem(STORAGE_KEY); } catch (_) { /* private mode */ }
    if (saved === "en" || saved === "zh") return saved;
    return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  }

  function t(name, values) {
    let text = I18N[lang][name] ?? I18N.en[name] ?? name;
    for (const [key, value] of Object.entries(values || {})) text = text.replace(`{${key}}`, value);
    return text;
  }

  function pick(texts) {
    return texts ? texts[lang] || texts.en || "" : "";
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  const $ = (id) => document.getElementById(id);
  const number = (n) => Number(n || 0).toLocaleString(lang === "zh" ? "zh-CN" : "en-US");
  const dollars = (n) => "$" + Number(n || 0).toFixed(n >= 100 ? 2 : 4);
  const clock = (ts) => new Date(ts * 1000).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB");

  function ms(value) {
    if (value == null) return "–";
    if (value < 1) return value.toFixed(2) + " ms";
    if (value < 100) return value.toFixed(1) + " ms";
    if (value < 10000) return Math.round(value) + " ms";
    return (value / 1000).toFixed(1) + " s";
  }

  function duration(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
  }

  // --- sections ----------------------------------------------------------------------------

  function renderLabels() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    $("lang").textContent = t("other");
  }

  function renderTotals() {
    const out = state.routes.flatMap((r) => r.paths).filter((p) => p.state !== "ok");
    $("total-requests").textContent = number(state.totals.requests);
    $("total-failed").textContent = number(state.totals.failed);
    // The counters cover this run only; the ledger's tables below cover days, earlier runs too.
    $("totals-since").textContent = state.totals.since ? t("since", { time: clock(state.totals.since) }) : "";
    $("paths-out").textContent = number(new Set(out.map((p) => p.path)).size);
    $("overhead-p50").textContent = ms(state.latency.overhead_ms.p50);
    if (state.version) $("version").textContent = "v" + state.version;
  }

  function renderRoutes() {
    const cards = state.routes.map((route) =>
      el("div", { class: "route" },
        el("div", { class: "route-name", text: route.name }),
        ...route.paths.map(renderPath)));
    $("routes").replaceChildren(...cards);
  }

  function renderPath(path) {
    const row = el("div", { class: "path", "data-path": path.path, "data-state": path.state },
      el("span", { class: `badge ${path.state}`, text: t(path.state) }),
      el("span", { class: "path-name", text: path.path }));
    if (path.state === "ok") return row;
    const countdown = el("div", { class: "countdown" });
    countdown.dataset.deadline = String(receivedAt + path.seconds_left * 1000);
    // The provider's own reset and the gateway's probe timer are two different clocks.
    const reset = path.provider_reset_at
      ? `${t("providerReset")} ${new Date(path.provider_reset_at * 1000).toLocaleString()}`
      : t("noProviderReset");
    row.append(el("div", { class: "reason" },
      el("div", { class: "title", text: pick(path.title) }),
      el("div", { class: "why", text: pick(path.explanation) }),
      path.scope === "credential" ? el("div", { class: "why", text: t("credential") }) : null,
      path.state === "gated" ? el("div", { class: "provider-reset", text: reset }) : null,
      countdown));
    return row;
  }

  function tickCountdowns() {
    const now = performance.now();
    for (const node of document.querySelectorAll("[data-deadline]")) {
      const left = (Number(node.dataset.deadline) - now) / 1000;
      node.textContent = left > 0 ? `${t("resetsIn")} ${duration(left)}` : t("resetDue");
    }
  }

  function renderTraffic() {
    const traffic = state.traffic;
    const names = Object.keys(traffic.paths).sort();
    if (!names.length) {
      $("traffic").replaceChildren(el("p", { class: "empty", text: t("noTraffic") }));
      return;
    }
    const legend = el("div", { class: "legend" },
      el("span", {}, el("span", { class: "swatch req" }), t("legendReq")),
      el("span", {}, el("span", { class: "swatch err" }), t("legendErr")));
    $("traffic").replaceChildren(legend, ...names.map((name) => chart(name, traffic)));
  }

  function chart(name, traffic) {
    const series = traffic.paths[name];
    const steps = series.requests.length;
    const peak = Math.max(1, ...series.requests);
    const width = 300, height = 44, slot = width / steps;
    const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none",
      role: "img", "aria-label": name });
    series.requests.forEach((count, i) => {
      if (!count) return;
      const h = (count / peak) * (height - 4), e = (series.errors[i] / peak) * (height - 4);
      const bar = svg("rect", { class: "req", x: i * slot + 1, y: height - h, width: slot - 2, height: h });
      const title = svg("title");
      const minute = clock(traffic.start + i * traffic.step_s);
      title.textContent = `${minute}: ${count} ${t("requests2")}, ${series.errors[i]} ${t("errors")}`;
      bar.append(title);
      drawing.append(bar);
      if (e) drawing.append(svg("rect", { class: "err", x: i * slot + 1, y: height - e, width: slot - 2, height: e }));
    });
    const sum = (list) => list.reduce((a, b) => a + b, 0);
    return el("div", { class: "series" },
      el("div", { class: "series-head" },
        el("span", { class: "path-name", text: name }),
        el("span", { class: "muted", text: `${sum(series.requests)} / ${sum(series.errors)}` })),
      drawing);
  }

  function renderLatency() {
    const latency = state.latency;
    $("latency-hint").textContent = t("latencyHint", { n: latency.count, min: latency.window_s / 60 });
    const head = el("tr", {}, el("th"), el("th", { text: "p50" }), el("th", { text: "p95" }), el("th", { text: "p99" }));
    const rows = [["total", "latency_ms"], ["overhead", "overhead_ms"], ["upstream", "upstream_ms"]].map(
      ([label, key]) => el("tr", {}, el("td", { text: t(label) }),
        ...["p50", "p95", "p99"].map((p) => el("td", { text: ms(latency[key][p]) }))));
    $("latency").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  }

  function renderFailures() {
    if (!state.failures.length) {
      $("failures").replaceChildren(el("li", { class: "empty", text: t("noFailures") }));
      return;
    }
    $("failures").replaceChildren(...state.failures.map((f) => {
      const meta = el("div", { class: "meta" },
        el("span", { text: clock(f.ts) }),
        el("span", { class: "path-name", text: f.path || f.route || f.model }),
        el("span", { text: `${t("model")} ${f.model}` }),
        el("span", { text: f.code }),
        f.served_by ? el("span", { text: `${t("recovered")} ${f.served_by}` })
          : f.status ? el("span", { text: `HTTP ${f.status}` }) : null);
      return el("li", { class: f.served_by ? "failure recovered" : "failure" }, meta,
        el("div", { class: "title", text: pick(f.title) }),
        el("div", { class: "why", text: pick(f.explanation) }),
        pick(f.action) ? el("div", { class: "action", text: "→ " + pick(f.action) }) : null);
    }));
  }

  function renderUsage() {
    const usage = state.usage || {};
    if (!usage.ledger) {
      $("usage-hint").textContent = t("ledgerOff");
      for (const id of ["usage-day", "usage-key", "usage-path"]) $(id).replaceChildren();
      return;
    }
    const totals = usage.totals || {};
    $("usage-hint").textContent = t("usageHint", {
      days: usage.days, n: number(totals.requests), f: number(totals.failed),
    });
    usageTable("usage-day", usage.by_day);
    usageTable("usage-key", usage.by_key);
    usageTable("usage-path", usage.by_path);
  }

  function usageTable(id, groups) {
    if (!groups.length) {
      $(id).replaceChildren(el("tbody", {}, el("tr", {}, el("td", { class: "empty", text: t("noRows") }))));
      return;
    }
    const columns = ["reqs", "fails", "tin", "tout", "cached", "cost"];
    const head = el("tr", {}, el("th"), ...columns.map((c) => el("th", { text: t(c) })));
    const rows = groups.map((g) => el("tr", {},
      el("td", { class: "name", text: g.group }),
      el("td", { text: number(g.requests) }), el("td", { text: number(g.failed) }),
      el("td", { text: number(g.tokens_in) }), el("td", { text: number(g.tokens_out) }),
      el("td", { text: number(g.tokens_cached) }), el("td", { text: dollars(g.cost_usd) })));
    $(id).replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  }

  function render() {
    renderLabels();
    if (!state) return;
    renderTotals();
    renderRoutes();
    renderTraffic();
    renderLatency();
    renderFailures();
    renderUsage();
    tickCountdowns();
  }

  // --- data --------------------------------------------------------------------------------

  function accept(snapshot) {
    state = snapshot;
    receivedAt = performance.now();
    render();
  }

  function setLive(mode) {
    $("live-dot").className = "dot " + (mode === "live" ? "on" : mode === "offline" ? "off" : "");
    const text = $("live-text");
    text.dataset.t = mode;
    text.textContent = t(mode);
  }

  function connect() {
    const events = new EventSource("/dashboard/events");
    events.addEventListener("snapshot", (message) => { setLive("live"); accept(JSON.parse(message.data)); });
    events.addEventListener("heartbeat", () => setLive("live"));
    events.addEventListener("error", () => setLive("offline"));
  }

  function start() {
    $("lang").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      try { window.localStorage.setItem(STORAGE_KEY, lang); } catch (_) { /* private mode */ }
      render();
    });
    render();
    fetch("/dashboard/state", { credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : null))
      .then((snapshot) => { if (snapshot && !state) accept(snapshot); })
      .catch(() => setLive("offline"));
    connect();
    window.setInterval(tickCountdowns, 1000);
  }

  start();
})();
