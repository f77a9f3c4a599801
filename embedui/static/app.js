// berth dashboard: the live build log, live deployment states, and small
// conveniences. Pages work without it except for the live parts.
(function () {
  "use strict";

  var TERMINAL = ["ready", "error", "cancelled"];
  var LABELS = {
    queued: "Queued", building: "Building", uploading: "Uploading",
    ready: "Ready", error: "Failed", cancelled: "Cancelled"
  };
  function isTerminal(state) { return TERMINAL.indexOf(state) >= 0; }

  // ---- ANSI escape sequences -> DOM -------------------------------------
  // Text only ever goes into text nodes, so a log line cannot inject markup.

  // CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-byte escapes.
  var ESC_RE = /\x1b\[([0-9;:?]*)([ -\/]*[@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()][A-Za-z0-9]|\x1b[@-_]/g;
  // Other control characters (tab aside) would show as boxes.
  var CTRL_RE = /[\x00-\x08\x0b-\x1f\x7f]/g;
  var CUBE = [0, 95, 135, 175, 215, 255];

  function color256(n) {
    if (n < 16) return { cls: n };
    if (n >= 232) { var g = 8 + 10 * (n - 232); return { rgb: "rgb(" + g + "," + g + "," + g + ")" }; }
    n -= 16;
    return { rgb: "rgb(" + CUBE[Math.floor(n / 36)] + "," + CUBE[Math.floor(n / 6) % 6] + "," + CUBE[n % 6] + ")" };
  }

  function newStyle() { return { fg: null, bg: null, b: false, d: false, i: false, u: false }; }

  // applySGR updates style st with the parameters of one "ESC [ ... m".
  function applySGR(st, params) {
    var codes = params === "" ? [0] : params.split(/[;:]/).map(function (s) { return s === "" ? 0 : parseInt(s, 10); });
    for (var k = 0; k < codes.length; k++) {
      var c = codes[k];
      if (c === 0) { var z = newStyle(); for (var key in z) st[key] = z[key]; }
      else if (c === 1) st.b = true;
      else if (c === 2) st.d = true;
      else if (c === 3) st.i = true;
      else if (c === 4) st.u = true;
      else if (c === 22) { st.b = false; st.d = false; }
      else if (c === 23) st.i = false;
      else if (c === 24) st.u = false;
      else if (c >= 30 && c <= 37) st.fg = { cls: c - 30 };
      else if (c === 39) st.fg = null;
      else if (c >= 40 && c <= 47) st.bg = { cls: c - 40 };
      else if (c === 49) st.bg = null;
      else if (c >= 90 && c <= 97) st.fg = { cls: c - 90 + 8 };
      else if (c >= 100 && c <= 107) st.bg = { cls: c - 100 + 8 };
      else if (c === 38 || c === 48) {
        var col = null;
        if (codes[k + 1] === 5 && k + 2 < codes.length) { col = color256(codes[k + 2] & 255); k += 2; }
        else if (codes[k + 1] === 2 && k + 4 < codes.length) {
          col = { rgb: "rgb(" + (codes[k + 2] & 255) + "," + (codes[k + 3] & 255) + "," + (codes[k + 4] & 255) + ")" };
          k += 4;
        }
        if (col) { if (c === 38) st.fg = col; else st.bg = col; }
      }
    }
  }

  function styledNode(text, st) {
    text = text.replace(CTRL_RE, "");
    if (!st.fg && !st.bg && !st.b && !st.d && !st.i && !st.u) return document.createTextNode(text);
    var span = document.createElement("span");
    var cls = [];
    if (st.b) cls.push("a-b");
    if (st.d) cls.push("a-d");
    if (st.i) cls.push("a-i");
    if (st.u) cls.push("a-u");
    if (st.fg) { if (st.fg.rgb) span.style.color = st.fg.rgb; else cls.push("f" + st.fg.cls); }
    if (st.bg) { if (st.bg.rgb) span.style.backgroundColor = st.bg.rgb; else cls.push("b" + st.bg.cls); }
    if (cls.length) span.className = cls.join(" ");
    span.textContent = text;
    return span;
  }

  // ansiToNodes renders one log line into parent. A carriage return
  // overwrites the line in a terminal, so only the text after the last one
  // is kept. Escape sequences other than colours are dropped.
  function ansiToNodes(text, parent) {
    text = String(text).replace(/\r+$/, "");
    var cr = text.lastIndexOf("\r");
    if (cr >= 0) text = text.slice(cr + 1);
    var st = newStyle();
    var last = 0, m;
    ESC_RE.lastIndex = 0;
    while ((m = ESC_RE.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(styledNode(text.slice(last, m.index), st));
      if (m[2] === "m") applySGR(st, m[1]);
      last = ESC_RE.lastIndex;
    }
    if (last < text.length) parent.appendChild(styledNode(text.slice(last), st));
    return parent;
  }

  // ---- deployment states --------------------------------------------------

  // setState shows state on every badge of deployment id and on the
  // elements of its container marked data-when="state ...".
  function setState(id, state) {
    var label = LABELS[state] || state;
    each('.state[data-deployment="' + id + '"]', function (el) {
      el.className = "state state-" + state;
      el.textContent = label;
      el.setAttribute("data-state", state);
      if (isTerminal(state)) el.removeAttribute("data-live");
      var link = el.closest(".state-link");
      if (link) link.setAttribute("aria-label", link.getAttribute("aria-label").replace(/: .*$/, ": " + label));
    });
    each('[data-deployment="' + id + '"]:not(.state)', function (box) {
      box.setAttribute("data-state", state);
      box.querySelectorAll("[data-when]").forEach(function (el) {
        // Promote stays hidden on the production deployment itself.
        if (el.id === "promote" && !document.getElementById("production-tag").hidden) return;
        el.hidden = el.getAttribute("data-when").split(" ").indexOf(state) < 0;
      });
    });
  }

  function each(sel, fn) { document.querySelectorAll(sel).forEach(fn); }

  function fmtDuration(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
  }

  // showDeployment applies a deployment as the API returns it.
  function showDeployment(d) {
    setState(d.id, d.state);
    each('[data-deployment="' + d.id + '"] .js-duration', function (el) {
      if (d.build_started_at) el.setAttribute("data-started", d.build_started_at);
      if (d.build_started_at && d.build_finished_at) {
        el.setAttribute("data-finished", d.build_finished_at);
        el.textContent = fmtDuration(Date.parse(d.build_finished_at) - Date.parse(d.build_started_at));
      }
    });
    each('[data-deployment="' + d.id + '"] .js-output', function (el) {
      if (d.output_type) el.textContent = d.output_type;
    });
    var article = document.querySelector('article[data-deployment="' + d.id + '"]');
    if (!article) return;
    var err = document.getElementById("deployment-error");
    err.hidden = d.state !== "error";
    if (d.state === "error") err.textContent = d.error || "The build failed.";
    showCommit(d);
    if (d.state === "ready") showProduction(d);
  }

  // showCommit fills in the commit, which a build learns when it fetches
  // the source.
  function showCommit(d) {
    var p = document.getElementById("commit");
    if (!p || !d.commit_sha) return;
    var ref = d.branch || p.getAttribute("data-ref");
    p.textContent = "";
    if (ref) { p.appendChild(code(ref)); p.appendChild(document.createTextNode(" at ")); }
    p.appendChild(code(d.commit_sha.slice(0, 7)));
    var msg = (d.commit_message || "").split("\n")[0].trim();
    if (msg) p.appendChild(document.createTextNode(" — " + (msg.length > 72 ? msg.slice(0, 71) + "…" : msg)));
  }

  function code(text) {
    var c = document.createElement("code");
    c.textContent = text;
    return c;
  }

  // showProduction marks a ready deployment that went live in production
  // (a build of the production branch is promoted by itself).
  function showProduction(d) {
    fetch("/v1/projects/" + encodeURIComponent(d.project_id), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (p) {
        if (!p) return;
        var live = p.production_deployment_id === d.id;
        var tag = document.getElementById("production-tag");
        var promote = document.getElementById("promote");
        if (tag) tag.hidden = !live;
        if (promote) promote.hidden = live;
      })
      .catch(function () { /* the buttons stay as they are */ });
  }

  // watchStates polls the API for deployments shown as unfinished, until
  // each has finished.
  function watchStates() {
    var ids = {};
    each(".state[data-live]", function (el) { ids[el.getAttribute("data-deployment")] = true; });
    Object.keys(ids).forEach(function (id) { poll(id, 0); });
  }

  function poll(id, failures) {
    fetch("/v1/deployments/" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) throw new Error("status " + res.status);
        return res.json();
      })
      .then(function (d) {
        showDeployment(d);
        if (!isTerminal(d.state)) setTimeout(function () { poll(id, 0); }, 2000);
      })
      .catch(function () {
        if (failures < 5) setTimeout(function () { poll(id, failures + 1); }, 4000);
      });
  }

  // Running durations count up every second.
  function tickDurations() {
    setInterval(function () {
      each(".js-duration[data-started]:not([data-finished])", function (el) {
        var box = el.closest("[data-deployment]");
        if (box && isTerminal(box.getAttribute("data-state") || "")) return;
        el.textContent = fmtDuration(Date.now() - Date.parse(el.getAttribute("data-started")));
      });
    }, 1000);
  }

  // ---- live build log -----------------------------------------------------

  function startLog(box) {
    var id = box.getAttribute("data-deployment-id");
    var status = document.getElementById("log-status");
    var empty = document.getElementById("log-empty");
    var jump = document.getElementById("log-jump");
    var pending = [];
    var timer = null;
    var count = 0;
    var finished = false;

    // New lines are followed while the reader is at the bottom. Where they
    // are is measured before the lines are added, so a scroll up that has
    // not fired its event yet still stops the following.
    function atBottom() { return box.scrollHeight - box.scrollTop - box.clientHeight < 24; }
    box.addEventListener("scroll", function () {
      if (atBottom()) jump.hidden = true;
    }, { passive: true });
    jump.addEventListener("click", function () {
      jump.hidden = true;
      box.scrollTop = box.scrollHeight;
      box.focus();
    });

    function flush() {
      timer = null;
      if (!pending.length) return;
      var follow = atBottom();
      var frag = document.createDocumentFragment();
      pending.forEach(function (l) {
        var row = document.createElement("div");
        row.className = l.stream === "stderr" ? "ll stderr" : "ll";
        var n = document.createElement("span");
        n.className = "n";
        n.textContent = l.line;
        var t = document.createElement("span");
        t.className = "t";
        ansiToNodes(l.text, t);
        row.appendChild(n);
        row.appendChild(t);
        frag.appendChild(row);
      });
      count += pending.length;
      pending = [];
      if (empty) { empty.remove(); empty = null; }
      box.appendChild(frag);
      box.setAttribute("data-lines", String(count));
      if (follow) box.scrollTop = box.scrollHeight;
      else jump.hidden = false;
    }

    function say(text) { status.textContent = text; }

    var es = new EventSource(box.getAttribute("data-src"));
    say("Streaming the build log…");
    es.addEventListener("open", function () { if (!finished) say("Streaming the build log…"); });
    es.addEventListener("log", function (ev) {
      var l;
      try { l = JSON.parse(ev.data); } catch (e) { return; }
      pending.push(l);
      if (!timer) timer = setTimeout(flush, 40);
    });
    es.addEventListener("done", function (ev) {
      finished = true;
      es.close();
      if (timer) { clearTimeout(timer); }
      flush();
      var d = {};
      try { d = JSON.parse(ev.data); } catch (e) { /* keep the defaults */ }
      if (empty && count === 0) empty.textContent = "This build wrote no log.";
      var word = { ready: "The build finished: ready.", error: "The build failed.", cancelled: "The build was cancelled." }[d.state];
      say((word || "The build finished.") + " " + count + (count === 1 ? " line." : " lines."));
      box.setAttribute("data-done", d.state || "");
      setState(id, d.state);
      // The final timestamps and output type come with the deployment.
      poll(id, 0);
    });
    es.addEventListener("error", function () {
      if (finished) return;
      if (es.readyState === EventSource.CLOSED) {
        say("The log stream stopped. Reload the page to try again.");
      } else {
        say("Connection lost; reconnecting…");
      }
    });
  }

  // ---- small conveniences -------------------------------------------------

  // Forms marked data-confirm ask before they submit.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form.getAttribute && form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // Buttons marked data-copy copy their input's value.
  function setupCopy() {
    each("[data-copy]", function (btn) {
      btn.addEventListener("click", function () {
        var input = document.getElementById(btn.getAttribute("data-copy"));
        var done = function () {
          btn.textContent = "Copied";
          setTimeout(function () { btn.textContent = "Copy"; }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
        } else {
          input.select();
          try { if (document.execCommand("copy")) done(); } catch (e) { /* selected; the user copies */ }
        }
      });
    });
  }

  // A GitHub repository field offers the user's repositories (from the
  // API) as suggestions; picking one shows its default branch.
  function setupRepoPicker() {
    each("input[data-repos]", function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      var branch = document.getElementById("production_branch");
      var byName = {};
      fetch(input.getAttribute("data-repos"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) { return res.ok ? res.json() : []; })
        .then(function (repos) {
          repos.forEach(function (r) {
            byName[r.full_name] = r;
            var o = document.createElement("option");
            o.value = r.full_name;
            if (r.private) o.label = r.full_name + " (private)";
            list.appendChild(o);
          });
        })
        .catch(function () { /* typing owner/name still works */ });
      input.addEventListener("change", function () {
        var r = byName[input.value.trim()];
        if (r && branch && r.default_branch) branch.placeholder = r.default_branch;
      });
    });
  }

  window.berth = { ansiToNodes: ansiToNodes };

  document.addEventListener("DOMContentLoaded", function () {
    // A confirmation shows once: a reload should not repeat it.
    if (window.history.replaceState && /[?&]done=/.test(location.search)) {
      var q = location.search.replace(/([?&])done=[^&]*&?/, "$1").replace(/[?&]$/, "");
      history.replaceState(null, "", location.pathname + q + location.hash);
    }
    var log = document.getElementById("log");
    if (log && window.EventSource) startLog(log);
    watchStates();
    tickDurations();
    setupCopy();
    setupRepoPicker();
  });
})();
