// Starts Swagger UI on /docs. A file rather than an inline script, so the page's
// Content-Security-Policy can refuse every inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayRequestDuration: true,
    showExtensions: true,
    showCommonExtensions: true,
    // The default validator badge loads an image from another host.
    validatorUrl: null
  });
})();
