// voiceguide studio: a little plain JavaScript over the studio's JSON requests.
// Every change goes through the server, which checks it with voiceguide's own code.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

function say(text, isError = true) {
  const box = $("#message");
  box.textContent = text;
  box.className = isError ? "message error" : "message";
  box.hidden = !text;
}

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: {"Content-Type": "application/json"},
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: await response.text()}; }
  if (data.error) say(data.error);
  return {ok: response.ok, status: response.status, data};
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function listProblems(list, problems) {
  list.replaceChildren(...problems.map((p) => {
    const item = document.createElement("li");
    const where = document.createElement("code");
    where.textContent = p.line ? `${p.file}:${p.line}${p.column ? ":" + p.column : ""}` : p.file;
    item.append(where, " " + p.message);
    item.dataset.line = p.line;
    return item;
  }));
}

// ------------------------------------------------------------------ Say it

function setUpSayIt() {
  const player = $("#said");
  if (!player) return;
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-say]");
    if (!button) return;
    button.disabled = true;
    button.textContent = "Saying…";
    const voice = $("#voice") ? $("#voice").value : "";
    const {ok, data} = await api("/api/say", {text: button.dataset.say, voice});
    button.disabled = false;
    button.textContent = "Say it";
    if (!ok) return;
    say("");
    player.hidden = false;
    player.src = data.url;
    player.play().catch(() => {});  // a browser may refuse to start sound by itself
  });
}

// ------------------------------------------------------------------ Build, share

async function follow() {
  const box = $("#progress");
  const bar = $("#progress-bar");
  const text = $("#progress-text");
  box.hidden = false;
  for (;;) {
    const {data: job} = await api("/api/job");
    const total = job.to_say + job.to_write;
    bar.max = Math.max(total, 1);
    bar.value = job.said + job.written;
    text.textContent = job.note || `${job.title}: sentences said ${job.said} of ${job.to_say}, ` +
      `files written ${job.written} of ${job.to_write}`;
    if (job.state === "running") {
      await new Promise((ok) => setTimeout(ok, 300));
      continue;
    }
    if (job.state === "failed") {
      text.textContent = `${job.title}: failed.`;
      say(job.error);
      return null;
    }
    return job;
  }
}

async function showResults(routine) {
  const response = await fetch(`/results/${routine}`, {credentials: "same-origin"});
  $("#results").innerHTML = await response.text();
  const stale = $(`tr[data-id="${routine}"] .badge.warn`);
  if (stale) { stale.textContent = "up to date"; stale.classList.remove("warn"); }
}

function setUpActions() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const where = button.closest("[data-kind]");
    const body = {kind: where.dataset.kind, name: where.dataset.name};
    if (button.dataset.action === "share") body.base_url = $("#base-url").value;
    say("");
    $("#progress-text").textContent = "Starting…";
    const {ok} = await api(`/api/${button.dataset.action}`, body);
    if (!ok) return;
    $$("[data-action]").forEach((b) => { b.disabled = true; });
    const job = await follow();
    $$("[data-action]").forEach((b) => { b.disabled = false; });
    if (!job) return;
    await showResults(job.result.id);
    $("#progress-bar").value = $("#progress-bar").max;
    $("#progress-text").textContent = `${job.title}: done` +
      (job.result.unchanged ? " (nothing had changed)." : ".");
  });
  document.addEventListener("click", (event) => {
    const chapter = event.target.closest("[data-seek]");
    if (!chapter) return;
    const audio = chapter.closest(".player").querySelector("audio");
    audio.currentTime = Number(chapter.dataset.seek);
    audio.play().catch(() => {});
  });
}

// ------------------------------------------------------------------ the editor

