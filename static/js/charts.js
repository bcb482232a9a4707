// Draw every Plotly chart on the page from the JSON the server embedded with json_script.
// <div class="chart" data-figure-id="x"> reads <script type="application/json" id="x">.
// Clicking a point whose customdata is a same-origin URL opens that URL.
(function () {
  "use strict";

  var CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  };

  function sameOriginUrl(value) {
    if (typeof value !== "string" || value === "") {
      return null;
    }
    var url;
    try {
      url = new URL(value, window.location.href);
    } catch (error) {
      return null;
    }
    return url.origin === window.location.origin ? url : null;
  }

  function navigateOnClick(element) {
    element.on("plotly_click", function (event) {
      var point = event && event.points && event.points[0];
      var url = point ? sameOriginUrl(point.customdata) : null;
      if (url) {
        window.location.assign(url.href);
      }
    });
  }

  function render(element) {
    var source = document.getElementById(element.getAttribute("data-figure-id"));
    if (!source || !window.Plotly) {
      return;
    }
    var figure = JSON.parse(source.textContent);
    window.Plotly.newPlot(element, figure.data, figure.layout, CONFIG).then(navigateOnClick);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".chart[data-figure-id]").forEach(render);
  });
})();
