// Keyboard-first review: the reviewer's hands stay on the keyboard for hours.
// Plain JS, no library, no inline code (the Content-Security-Policy allows only files from this site).
// Every action also works without this file: the forms post to the server as they are (F2 then asks
// for its confirmation on a page of its own, and a claim left behind expires on its own).
"use strict";

(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function isIllegibleKey(e) {
    return e.key === "F2" || (e.ctrlKey && !e.altKey && (e.key === "i" || e.key === "I"));
  }
  function isUndoKey(e) {
    return e.ctrlKey && !e.altKey && !e.shiftKey && (e.key === "z" || e.key === "Z");
  }
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable);
  }

  // Autofocus lands after load; make sure the value is selected so typing replaces it.
  function focusAndSelect(input) {
    if (!input) return;
    input.focus();
    input.select();
  }

  // A claim is given back when the page is left by a link, Back or closing the tab (not by its own
  // forms): a POST the browser sends even while the page goes away, with the CSRF token.
  function releaseOnLeave(url, fields, keep) {
    window.addEventListener("pagehide", function () {
      if (keep()) return;
      const body = new URLSearchParams(fields());
      body.append("csrf_token", csrf);
      navigator.sendBeacon(url, body);
    });
    // Back to a page the browser kept in memory: its claim was given back, so show the page as it is.
    window.addEventListener("pageshow", function (e) { if (e.persisted) window.location.reload(); });
  }

  // The undo bar after "needs the paper book": Ctrl+Z takes it back while nothing has been typed.
  function initUndo(isPristine) {
    const form = document.getElementById("undo-form");
    if (!form) return;
    document.addEventListener("keydown", function (e) {
      if (isUndoKey(e) && isPristine()) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
  }

  // --- field in context -------------------------------------------------------------
  function initItem(form) {
    const input = form.querySelector("#value");
    const save = form.querySelector("#btn-save");
    const illegible = form.querySelector("#btn-illegible");
    const skip = document.getElementById("skip-form");
    const paper = document.getElementById("paper-form");
    const confirmButton = document.getElementById("btn-paper-confirm");
    const proposed = input.dataset.proposed || "";
    const initial = input.value;
    const candidates = Array.from(form.querySelectorAll(".candidate"));
    let candidateIndex = -1;
    let sent = false;
    let typed = false;

    function blank() { return input.value.trim() === ""; }
    function changed() { return input.value.trim() !== proposed.trim(); }
    function refresh() {
      save.classList.toggle("blank", blank());
      save.classList.toggle("changed", !blank() && (changed() || !proposed));
    }
    function submit(button) {
      if (sent) return;
      sent = true;
      form.classList.add("sending");
      form.requestSubmit(button);
    }
    function confirming() { return paper && !paper.hidden; }
    function askPaper() {
      if (!paper) { submit(illegible); return; }
      paper.hidden = false;
      confirmButton.focus();
    }
    function cancelPaper() {
      paper.hidden = true;
      focusAndSelect(input);
    }

    form.addEventListener("submit", function () { sent = true; });
    if (paper) paper.addEventListener("submit", function () { sent = true; });
    if (skip) skip.addEventListener("submit", function () { sent = true; });
    const undo = document.getElementById("undo-form");
    if (undo) undo.addEventListener("submit", function () { sent = true; });
    input.addEventListener("input", function () { typed = true; candidateIndex = -1; refresh(); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.ctrlKey && !e.altKey) {
        // Unchanged: accept the proposed value; changed: save the typed correction; empty: the box is
        // blank on the paper ("auto").
        e.preventDefault();
        submit(save);
      } else if ((e.key === "ArrowDown" || e.key === "ArrowUp") && !e.ctrlKey && candidates.length) {
        e.preventDefault();
        const step = e.key === "ArrowDown" ? 1 : -1;
        candidateIndex = (candidateIndex + step + candidates.length) % candidates.length;
        input.value = candidates[candidateIndex].dataset.value;
        refresh();
      }
    });
    candidates.forEach(function (btn) {
      btn.addEventListener("click", function () {
        input.value = btn.dataset.value;
        refresh();
        input.focus();
      });
    });
    illegible.addEventListener("click", function (e) {
      // The button asks first, like F2 (without this file the server asks).
      if (!confirming()) { e.preventDefault(); askPaper(); }
    });
    document.addEventListener("keydown", function (e) {
      if (isIllegibleKey(e)) {
        e.preventDefault();
        if (!confirming()) askPaper();
      } else if (e.key === "Escape") {
        e.preventDefault();
        if (confirming()) cancelPaper();
        else if (!sent && skip) { sent = true; skip.requestSubmit(); }
      }
    });
    initUndo(function () { return !typed && input.value === initial && !confirming(); });
    releaseOnLeave("/items/" + encodeURIComponent(form.dataset.item) + "/release",
                   function () { return form.dataset.mode ? { mode: form.dataset.mode } : {}; },
                   function () { return sent; });
    refresh();
    if (confirming()) {
      confirmButton.focus();
      return;
    }
    // Focused and selected before the first keystroke, so typing replaces the proposal. Once the
    // images have loaded, focus comes back unless the reviewer has started typing or moved on.
    focusAndSelect(input);
    window.addEventListener("load", function () {
      if (!typed && !confirming() && document.activeElement !== input) focusAndSelect(input);
    });
  }

  // --- group mode ---------------------------------------------------------------------
  function initGroup(form) {
    const cards = Array.from(form.querySelectorAll(".card"));
    const all = document.getElementById("btn-all");
    const release = document.getElementById("release-form");
    const claimNext = document.getElementById("group-claim-form");
    let leaving = false;

    function inputOf(card) { return card.querySelector(".g-input"); }
    function open() { return cards.filter(function (c) { return !c.classList.contains("done"); }); }
    function confirmingCard() { return cards.find(function (c) { return c.classList.contains("confirming"); }); }
    function focusNext(card) {
      const rest = open();
      if (!rest.length) {
        // The whole group is done: claim the next one (a POST, as every claim).
        leaving = true;
        if (claimNext) claimNext.requestSubmit();
        return;
      }
      const after = rest.find(function (c) { return cards.indexOf(c) > cards.indexOf(card); });
      focusAndSelect(inputOf(after || rest[0]));
    }
    function showError(card, message) {
      const p = card.querySelector(".card-error");
      p.textContent = message;
      p.hidden = false;
      card.classList.add("has-error");
      inputOf(card).classList.add("invalid");
    }
    function setConfirming(card, on) {
      card.classList.toggle("confirming", on);
      card.querySelector(".card-confirm").hidden = !on;
    }
    function markDone(card, item) {
      card.classList.remove("has-error");
      setConfirming(card, false);
      card.classList.add("done");
      const input = inputOf(card);
      input.classList.remove("invalid");
      if (item && item.final_value != null) input.value = item.final_value;
      // Disabled fields are not posted: "confirm all" leaves finished cards alone.
      card.querySelectorAll("input").forEach(function (el) { el.disabled = true; });
      card.querySelector(".card-error").hidden = true;
      const paper = item && item.status === "needs_paper";
      card.querySelector(".card-done").hidden = false;
      card.querySelector(".card-done-text").textContent = paper ? "✓ Cần xem sổ giấy" : "✓ Đã lưu";
      card.querySelector(".card-undo").hidden = !paper;
    }
    function reopenCard(card) {
      card.classList.remove("done");
      card.querySelectorAll("input").forEach(function (el) { el.disabled = false; });
      card.querySelector(".card-done").hidden = true;
      card.querySelector(".card-undo").hidden = true;
      focusAndSelect(inputOf(card));
    }
    async function post(url, body) {
      const res = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
      const json = await res.json().catch(function () { return {}; });
      if (res.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      }
      return { res: res, body: json };
    }
    async function submitOne(card, action) {
      const input = inputOf(card);
      if (card.dataset.busy) return;
      card.dataset.busy = "1";
      try {
        const r = await post("/api/items/" + encodeURIComponent(card.dataset.item),
                             { action: action, value: input.value, confirm: action === "illegible" });
        if (r.res.ok) {
          markDone(card, r.body);
          focusNext(card);
        } else if (r.res.status !== 401) {
          setConfirming(card, false);
          showError(card, (r.body.message || ("Lỗi " + r.res.status)) +
                          (r.body.suggestion ? " Có phải là " + r.body.suggestion + "?" : ""));
          focusAndSelect(input);
        }
      } catch (err) {
        showError(card, "Không kết nối được máy chủ. Hãy thử lại.");
      } finally {
        delete card.dataset.busy;
      }
    }
    async function undoPaper(card) {
      try {
        const r = await post("/api/items/" + encodeURIComponent(card.dataset.item) + "/undo-paper", {});
        if (r.res.ok) reopenCard(card);
        else if (r.res.status !== 401) showError(card, r.body.message || ("Lỗi " + r.res.status));
      } catch (err) {
        showError(card, "Không kết nối được máy chủ. Hãy thử lại.");
      }
    }

    cards.forEach(function (card) {
      const input = inputOf(card);
      input.addEventListener("focus", function () { input.select(); });
      input.addEventListener("input", function () {
        card.classList.toggle("changed", input.value.trim() !== (input.dataset.proposed || "").trim());
      });
      input.addEventListener("keydown", function (e) {
        if (card.classList.contains("confirming")) {
          // F2 asked "needs the paper book?": Enter (or F2 again) confirms, Esc or any other key cancels.
          if (["Shift", "Control", "Alt", "Meta"].indexOf(e.key) >= 0) return;
          if (e.key === "Enter" || isIllegibleKey(e)) {
            e.preventDefault();
            submitOne(card, "illegible");
            return;
          }
          if (e.key === "Escape") {
            e.preventDefault();
            e.stopPropagation();  // only the question goes, not the group
          }
          setConfirming(card, false);
          if (e.key === "Escape") return;
        }
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          form.requestSubmit(all);
        } else if (e.key === "Enter") {
          e.preventDefault();
          submitOne(card, "auto");
        } else if (isIllegibleKey(e)) {
          e.preventDefault();
          setConfirming(card, true);
        }
      });
      input.addEventListener("blur", function () { setConfirming(card, false); });
      card.querySelector(".card-undo").addEventListener("click", function () { undoPaper(card); });
      const ctx = card.querySelector("a.ctx");
      // The field in context is part of the same work: its claims stay.
      if (ctx) ctx.addEventListener("click", function () { leaving = true; });
    });
    form.addEventListener("submit", function () {
      leaving = true;
      // Finished cards do not go back to the server; the release form forgets them too.
      cards.forEach(function (c) {
        if (c.classList.contains("done") && release) {
          release.querySelectorAll('input[name="item"]').forEach(function (el) {
            if (el.value === c.dataset.item) el.disabled = true;
          });
        }
      });
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !leaving && release && !confirmingCard()) {
        e.preventDefault();
        leaving = true;
        release.requestSubmit();
      }
    });
    const undoBar = document.getElementById("undo-form");
    if (undoBar) undoBar.addEventListener("submit", function () { leaving = true; });
    initUndo(function () {
      const el = document.activeElement;
      return !typing(el) || el.value === (el.dataset.proposed || "");
    });
    releaseOnLeave("/group/release",
                   function () { return open().map(function (c) { return ["item", c.dataset.item]; }); },
                   function () { return leaving || !open().length; });
    const first = form.querySelector(".g-input[autofocus]") || inputOf(cards[0]);
    focusAndSelect(first);
    window.addEventListener("load", function () {
      if (!document.activeElement || document.activeElement === document.body) focusAndSelect(first);
    });
  }

  // --- page viewer: zoom around the field's box; Page Up / Page Down through the book --------------
  function initViewer(viewer) {
    const viewport = viewer.querySelector(".viewport");
    const stage = viewer.querySelector(".stage");
    const img = stage.querySelector("img");
    const box = stage.querySelector(".box");
    const label = viewer.querySelector(".page-label");
    const b = (viewer.dataset.box || "").split(",").map(Number);
    const hasBox = b.length === 4 && b.every(function (v) { return isFinite(v); }) && b[2] > 0 && b[3] > 0;
    const pages = Array.from(document.querySelectorAll(".book-pages a[data-page]"));
    const own = pages.findIndex(function (a) { return a.getAttribute("aria-current") === "page"; });
    let shown = own;
    let scale = 1;
    let ready = false;

    function onOwnPage() { return shown === own || own < 0; }
    function fitScale() { return viewport.clientWidth / img.naturalWidth; }
    function fieldScale() {
      // The box fills about a quarter of the viewport's width, so its row and column neighbours
      // (the subject, the other terms) stay in view; never beyond twice the image's own pixels.
      if (!hasBox) return fitScale();
      return Math.max(Math.min(viewport.clientWidth * 0.25 / b[2], 2), fitScale());
    }
    function apply(newScale, cx, cy) {
      scale = Math.min(Math.max(newScale, fitScale() * 0.5), 8);
      stage.style.width = img.naturalWidth * scale + "px";
      stage.style.height = img.naturalHeight * scale + "px";
      viewport.scrollLeft = cx * scale - viewport.clientWidth / 2;
      viewport.scrollTop = cy * scale - viewport.clientHeight / 2;
    }
    function center() {
      return [(viewport.scrollLeft + viewport.clientWidth / 2) / scale,
              (viewport.scrollTop + viewport.clientHeight / 2) / scale];
    }
    function toField() {
      if (hasBox && onOwnPage()) apply(fieldScale(), b[0] + b[2] / 2, b[1] + b[3] / 2);
      else apply(fitScale(), img.naturalWidth / 2, 0);
    }
    function setup() {
      if (!img.naturalWidth) return;
      ready = true;
      if (hasBox && onOwnPage()) {
        box.style.left = (b[0] / img.naturalWidth) * 100 + "%";
        box.style.top = (b[1] / img.naturalHeight) * 100 + "%";
        box.style.width = (b[2] / img.naturalWidth) * 100 + "%";
        box.style.height = (b[3] / img.naturalHeight) * 100 + "%";
        box.hidden = false;
      } else {
        box.hidden = true;
      }
      toField();
    }
    function zoom(how) {
      if (!ready) return;
      const c = center();
      if (how === "in") apply(scale * 1.25, c[0], c[1]);
      else if (how === "out") apply(scale / 1.25, c[0], c[1]);
      else if (how === "fit") apply(fitScale(), img.naturalWidth / 2, img.naturalHeight / 2);
      else if (!onOwnPage()) show(own);
      else toField();
    }
    function show(i) {
      if (i < 0 || i >= pages.length || i === shown) return;
      shown = i;
      ready = false;
      box.hidden = true;
      pages.forEach(function (a, k) { a.classList.toggle("shown", k === i); });
      if (label) label.textContent = onOwnPage() ? "" : "Đang xem: " + pages[i].textContent + " (Về ô: trở lại)";
      img.src = onOwnPage() ? img.dataset.own : pages[i].getAttribute("href");
    }

    viewer.querySelectorAll("[data-zoom]").forEach(function (btn) {
      btn.addEventListener("click", function () { zoom(btn.dataset.zoom); });
    });
    pages.forEach(function (a, i) {
      a.addEventListener("click", function (e) { e.preventDefault(); show(i); });
    });
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey && e.key === "ArrowUp") { e.preventDefault(); zoom("in"); }
      else if (e.ctrlKey && e.key === "ArrowDown") { e.preventDefault(); zoom("out"); }
      else if (e.key === "PageDown" && pages.length) { e.preventDefault(); show(shown + 1); }
      else if (e.key === "PageUp" && pages.length) { e.preventDefault(); show(shown - 1); }
    });
    if (img.complete) setup();
    img.addEventListener("load", setup);
  }

  // --- the queue and other pages: "/" searches, Ctrl+Z takes back the last paper-book mark ---------
  function initPage() {
    document.addEventListener("keydown", function (e) {
      const q = document.getElementById("q");
      if (e.key === "/" && q && !typing(document.activeElement)) {
        e.preventDefault();
        focusAndSelect(q);
      }
    });
  }

  function init() {
    const item = document.getElementById("item-form");
    const group = document.getElementById("group-form");
    if (item) initItem(item);
    else if (group) initGroup(group);
    else initUndo(function () { return !typing(document.activeElement); });
    initPage();
    document.querySelectorAll(".viewer").forEach(initViewer);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
