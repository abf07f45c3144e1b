// Polls /dashboard/data and charts what changed since the previous poll (Chart.js draws).
"use strict";

const POLL_MS = 2000;
const POINTS = 90; // three minutes of points
const BATCH_WINDOW = 30; // polls the batch-size distribution covers (one minute)
const history = [];

function lineChart(id, datasets, yTitle) {
  return new Chart(document.getElementById(id), {
    type: "line",
    data: { labels: [], datasets: datasets.map((label) => ({ label, data: [], tension: 0.25, pointRadius: 0 })) },
    options: {
      animation: false,
      responsive: true,
      scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } } },
    },
  });
}

const charts = {
  throughput: lineChart("throughput", ["requests/s", "tokens/s"], "per second"),
  latency: lineChart("latency", ["p50 ms", "p95 ms"], "milliseconds"),
  cache: lineChart("cache", ["hit rate %"], "percent"),
  queues: lineChart("queues", ["interactive", "bulk"], "messages waiting"),
  batches: new Chart(document.getElementById("batches"), {
    type: "bar",
    data: { labels: [], datasets: [{ label: "batches", data: [] }] },
    options: { animation: false, scales: { x: { title: { display: true, text: "requests per batch (≤)" } } } },
  }),
};
window.dashboard = { charts, history };

// The q-quantile of the values that fell into each bucket, interpolated inside its bucket as
// Prometheus' histogram_quantile does; null when nothing fell.
function quantile(q, bounds, counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let rank = q * total;
  let lower = 0;
  for (let i = 0; i < counts.length; i++) {
    const upper = bounds[i] === null ? lower : bounds[i];
    if (rank <= counts[i]) return lower + (upper - lower) * (counts[i] ? rank / counts[i] : 0);
    rank -= counts[i];
    lower = upper;
  }
  return lower;
}

const minus = (a, b) => a.map((v, i) => v - (b ? b[i] : 0));
const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);

function push(chart, label, values) {
  chart.data.labels.push(label);
  values.forEach((v, i) => chart.data.datasets[i].data.push(v));
  if (chart.data.labels.length > POINTS) {
    chart.data.labels.shift();
    chart.data.datasets.forEach((d) => d.data.shift());
  }
  chart.update();
}

function showSettings(s, models) {
  const perModel = Object.entries(models).map(([id, m]) => [
    id,
    `${m.workers} worker${m.workers === 1 ? "" : "s"}, ${m.queued} queued, ${Math.round(m.tokens)} tokens`,
  ]);
  const items = {
    model: s.model,
    device: s.devices.join(", ") || "no worker",
    workers: s.workers,
    "batch size": s.max_batch_size.join(", "),
    "batch wait": s.batch_wait_ms.map((ms) => `${ms} ms`).join(", "),
    "cache threshold": s.cache_threshold === null ? "off" : s.cache_threshold,
    ...Object.fromEntries(perModel),
  };
  document.getElementById("settings").replaceChildren(
    ...Object.entries(items).map(([k, v]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = String(v);
      div.append(dt, dd);
      return div;
    }),
  );
}

function update(now) {
  const before = history[history.length - 1];
  history.push(now);
  if (history.length > BATCH_WINDOW + 1) history.shift();
  showSettings(now.settings, now.models);
  const label = new Date(now.time * 1000).toLocaleTimeString();
  push(charts.queues, label, [now.queues.interactive, now.queues.bulk]);
  const oldest = history[0];
  const batches = minus(now.batch_size.counts, oldest === now ? null : oldest.batch_size.counts);
  charts.batches.data.labels = now.batch_size.bounds.map((b) => (b === null ? "more" : String(b)));
  charts.batches.data.datasets[0].data = batches;
  charts.batches.update();
  if (!before) return;
  const seconds = now.time - before.time;
  push(charts.throughput, label, [
    (now.requests - before.requests) / seconds,
    (now.tokens - before.tokens) / seconds,
  ]);
  const latency = minus(now.latency.counts, before.latency.counts);
  const ms = (q) => {
    const v = quantile(q, now.latency.bounds, latency);
    return v === null ? null : Math.round(v * 1000);
  };
  push(charts.latency, label, [ms(0.5), ms(0.95)]);
  const lookups = sum(now.cache) - sum(before.cache);
  const hits = ["exact_hit", "semantic_hit"].reduce((a, k) => a + (now.cache[k] || 0) - (before.cache[k] || 0), 0);
  push(charts.cache, label, [lookups ? (100 * hits) / lookups : null]);
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/dashboard/data", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    update(await response.json());
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    status.textContent = `cannot reach the service (${error.message}); retrying`;
  }
  setTimeout(poll, POLL_MS);
}

poll();
