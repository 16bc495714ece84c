// srv6-monitor's page: every job's state, path and smoke graphs (median, 25–75 % and min–max
// bands of the round trip or a segment's one-way delay per 20-second bucket, loss as red bars,
// liveness transitions as vertical lines), from /api/v1/jobs and /api/v1/jobs/NAME/history.
// window.srv6monitor holds what is drawn (tests read it).
"use strict";

const state = { charts: {}, jobs: [], history: {}, errors: 0 };
window.srv6monitor = state;

const $ = (sel, el = document) => el.querySelector(sel);
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

// A job's path: the monitor, the SIDs, the target; each hop's arrow says which liveness
// segment covers it (an echo or ioam job has one end to end; a stamp job two directions).
function drawPath(job) {
  const p = el("div", { class: "path" });
  const nodes = ["src", ...job.segments, job.target];
  const segOf = (i) => {
    if (job.kind === "timestamped") return job.liveness[i];
    return job.liveness[0];
  };
  nodes.forEach((n, i) => {
    p.append(el("span", { class: "node" }, n));
    if (i < nodes.length - 1) {
      const s = segOf(i);
      p.append(el("span", { class: "seg", "data-segment": s ? String(s.index) : "", "data-state": s ? s.state : "unknown" }, "→"));
    }
  });
  if (job.kind === "stamp" && job.liveness[1]) {
    const s = job.liveness[1];
    p.append(el("span", { class: "seg", "data-segment": "1", "data-state": s.state }, "← back"));
  }
  return p;
}

// An ioam job's branches: every path its probes took (IOAM node ids there and back), with the
// flow labels now on it; the last reply's is marked active, one not seen for a minute is faded.
function drawBranches(job) {
  const d = el("div", { class: "branches" });
  const now = Date.now();
  for (const b of job.ioam_branches || []) {
    const row = el("div", { class: "branch", "data-path": b.path, "data-active": String(b.active),
      "data-stale": String(now - new Date(b.last_seen).getTime() > 60000) });
    b.path.split(">").forEach((n, i) => {
      if (i > 0) row.append(el("span", { class: "hop" }, "→"));
      row.append(el("span", { class: "node" }, n));
    });
    const labels = b.flow_labels.length === 1 ? "1 flow label" : `${b.flow_labels.length} flow labels`;
    row.append(el("span", { class: "branch-meta" }, `${labels} · ${b.probes} probes${b.active ? " · active" : ""}`));
    d.append(row);
  }
  return d;
}

function stateLine(job) {
  const d = el("div", { class: "meta" });
  for (const s of job.liveness) {
    const when = s.last_transition ? " since " + new Date(s.last_transition).toLocaleTimeString() : "";
    d.append(el("span", { class: "seg", "data-segment": String(s.index), "data-state": s.state }, `${s.from} → ${s.to}: ${s.state}${when}`), " ");
    if (s.clock_unsynchronised) d.append(el("span", { class: "unsync" }, "clock unsynchronised"), " ");
  }
  const rtt = job.last_rtt_ms != null ? `last RTT ${job.last_rtt_ms.toFixed(3)} ms · ` : "";
  d.append(el("div", {}, `${rtt}sent ${job.sent}, lost ${job.lost}${job.last_error ? " · " : ""}`,
    job.last_error ? el("span", { class: "error" }, job.last_error) : ""));
  return d;
}

