// The web console's script (served from /static/app.js): live log tail, the chat page, live charts, and the
// upload box. Everything from the host is inserted as text (textContent), never as HTML.
"use strict";
const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

async function getJson(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

function logTail() {
  const pre = document.getElementById("log");
  if (!pre) return;
  let after = 0;
  const filter = document.getElementById("log-filter");
  const tick = async () => {
    try {
      const lines = await getJson("/api/logs?after=" + after);
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      for (const l of lines) {
        after = l.seq;
        const line = document.createElement("div");
        line.className = "log-line level-" + l.level;
        line.textContent = new Date(l.time_ms).toISOString().slice(11, 19) + " " + l.level.padEnd(5) + " " + l.target + ": " + l.text;
        pre.appendChild(line);
      }
      while (pre.childNodes.length > 2000) pre.removeChild(pre.firstChild);
      if (filter) applyFilter(pre, filter.value);
      if (stick) pre.scrollTop = pre.scrollHeight;
    } catch (e) { /* the host may be restarting; try again */ }
    setTimeout(tick, 1000);
  };
  if (filter) filter.addEventListener("input", () => applyFilter(pre, filter.value));
  tick();
}

function applyFilter(pre, text) {
  const needle = text.toLowerCase();
  for (const line of pre.childNodes) line.hidden = needle !== "" && !line.textContent.toLowerCase().includes(needle);
}

function chat() {
  const form = document.getElementById("chat-form");
  const log = document.getElementById("chat-log");
  if (!form || !log) return;
  let after = Number(log.dataset.after || 0);
  const add = (cls, text) => {
    const line = document.createElement("div");
    line.className = cls;
    line.textContent = text;
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    if (!data.text) return;
    const where = data.group ? "group " + data.group : "private";
    add("me", "[" + where + "] " + data.user + " (" + (data.group ? data.role : "friend") + "): " + data.text);
    form.elements.text.value = "";
    const r = await fetch("/api/chat", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf": csrf() },
      body: JSON.stringify(data),
    });
    if (!r.ok) add("error", "not sent: " + (await r.text()));
  });
  const tick = async () => {
    try {
      const lines = await getJson("/api/chat?after=" + after);
      for (const l of lines) { after = l.seq; add("bot", l.text); }
    } catch (e) { /* try again */ }
    setTimeout(tick, 500);
  };
  tick();
}

function charts() {
  const boxes = document.querySelectorAll(".chart[data-series]");
  if (boxes.length === 0) return;
  const draw = (box, points) => {
    const svg = box.querySelector("svg");
    const line = svg.querySelector("polyline");
    const label = box.querySelector(".now");
    const max = Math.max(1, ...points);
    const w = 300, h = 100;
    line.setAttribute("points", points.map((v, i) => (i * w / Math.max(1, points.length - 1)).toFixed(1) + "," + (h - v * h / max).toFixed(1)).join(" "));
    if (label) label.textContent = points.length ? String(points[points.length - 1]) : "-";
  };
  const tick = async () => {
    try {
      const samples = await getJson("/api/samples");
      for (const box of boxes) draw(box, samples[box.dataset.series] || []);
    } catch (e) { /* try again */ }
    setTimeout(tick, 2000);
  };
  tick();
}

function upload() {
  const input = document.getElementById("wasm");
  if (!input) return;
  const status = document.getElementById("upload-status");
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    status.textContent = "reading " + file.name + " (" + file.size + " bytes)…";
    const r = await fetch("/api/upload?name=" + encodeURIComponent(file.name), {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/wasm", "x-csrf": csrf() },
      body: file,
    });
    const text = await r.text();
    if (!r.ok) { status.textContent = "refused: " + text; return; }
    window.location.href = "/upload/" + JSON.parse(text).id;
  });
}

document.addEventListener("DOMContentLoaded", () => { logTail(); chat(); charts(); upload(); });
