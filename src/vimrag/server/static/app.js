// The vimrag page: search, ask (the memory graph drawn live from the SSE stream), ingest, sources.
// Every piece of data is put on the page with textContent or as an attribute value, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("vimrag-token") || "", blobs: new Map() };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function headers(extra = {}) {
  return state.token ? { ...extra, Authorization: `Bearer ${state.token}` } : extra;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (res.status === 401) { $("token-form").hidden = false; $("token").focus(); }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(msg);
  }
  return res;
}

// Media need the token too, which an <img src> cannot send: fetch them and show a blob: URL.
async function mediaImage(url, alt) {
  const img = el("img", { alt: alt || "", loading: "lazy" });
  if (!url) return img;
  try {
    if (!state.blobs.has(url)) {
      const res = await api(url);
      state.blobs.set(url, URL.createObjectURL(await res.blob()));
    }
    img.src = state.blobs.get(url);
  } catch (e) { img.alt = `(no image: ${e.message})`; }
  return img;
}

function fmtTime(s) {
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return `${m}:${String(sec).padStart(2, "0")}`;
}

function where(loc) {
  const parts = [];
  if (loc.page != null) parts.push(`page ${loc.page}`);
  if (loc.start != null) parts.push(`${fmtTime(loc.start)}${loc.end != null ? "–" + fmtTime(loc.end) : ""}`);
  if (loc.keyframes && loc.keyframes.length) parts.push(`frames at ${loc.keyframes.map(fmtTime).join(", ")}`);
  if (loc.sheet != null) parts.push(`sheet ${loc.sheet}${loc.cells ? " " + loc.cells : ""}`);
  if (loc.box) parts.push(`region [${loc.box.map((x) => Math.round(x)).join(", ")}]/1000`);
  if (loc.chunk != null) parts.push(`chunk ${loc.chunk}`);
  return parts.join(" · ");
}

const basename = (p) => String(p).split("/").pop();

// ------------------------------------------------------------------ workspaces
// The corpus every call works on: empty is the server's default; a new name is created by an upload.
const workspace = () => $("workspace").value.trim();
const withWorkspace = (body) => (workspace() ? { ...body, workspace: workspace() } : body);
const inWorkspace = (path) => (workspace() ? `${path}?workspace=${encodeURIComponent(workspace())}` : path);

async function loadWorkspaces() {
  // plain fetch, not api(): without a token yet, this must not pull the focus to the token form
  const res = await fetch("/workspaces", { headers: headers() }).catch(() => null);
  if (!res || !res.ok) return;  // runs again once a token is given
  const r = await res.json();
  $("workspace-list").replaceChildren(...r.workspaces.map((w) => el("option", { value: w })));
  $("workspace").placeholder = r.default;
}
$("workspace").addEventListener("change", () => {
  $("results").replaceChildren(); $("excluded").replaceChildren();
  if (!$("panel-sources").hidden) loadSources();
});

// ------------------------------------------------------------------ tabs
const tabs = ["search", "ask", "ingest", "sources"];
function show(name) {
  for (const t of tabs) {
    $(`tab-${t}`).setAttribute("aria-selected", String(t === name));
    $(`panel-${t}`).hidden = t !== name;
  }
  if (name === "sources") loadSources();
}
for (const t of tabs) $(`tab-${t}`).addEventListener("click", () => show(t));
document.querySelector("nav").addEventListener("keydown", (e) => {
  const i = tabs.findIndex((t) => $(`tab-${t}`) === document.activeElement);
  if (i < 0 || !["ArrowLeft", "ArrowRight"].includes(e.key)) return;
  const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
  $(`tab-${next}`).focus(); show(next);
});

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("vimrag-token", state.token);
  $("token-form").hidden = true;
  refreshStats(); loadWorkspaces();
});

async function refreshStats() {
  try {
    const h = await (await fetch("/health")).json();
    $("stats").textContent = `${h.items} items from ${h.sources} files`;
  } catch (e) { $("stats").textContent = `server unreachable: ${e.message}`; }
}

