// fakescope web page: uploads images to POST /v1/detect and shows one card per image.
// No external code; all user-supplied text is set with textContent, never parsed as HTML.
"use strict";

const state = { model: null };
const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function pct(p) {
  return p === null || p === undefined ? "-" : (100 * p).toFixed(1) + "%";
}

// The unsure band as shown to users: its two ends in increasing order (the conformal
// band's real_max may lie above or below its fake_min; either way P(fake) between them
// is "unsure") and one line on what it means. Returns null when the model has no band.
function bandText(band) {
  if (!band || typeof band.real_max !== "number" || typeof band.fake_min !== "number") {
    return null;
  }
  const lo = Math.min(band.real_max, band.fake_min);
  const hi = Math.max(band.real_max, band.fake_min);
  const share = typeof band.alpha === "number" ? +(100 * band.alpha).toFixed(1) + "%" : "a few";
  return {
    lo: lo,
    hi: hi,
    range: pct(lo) + " to " + pct(hi),
    meaning: "P(fake) in this range gives the verdict \"unsure\", too close to call (at most " +
      share + " of real images score above it, at most " + share + " of fake images below it).",
  };
}

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text || "";
  s.classList.toggle("error", Boolean(isError));
}

function addFact(dl, name, value) {
  dl.appendChild(el("dt", null, name));
  dl.appendChild(el("dd", null, value));
}

async function loadModel() {
  const status = $("model-status");
  for (let attempt = 0; attempt < 60; attempt++) {
    let res;
    try {
      res = await fetch("/v1/model");
    } catch (err) {
      status.textContent = "server unreachable: " + err;
      return;
    }
    if (res.ok) {
      state.model = await res.json();
      showModel(state.model);
      return;
    }
    const body = await res.json().catch(() => ({}));
    status.textContent = body.error || "model not ready (" + res.status + ")";
    if (res.status !== 503) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function showModel(m) {
  const dl = $("model-facts");
  dl.replaceChildren();
  addFact(dl, "detector", m.detector || "?");
  addFact(dl, "classes", (m.classes || []).join(", "));
  addFact(dl, "fake if P(fake) >=", pct(m.threshold));
  const cal = m.calibration || {};
  addFact(dl, "calibration", cal.present ? cal.method : "none (raw detector scores)");
  const band = bandText(cal.band);
  const bandValue = el("dd", "band");
  if (band) {
    bandValue.appendChild(el("span", "band-range", band.range));
    bandValue.appendChild(el("span", "band-meaning muted", band.meaning));
  } else {
    bandValue.textContent = "none (every verdict is real or fake, unless out of distribution)";
  }
  dl.appendChild(el("dt", null, "unsure band"));
  dl.appendChild(bandValue);
  const ood = m.ood || {};
  addFact(dl, "out-of-distribution check", ood.present ? (ood.scorer || "on") : "off");
  $("model-status").textContent = "";
  $("model-status").hidden = true;
  dl.hidden = false;
  const explain = $("explain");
  explain.disabled = !m.explain;
  $("explain-note").textContent = m.explain ? "" : "(not available on this server)";
}

// A horizontal P(fake) scale with the unsure band shaded and the threshold marked.
function scale(p) {
  const bar = el("div", "scale");
  const m = state.model || {};
  const band = bandText(m.calibration && m.calibration.band);
  if (band) {
    const zone = el("div", "scale-band");
    zone.style.left = 100 * band.lo + "%";
    zone.style.width = Math.max(0.5, 100 * (band.hi - band.lo)) + "%";
    zone.title = "unsure band " + band.range;
    bar.appendChild(zone);
  }
  if (typeof m.threshold === "number") {
    const t = el("div", "scale-threshold");
    t.style.left = 100 * m.threshold + "%";
    t.title = "threshold " + pct(m.threshold);
    bar.appendChild(t);
  }
  if (typeof p === "number") {
    const dot = el("div", "scale-dot");
    dot.style.left = 100 * p + "%";
    bar.appendChild(dot);
  }
  return bar;
}

function card(file, result) {
  const c = el("article", "card");
  c.dataset.verdict = result.verdict || "error";
  const pic = el("div", "thumb");
  const img = el("img");
  img.alt = result.filename;
  img.src = URL.createObjectURL(file);
  img.addEventListener("error", () => { img.hidden = true; });
  pic.appendChild(img);
  if (result.heatmap_png) {
    const heat = el("img", "heatmap");
    heat.alt = "heatmap of " + result.filename;
    heat.src = "data:image/png;base64," + result.heatmap_png;
    pic.appendChild(heat);
    pic.title = "heatmap: where the detector sees evidence for fake (hover to see the image)";
  }
  c.appendChild(pic);

  const body = el("div", "card-body");
  body.appendChild(el("h3", "filename", result.filename));
  if (result.error) {
    body.appendChild(el("p", "verdict verdict-error", "error"));
    body.appendChild(el("p", "error-text", result.error));
  } else {
    body.appendChild(el("p", "verdict verdict-" + result.verdict, result.verdict));
    const line = el("p", "prob");
    line.appendChild(el("span", "prob-label", "P(fake) "));
    line.appendChild(el("strong", "prob-value", pct(result.p_fake)));
    body.appendChild(line);
    body.appendChild(scale(result.p_fake));
    body.appendChild(el("p", "reason muted", result.reason));
    if (result.explain_error) {
      body.appendChild(el("p", "muted", "no heatmap: " + result.explain_error));
    }
    if (result.ood === true) {
      body.appendChild(el("p", "ood-flag", "out of distribution: unlike the training images"));
    } else if (result.ood === false) {
      body.appendChild(el("p", "ood-ok muted", "in distribution"));
    }
    if (result.class && state.model && (state.model.classes || []).length > 2) {
      body.appendChild(el("p", "muted", "class: " + result.class));
    }
  }
  c.appendChild(body);
  return c;
}

async function detect(files) {
  const images = Array.from(files).filter((f) => f.size > 0 || f.type);
  if (!images.length) return;
  const form = new FormData();
  images.forEach((f) => form.append("files", f, f.name));
  const explain = $("explain").checked && !$("explain").disabled;
  setStatus("judging " + images.length + " image" + (images.length > 1 ? "s" : "") + "...");
  let res, body;
  try {
    res = await fetch("/v1/detect" + (explain ? "?explain=1" : ""), { method: "POST", body: form });
    body = await res.json();
  } catch (err) {
    setStatus("request failed: " + err, true);
    return;
  }
  if (!res.ok) {
    const retry = res.headers.get("Retry-After");
    setStatus((body.error || "error " + res.status) + (retry ? " (retry in " + retry + " s)" : ""), true);
    return;
  }
  const list = $("results");
  // newest request on top, its images in the order they were sent
  const cards = body.results.map((r, i) => card(images[i], r));
  list.prepend(...cards);
  setStatus("done: " + body.results.length + " result" + (body.results.length > 1 ? "s" : ""));
}

function setup() {
  const input = $("file-input");
  input.addEventListener("change", () => {
    detect(input.files).finally(() => { input.value = ""; });
  });
  const zone = $("drop-zone");
  ["dragenter", "dragover"].forEach((ev) => zone.addEventListener(ev, (e) => {
    e.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((ev) => zone.addEventListener(ev, (e) => {
    e.preventDefault();
    zone.classList.remove("over");
  }));
  zone.addEventListener("drop", (e) => detect(e.dataTransfer.files));
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  $("clear").addEventListener("click", () => { $("results").replaceChildren(); setStatus(""); });
  loadModel();
}

document.addEventListener("DOMContentLoaded", setup);
