// Starts ReDoc on /redoc. A file rather than an inline script, so the page's
// Content-Security-Policy can refuse every inline script.
(function () {
  "use strict";
  var root = document.getElementById("redoc");
  Redoc.init(root.getAttribute("data-openapi-url"), { expandResponses: "200,201" }, root);
})();
