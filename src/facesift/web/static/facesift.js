// Small helpers for the pages: upload progress and scan jobs, the comparison view's overlay,
// and the review queue's keys. Every page works without them (plain forms).
"use strict";

function csrf() { return document.body.dataset.csrf || ""; }

function followJob(id, status, refused) {
  const poll = async () => {
    const response = await fetch(`/jobs/${id}.json`);
    if (!response.ok) return;
    const job = await response.json();
    status.textContent = `scan job ${id}: ${job.status} (${job.progress.done}/${job.progress.total})` +
      (refused ? `; refused: ${refused}` : "");
    if (["done", "failed", "interrupted"].includes(job.status)) {
      if (job.status === "done" && !refused) location.reload();
      return;
    }
    setTimeout(poll, 700);
  };
  poll();
}

function setUpUpload(form) {
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRF-Token", csrf());
    request.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
    request.onload = () => {
      let answer = {};
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = {}; }
      if (request.status !== 200) {
        status.textContent = `upload refused: ${answer.detail || request.statusText}`;
        return;
      }
      const refused = answer.refused.map((r) => `${r.name}: ${r.refused}`).join("; ");
      status.textContent = `${answer.files.length} file(s) kept; scanning` +
        (refused ? `; refused: ${refused}` : "");
      followJob(answer.job, status, refused);
    };
    request.onerror = () => { status.textContent = "upload failed"; };
    request.send(new FormData(form));
  });
}

function setUpComparison() {
  const top = document.getElementById("overlay-top");
  const opacity = document.getElementById("opacity");
  const wipe = document.getElementById("wipe");
  const marks = document.getElementById("show-landmarks");
  const update = () => {
    top.style.opacity = opacity.value / 100;
    top.style.clipPath = `inset(0 ${100 - wipe.value}% 0 0)`;
  };
  opacity.addEventListener("input", update);
  wipe.addEventListener("input", update);
  marks.addEventListener("change", () => document.body.classList.toggle("show-landmarks", marks.checked));
  update();
}

function setUpQueue(queue) {
  const items = () => Array.from(queue.querySelectorAll(".queue-item"));
  const current = () => document.activeElement.closest(".queue-item");
  const move = (step) => {
    const all = items();
    const at = all.indexOf(current());
    const next = all[Math.min(all.length - 1, Math.max(0, at + step))];
    if (next) next.focus();
  };
  const decide = (verdict) => {
    const item = current();
    const form = item && item.querySelector("form.decide");
    if (!form) return;
    form.querySelector(`button[value="${verdict}"]`).click();
  };
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target.matches(".note")) {  // back to the item
      event.target.closest(".queue-item").focus();
      return;
    }
    if (event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = { j: () => move(1), k: () => move(-1), c: () => decide("confirm"),
                   r: () => decide("reject"), i: () => decide("inconclusive"),
                   n: () => { const note = current() && current().querySelector(".note"); if (note) note.focus(); } };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
  // After a decision the page comes back focused on the item after the one decided.
  const wanted = Number(new URLSearchParams(location.search).get("focus") || 0);
  const all = items();
  const start = all[Math.min(wanted, all.length - 1)];
  if (start) start.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  const upload = document.getElementById("upload");
  if (upload) setUpUpload(upload);
  if (document.getElementById("overlay-top")) setUpComparison();
  const queue = document.getElementById("queue");
  if (queue) setUpQueue(queue);
});
