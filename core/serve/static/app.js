// h2mt serve — the page at "/". No build step, no dependencies: fetch + ReadableStream.
// Everything shown comes from the same server's OpenAI-compatible API:
//   GET /v1/models, POST /v1/route (the tree), POST /v1/chat/completions (stream: true, SSE).
// Text from the server is always inserted with textContent, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const els = {
    form: $("ask-form"),
    index: $("index-select"),
    question: $("question"),
    task: $("task"),
    budget: $("budget"),
    beam: $("beam"),
    key: $("api-key"),
    ask: $("ask"),
    stop: $("stop"),
    status: $("status"),
    answer: $("answer"),
    sources: $("sources"),
    tree: $("tree"),
    accounting: $("accounting"),
  };
  // Levels (from the shallowest node: corpus, document, chapters) shown in full; deeper nodes appear only on a kept path.
  const TOP_LEVELS = 3;
  let controller = null; // AbortController of the request in flight

  // ---------- helpers ----------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-")) node.setAttribute(k, String(v));
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function headers() {
    const h = { "Content-Type": "application/json", Accept: "application/json" };
    const key = els.key.value.trim();
    if (key) h.Authorization = "Bearer " + key; // in memory only: never stored
    return h;
  }

  function setStatus(msg, kind) {
    els.status.textContent = msg || "";
    els.status.className = "status" + (kind ? " " + kind : "");
  }

  function fmtInt(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : "–";
  }
  function fmtMs(n) {
    return typeof n === "number" ? (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " ms" : "–";
  }
  function fmtScore(s) {
    return typeof s === "number" ? s.toFixed(3) : "";
  }
  function crumb(path) {
    return Array.isArray(path) && path.length ? path.join(" › ") : "";
  }

  async function errorMessage(resp) {
    let msg = resp.status + " " + (resp.statusText || "");
    try {
      const body = await resp.json();
      if (body && body.error && body.error.message) msg = resp.status + ": " + body.error.message;
    } catch (_) {
      /* not JSON */
    }
    if (resp.status === 401) msg += " — enter the server's API key below.";
    if (resp.status === 429) {
      const after = resp.headers.get("Retry-After");
      msg += after ? " — try again in " + after + " s." : " — try again shortly.";
    }
    return msg.trim();
  }

  function busy(on) {
    document.body.dataset.state = on ? "busy" : "idle";
    els.ask.disabled = on;
    els.stop.disabled = !on;
    els.answer.setAttribute("aria-busy", on ? "true" : "false");
  }

  // ---------- models ----------
  async function loadModels() {
    const previous = els.index.value;
    try {
      const resp = await fetch("v1/models", { headers: headers() });
      if (!resp.ok) throw new Error(await errorMessage(resp));
      const body = await resp.json();
      const ids = (body.data || []).map((m) => m.id);
      els.index.replaceChildren(...ids.map((id) => el("option", { value: id, text: id })));
      if (!ids.length) els.index.append(el("option", { value: "", text: "no index loaded" }));
      if (ids.includes(previous)) els.index.value = previous;
      document.body.dataset.models = String(ids.length);
      setStatus(ids.length ? "" : "The server has no index loaded.", ids.length ? "" : "error");
    } catch (err) {
      els.index.replaceChildren(el("option", { value: "", text: "unavailable" }));
      setStatus("Could not list the indexes: " + err.message, "error");
    }
  }

  // ---------- accounting ----------
  const ACCOUNTING_ROWS = [
    ["Tokens kept / total", (a) =>
      a.tokens_kept === undefined ? undefined
        : fmtInt(a.tokens_kept) + " / " + fmtInt(a.tokens_total) +
          (typeof a.kept_ratio === "number" ? " (" + (100 * a.kept_ratio).toFixed(1) + "%)"
            : a.tokens_total ? " (" + ((100 * a.tokens_kept) / a.tokens_total).toFixed(1) + "%)" : "")],
    ["Nodes scored / total", (a) =>
      a.nodes_scored === undefined ? undefined : fmtInt(a.nodes_scored) + " / " + fmtInt(a.nodes_total)],
    ["Route", (a) => (a.route_ms === undefined ? undefined : fmtMs(a.route_ms))],
    ["Prefill", (a) => (a.prefill_ms === undefined ? undefined : fmtMs(a.prefill_ms))],
    ["Time to first token", (a) => (a.ttft_ms === undefined ? undefined : fmtMs(a.ttft_ms))],
    ["Total", (a) => (a.total_ms === undefined ? undefined : fmtMs(a.total_ms))],
  ];

  function showAccounting(acc, usage) {
    const rows = [];
    for (const [label, f] of ACCOUNTING_ROWS) {
      const v = f(acc || {});
      if (v !== undefined) rows.push(el("div", { class: "acc-row" }, el("dt", { text: label }), el("dd", { text: v })));
    }
    if (usage && typeof usage.completion_tokens === "number") {
      rows.push(el("div", { class: "acc-row" }, el("dt", { text: "Prompt / answer tokens" }),
        el("dd", { text: fmtInt(usage.prompt_tokens) + " / " + fmtInt(usage.completion_tokens) })));
    }
    els.accounting.replaceChildren(...rows);
  }

  // ---------- sources ----------
  function showSources(list) {
    const items = (list || []).map((s, i) => {
      const where = [s.source, s.start !== undefined ? s.start + "–" + s.end : null].filter((x) => x !== null && x !== undefined).join(" @ ");
      const head = el("div", { class: "src-head" },
        el("span", { class: "score", title: "routing score", text: fmtScore(s.score) }),
        el("span", { class: "crumb", text: crumb(s.path) || "#" + s.node_id }));
      const meta = el("div", { class: "src-meta" },
        el("span", { text: "#" + s.node_id }),
        s.tokens !== undefined ? el("span", { text: fmtInt(s.tokens) + " tok" }) : null,
        where ? el("span", { class: "where", text: where }) : null);
      const body = s.text
        ? el("details", { class: "src-text" }, el("summary", { text: "text" }), el("pre", { text: s.text }))
        : null;
      return el("li", { class: "source", "data-node-id": s.node_id, "data-rank": i + 1 }, head, meta, body);
    });
    els.sources.replaceChildren(...items);
    els.sources.dataset.count = String(items.length);
  }

  // ---------- tree ----------
  // route.tree holds the tree's top levels plus every kept leaf and its ancestors. Its flags:
  // kept = a kept leaf or an ancestor of one; pruned = a pruned branch or a node under one.
  function showTree(route) {
    const nodes = route.tree || [];
    const scores = new Map();
    const keptLeaves = new Set();
    const snippets = new Map(); // leaves have no heading: a kept leaf is named by its first words
    for (const k of route.kept || []) {
      keptLeaves.add(k.node_id);
      scores.set(k.node_id, k.score);
      const words = (k.text || "").trim().split(/\s+/).slice(0, 7).join(" ");
      if (words) snippets.set(k.node_id, words + "…");
    }
    for (const p of route.pruned || []) scores.set(p.node_id, p.score);
    const byId = new Map(nodes.map((n) => [n.node_id, n]));
    const children = new Map();
    const roots = [];
    for (const n of nodes) {
      if (n.parent === null || n.parent === undefined || !byId.has(n.parent)) roots.push(n);
      else {
        if (!children.has(n.parent)) children.set(n.parent, []);
        children.get(n.parent).push(n);
      }
    }
    // Ancestors of the kept leaves (also when the server's own flag is absent).
    const onPath = new Set(nodes.filter((n) => n.kept && !keptLeaves.has(n.node_id)).map((n) => n.node_id));
    for (const id of keptLeaves) {
      let p = byId.get((byId.get(id) || {}).parent);
      while (p && !onPath.has(p.node_id)) {
        onPath.add(p.node_id);
        p = byId.get(p.parent);
      }
    }
    const minDepth = nodes.reduce((m, n) => Math.min(m, n.depth), Infinity);
    const visible = (n) =>
      n.depth - minDepth < TOP_LEVELS || keptLeaves.has(n.node_id) || n.pruned || onPath.has(n.node_id);

    function render(n) {
      const leaf = keptLeaves.has(n.node_id);
      const cls = ["node", leaf ? "kept" : n.pruned ? "pruned" : onPath.has(n.node_id) ? "path" : "other"];
      const kids = children.get(n.node_id) || [];
      const shown = n.pruned ? [] : kids.filter(visible); // a pruned branch is not opened
      const hidden = kids.length - shown.length;
      const score = scores.get(n.node_id);
      const title = leaf && (!n.title || n.title === "leaf") ? "#" + n.node_id : n.title || "#" + n.node_id;
      const label = el("span", { class: "label" },
        el("span", { class: "title", text: title }),
        leaf && snippets.has(n.node_id) ? el("span", { class: "snippet", text: snippets.get(n.node_id) }) : null,
        score !== undefined ? el("span", { class: "score", text: fmtScore(score) }) : null,
        leaf ? el("span", { class: "tag", text: "kept" }) : null,
        n.pruned && scores.has(n.node_id) ? el("span", { class: "tag", text: "pruned" }) : null);
      const li = el("li", {
        class: cls.join(" "),
        "data-node-id": n.node_id,
        "data-depth": n.depth,
        "aria-label": title + (leaf ? " (kept)" : n.pruned ? " (pruned)" : ""),
      }, label);
      if (shown.length || hidden) {
        const ul = el("ul", {}, ...shown.map(render));
        if (hidden) ul.append(el("li", { class: "more", text: "… " + hidden + " more not shown" }));
        li.append(ul);
      }
      return li;
    }

    els.tree.replaceChildren(el("ul", { class: "tree-root" }, ...roots.map(render)));
    els.tree.dataset.kept = String(els.tree.querySelectorAll("li.kept").length);
    els.tree.dataset.pruned = String(els.tree.querySelectorAll("li.pruned").length);
  }

  // ---------- ask ----------
  function body(extra) {
    const b = { model: els.index.value };
    const budget = parseInt(els.budget.value, 10);
    const beam = parseInt(els.beam.value, 10);
    if (Number.isFinite(budget)) b.budget = budget;
    if (Number.isFinite(beam)) b.beam = beam;
    return Object.assign(b, extra);
  }

  async function route(question, signal) {
    const resp = await fetch("v1/route", {
      method: "POST", headers: headers(), signal, body: JSON.stringify(body({ question })),
    });
    if (!resp.ok) throw new Error(await errorMessage(resp));
    const r = await resp.json();
    showTree(r);
    showSources(r.kept);
    showAccounting(r.accounting);
    return r;
  }

  // Reads an SSE stream of OpenAI chat.completion.chunk objects; calls onChunk for each.
  async function readSSE(resp, onChunk) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      buf += decoder.decode(value || new Uint8Array(), { stream: !done });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (!line.startsWith("data:")) continue; // comments, event names, blank separators
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        if (data) onChunk(JSON.parse(data));
      }
      if (done) return;
    }
  }

  async function chat(question, signal) {
    const extra = { messages: [{ role: "user", content: question }], stream: true,
      stream_options: { include_usage: true } };
    if (els.task.value) extra.task = els.task.value;
    const resp = await fetch("v1/chat/completions", {
      method: "POST", headers: Object.assign(headers(), { Accept: "text/event-stream" }), signal,
      body: JSON.stringify(body(extra)),
    });
    if (!resp.ok) throw new Error(await errorMessage(resp));
    const text = document.createTextNode("");
    els.answer.replaceChildren(text);
    let h2mt = null;
    let usage = null;
    let first = true;
    await readSSE(resp, (chunk) => {
      if (chunk.error) throw new Error(chunk.error.message || "stream error");
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) {
        if (first) { setStatus("Answering…"); first = false; }
        text.appendData(delta.content);
      }
      if (chunk.h2mt) h2mt = chunk.h2mt;
      if (chunk.usage) usage = chunk.usage;
    });
    if (!text.data.trim()) els.answer.replaceChildren(el("em", { class: "empty", text: "(empty answer)" }));
    if (h2mt) {
      if (h2mt.sources) showSources(h2mt.sources);
      showAccounting(h2mt.accounting, usage);
    } else if (usage) {
      showAccounting({}, usage);
    }
  }

  async function ask(ev) {
    ev.preventDefault();
    const question = els.question.value.trim();
    if (!els.index.value) { setStatus("Pick an index first.", "error"); els.index.focus(); return; }
    if (!question) { setStatus("Type a question first.", "error"); els.question.focus(); return; }
    controller = new AbortController();
    busy(true);
    els.answer.dataset.done = "false";
    els.answer.replaceChildren();
    els.sources.replaceChildren();
    els.accounting.replaceChildren();
    try {
      setStatus("Routing…");
      await route(question, controller.signal);
      setStatus("Waiting for the generator…");
      await chat(question, controller.signal);
      setStatus("Done.", "ok");
    } catch (err) {
      if (err.name === "AbortError") setStatus("Stopped.");
      else setStatus(err.message || String(err), "error");
    } finally {
      els.answer.dataset.done = "true";
      controller = null;
      busy(false);
    }
  }

  els.form.addEventListener("submit", ask);
  els.stop.addEventListener("click", () => controller && controller.abort());
  els.question.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) els.form.requestSubmit();
  });
  els.key.addEventListener("change", loadModels);
  loadModels();
})();
