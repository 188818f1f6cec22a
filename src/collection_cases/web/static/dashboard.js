// The dashboard's only script (progressive enhancement: every page works without it).
// - Times: the server writes them in UTC in the viewer's language; here they are shown in
//   the viewer's own time zone (the full UTC text stays as the tooltip).
// - Forms with data-confirm ask before they are sent (closing a case, revoking a key).
"use strict";
(function () {
  function localTimes() {
    var lang = document.documentElement.lang || undefined;
    var format;
    try {
      format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return;
    }
    var times = document.querySelectorAll("time[data-local]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var moment = new Date(el.getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        el.title = el.textContent;
        el.textContent = format.format(moment);
      }
    }
  }

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", localTimes);
  } else {
    localTimes();
  }
})();
