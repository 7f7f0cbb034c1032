/* Kehu web UI: the reveal dialog, the re-mask timer and the print button. No inline scripts (CSP). */
(function () {
  "use strict";
  var stashed = new WeakMap(); // element → its masked content, restored when the reveal expires

  function dialog() { return document.getElementById("reveal-dialog"); }

  function openReveal(button) {
    var d = dialog();
    if (!d) { return; }
    var form = d.querySelector("form");
    form.elements.field.value = button.dataset.field;
    form.elements.entity.value = button.dataset.entity;
    form.elements.record_id.value = button.dataset.record || "";
    form.elements.reason.value = "";
    d.querySelector("[data-reveal-label]").textContent = button.dataset.label;
    document.getElementById("reveal-error").textContent = "";
    d.returnFocus = button;
    d.showModal();
    form.elements.reason.focus();
  }

  function closeReveal() {
    var d = dialog();
    if (d && d.open) {
      d.close();
      if (d.returnFocus && document.contains(d.returnFocus)) { d.returnFocus.focus(); }
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var reveal = target.closest("[data-reveal]");
    if (reveal) { event.preventDefault(); openReveal(reveal); return; }
    if (target.closest("[data-close-dialog]")) { closeReveal(); return; }
    if (target.closest("[data-print]")) { window.print(); }
  });

  document.addEventListener("kehu-revealed", closeReveal);

  // A form doing long work (data-busy="label") says so on submit and cannot be sent twice meanwhile.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-busy]") || event.defaultPrevented) { return; }
    form.setAttribute("aria-busy", "true");
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.disabled = true;
      button.textContent = form.dataset.busy;
    });
  });

  // Remember what the element showed before the plain value replaces it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var el = event.detail.target;
    if (el && el.classList && el.classList.contains("masked") && !stashed.has(el)) {
      stashed.set(el, el.innerHTML);
    }
  });

  function countdown(el) {
    var holder = el.closest(".value") || el.parentElement;
    var left = parseInt(el.dataset.seconds, 10) || 0;
    var label = el.querySelector(".countdown");
    var template = document.body.dataset.countdown || "{n}";
    var timer = window.setInterval(function () {
      left -= 1;
      if (left > 0) {
        if (label) { label.textContent = template.replace("{n}", String(left)); }
        return;
      }
      window.clearInterval(timer);
      if (stashed.has(holder)) {
        holder.innerHTML = stashed.get(holder);
        stashed.delete(holder);
      } else {
        el.remove();
      }
    }, 1000);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var root = event.detail.target;
    if (!root || !root.querySelectorAll) { return; }
    root.querySelectorAll(".revealed[data-seconds]").forEach(countdown);
  });

  // The no-JS reveal page counts down too.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("main > section .revealed[data-seconds]").forEach(countdown);
  });
})();
