/* mat-review survey: progressive enhancement only. The form works fully without this file.
   - A live "characters left" count under each rationale box (announced politely, and only
     when it matters, so screen readers are not interrupted on every key press). */
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

  document.addEventListener("DOMContentLoaded", function () {
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