function setUpEditor() {
  const wrap = $(".editor-wrap");
  if (!wrap) return;
  const source = $("#source");
  const lines = $("#lines");
  const notes = $("#notes");
  const saveAnyway = $("#save-anyway");
  const status = $("#save-status");
  let problems = [];

  function drawLines() {
    const count = source.value.split("\n").length;
    const byLine = new Map();
    problems.forEach((p) => { if (!byLine.has(p.line)) byLine.set(p.line, p.message); });
    lines.replaceChildren(...Array.from({length: count}, (_, i) => {
      const n = document.createElement("div");
      n.textContent = i + 1;
      if (byLine.has(i + 1)) n.className = "bad";
      return n;
    }));
    notes.replaceChildren(...Array.from({length: count}, (_, i) => {
      const note = document.createElement("div");
      const message = byLine.get(i + 1);
      if (message) {
        note.textContent = "⚠ " + message;
        note.title = message;
        note.className = "note";
        note.dataset.line = i + 1;
      }
      return note;
    }));
    // Problems of the whole file (line 0) go at the top.
    const general = problems.filter((p) => !p.line).map((p) => p.message);
    if (general.length && notes.firstChild) {
      notes.firstChild.textContent = "⚠ " + general.join("; ");
      notes.firstChild.className = "note";
    }
    syncScroll();
  }
  function syncScroll() {
    lines.scrollTop = source.scrollTop;
    notes.scrollTop = source.scrollTop;
  }
  function drawTimeline(rows, total) {
    $("#timeline").replaceChildren(...rows.map((r) => {
      const row = document.createElement("tr");
      for (const text of ["~" + r.at, r.what, r.text]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      row.className = r.what;
      return row;
    }));
    $("#total").textContent = total ? `total ~${total}` : "";
  }
  const check = debounce(async () => {
    const {ok, data} = await api("/api/check", {file: wrap.dataset.file, text: source.value});
    if (!ok) return;
    problems = data.problems;
    drawLines();
    listProblems($("#problem-list"), problems);
    saveAnyway.hidden = problems.length === 0;
    if (data.timeline.length) drawTimeline(data.timeline, data.total);
    else if (problems.length) $("#total").textContent = "(as last written without problems)";
  }, 250);

  async function save(force) {
    const {data} = await api("/api/save", {file: wrap.dataset.file, text: source.value, force});
    if (data.saved) {
      status.textContent = "Saved " + new Date().toLocaleTimeString() + (data.problems.length ? " (with problems)" : ".");
      say("");
    } else if (data.problems) {
      problems = data.problems;
      drawLines();
      listProblems($("#problem-list"), problems);
      saveAnyway.hidden = false;
      status.textContent = "Not saved: fix the problems beside their lines first.";
    }
  }
  source.addEventListener("input", () => { status.textContent = ""; drawLines(); check(); });
  source.addEventListener("scroll", syncScroll);
  $("#save").addEventListener("click", () => save(false));
  saveAnyway.addEventListener("click", () => save(true));
  drawLines();
  check();
}

// ------------------------------------------------------------------ the client form

function setUpClientForm() {
  const form = $("#client-form");
  if (!form) return;
  const chosen = $("#chosen");
  const number = (value) => (value === "" ? null : Number(value));

  function values() {
    const field = (name) => form.elements[name].value;
    return {
      original: form.dataset.original,
      id: field("id").trim(), name: field("name"), say_name: field("say_name"),
      title: field("title"), note: field("note"), voice: field("voice"),
      rate: number(field("rate")), pace: number(field("pace")), minutes: number(field("minutes")),
      cues: field("cues"), background: field("background"),
      techniques: $$(".chosen-item", chosen).map((item) => {
        const hold = $(".hold", item);
        const repeats = $(".repeats", item);
        const sides = $(".sides", item);
        return {id: item.dataset.id, hold: hold ? number(hold.value) : null,
                repeats: repeats ? number(repeats.value) : null,
                sides: sides ? sides.value : "both"};
      }),
    };
  }
  const update = debounce(async () => {
    const body = values();
    if (!body.id) body.id = "new";
    if (!body.name || !body.techniques.length) {
      $("#estimate").textContent = "–";
      return;
    }
    const {ok, data} = await api("/api/estimate", body);
    if (!ok) return;
    listProblems($("#problem-list"), data.problems);
    if (data.problems.length) return;
    say("");
    $("#estimate").textContent = data.total;
    $("#range").textContent = `(can be ${data.shortest} to ${data.longest})`;
    $("#estimate-problem").textContent = data.problem;
  }, 250);

  form.elements.name.addEventListener("input", () => {
    if (form.dataset.original) return;
    form.elements.id.value = form.elements.name.value.toLowerCase()
      .normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  });
  $("#slow").addEventListener("change", (event) => {
    const box = event.target;
    form.elements.rate.value = box.checked ? box.dataset.rate : "";
    form.elements.pace.value = box.checked ? box.dataset.pace : "";
    update();
  });
  $("#add").addEventListener("click", () => {
    const id = $("#add-technique").value;
    const model = $(`.chosen-item[data-id="${id}"]`, $("#chosen-templates").content);
    chosen.append(model.cloneNode(true));
    update();
  });
  chosen.addEventListener("click", (event) => {
    const item = event.target.closest(".chosen-item");
    if (!item) return;
    if (event.target.closest("[data-remove]")) item.remove();
    const move = event.target.closest("[data-move]");
    if (move && move.dataset.move === "-1" && item.previousElementSibling) {
      chosen.insertBefore(item, item.previousElementSibling);
    } else if (move && move.dataset.move === "1" && item.nextElementSibling) {
      chosen.insertBefore(item.nextElementSibling, item);
    }
    update();
  });
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const {data} = await api("/api/client", values());
    if (data.saved) {
      window.location.assign(data.url);
    } else if (data.problems) {
      listProblems($("#problem-list"), data.problems);
      $("#save-status").textContent = "Not saved: see the problems above.";
    }
  });
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  setUpSayIt();
  setUpActions();
  setUpEditor();
  setUpClientForm();
});
