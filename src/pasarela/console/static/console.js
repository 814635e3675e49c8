// The Pasarela console's only script: keeps the overview live by fetching the page again and
// swapping in its #live section. Everything works without it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var every = (parseInt(live.getAttribute("data-refresh"), 10) || 15) * 1000;
  function refresh() {
    if (document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok || r.redirected) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) live.innerHTML = fresh.innerHTML;
      })
      .catch(function () { /* keep what is shown; the next tick tries again */ });
  }
  window.setInterval(refresh, every);
})();
