// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector(".nav-toggle");
    var nav = document.getElementById("main-nav");
    if (toggle && nav) {
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") === "true";
        toggle.setAttribute("aria-expanded", String(!open));
        nav.classList.toggle("open", !open);
      });
    }
    // A form sent back with errors: move the focus (and a screen reader) to them, not to the top of the page.
    var errors = document.querySelector(".form-errors, .refusal[role=alert], .upload-problems, .field-error");
    if (errors) {
      if (!errors.hasAttribute("tabindex")) {
        errors.setAttribute("tabindex", "-1");
      }
      errors.focus();
    }
  });
})();
