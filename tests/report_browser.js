/* report_browser.js - the browser half of test_report_browser.c. Its
 * harness page (written by the test beside the report, with
 * `var REPORT = "..."` first) loads this file; it opens the report in an
 * iframe (Chromium runs with --allow-file-access-from-files, so the
 * harness may read the report's document), waits for the report's ready
 * marker, copies the marker's attributes, counts the drawn plots (an svg or a canvas in each), clicks
 * the trials table's "score" header twice (the order of the "trial"
 * column after each click), and writes all of it as JSON into
 * <pre id="result">, which the test reads from --dump-dom. */
(function () {
  "use strict";
  var out = {};
  var frame = document.createElement("iframe");
  frame.style.width = "1300px";
  frame.style.height = "900px";
  frame.src = REPORT;
  document.body.appendChild(frame);
  var started = Date.now();

  function finish() {
    var pre = document.createElement("pre");
    pre.id = "result";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }

  function column(table, title) {
    var rows = table.querySelectorAll("tr"), head = rows[0].children, k = -1;
    for (var i = 0; i < head.length; i++) if (head[i].textContent === title) k = i;
    if (k < 0) return null;
    var v = [];
    for (var r = 1; r < rows.length; r++) v.push(rows[r].children[k].textContent);
    return v;
  }

  function header(table, title) {
    var th = table.querySelectorAll("th");
    for (var i = 0; i < th.length; i++) if (th[i].textContent === title) return th[i];
    return null;
  }

  function poll() {
    var doc;
    try {
      doc = frame.contentDocument;
    } catch (e) {
      out.error = "cannot read the report: " + e;
      return finish();
    }
    var m = doc && doc.getElementById("tg-ready");
    if (!m) {
      if (Date.now() - started > 60000) {
        out.error = "no ready marker after 60 s";
        return finish();
      }
      return setTimeout(poll, 50);
    }
    ["data-plots", "data-expected", "data-points", "data-rows", "data-errors"].forEach(
      function (a) { out[a] = m.getAttribute(a); });
    out.drawn = doc.querySelectorAll(".plot > svg.marks, .plot > canvas").length;
    out.title = doc.title;
    out.sections = {};
    ["progress", "pool", "arch", "rdm", "trials", "cost"].forEach(function (id) {
      var s = doc.querySelector("#" + id + " .body");
      out.sections[id] = {plots: s.querySelectorAll(".plot").length,
                          none: Array.prototype.map.call(s.querySelectorAll(".none, .note"),
                                                         function (p) { return p.textContent; })};
    });
    var table = doc.getElementById("trials-table");
    if (table) {
      out.trial_order = column(table, "trial");
      out.errors_shown = column(table, "error");
      var th = header(table, "score");
      if (th) {
        th.click();
        out.score_first_click = column(table, "trial");
        header(table, "score").click();
        out.score_second_click = column(table, "trial");
      }
    }
    var cost = doc.getElementById("cost-table");
    if (cost) out.cost_studies = column(cost, "study");
    finish();
  }
  poll();
})();