// ------------------------------------------------------------------ search
function hitCard(hit) {
  const card = el("article", { class: "card", "data-state": hit.state, "data-id": hit.id });
  const img = el("div");
  if (hit.media) mediaImage(hit.media, basename(hit.source)).then((i) => img.append(i));
  card.append(
    img,
    el("div", {}, el("span", { class: `badge ${hit.state}`, text: hit.state }), " ",
      el("span", { text: `score ${hit.similarity.toFixed(3)}` })),
    el("div", { class: "src", text: basename(hit.source), title: hit.source }),
    el("div", { class: "where", text: [hit.modality, where(hit.locator)].filter(Boolean).join(" · ") }),
    el("div", { class: "why", text: hit.explanation }),
  );
  if (hit.matched && hit.matched.length) {
    card.append(el("div", { class: "words", text: `words: ${hit.matched.join(", ")}`,
                            title: hit.scores ? `dense ${hit.scores.dense} · BM25 ${hit.scores.lexical}` : "" }));
  }
  card.addEventListener("click", () => openViewer(hit));
  return card;
}

$("search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("search-error").textContent = "";
  const body = withWorkspace({ query: $("q").value, k: Number($("k").value) || 10, strict: $("strict").checked });
  try {
    const r = await (await api("/search", { method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" } })).json();
    const parsed = $("parsed");
    parsed.replaceChildren(el("span", { text: "wanted: " }),
      ...(r.positive.length ? r.positive.map((c) => el("span", { class: "chip", text: c })) : [el("span", { text: "—" })]),
      el("span", { text: "  unwanted: " }),
      ...(r.negative.length ? r.negative.map((c) => el("span", { class: "chip neg", text: c })) : [el("span", { text: "—" })]));
    $("results").replaceChildren(...r.results.map(hitCard));
    if (!r.results.length) $("results").append(el("p", { text: "No results." }));
    $("excluded-title").hidden = !r.excluded.length;
    $("excluded").replaceChildren(...r.excluded.map(hitCard));
  } catch (err) { $("search-error").textContent = err.message; }
});

// ------------------------------------------------------------------ viewer (citations, results)
async function openViewer(ref) {
  const loc = ref.locator || {};
  $("viewer-title").textContent = basename(ref.source);
  $("viewer-where").textContent = [ref.source, where(loc)].filter(Boolean).join(" — ");
  const img = $("viewer-img");
  img.removeAttribute("src");
  $("viewer-box").hidden = true;
  img.onload = loc.box ? () => drawBox(loc.box) : null;
  if (ref.media) {
    const i = await mediaImage(ref.media, basename(ref.source));
    img.alt = i.alt;
    img.src = i.src;
  }
  const frames = $("viewer-frames");
  frames.replaceChildren();
  const wanted = loc.keyframes || [];
  for (const f of ref.keyframes || []) {
    const fig = el("figure");
    mediaImage(f.media, `frame at ${fmtTime(f.t)}`).then((i) => fig.prepend(i));
    fig.append(el("figcaption", { text: `${fmtTime(f.t)}${wanted.some((t) => Math.abs(t - f.t) < 0.5) ? " (cited)" : ""}` }));
    frames.append(fig);
  }
  $("viewer").showModal();
}

function drawBox(box) {
  // Boxes are PolarMem's 0–1000 of the page, slide or image, whatever size the picture is shown at.
  const b = $("viewer-box");
  Object.assign(b.style, { left: `${box[0] / 10}%`, top: `${box[1] / 10}%`,
    width: `${(box[2] - box[0]) / 10}%`, height: `${(box[3] - box[1]) / 10}%` });
  b.hidden = false;
}

// ------------------------------------------------------------------ ask: SSE stream, live graph
const graph = { nodes: new Map(), allocation: [], answerNode: null };

function drawGraph() {
  const svg = $("graph");
  const nodes = [{ id: 0, parents: [], query: "question" }, ...graph.nodes.values()];
  const depth = new Map([[0, 0]]);
  for (const n of nodes) if (n.id) depth.set(n.id, 1 + Math.max(0, ...n.parents.map((p) => depth.get(p) ?? 0)));
  const rows = new Map();
  for (const n of nodes) { const d = depth.get(n.id); rows.set(d, [...(rows.get(d) || []), n]); }
  const W = 190, H = 46, GX = 24, GY = 40, pos = new Map();
  let width = 0;
  for (const [d, list] of rows) list.forEach((n, i) => { pos.set(n.id, [12 + i * (W + GX), 10 + d * (H + GY)]); width = Math.max(width, 12 + (i + 1) * (W + GX)); });
  const ns = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  svg.replaceChildren();
  const defs = mk("defs", {}); const marker = mk("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto" });
  marker.append(mk("path", { d: "M0,0 L10,5 L0,10 z", fill: "#5f6b76" })); defs.append(marker); svg.append(defs);
  for (const n of nodes) for (const p of n.parents || []) {
    const [x1, y1] = pos.get(p) || [0, 0], [x2, y2] = pos.get(n.id);
    svg.append(mk("path", { class: "edge", d: `M${x1 + W / 2},${y1 + H} C${x1 + W / 2},${y1 + H + 20} ${x2 + W / 2},${y2 - 20} ${x2 + W / 2},${y2}` }));
  }
  for (const n of nodes) {
    const [x, y] = pos.get(n.id);
    const g = mk("g", { class: `node${n.id === 0 ? " root" : ""}${n.id === graph.answerNode ? " answer" : ""}`, transform: `translate(${x},${y})` });
    g.append(mk("rect", { width: W, height: H }));
    const t1 = mk("text", { x: 8, y: 18 }); t1.textContent = `n${n.id}: ${String(n.query).slice(0, 26)}`;
    const kept = (n.bank || []).filter((b) => b.saliency).length;
    const t2 = mk("text", { x: 8, y: 36 }); t2.textContent = n.id ? `${kept}/${(n.bank || []).length} kept` : "root";
    const title = mk("title", {}); title.textContent = `${n.query}\n${n.summary || ""}`;
    g.append(t1, t2, title);
    svg.append(g);
  }
  const height = Math.max(...[...pos.values()].map(([, y]) => y)) + H + 12;
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${Math.max(width, 300)} ${height}`);
}

function tokensFor(itemId, nodeId) {
  const a = graph.allocation.find((x) => x.item_id === itemId && x.node === nodeId);
  return a ? a.tokens : 0;
}

function drawNodes() {
  const box = $("nodes");
  box.replaceChildren();
  for (const n of graph.nodes.values()) {
    const thumbs = el("div", { class: "thumbs" });
    for (const b of n.bank || []) {
      const fig = el("figure", { class: b.saliency ? "kept" : "dropped", title: b.text || "" });
      if (b.media) mediaImage(b.media, basename(b.source)).then((i) => fig.prepend(i));
      else fig.append(el("div", { class: "snippet", text: String(b.text || "").replace(/^\[[^\]]*\]\s*/, "").slice(0, 120) }));
      const tok = tokensFor(b.item_id, n.id);
      fig.append(el("figcaption", { text: `${basename(b.source)} · ${b.state}${b.score != null ? " · p" + b.score : ""}${tok ? ` · ${tok} tok` : ""}` }));
      thumbs.append(fig);
    }
    box.append(el("div", { class: "node-card", "data-node": String(n.id) },
      el("strong", { text: `n${n.id} ← ${n.parents.map((p) => "n" + p).join(", ")}: ${n.query}` }),
      n.summary ? el("p", { text: n.summary }) : null, thumbs));
  }
}

function onEvent(kind, data) {
  if (kind === "error") { $("ask-error").textContent = data.error; return; }
  if (kind === "answer") {
    graph.answerNode = data.answer_node; drawGraph();
    $("ask-status").textContent = `${data.method}: ${data.steps} steps, ${data.tokens.prompt}+${data.tokens.completion} tokens`;
    const ans = $("answer");
    ans.replaceChildren(el("div", { class: "text", text: data.answer || "(no answer)" }));
    for (const c of data.citations) {
      ans.append(el("button", { class: "cite", type: "button", text: `↳ ${basename(c.source)} ${where(c.locator)}`,
        onclick: () => openViewer(c) }));
    }
    return;
  }
  if (data.node) graph.nodes.set(data.node.id, data.node);
  graph.allocation = data.allocation || graph.allocation;
  $("ask-status").textContent = `step ${data.step + 1}: ${kind}${data.node ? " → n" + data.node.id + " " + data.node.query : ""}`;
  drawGraph(); drawNodes();
}

$("ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  graph.nodes.clear(); graph.allocation = []; graph.answerNode = null;
  $("answer").replaceChildren(); $("nodes").replaceChildren(); $("ask-error").textContent = "";
  drawGraph();
  $("ask-status").textContent = "thinking…";
  const button = e.submitter || $("ask-form").querySelector("button");
  button.disabled = true;
  try {
    const res = await api("/ask/stream", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(withWorkspace({ question: $("question").value, method: $("method").value })) });
    const reader = res.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, cut); buf = buf.slice(cut + 2);
        const kind = (chunk.match(/^event: (.*)$/m) || [])[1] || "message";
        const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) onEvent(kind, JSON.parse(data));
      }
    }
  } catch (err) { $("ask-error").textContent = err.message; $("ask-status").textContent = ""; }
  finally { button.disabled = false; }
});

// ------------------------------------------------------------------ ingest
const drop = $("drop");
drop.addEventListener("click", () => $("files").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("files").click(); } });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); upload(e.dataTransfer.files); });
$("files").addEventListener("change", () => upload($("files").files));

async function upload(files) {
  if (!files || !files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  $("ingest-status").textContent = `uploading ${files.length} file(s)…`;
  $("ingest-report").hidden = true;
  try {
    const { job } = await (await api(inWorkspace("/ingest"), { method: "POST", body: form })).json();
    await watchJob(job);
  } catch (err) { $("ingest-status").textContent = `upload failed: ${err.message}`; }
  $("files").value = "";
}

async function watchJob(id) {
  const bar = $("ingest-progress");
  bar.hidden = false;
  for (;;) {
    const j = await (await api(`/jobs/${encodeURIComponent(id)}`)).json();
    const p = j.progress;
    bar.max = Math.max(1, p.total); bar.value = p.done;
    $("ingest-status").textContent = `${j.state}: ${p.done}/${p.total}${p.current ? " — " + basename(p.current) : ""}`;
    if (j.state === "done" || j.state === "failed") {
      bar.hidden = true;
      if (j.error) $("ingest-status").textContent = `${j.state}: ${j.error}`;
      if (j.report) showReport(j.report);
      refreshStats(); loadWorkspaces();
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function showReport(report) {
  const body = $("ingest-report").querySelector("tbody");
  body.replaceChildren(...report.files.map((f) => el("tr", { "data-status": f.status },
    el("td", { text: basename(f.path), title: f.path }), el("td", { class: f.status, text: f.status }),
    el("td", { text: String(f.items ?? "") }), el("td", { text: f.reason || "" }))));
  $("ingest-report").hidden = false;
  $("ingest-status").textContent = `${report.added} added, ${report.replaced} replaced, ${report.unchanged} unchanged, ${report.failed.length} failed → ${report.items} items`;
}

// ------------------------------------------------------------------ sources
async function loadSources() {
  $("sources-error").textContent = "";
  try {
    const { sources } = await (await api(inWorkspace("/sources"))).json();
    $("sources").querySelector("tbody").replaceChildren(...sources.map((s) => el("tr", {},
      el("td", { text: s.source }), el("td", { text: String(s.items) }),
      el("td", {}, el("button", { type: "button", text: "Remove", "aria-label": `Remove ${s.source}`,
        onclick: () => removeSource(s.source) })))));
  } catch (err) { $("sources-error").textContent = err.message; }
}

async function removeSource(source) {
  if (!confirm(`Forget ${source} and everything derived from it?`)) return;
  try {
    await api("/sources", { method: "DELETE", headers: { "Content-Type": "application/json" }, body: JSON.stringify(withWorkspace({ source })) });
    await loadSources(); refreshStats();
  } catch (err) { $("sources-error").textContent = err.message; }
}

$("refresh-sources").addEventListener("click", loadSources);
refreshStats();
loadWorkspaces();
