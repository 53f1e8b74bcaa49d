// Progressive enhancement for the CEO's pages; every page works without it.
(function () {
  "use strict";
  // New-cycle form: show only the question counts of the framework chosen.
  var select = document.getElementById("framework");
  function showCounts() {
    var chosen = select.value;
    document.querySelectorAll(".scope-count").forEach(function (el) {
      el.hidden = el.getAttribute("data-framework") !== chosen;
    });
  }
  if (select && document.querySelector(".scope-count")) {
    select.addEventListener("change", showCounts);
    showCounts();
  }
  // Move focus to an error summary so screen reader users hear it first.
  var summary = document.querySelector(".error-summary[tabindex]");
  if (summary) { summary.focus(); }
})();
