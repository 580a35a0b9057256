// The few things that need JavaScript: the copy button, the confirmation dialog that htmx
// fills, and the batch bar's selection count. Every page works without it.
document.documentElement.classList.add("js");
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 2000);
      });
      return;
    }
    if (event.target.closest("[data-dialog-cancel]")) {
      document.getElementById("dialog").close();
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = document.getElementById("dialog");
    if (event.detail.target === dialog && dialog.innerHTML.trim()) {
      dialog.showModal();
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.hasAttribute && form.hasAttribute("data-closes-dialog") && event.detail.successful) {
      var dialog = document.getElementById("dialog");
      dialog.close();
      dialog.innerHTML = "";
    }
  });

  function updateBatchBar() {
    var bar = document.querySelector("[data-batchbar]");
    if (!bar) return;
    var count = document.querySelectorAll("input[name=keys]:checked").length;
    bar.querySelector("[data-selected-count]").textContent = count + " selected";
    bar.classList.toggle("active", count > 0);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-submit-on-change]")) {
      event.target.form.submit();
      return;
    }
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll("input[name=keys]").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.matches("input[name=keys], [data-select-all]")) updateBatchBar();
  });
  document.addEventListener("htmx:afterSettle", updateBatchBar);
})();
