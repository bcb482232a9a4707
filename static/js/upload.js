// Drag-and-drop onto a file field. Without this script the field is a normal <input type=file>.
// <div data-dropzone> holds the input and a [data-dropzone-name] element that shows the chosen file.
(function () {
  "use strict";

  function describe(file) {
    var size = file.size;
    var units = ["bytes", "KB", "MB", "GB"];
    var unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return file.name + " (" + (unit ? size.toFixed(1) : size) + " " + units[unit] + ")";
  }

  function enhance(zone) {
    var input = zone.querySelector("input[type=file]");
    var name = zone.querySelector("[data-dropzone-name]");
    if (!input) {
      return;
    }
    zone.classList.add("dropzone-ready");

    function show() {
      if (name) {
        name.textContent = input.files && input.files.length ? "Chosen: " + describe(input.files[0]) : "";
      }
    }

    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("dropzone-over");
      });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function () {
        zone.classList.remove("dropzone-over");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dropzone-over");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) {
        input.files = files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
    input.addEventListener("change", show);
    show();
  }

  // Typing in the version search narrows the chooser's options at once; without this script the search
  // form reloads the page with ?q= and the server narrows them.
  function filterVersions(search) {
    var select = document.getElementById(search.getAttribute("data-version-filter"));
    if (!select) {
      return;
    }
    search.addEventListener("input", function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      select.querySelectorAll("option").forEach(function (option) {
        var text = option.textContent.toLowerCase();
        option.hidden = Boolean(option.value) && !words.every(function (word) { return text.indexOf(word) !== -1; });
      });
      select.querySelectorAll("optgroup").forEach(function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-dropzone]").forEach(enhance);
    document.querySelectorAll("[data-version-filter]").forEach(filterVersions);
  });
})();
