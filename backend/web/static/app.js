// Sketchify's page: submit photos to /v1/sketches, follow each job, show and download its SVGs.
// Plain browser JavaScript with no build step. Everything goes through fetch() with the
// token header (an <img src> could not send it), and SVG is rebuilt from its path data rather
// than inserted as markup, so nothing a server sends can run in the page.
"use strict";

const TOKEN_KEY = "sketchify-token";
const POLL_MS = 2000; // running jobs and their live preview
const LIST_EVERY = 5; // refresh the list head and /v1/health every 5 polls (10 s)
const PAGE_SIZE = 20;
const PHOTO_BOX = 480; // largest side of a job's photo on the page, in canvas pixels
const SVG_NS = "http://www.w3.org/2000/svg";
const ACTIVE = new Set(["queued", "running"]);
const FORM_FIELDS = ["strokes", "preset", "steps", "seeds", "seed", "prompt", "precision", "plot"];
const PHOTO_FIELDS = new Set(["image", "mask_image", "mask", "filename"]);

const $ = (selector, root = document) => root.querySelector(selector);

class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

// -- talking to /v1 ----------------------------------------------------------------------

async function api(path, { method = "GET", body = null, as = "json" } = {}) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch {
    throw new ApiError(0, "The server did not answer. Is `sketchify serve` still running?", null);
  }
  if (!response.ok) {
    let message = `The server answered ${response.status} ${response.statusText}.`;
    let field = null;
    try {
      const error = await response.json();
      message = error.error || message;
      field = error.field || null;
    } catch {
      // Not JSON (a proxy in between, say): the status line is all there is to say.
    }
    // A 401 for a token the user has replaced since is stale: it says nothing about the new one.
    if (response.status === 401 && sessionStorage.getItem(TOKEN_KEY) === token) {
      askForToken(Boolean(token));
    }
    throw new ApiError(response.status, message, field);
  }
  if (as === "json") return response.json();
  return as === "text" ? response.text() : response.blob();
}

// -- token and server state ------------------------------------------------------------------

let connected = false;

function askForToken(rejected) {
  connected = false;
  sessionStorage.removeItem(TOKEN_KEY);
  $("#token-message").textContent = rejected
    ? "The server did not accept that token. Check it and try again."
    : "This server needs an access token. Ask whoever runs it (it is the --token given to " +
      "`sketchify serve`).";
  $("#token-section").hidden = false;
  $("#app").hidden = true;
  $("#server-status").textContent = "Not connected.";
  $("#server-warning").hidden = true;
  $("#token-input").focus();
}

async function connect() {
  try {
    showHealth(await api("/v1/health"));
  } catch (error) {
    if (error.status !== 401) $("#server-status").textContent = error.message;
    return;
  }
  connected = true;
  $("#token-section").hidden = true;
  $("#app").hidden = false;
  await loadList(true);
}

function showHealth(health) {
  const parts = [`Sketchify ${health.version}.`];
  const warnings = [];
  if (health.executor === "celery") {
    const workers = health.workers_seen || [];
    parts.push(workers.length
      ? `Jobs run on ${workers.length} worker${workers.length === 1 ? "" : "s"}: ` +
        `${workers.join(", ")}.`
      : "No worker has been seen yet: jobs wait until a `sketchify worker` connects.");
    if (health.broker_reachable === false) {
      warnings.push("The job queue (Redis) is unreachable: new jobs are refused until it is back.");
    }
  } else {
    parts.push(`Jobs run on ${(health.devices || []).join(", ") || "no device"}.`);
  }
  if ((health.devices || []).some((device) => device.startsWith("cpu"))) {
    warnings.push("This server computes on a CPU, which is slow: the auto preset runs draft " +
      "here (minutes for one photo), and standard or best take hours.");
  }
  for (const [device, seconds] of Object.entries(health.step_cost || {})) {
    if (typeof seconds === "number") {
      parts.push(`Measured on ${device}: ${seconds.toPrecision(2)} s per view per step.`);
    }
  }
  if (health.disk && health.disk.accepting === false) {
    warnings.push("The server's disk is nearly full: new jobs are refused.");
  }
  const running = (health.running || []).length;
  parts.push(`${health.queue_length} queued, ${running} running.`);
  $("#server-status").textContent = parts.join(" ");
  const warning = $("#server-warning");
  warning.textContent = warnings.join(" ");
  warning.hidden = warnings.length === 0;
}

