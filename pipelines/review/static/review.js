// Keyboard-first review: the reviewer's hands stay on the keyboard for hours.
// Plain JS, no library, no inline code (the Content-Security-Policy allows only files from this site).
// Every action also works without this file: the forms post to the server as they are.
"use strict";

(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function isIllegibleKey(e) {
    return e.key === "F2" || (e.ctrlKey && !e.altKey && (e.key === "i" || e.key === "I"));
  }

  // Autofocus lands after load; make sure the value is selected so typing replaces it.
  function focusAndSelect(input) {
    if (!input) return;
    input.focus();
    input.select();
  }

  // --- field in context -------------------------------------------------------------
  function initItem(form) {
    const input = form.querySelector("#value");
    const save = form.querySelector("#btn-save");
    const illegible = form.querySelector("#btn-illegible");
    const release = document.getElementById("release-form");
    const proposed = input.dataset.proposed || "";
    const candidates = Array.from(form.querySelectorAll(".candidate"));
    let candidateIndex = -1;
    let sent = false;

    function changed() {
      return input.value.trim() !== proposed.trim();
    }
    function refresh() {
      save.classList.toggle("changed", changed() || !proposed);
    }
    function submit(button) {
      if (sent) return;
      sent = true;
      form.classList.add("sending");
      form.requestSubmit(button);
    }

    let typed = false;
    form.addEventListener("submit", function () { sent = true; });
    input.addEventListener("input", function () { typed = true; candidateIndex = -1; refresh(); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.ctrlKey && !e.altKey) {
        // Unchanged: accept the proposed value; changed: save the typed correction ("auto").
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
    document.addEventListener("keydown", function (e) {
      if (isIllegibleKey(e)) {
        e.preventDefault();
        submit(illegible);
      } else if (e.key === "Escape") {
        e.preventDefault();
        if (!sent && release) { sent = true; release.submit(); }
      }
    });
    refresh();
    // Focused and selected before the first keystroke, so typing replaces the proposal. Once the
    // images have loaded, focus comes back unless the reviewer has started typing or moved on.
    focusAndSelect(input);
    window.addEventListener("load", function () {
      if (!typed && document.activeElement !== input) focusAndSelect(input);
    });
  }

  // --- group mode ---------------------------------------------------------------------
  function initGroup(form) {
    const cards = Array.from(form.querySelectorAll(".card"));
    const all = document.getElementById("btn-all");
    const release = document.getElementById("release-form");
    let leaving = false;

    function inputOf(card) { return card.querySelector(".g-input"); }
    function open() { return cards.filter(function (c) { return !c.classList.contains("done"); }); }
    function focusNext(card) {
      const rest = open();
      if (!rest.length) {
        // The whole group is done: load the next one.
        leaving = true;
        window.location.assign(form.dataset.next || "/group");
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
    function markDone(card, item) {
      card.classList.remove("has-error");
      card.classList.add("done");
      const input = inputOf(card);
      input.classList.remove("invalid");
      if (item && item.final_value != null) input.value = item.final_value;
      // Disabled fields are not posted: "confirm all" leaves finished cards alone.
      card.querySelectorAll("input").forEach(function (el) { el.disabled = true; });
      card.querySelector(".card-error").hidden = true;
      const done = card.querySelector(".card-done");
      done.hidden = false;
      done.textContent = item && item.status === "needs_paper" ? "✓ Cần xem sổ giấy" : "✓ Đã lưu";
    }
    async function submitOne(card, action) {
      const input = inputOf(card);
      if (card.dataset.busy) return;
      card.dataset.busy = "1";
      try {
        const res = await fetch("/api/items/" + encodeURIComponent(card.dataset.item), {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify({ action: action, value: input.value }),
        });
        const body = await res.json().catch(function () { return {}; });
        if (res.ok) {
          markDone(card, body);
          focusNext(card);
        } else if (res.status === 401) {
          window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
        } else {
          showError(card, (body.message || ("Lỗi " + res.status)) +
                          (body.suggestion ? " Có phải là " + body.suggestion + "?" : ""));
          focusAndSelect(input);
        }
      } catch (err) {
        showError(card, "Không kết nối được máy chủ. Hãy thử lại.");
      } finally {
        delete card.dataset.busy;
      }
    }

    cards.forEach(function (card) {
      const input = inputOf(card);
      input.addEventListener("focus", function () { input.select(); });
      input.addEventListener("input", function () {
        card.classList.toggle("changed", input.value.trim() !== (input.dataset.proposed || "").trim());
      });
      input.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          form.requestSubmit(all);
        } else if (e.key === "Enter") {
          e.preventDefault();
          submitOne(card, "auto");
        } else if (isIllegibleKey(e)) {
          e.preventDefault();
          submitOne(card, "illegible");
        }
      });
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
      if (e.key === "Escape" && !leaving && release) {
        e.preventDefault();
        leaving = true;
        release.submit();
      }
    });
    const first = form.querySelector(".g-input[autofocus]") || inputOf(cards[0]);
    focusAndSelect(first);
    window.addEventListener("load", function () {
      if (!document.activeElement || document.activeElement === document.body) focusAndSelect(first);
    });
  }

  // --- page viewer: zoom around the field's box ---------------------------------------
  function initViewer(viewer) {
    const viewport = viewer.querySelector(".viewport");
    const stage = viewer.querySelector(".stage");
    const img = stage.querySelector("img");
    const box = stage.querySelector(".box");
    const b = (viewer.dataset.box || "").split(",").map(Number);
    const hasBox = b.length === 4 && b.every(function (v) { return isFinite(v); }) && b[2] > 0 && b[3] > 0;
    let scale = 1;
    let ready = false;

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
      if (hasBox) apply(fieldScale(), b[0] + b[2] / 2, b[1] + b[3] / 2);
      else apply(fitScale(), img.naturalWidth / 2, 0);
    }
    function setup() {
      if (ready || !img.naturalWidth) return;
      ready = true;
      if (hasBox) {
        box.style.left = (b[0] / img.naturalWidth) * 100 + "%";
        box.style.top = (b[1] / img.naturalHeight) * 100 + "%";
        box.style.width = (b[2] / img.naturalWidth) * 100 + "%";
        box.style.height = (b[3] / img.naturalHeight) * 100 + "%";
        box.hidden = false;
      }
      toField();
    }
    function zoom(how) {
      if (!ready) return;
      const c = center();
      if (how === "in") apply(scale * 1.25, c[0], c[1]);
      else if (how === "out") apply(scale / 1.25, c[0], c[1]);
      else if (how === "fit") apply(fitScale(), img.naturalWidth / 2, img.naturalHeight / 2);
      else toField();
    }

    viewer.querySelectorAll("[data-zoom]").forEach(function (btn) {
      btn.addEventListener("click", function () { zoom(btn.dataset.zoom); });
    });
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey && e.key === "ArrowUp") { e.preventDefault(); zoom("in"); }
      else if (e.ctrlKey && e.key === "ArrowDown") { e.preventDefault(); zoom("out"); }
    });
    if (img.complete) setup();
    img.addEventListener("load", setup);
  }

  function init() {
    const item = document.getElementById("item-form");
    if (item) initItem(item);
    const group = document.getElementById("group-form");
    if (group) initGroup(group);
    document.querySelectorAll(".viewer").forEach(initViewer);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
