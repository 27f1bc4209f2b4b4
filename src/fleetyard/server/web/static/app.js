// fleetyard dashboard: live pages without a full reload, and the csrf header for scripts.
// Every page whose <main> has data-live="N" is fetched again with ?fragment=1 every N
// seconds and its content swapped in - unless the person is typing in a form on it.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.live) { return; }
  var every = Math.max(2, parseInt(main.dataset.live, 10) || 5) * 1000;
  var csrf = document.querySelector('meta[name="csrf-token"]');

  function busy() {
    var el = document.activeElement;
    return el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }

  function refresh() {
    if (document.hidden || busy()) { return; }
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    url.hash = "";
    fetch(url.toString(), {
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.content : "" }
    }).then(function (r) {
      if (r.status === 401) { window.location.assign("/ui/login"); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null && html !== undefined && !busy()) {
        main.innerHTML = html;
        main.dataset.updated = String(Date.now());
      }
    }).catch(function () { /* offline for a moment: try again next time */ });
  }

  window.setInterval(refresh, every);
})();