// -- photos to submit ------------------------------------------------------------------------

const photos = []; // {file, item, mask}
let photoNumber = 0;

function addPhotos(files) {
  for (const file of files) {
    const item = $("#photo-template").content.firstElementChild.cloneNode(true);
    const id = `mask-${++photoNumber}`;
    $(".photo-name", item).textContent = `${file.name} (${Math.ceil(file.size / 1024)} kB)`;
    $(".mask-label", item).htmlFor = id;
    $(".mask-label", item).textContent = `Mask for ${file.name} (optional)`;
    const mask = $(".mask-input", item);
    mask.id = id;
    const photo = { file, item, mask };
    const remove = $(".remove-button", item);
    remove.setAttribute("aria-label", `Remove ${file.name}`);
    remove.addEventListener("click", () => {
      removePhoto(photo);
      $("#photo-input").focus();
    });
    photos.push(photo);
    $("#photo-list").append(item);
  }
}

function removePhoto(photo) {
  photos.splice(photos.indexOf(photo), 1);
  photo.item.remove();
}

function chosenCounts() {
  const boxes = [...document.querySelectorAll("input[name=count]:checked")].map((b) => b.value);
  const more = $("#more-counts").value.trim();
  return [...boxes, ...(more ? [more] : [])].join(",");
}

function fieldInput(field) {
  return field === "strokes" ? $("#more-counts") : document.getElementById(field);
}

function clearErrors() {
  $("#form-error").textContent = "";
  for (const field of FORM_FIELDS) fieldInput(field).removeAttribute("aria-invalid");
  for (const photo of photos) $(".photo-error", photo.item).textContent = "";
}

function showFormError(message, field) {
  const error = $("#form-error");
  error.textContent = message;
  error.dataset.field = field || "";
  const input = field && FORM_FIELDS.includes(field) ? fieldInput(field) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "form-error");
    input.focus();
  }
}

function sketchForm(photo, counts) {
  const body = new FormData();
  body.append("image", photo.file, photo.file.name);
  body.append("strokes", counts);
  body.append("preset", $("#preset").value);
  body.append("precision", $("#precision").value);
  for (const field of ["steps", "seeds", "seed", "prompt"]) {
    const value = document.getElementById(field).value.trim();
    if (value) body.append(field, value); // left empty: the preset decides
  }
  const plot = plotSettings();
  if (plot) body.append("plot", JSON.stringify(plot));
  // Only a chosen mask is sent: the field means "use this file as the mask".
  if (photo.mask.files.length) body.append("mask_image", photo.mask.files[0]);
  return body;
}

// The plot-ready SVG asked for (the server checks it and names `plot` if it is wrong).
function plotSettings() {
  const fit = $("#plot").value;
  if (!fit) return null;
  const plot = fit === "size" ? { size_mm: 150 } : { page: fit };
  const pen = $("#pen").value.trim();
  if (pen) plot.pen_mm = Number(pen);
  return plot;
}

async function submitPhotos(event) {
  event.preventDefault();
  clearErrors();
  const counts = chosenCounts();
  if (!photos.length) {
    showFormError("Choose at least one photo first.", null);
    $("#photo-input").focus();
    return;
  }
  if (!counts) {
    showFormError("Tick at least one stroke count, or type some.", "strokes");
    return;
  }
  const button = $("#submit-button");
  button.disabled = true;
  try {
    for (const photo of [...photos]) {
      try {
        const job = await api("/v1/sketches", { method: "POST", body: sketchForm(photo, counts) });
        removePhoto(photo);
        showCard(job, true);
      } catch (error) {
        if (PHOTO_FIELDS.has(error.field)) {
          const message = $(".photo-error", photo.item);
          message.textContent = error.message;
          message.dataset.field = error.field;
          continue; // this photo's own problem: the others may go through
        }
        showFormError(error.message, error.field);
        break; // the same settings would fail for every photo
      }
    }
  } finally {
    button.disabled = false;
  }
}

