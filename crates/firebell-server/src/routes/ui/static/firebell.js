// Firebell's one script: progressive enhancement only. Every page works
// without it (forms post, pages reload).
//
// The alert list refreshes itself: every few seconds it asks the server for
// the same list's rows (the page's own query plus fragment=rows) and swaps
// them in, keeping which boxes are ticked; new rows flash briefly.
(function () {
  "use strict";
  var table = document.querySelector("table[data-live]");
  if (!table) { return; }
  var body = table.querySelector("tbody");
  var every = 3000;
  function ids(root) {
    var out = {};
    root.querySelectorAll("tr[data-id]").forEach(function (tr) { out[tr.getAttribute("data-id")] = true; });
    return out;
  }
  function refresh() {
    if (document.hidden) { return; }
    var params = new URLSearchParams(window.location.search);
    params.delete("done");
    params.set("fragment", "rows");
    fetch(table.getAttribute("data-live") + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("status " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var ticked = {};
        body.querySelectorAll("input[type=checkbox]:checked").forEach(function (c) { ticked[c.value] = true; });
        var before = ids(body);
        var tmp = document.createElement("tbody");
        tmp.innerHTML = html;
        tmp.querySelectorAll("tr[data-id]").forEach(function (tr) {
          var id = tr.getAttribute("data-id");
          if (!before[id]) { tr.classList.add("fresh"); }
          var box = tr.querySelector("input[type=checkbox]");
          if (box && ticked[box.value]) { box.checked = true; }
        });
        body.replaceChildren.apply(body, Array.prototype.slice.call(tmp.childNodes));
      })
      .catch(function () { /* the next round tries again */ });
  }
  window.setInterval(refresh, every);
})();
