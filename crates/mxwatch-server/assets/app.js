// mxwatch dashboard: progressive enhancement only (every page works without script).
// Loaded as a file: the Content-Security-Policy allows no inline script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Sorting and ordering apply at once instead of waiting for "Apply".
  for (const select of document.querySelectorAll("form.filters select[name=sort], form.filters select[name=order]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // Removing a domain from the inventory asks first.
  for (const form of document.querySelectorAll("table.inventory form")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm("Stop watching this domain? Its history stays.")) event.preventDefault();
    });
  }
});