// -- strokes: SVG text -> fresh SVG elements ---------------------------------------------------

function readSketch(svgText) {
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const root = doc.documentElement;
  if (root.localName !== "svg" || root.namespaceURI !== SVG_NS) {
    throw new ApiError(0, "The server sent an SVG this page cannot read.", null);
  }
  const paths = [...root.getElementsByTagNameNS(SVG_NS, "path")].map((path) => ({
    d: path.getAttribute("d"),
    width: path.getAttribute("stroke-width") || "1",
    opacity: path.getAttribute("stroke-opacity"),
  }));
  return { viewBox: root.getAttribute("viewBox"), paths };
}

function drawSketch(svg, sketch) {
  svg.setAttribute("viewBox", sketch.viewBox);
  svg.replaceChildren(...sketch.paths.map((stroke) => {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", stroke.d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "#000");
    path.setAttribute("stroke-width", stroke.width);
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
    if (stroke.opacity) path.setAttribute("stroke-opacity", stroke.opacity);
    return path;
  }));
}

// What downloads are called: the photo's name without its suffix (as the server's zip).
function downloadStem(job) {
  const stem = (job.filename || "").replace(/\.[^.]*$/, "").replace(/[<>:"/\\|?*]/g, "_");
  return stem || `sketch-${job.id.slice(0, 8)}`;
}

async function download(path, name) {
  const url = URL.createObjectURL(await api(path, { as: "blob" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// -- one job on the page ------------------------------------------------------------------------

const cards = new Map(); // job id -> Card

class Card {
  constructor(job) {
    this.item = $("#job-template").content.firstElementChild.cloneNode(true);
    this.job = job;
    this.shown = Math.max(...job.strokes); // the richest sketch, until the user picks another
    this.previewStep = null; // the progress step of the preview on screen
    this.resultsShown = false;
    this.item.dataset.id = job.id;
    const name = job.filename || "Untitled photo";
    $(".job-title", this.item).textContent = name;
    $(".job-progress", this.item).setAttribute("aria-label", `Progress of ${name}`);
    $(".cancel-button", this.item).setAttribute("aria-label", `Cancel ${name}`);
    $(".zip-button", this.item).setAttribute("aria-label", `Download all SVGs of ${name} (zip)`);
    $(".cancel-button", this.item).addEventListener("click", () => this.cancel());
    $(".zip-button", this.item).addEventListener("click", () => this.guard(
      download(`/v1/sketches/${job.id}/zip`, `${downloadStem(job)}.zip`)));
    const select = $(".count-select", this.item);
    for (const count of job.strokes) select.add(new Option(`${count}`, `${count}`));
    select.value = `${this.shown}`;
    select.addEventListener("change", () => {
      this.shown = Number(select.value);
      this.previewStep = null;
      this.guard(this.drawShown());
    });
    $(".view-controls", this.item).hidden = job.strokes.length < 2;
    this.guard(this.loadPhoto());
    this.update(job);
  }

  // Errors of one job's requests show on its card; a 401 has already asked for the token.
  guard(promise) {
    promise.then(
      () => { $(".job-error", this.item).textContent = ""; },
      (error) => { $(".job-error", this.item).textContent = error.message; });
  }

  async loadPhoto() {
    const blob = await api(`/v1/sketches/${this.job.id}/image`, { as: "blob" });
    const bitmap = await createImageBitmap(blob);
    const scale = Math.min(1, PHOTO_BOX / Math.max(bitmap.width, bitmap.height));
    const canvas = $(".photo", this.item);
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.globalAlpha = 0.5; // faded, so the black strokes on top stay readable
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${this.job.filename || "The photo"} with its strokes`);
  }

  update(job) {
    this.job = job;
    this.item.dataset.status = job.status;
    const counts = job.strokes.join(", ");
    const preset = job.resolved_preset && job.resolved_preset !== job.params.preset
      ? `${job.params.preset} (${job.resolved_preset})` : job.params.preset;
    const when = new Date(job.created_at).toLocaleString();
    $(".job-meta", this.item).textContent = `${counts} strokes · ${preset} · ${when}`;
    $(".job-status", this.item).textContent = statusText(job);
    const progress = $(".job-progress", this.item);
    progress.value = job.status === "done" ? 1 : job.progress.fraction;
    progress.hidden = !ACTIVE.has(job.status);
    $(".cancel-button", this.item).hidden = !ACTIVE.has(job.status) || job.cancel_requested;
    $(".zip-button", this.item).hidden = job.status !== "done";
    if (job.status === "done" && !this.resultsShown) {
      this.resultsShown = true;
      this.guard(this.showResults());
    } else if (job.links.preview && job.progress.step !== this.previewStep) {
      this.guard(this.drawShown());
    }
  }

  async drawShown() {
    const job = this.job;
    const link = job.status === "done" ? job.links.svg : job.links.preview;
    if (!link) return;
    const step = job.progress.step;
    drawSketch($(".overlay", this.item), readSketch(await api(link[this.shown], { as: "text" })));
    this.previewStep = step;
  }

  async showResults() {
    const job = this.job;
    const figures = await Promise.all(job.strokes.map(async (count) => {
      const sketch = readSketch(await api(job.links.svg[count], { as: "text" }));
      const figure = document.createElement("figure");
      figure.className = "result";
      figure.dataset.count = count;
      const svg = document.createElementNS(SVG_NS, "svg");
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", `${count}-stroke sketch`);
      drawSketch(svg, sketch);
      const caption = document.createElement("figcaption");
      caption.append(`${count} strokes `);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Download SVG";
      button.setAttribute("aria-label", `Download the ${count}-stroke SVG`);
      button.addEventListener("click", () => this.guard(
        download(job.links.svg[count], `${downloadStem(job)}.${count}.svg`)));
      caption.append(button);
      if (job.links.plot) {
        const plotButton = document.createElement("button");
        plotButton.type = "button";
        plotButton.className = "plot-button";
        plotButton.textContent = "Download plot-ready SVG";
        plotButton.setAttribute("aria-label", `Download the ${count}-stroke plot-ready SVG`);
        plotButton.addEventListener("click", () => this.guard(
          download(job.links.plot[count], `${downloadStem(job)}.${count}.plot.svg`)));
        caption.append(" ", plotButton);
      }
      figure.append(svg, caption);
      return figure;
    }));
    $(".results", this.item).replaceChildren(...figures);
    await this.drawShown();
  }

  async cancel() {
    const button = $(".cancel-button", this.item);
    button.disabled = true;
    try {
      this.update(await api(`/v1/sketches/${this.job.id}`, { method: "DELETE" }));
      $(".job-error", this.item).textContent = "";
      // The button is gone now: keyboard focus goes to what the cancel changed.
      const status = $(".job-status", this.item);
      status.tabIndex = -1;
      status.focus();
    } catch (error) {
      $(".job-error", this.item).textContent = error.message;
    } finally {
      button.disabled = false;
    }
  }

  async refresh() {
    this.update(await api(`/v1/sketches/${this.job.id}`));
  }
}

function statusText(job) {
  const known = (text) => text && text !== "unknown";
  switch (job.status) {
    case "queued": {
      const ahead = job.queue_position;
      let text = ahead === 0 ? "Queued: starts next"
        : `Queued: ${ahead} job${ahead === 1 ? "" : "s"} ahead`;
      if (known(job.estimate_text)) text += `, done in ${job.estimate_text}`;
      return `${text}.`;
    }
    case "running": {
      if (job.cancel_requested) return "Stopping at the next step…";
      const { step, total } = job.progress;
      let text = total ? `Running: step ${step} of ${total}` : "Running: starting";
      if (job.device) text += ` on ${job.device}`;
      if (known(job.progress.eta_text)) text += `, ${job.progress.eta_text} left`;
      return `${text}.`;
    }
    case "done":
      return `Done after ${job.progress.step} steps.`;
    case "canceled":
      return job.links.preview ? "Canceled: its best strokes so far are shown." : "Canceled.";
    default:
      return `Failed: ${job.error}`;
  }
}

function showCard(job, first) {
  let card = cards.get(job.id);
  if (card) {
    card.update(job);
    return;
  }
  card = new Card(job);
  cards.set(job.id, card);
  const list = $("#job-list");
  if (first) list.prepend(card.item);
  else list.append(card.item);
}

// -- the job list ----------------------------------------------------------------------------

let nextCursor = null;
let listing = 0; // which reset of the list is current (a slow answer must not undo a newer one)

async function fetchPage(cursor) {
  const query = new URLSearchParams({ limit: `${PAGE_SIZE}` });
  const status = $("#status-filter").value;
  if (status) query.set("status", status);
  if (cursor) query.set("cursor", cursor);
  return api(`/v1/sketches?${query}`);
}

async function loadList(reset) {
  if (reset) {
    listing += 1;
    cards.clear();
    $("#job-list").replaceChildren();
    nextCursor = null;
    $("#more-button").hidden = true;
  }
  const current = listing;
  try {
    const page = await fetchPage(reset ? null : nextCursor);
    if (current !== listing) return;
    // Cards already shown (a job submitted meanwhile) stay where they are.
    for (const job of page.items) showCard(job, false);
    nextCursor = page.next_cursor;
    $("#more-button").hidden = !nextCursor;
    $("#list-error").textContent = "";
  } catch (error) {
    $("#list-error").textContent = error.message;
  }
}

// New jobs (a teammate's too) go on top; jobs already shown are updated in place.
async function refreshHead() {
  const page = await fetchPage(null);
  for (const job of [...page.items].reverse()) showCard(job, true);
}

let polls = 0;

async function poll() {
  if (!connected && $("#token-section").hidden && ++polls % LIST_EVERY === 0) {
    await connect(); // the server did not answer at first: try again now and then
  } else if (connected) {
    const active = [...cards.values()].filter((card) => ACTIVE.has(card.job.status));
    await Promise.all(active.map((card) => card.refresh().catch((error) => {
      $(".job-error", card.item).textContent = error.message;
    })));
    if (connected && ++polls % LIST_EVERY === 0) {
      try {
        showHealth(await api("/v1/health"));
        await refreshHead();
        $("#list-error").textContent = "";
      } catch (error) {
        $("#list-error").textContent = error.message;
      }
    }
  }
  setTimeout(poll, POLL_MS);
}

// -- wiring --------------------------------------------------------------------------------

function setUp() {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token-input").value.trim();
    if (!token) {
      $("#token-message").textContent = "Type the token first.";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("#token-input").value = "";
    connect();
  });
  $("#photo-input").addEventListener("change", (event) => {
    addPhotos(event.target.files);
    event.target.value = ""; // so the same photo can be picked again after a removal
  });
  const zone = $("#drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...event.dataTransfer.files];
    const skipped = files.filter((file) => !file.type.startsWith("image/"));
    addPhotos(files.filter((file) => file.type.startsWith("image/")));
    $("#form-error").textContent = skipped.length
      ? `Not a photo, left out: ${skipped.map((file) => file.name).join(", ")}.` : "";
  });
  // A photo dropped beside the zone must not replace the page with the photo.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  $("#sketch-form").addEventListener("submit", submitPhotos);
  $("#status-filter").addEventListener("change", () => loadList(true));
  $("#refresh-button").addEventListener("click", () => loadList(true));
  $("#more-button").addEventListener("click", () => loadList(false));
  connect();
  setTimeout(poll, POLL_MS);
}

setUp();
