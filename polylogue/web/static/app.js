// polylogue serve: the page's only script (served from this server; the CSP allows nothing inline).
// Pages work without it; it adds live search, keyboard moves and copy buttons.
(function () {
  "use strict";

  function debounce(fn, ms) {
    var t;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  // ---------------------------------------------------------------- live search
  var form = document.getElementById("search");
  var results = document.getElementById("results");
  var inflight = null;
  function refresh() {
    var params = new URLSearchParams(new FormData(form));
    Array.from(params.keys()).forEach(function (k) { if (!params.get(k)) params.delete(k); });
    var url = "/search?" + params.toString();
    params.set("partial", "1");
    if (inflight) inflight.abort();
    inflight = new AbortController();
    fetch("/search?" + params.toString(), { signal: inflight.signal, credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        // the fragment is this server's own escaped HTML; the CSP keeps any script in it inert
        results.innerHTML = html;
        loadFacets();
        history.replaceState(null, "", url);
        cursor = -1;
      })
      .catch(function () {});
  }
  // facet counts (a search per value): fetched once the results are on the page
  function loadFacets() {
    document.querySelectorAll(".facet-counts[data-src]").forEach(function (box) {
      var src = box.dataset.src;
      box.removeAttribute("data-src");
      fetch(src, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { box.innerHTML = html; })
        .catch(function () {});
    });
  }
  loadFacets();
  if (form && results) {
    var later = debounce(refresh, 250);
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  // ---------------------------------------------------------------- keyboard
  var cursor = -1;
  function items() {
    var list = document.querySelectorAll(".jk, article.msg");
    return Array.prototype.slice.call(list);
  }
  function move(step) {
    var all = items();
    if (!all.length) return;
    if (cursor >= 0 && all[cursor]) all[cursor].classList.remove("cur");
    cursor = Math.max(0, Math.min(all.length - 1, cursor + step));
    all[cursor].classList.add("cur");
    all[cursor].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "/" && !typing) {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
    } else if (e.key === "Escape" && typing) {
      t.blur();
    } else if (!typing && (e.key === "j" || e.key === "k")) {
      e.preventDefault();
      move(e.key === "j" ? 1 : -1);
    } else if (!typing && e.key === "Enter" && cursor >= 0) {
      var cur = items()[cursor];
      var link = cur && (cur.querySelector("a.open") || cur.querySelector("details > summary"));
      if (link) { e.preventDefault(); link.click(); }
    }
  });

  // ---------------------------------------------------------------- copy buttons
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var body = b.closest("article").querySelector(".body");
      copyText(body ? body.innerText : "").then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = "Copy"; }, 1500);
      });
    });
  });

  // ---------------------------------------------------------------- long outputs
  // a fold whose rest is not in the page (render/html.py output_html): fetched when opened,
  // shown as text (never parsed as HTML); past LOAD_MAX characters the fold's link is the way
  var LOAD_MAX = 5000000;
  document.querySelectorAll("details.more[data-rest]").forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (!d.open || d.dataset.loading || Number(d.dataset.chars) > LOAD_MAX) return;
      d.dataset.loading = "1";
      fetch(d.dataset.rest, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (text) {
          var pre = document.createElement("pre");
          var code = document.createElement("code");
          pre.className = "wrap";
          code.textContent = text;
          pre.appendChild(code);
          d.insertBefore(pre, d.querySelector("p.clip"));
          d.classList.add("loaded");
        })
        .catch(function () { delete d.dataset.loading; });
    });
  });

  // the message a permalink names: put the keyboard cursor there
  var hit = document.querySelector("article.msg.hit");
  if (hit) {
    cursor = items().indexOf(hit);
    hit.scrollIntoView({ block: "center" });
  }
})();
