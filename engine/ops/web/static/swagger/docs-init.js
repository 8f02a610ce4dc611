/* The API docs page: Swagger UI (vendored from the npm package swagger-ui-dist 5.35.0, Apache-2.0; see LICENSE
 * here) over this service's own OpenAPI document. Nothing is loaded from anywhere else. */
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
    validatorUrl: null, tryItOutEnabled: false });
});