// transitions draws the job's liveness changes as vertical lines (red: down, green: up).
function transitionsPlugin(key) {
  return {
    hooks: {
      draw: [(u) => {
        const h = state.history[key];
        if (!h) return;
        const ctx = u.ctx;
        ctx.save();
        for (const t of h.transitions) {
          const x = u.valToPos(Date.parse(t.time) / 1000, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.strokeStyle = t.state === "down" ? "#d22" : t.state === "up" ? "#2a2" : "#888";
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
}

const ms = (v) => (v == null ? null : v * 1000);

// chartData is one series' history in uPlot's columns: time, min, p25, median, p75, max
// (milliseconds), loss %.
function chartData(s) {
  const loss = s.sent.map((n, i) => (n > 0 ? (100 * s.lost[i]) / n : null));
  return [s.t, s.min.map(ms), s.p25.map(ms), s.median.map(ms), s.p75.map(ms), s.max.map(ms), loss];
}

function makeChart(key, jobName, title, data, width) {
  const box = el("div", { class: "chart", "data-key": key });
  box.append(el("h3", {}, title));
  const opts = {
    width, height: 180,
    plugins: [transitionsPlugin(jobName)],
    legend: { show: false },
    scales: { x: { time: true }, ms: { range: (u, lo, hi) => [0, Math.max(hi || 0, 0.001) * 1.1] }, loss: { range: [0, 100] } },
    axes: [{}, { scale: "ms", label: "ms", size: 60 }, { scale: "loss", side: 1, label: "loss %", grid: { show: false } }],
    series: [
      {},
      { label: "min", scale: "ms", stroke: "transparent", points: { show: false } },
      { label: "p25", scale: "ms", stroke: "transparent", points: { show: false } },
      { label: "median", scale: "ms", stroke: "#13325a", width: 1.5, points: { show: false } },
      { label: "p75", scale: "ms", stroke: "transparent", points: { show: false } },
      { label: "max", scale: "ms", stroke: "transparent", points: { show: false } },
      { label: "loss %", scale: "loss", stroke: "rgba(220,40,40,.9)", fill: "rgba(220,40,40,.6)", paths: uPlot.paths.bars({ size: [0.9, 40] }), points: { show: false } },
    ],
    bands: [
      { series: [5, 1], fill: "rgba(60,110,180,.18)" },
      { series: [4, 2], fill: "rgba(60,110,180,.45)" },
    ],
  };
  const u = new uPlot(opts, data, box);
  state.charts[key] = u;
  return box;
}

function destroyCharts(job, from) {
  for (const key of Object.keys(state.charts)) {
    const [name, i] = [key.slice(0, key.lastIndexOf("|")), Number(key.slice(key.lastIndexOf("|") + 1))];
    if (name === job && i >= from) {
      state.charts[key].destroy();
      delete state.charts[key];
    }
  }
}

async function refresh() {
  const win = Number($("#window").value);
  let jobs;
  try {
    jobs = (await (await fetch("api/v1/jobs")).json()).jobs;
  } catch (e) {
    state.errors++;
    $("#summary").textContent = "cannot reach the monitor: " + e;
    return;
  }
  state.jobs = jobs;
  const down = jobs.filter((j) => j.liveness.some((s) => s.state === "down")).length;
  $("#summary").textContent = `${jobs.length} jobs, ${down} with a segment down · updated ${new Date().toLocaleTimeString()}`;
  const main = $("#jobs");
  const seen = new Set();
  const width = Math.max(320, Math.min(560, main.clientWidth - 40));
  for (const job of jobs) {
    seen.add(job.name);
    let card = main.querySelector(`.job[data-job="${CSS.escape(job.name)}"]`);
    const shape = `${job.kind} ${job.target}`;
    if (card && card.dataset.shape !== shape) {
      // Reloaded as another kind or target: draw it again.
      destroyCharts(job.name, 0);
      card.remove();
      card = null;
    }
    if (!card) {
      card = el("section", { class: "job", "data-job": job.name, "data-shape": shape });
      card.append(el("h2", {}, job.name, el("span", { class: "kind" }, `${job.kind} → ${job.target}`)),
        el("div", { class: "state" }), el("div", { class: "charts" }));
      main.append(card);
    }
    const st = $(".state", card);
    st.replaceChildren(drawPath(job), drawBranches(job), stateLine(job));
    let h;
    try {
      h = await (await fetch(`api/v1/jobs/${encodeURIComponent(job.name)}/history?window=${win}`)).json();
    } catch (e) {
      state.errors++;
      continue;
    }
    state.history[job.name] = h;
    const charts = $(".charts", card);
    destroyCharts(job.name, h.series.length);
    for (const box of charts.querySelectorAll(".chart")) {
      if (!state.charts[box.dataset.key]) box.remove();
    }
    h.series.forEach((s, i) => {
      const key = `${job.name}|${i}`;
      const title = i === 0 ? "round trip" : `one-way ${s.from} → ${s.to}`;
      const data = chartData(s);
      const u = state.charts[key];
      if (u) {
        u.setData(data);
      } else {
        charts.append(makeChart(key, job.name, title, data, width));
      }
    });
  }
  for (const card of main.querySelectorAll(".job")) {
    if (!seen.has(card.dataset.job)) {
      destroyCharts(card.dataset.job, 0);
      delete state.history[card.dataset.job];
      card.remove();
    }
  }
  state.updated = Date.now();
}

// One refresh at a time: the next is planned when one ends (a refresh fetches every job's
// history, which with many jobs can take longer than the period).
let running = false, again = false, timer = null;
async function tick() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  clearTimeout(timer);
  try {
    await refresh();
  } finally {
    running = false;
    if (again) {
      again = false;
      tick();
    } else {
      timer = setTimeout(tick, 5000);
    }
  }
}
$("#window").addEventListener("change", tick);
tick();
