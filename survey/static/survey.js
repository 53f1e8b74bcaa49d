/* mat-review survey: progressive enhancement only. The form works fully without this file.
   - A live "characters left" count under each rationale box (announced politely, and only
     when it matters, so screen readers are not interrupted on every key press).
   - Autosave on a page of the form (form[data-autosave]): a few seconds after the person stops
     typing or choosing, and when they leave the page, the page's answers are posted (with the
     page's CSRF token) to the sealed draft. A quiet "Saved" status is announced politely; focus
     never moves. */
(function () {
  "use strict";

  function formatNumber(n) {
    return n.toLocaleString("en-GB");
  }

  function setUpCount(textarea) {
    var output = document.getElementById(textarea.getAttribute("data-count"));
    var max = parseInt(textarea.getAttribute("maxlength"), 10);
    if (!output || !max) {
      return;
    }
    var lastBand = null;
    function update() {
      var left = max - textarea.value.length;
      output.hidden = false;
      output.textContent = left >= 0
        ? formatNumber(left) + " characters left"
        : formatNumber(-left) + " characters too many";
      output.classList.toggle("char-count-over", left < 0);
      // Announce only near the limit: at 200, 100, 50 and 0 characters left.
      var band = left <= 0 ? 0 : left <= 50 ? 50 : left <= 100 ? 100 : left <= 200 ? 200 : null;
      output.setAttribute("aria-live", band !== null && band !== lastBand ? "polite" : "off");
      lastBand = band;
    }
    textarea.addEventListener("input", update);
    update();
  }

  var AUTOSAVE_DELAY_MS = 2500;

  function setUpAutosave(form) {
    var url = form.getAttribute("data-autosave");
    var status = document.getElementById("autosave-status");
    var timer = null;
    var dirty = false;
    var inFlight = false;

    function say(text) {
      if (status && status.textContent !== text) {
        status.textContent = text;
      }
    }
    function payload() {
      var data = new FormData(form);
      data.delete("action");
      return data;
    }
    function save() {
      timer = null;
      if (!dirty) {
        return;
      }
      if (inFlight) {
        timer = window.setTimeout(save, AUTOSAVE_DELAY_MS);
        return;
      }
      dirty = false;
      inFlight = true;
      fetch(url, {
        method: "POST",
        body: payload(),
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (response) {
        return response.json().then(function (body) {
          if (response.ok && body.saved) {
            var now = new Date();
            say("Saved at " + now.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" }));
          } else {
            dirty = true;
            say(body.message || "Not saved yet: press “Save and continue” to save.");
          }
        });
      }).catch(function () {
        dirty = true;
        say("Not saved yet: you seem to be offline. Your answers are still on this page.");
      }).then(function () {
        inFlight = false;
      });
    }
    function changed() {
      dirty = true;
      if (timer) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(save, AUTOSAVE_DELAY_MS);
    }
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", function () {
      // The button's own post saves; nothing more to send when the page goes.
      dirty = false;
      if (timer) {
        window.clearTimeout(timer);
      }
    });
    function leaving() {
      if (dirty && navigator.sendBeacon) {
        dirty = false;
        navigator.sendBeacon(url, payload());
      }
    }
    window.addEventListener("pagehide", leaving);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        leaving();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var autosaved = document.querySelector("form[data-autosave]");
    if (autosaved && window.fetch && window.FormData) {
      setUpAutosave(autosaved);
    }
    var areas = document.querySelectorAll("textarea[data-count]");
    for (var i = 0; i < areas.length; i++) {
      setUpCount(areas[i]);
    }
    // After a failed submit, move focus to the list of problems so it is read out first.
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
    }
  });
})();
