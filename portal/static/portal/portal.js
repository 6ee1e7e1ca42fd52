/* BSP portal: small progressive enhancements (no inline scripts: the CSP allows our own files).
   A table that scrolls inside its own box on a narrow screen can be reached with the keyboard
   (WCAG 2.1.1; axe "scrollable-region-focusable"). */
(function () {
  function focusableScrollers(root) {
    (root || document).querySelectorAll(".table, .table-scroll, pre.diff").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) {
        if (!el.hasAttribute("tabindex")) { el.setAttribute("tabindex", "0"); el.dataset.scrollFocus = "1"; }
      } else if (el.dataset.scrollFocus) {
        el.removeAttribute("tabindex"); delete el.dataset.scrollFocus;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { focusableScrollers(); });
  document.addEventListener("htmx:afterSettle", function (e) { focusableScrollers(e.target); });
  window.addEventListener("resize", function () { focusableScrollers(); });
})();
