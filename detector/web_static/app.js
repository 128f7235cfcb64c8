// The review page: no build step, no CDN, nothing but this file.
"use strict";
const Barkcry = (() => {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const COLORS = { bark: "#f5a623", cry: "#4a90e2" };
  const color = (lab) => COLORS[lab] || "#7c7";
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) k.startsWith("on") ? e.addEventListener(k.slice(2), v) : e.setAttribute(k, v);
    for (const k of kids) e.append(k);
    return e;
  };
  const get = async (url) => { const r = await fetch(url); if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); };

  async function health() {
    const h = await get("/api/health");
    const span = document.getElementById("health");
    span.textContent = h.service !== "running" ? "service: not running" :
      `service: running ${Math.round(h.uptime_s / 60)} min · ${h.device} · ${h.model}` +
      (h.cpu_percent != null ? ` · CPU ${h.cpu_percent} %` : "") +
      (h.problem && h.problem.length ? ` · PROBLEM: ${h.problem.join("; ")}` : " · no problem");
  }

  async function verdict(id, v) {
    const r = await fetch(`/api/events/${encodeURIComponent(id)}/verdict`, {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ verdict: v }) });
    if (!r.ok) throw new Error("verdict: " + r.status);
  }

  function drawSpectrogram(canvas, s) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    const mel = Uint8Array.from(atob(s.mel), (c) => c.charCodeAt(0));
    const img = ctx.createImageData(s.frames, s.mels);
    for (let f = 0; f < s.frames; f++) for (let m = 0; m < s.mels; m++) {
      const v = mel[f * s.mels + m], i = 4 * ((s.mels - 1 - m) * s.frames + f);
      img.data[i] = v; img.data[i + 1] = Math.max(0, v - 90) * 1.5; img.data[i + 2] = 255 - v * 0.6; img.data[i + 3] = 255;
    }
    const tmp = document.createElement("canvas"); tmp.width = s.frames; tmp.height = s.mels;
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, W, H);
    const x = (t) => (t / s.duration) * W;
    ctx.fillStyle = "rgba(255,255,255,0.18)";  // the event's span
    ctx.fillRect(x(s.event[0]), 0, x(s.event[1]) - x(s.event[0]), H);
    for (const [lab, ys] of Object.entries(s.scores)) {  // each label's score per window, 0 at the bottom
      ctx.strokeStyle = color(lab); ctx.lineWidth = 2; ctx.beginPath();
      ys.forEach((y, i) => { const px = x(s.t[i]), py = H - y * H; i ? ctx.lineTo(px, py) : ctx.moveTo(px, py); });
      ctx.stroke();
    }
  }

  async function verifierBox() {
    const v = await get("/api/verifier"), box = document.getElementById("verifier");
    box.replaceChildren(...Object.entries(v).map(([lab, s]) => el("div", { "data-label": lab },
      `${lab}: ${s.false_alarms} false alarm(s) marked · verifier ${s.on ? "on" : "off"}`,
      s.fit ? el("br") : "", s.fit ? `last fit: ${s.fit}` : "")));
  }

  function eventRow(e) {
    const when = new Date(e.start * 1000).toLocaleString();
    const dur = e.end != null ? (e.end - e.start).toFixed(1) + " s" : "open";
    const row = el("div", { class: "event " + (e.verdict || ""), "data-id": e.id });
    const v = el("span", { class: "verdict" }, e.verdict ? e.verdict.replace("_", " ") : "no verdict");
    const act = (value) => async () => { await verdict(e.id, value); e.verdict = value; row.className = "event " + (value || "");
      v.textContent = value ? value.replace("_", " ") : "no verdict"; verifierBox(); };
    row.append(el("div", { class: "meta" },
      el("span", { class: "label" }, e.label), el("span", {}, when), el("span", {}, dur),
      el("span", {}, `score ${e.score.toFixed(2)}` + (e.confirm_score != null ? ` (YAMNet ${e.confirm_score.toFixed(2)})` : "")),
      el("span", {}, `${e.dbfs.toFixed(1)} dBFS`), v,
      el("span", {}, el("button", { class: "false_alarm", onclick: act("false_alarm") }, "false alarm"),
        el("button", { class: "confirmed", onclick: act("confirmed") }, "that was right"),
        el("button", { class: "undo", onclick: act(null) }, "undo"))));
    if (e.clip) {
      row.append(el("audio", { controls: "", preload: "metadata", src: `/api/events/${encodeURIComponent(e.id)}/clip` }));
      const c = el("canvas", { width: 1000, height: 160, class: "spectrogram" });
      row.append(c);
      get(`/api/events/${encodeURIComponent(e.id)}/spectrogram`).then((s) => { drawSpectrogram(c, s); c.dataset.drawn = "1"; });
    }
    return row;
  }

  async function loadEvents() {
    const q = new URLSearchParams();
    const label = document.getElementById("label").value, day = document.getElementById("day").value;
    if (label) q.set("label", label);
    if (day) q.set("day", day);
    const list = await get("/api/events?" + q);
    const box = document.getElementById("events");
    box.replaceChildren(...(list.length ? list.map(eventRow) : ["No events."]));
  }

  function eventsPage() {
    document.getElementById("label").addEventListener("change", loadEvents);
    document.getElementById("day").addEventListener("change", loadEvents);
    loadEvents(); verifierBox(); health(); setInterval(health, 5000);
  }

  function livePage() {
    const canvas = document.getElementById("chart"), ctx = canvas.getContext("2d");
    const windows = [];
    let hello = null;
    window.barkcryLive = { windows: 0 };
    const draw = () => {
      const W = canvas.width, H = canvas.height, now = windows.length ? windows[windows.length - 1].wall : 0;
      ctx.fillStyle = "#111"; ctx.fillRect(0, 0, W, H);
      const x = (w) => W - ((now - w.wall) / 60) * W;
      ctx.strokeStyle = "#888"; ctx.beginPath();  // level, -90..0 dBFS
      windows.forEach((w, i) => { const y = H - ((w.dbfs + 90) / 90) * H; i ? ctx.lineTo(x(w), y) : ctx.moveTo(x(w), y); });
      ctx.stroke();
      for (const lab of Object.keys(windows.length ? windows[0].scores : {})) {
        ctx.strokeStyle = color(lab); ctx.lineWidth = 2; ctx.beginPath();
        windows.forEach((w, i) => { const y = H - w.scores[lab] * H; i ? ctx.lineTo(x(w), y) : ctx.moveTo(x(w), y); });
        ctx.stroke(); ctx.lineWidth = 1;
        if (hello && hello.thresholds[lab] != null) {
          ctx.setLineDash([6, 4]); ctx.beginPath(); const y = H - hello.thresholds[lab] * H;
          ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke(); ctx.setLineDash([]);
        }
      }
    };
    const source = new EventSource("/api/live");
    source.onmessage = (m) => {
      const d = JSON.parse(m.data);
      if (d.hello) { hello = d.hello; return; }
      windows.push(d);
      while (windows.length && d.wall - windows[0].wall > 60) windows.shift();
      window.barkcryLive.windows++;
      document.getElementById("why").replaceChildren(...Object.entries(d.why).map(([lab, why]) =>
        el("li", {}, `${lab}: score ${d.scores[lab].toFixed(2)}, ${d.dbfs.toFixed(1)} dBFS: ${why}`)));
      draw();
    };
    source.addEventListener("gone", () => {
      document.getElementById("why").replaceChildren(el("li", {}, "the service is not running")); });
    health(); setInterval(health, 5000);
  }

  return { eventsPage, livePage };
})();
