/* page.js - the report's page: reads the data tgsage wrote (the JSON in
 * #tg-data), writes a Vega-Lite specification per plot and draws it with
 * vega-embed, builds the tables, and when every plot has rendered sets the
 * ready marker #tg-ready: data-plots (plots drawn), data-expected (plots
 * attempted), data-points ({dataset: rows as vega holds them}), data-rows
 * (rows of the trials table) and data-errors (what the page or the
 * libraries reported). Text from the database reaches the page only as
 * textContent or as data inside the plots, never as HTML. */
(function () {
  "use strict";
  var SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
  var D = JSON.parse(document.getElementById("tg-data").textContent);
  var plots = [];   /* {el, spec} */

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function body(id) { return document.querySelector("#" + id + " .body"); }
  function notes(id) {
    D.notes.forEach(function (n) {
      if (n.section === id) body(id).appendChild(el("p", "note", n.text));
    });
  }
  function none(id, text) { body(id).appendChild(el("p", "none", text)); }
  function plot(id, spec, into) {
    var div = el("div", "plot");
    (into || body(id)).appendChild(div);
    spec.$schema = SCHEMA;
    spec.config = {view: {stroke: null}, axis: {labelFontSize: 11, titleFontSize: 12},
                   legend: {labelLimit: 320}};
    plots.push({el: div, spec: spec});
  }
  function num(v, digits) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    if (digits === 0) return Math.round(v).toLocaleString("en-US");
    return v.toFixed(digits);
  }

  /* ---- header ---- */
  (function () {
    var when = new Date(D.generated * 1000);
    var text = D.studies.length + " stud" + (D.studies.length === 1 ? "y" : "ies") + " in " +
               D.db + " · written " + when.toLocaleString();
    if (D.refresh > 0) text += " · reloads every " + D.refresh + " s while a study runs";
    document.getElementById("meta").textContent = text;
  })();

  /* ---- search progress ---- */
  (function () {
    notes("progress");
    if (!D.progress.length) return;
    var studies = D.studies.filter(function (s) { return s.kind === "search"; })
                           .map(function (s) { return s.name; });
    var color = {field: "study", type: "nominal", scale: {domain: studies},
                 legend: {title: "study"}};
    /* the rows share their x domains, so a reranked point sits under the
     * search's point it reranks */
    function top(rows, key) {
      return rows.reduce(function (m, r) { return Math.max(m, r[key]); }, 0);
    }
    var domain = {trial: [0, Math.max(1, top(D.progress, "trial"), top(D.rerank, "trial"))],
                  examples: [0, Math.max(1, top(D.progress, "examples"),
                                         top(D.rerank, "examples"))]};
    function panel(data, x, xtitle, point, ytitle) {
      var X = {field: x, type: "quantitative", title: xtitle,
               scale: {domain: domain[x], nice: false},
               axis: x === "trial" ? {tickMinStep: 1, format: "d"} : {format: ",.0f"}};
      var tip = [{field: "study"}, {field: "trial", title: "trial"},
                 {field: point, title: point, format: ".4f"},
                 {field: "best", title: "best so far", format: ".4f"},
                 {field: "examples", title: "examples so far", format: ","}];
      return {width: 380, height: 220, data: {name: data}, layer: [
        {mark: {type: "line", interpolate: "step-after"},
         encoding: {x: X, y: {field: "best", type: "quantitative", title: ytitle,
                              scale: {zero: false}}, color: color}},
        {mark: {type: "point", filled: true, size: 24, opacity: 0.45},
         encoding: {x: X, y: {field: point, type: "quantitative"}, color: color,
                    tooltip: tip}}]};
    }
    var rows = [{hconcat: [
      panel("progress", "trial", "trial number", "score", "best score"),
      panel("progress", "examples", "cost so far (examples trained)", "score", "best score")]}];
    var datasets = {progress: D.progress};
    if (D.rerank.length) {
      datasets.rerank = D.rerank;
      rows.push({hconcat: [
        panel("rerank", "trial", "trial number (of the search)", "acc",
              "best reranked accuracy"),
        panel("rerank", "examples", "cost so far (search + rerank examples)", "acc",
              "best reranked accuracy")]});
    } else {
      body("progress").appendChild(el("p", "none", "No rerank of a search yet (tgsage rerank)."));
    }
    plot("progress", {datasets: datasets, vconcat: rows, resolve: {scale: {color: "shared"}}});
  })();

  /* ---- pools: predictivity ---- */
  (function () {
    notes("pool");
    D.pools.forEach(function (P) {
      var sc = "pool" + P.index + "_scatter", cv = "pool" + P.index + "_curve";
      var b = body("pool");
      b.appendChild(el("h3", null, "Pool " + P.study + ": " + P.networks + " networks, mature at " +
                       P.mature_epochs + " epochs; teacher " + (P.teacher || "none") +
                       " (" + (P.method || "") + "), alpha " + P.alpha));
      if (!P.at.length) {
        b.appendChild(el("p", "none", "The pool has no premature points."));
        return;
      }
      var tip = [{field: "trial"}, {field: "p", format: ".4f"}, {field: "tg", format: ".4f"},
                 {field: "mature", format: ".4f"}];
      function scatter(x, title) {
        return {width: 230, height: 230, data: {name: sc},
                transform: [{filter: "datum.at == at"}],
                mark: {type: "point", filled: true, size: 40, opacity: 0.7},
                encoding: {x: {field: x, type: "quantitative", title: title, scale: {zero: false}},
                           y: {field: "mature", type: "quantitative", title: "mature accuracy",
                               scale: {zero: false}},
                           tooltip: tip}};
      }
      var lo = Math.min.apply(null, P.at), hi = Math.max.apply(null, P.at);
      var X = {field: "at", type: "quantitative", title: "premature epochs",
               scale: {type: "log", nice: false, domain: [lo / 1.25, hi * 1.25]},
               axis: {values: P.at}};
      var pcolor = {field: "predictor", type: "nominal",
                    legend: {orient: "bottom", direction: "vertical", title: null}};
      var curve = {width: 340, height: 230, data: {name: cv}, layer: [
        {mark: {type: "rule", opacity: 0.3, strokeWidth: 3},
         encoding: {x: X, y: {field: "lo", type: "quantitative",
                              title: "Spearman ρ with mature accuracy"},
                    y2: {field: "hi"}, color: pcolor}},
        {mark: {type: "line", point: true},
         encoding: {x: X, y: {field: "rho", type: "quantitative"}, color: pcolor,
                    tooltip: [{field: "predictor"}, {field: "at"},
                              {field: "rho", format: ".3f"}, {field: "lo", format: ".3f"},
                              {field: "hi", format: ".3f"}, {field: "n"}]}}]};
      var label = "P + " + P.alpha + "·TG";
      var sd = {}, cd = {};
      sd[sc] = D[sc];
      cd[cv] = D[cv];
      var row = el("div", "row");
      b.appendChild(row);
      plot("pool", {
        datasets: sd,
        params: [{name: "at", value: P.at[0],
                  bind: {input: "select", options: P.at, name: "premature point (epochs): "}}],
        hconcat: [scatter("p", "P at the premature point"), scatter("ptg", label)]}, row);
      /* an empty dataset would draw axes of infinite extent */
      if (D[cv].length)
        plot("pool", {datasets: cd, layer: curve.layer, width: curve.width,
                      height: curve.height, data: curve.data}, row);
      else
        row.appendChild(el("p", "none", "No correlation yet: it needs 3 networks with a " +
                           "premature point and a mature accuracy (" + P.networks +
                           " so far)."));
      var t = el("table"), head = el("tr");
      ["epochs", "networks", "Spearman ρ of P", "best predictor", "its ρ"].forEach(function (h) {
        head.appendChild(el("th", h === "best predictor" ? "text" : null, h));
      });
      t.appendChild(head);
      P.best.forEach(function (r) {
        var tr = el("tr");
        tr.appendChild(el("td", null, r.at));
        tr.appendChild(el("td", null, r.n));
        tr.appendChild(el("td", null, num(r.rho_p, 3)));
        tr.appendChild(el("td", "text", r.predictor || "none"));
        tr.appendChild(el("td", null, num(r.rho, 3)));
        t.appendChild(tr);
      });
      var wrap = el("div", "table");
      wrap.appendChild(t);
      b.appendChild(wrap);
    });
  })();

  /* ---- the best architecture ---- */
  (function () {
    notes("arch");
    var A = D.arch;
    if (!A) return;
    body("arch").appendChild(el("p", "what", "Study " + A.study + ", trial " + A.trial +
      " (score " + num(A.score, 4) + (A.p !== null ? ", P " + num(A.p, 4) : "") +
      (A.tg !== null ? ", TG " + num(A.tg, 4) : "") + "): " + A.space + ", " + A.summary +
      "; genome " + A.hash + "."));
    var X = {type: "quantitative", axis: null, scale: {domain: [-0.5, A.depth + 0.5]}};
    var Y = {type: "quantitative", axis: null,
             scale: {domain: [A.ymin - 0.8, A.ymax + 0.8]}};
    function at(field, base) {
      var o = {field: field};
      for (var k in base) o[k] = base[k];
      return o;
    }
    var kinds = ["image", "input", "layer", "block", "output"];
    plot("arch", {
      width: Math.max(320, 125 * (A.depth + 1)),
      height: Math.max(140, 62 * (A.ymax - A.ymin + 1.6)),
      layer: [
        {data: {name: "arch_edges"}, mark: {type: "rule", color: "#9a9a9a"},
         encoding: {x: at("x", X), y: at("y", Y), x2: {field: "x2"}, y2: {field: "y2"},
                    strokeDash: {field: "style", type: "nominal", legend: null,
                                 scale: {domain: ["solid", "dashed"], range: [[1, 0], [5, 3]]}}}},
        {data: {name: "arch_edges"}, transform: [{filter: "datum.label != ''"}],
         mark: {type: "text", fontSize: 10, color: "#555", dy: -7},
         encoding: {x: at("lx", X), y: at("ly", Y), text: {field: "label"}}},
        {data: {name: "arch_nodes"},
         mark: {type: "point", filled: true, size: 520, opacity: 1, shape: "square"},
         encoding: {x: at("depth", X), y: at("y", Y),
                    color: {field: "kind", type: "nominal", scale: {domain: kinds,
                            range: ["#bbb", "#bbb", "#5b8fd6", "#e39b4c", "#7fb069"]},
                            legend: null},
                    tooltip: [{field: "label"}, {field: "detail"}]}},
        {data: {name: "arch_nodes"}, mark: {type: "text", fontSize: 11, dy: -19},
         encoding: {x: at("depth", X), y: at("y", Y), text: {field: "label"}}},
        {data: {name: "arch_nodes"}, mark: {type: "text", fontSize: 9, dy: 21, color: "#444"},
         encoding: {x: at("depth", X), y: at("y", Y), text: {field: "detail"}}}],
      datasets: {arch_nodes: D.arch_nodes, arch_edges: D.arch_edges}});
  })();

  /* ---- RDMs ---- */
  (function () {
    notes("rdm");
    var R = D.rdm;
    if (!R || !D.rdm_teacher.length) return;
    body("rdm").appendChild(el("p", "what", "Study " + R.study + ": " + R.unit + " RDMs of " +
      R.m + " " + (R.unit === "category" ? "categories" : "images") + ", the first " + R.k +
      " shown" + (R.trial !== undefined ? "; best candidate: trial " + R.trial : "") + "."));
    function heat(data, title, row, extra) {
      return {title: title, data: {name: data}, transform: extra || [],
              facet: {row: {field: row, type: "nominal", sort: {field: "order", op: "min"},
                            header: {title: null, labelAngle: 0, labelAlign: "left"}}},
              spec: {width: 170, height: 170, mark: "rect",
                     encoding: {x: {field: "j", type: "ordinal", axis: null},
                                y: {field: "i", type: "ordinal", axis: null},
                                color: {field: "v", type: "quantitative", title: "1 − r",
                                        scale: {scheme: "viridis"}},
                                tooltip: [{field: "i"}, {field: "j"},
                                          {field: "v", format: ".3f"}]}}};
    }
    var views = [heat("rdm_teacher", "teacher", "layer")], datasets = {rdm_teacher: D.rdm_teacher};
    if (D.rdm_best.length) {
      datasets.rdm_best = D.rdm_best;
      views.push(heat("rdm_best", "best candidate (trial " + R.trial + ")", "pair",
                      [{calculate: "datum.candidate + ' (for ' + datum.layer + ')'", as: "pair"}]));
    }
    plot("rdm", {datasets: datasets, hconcat: views, resolve: {scale: {color: "shared"}}});
  })();

  /* ---- tables ---- */
  function keep(key, v) {
    try {
      if (v === undefined) return JSON.parse(window.sessionStorage.getItem(key));
      window.sessionStorage.setItem(key, JSON.stringify(v));
    } catch (e) { /* no storage for file:// here: sorting is not kept */ }
    return null;
  }
  /* cols: [{key, title, digits, text}]; rows: objects. Click a header to sort;
   * the order survives the --watch reloads where the browser keeps session
   * storage. */
  function table(id, name, cols, rows, rowClass, total) {
    var wrap = el("div", "table"), t = el("table");
    t.id = name;
    wrap.appendChild(t);
    body(id).appendChild(wrap);
    var state = keep("tg-sort-" + name) || {key: null, dir: 1};
    function cmp(a, b) {
      var x = a[state.key], y = b[state.key];
      if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === "number" && typeof y === "number") return state.dir * (x - y);
      return state.dir * String(x).localeCompare(String(y));
    }
    function draw() {
      t.textContent = "";
      var head = el("tr");
      cols.forEach(function (c) {
        var th = el("th", c.text ? "text" : null, c.title);
        if (state.key === c.key) th.className += state.dir > 0 ? " sorted-asc" : " sorted-desc";
        th.addEventListener("click", function () {
          state = {key: c.key, dir: state.key === c.key ? -state.dir : (c.text ? 1 : -1)};
          keep("tg-sort-" + name, state);
          draw();
        });
        head.appendChild(th);
      });
      t.appendChild(head);
      var sorted = rows.slice();
      if (state.key) sorted.sort(cmp);
      if (total) sorted.push(total);
      sorted.forEach(function (r) {
        var tr = el("tr", r === total ? "total" : rowClass ? rowClass(r) : null);
        cols.forEach(function (c) {
          var v = r[c.key];
          var td = el("td", c.cls || (c.text ? "text" : null),
                      c.digits === undefined ? (v === null || v === undefined ? "" : v)
                                             : num(v, c.digits));
          tr.appendChild(td);
        });
        t.appendChild(tr);
      });
    }
    draw();
    return t;
  }

  (function () {
    notes("trials");
    if (!D.focus) return;
    body("trials").appendChild(el("p", "what", "Study " + D.focus + ": " + D.trials.length +
                                  " trial" + (D.trials.length === 1 ? "" : "s") + "."));
    if (!D.trials.length) return;
    var cols = [{key: "number", title: "trial", digits: 0},
                {key: "state", title: "state", text: true},
                {key: "score", title: "score", digits: 4}, {key: "p", title: "P", digits: 4},
                {key: "tg", title: "TG", digits: 4}, {key: "val_loss", title: "val loss", digits: 4},
                {key: "examples", title: "examples", digits: 0},
                {key: "train_s", title: "train s", digits: 1},
                {key: "eval_s", title: "eval s", digits: 1},
                {key: "attempt", title: "attempts", digits: 0}];
    if (D.trials.some(function (r) { return r.parent !== null; }))
      cols.push({key: "parent", title: "reranks trial", digits: 0});
    cols.push({key: "arch", title: "architecture", text: true},
              {key: "worker", title: "worker", text: true},
              {key: "error", title: "error", text: true, cls: "error"});
    table("trials", "trials-table", cols, D.trials, function (r) {
      return r.state === "failed" ? "failed" : null;
    });
  })();

  (function () {
    notes("cost");
    if (!D.cost.length) {
      none("cost", "No study in this database.");
      return;
    }
    var by = {};
    D.studies.forEach(function (s) { by[s.name] = s; });
    var rows = D.cost.map(function (c) {
      var s = by[c.study], o = {};
      for (var k in c) o[k] = c[k];
      o.algo = s.algo;
      o.state = s.done ? "done" : "running";
      o.parent = s.parent;
      return o;
    });
    var total = {study: "total", examples: 0, train_s: 0, eval_s: 0, cpu_s: 0, trials: 0};
    rows.forEach(function (r) {
      ["examples", "train_s", "eval_s", "cpu_s", "trials"].forEach(function (k) {
        total[k] += r[k];
      });
    });
    total.total = total.examples;
    table("cost", "cost-table", [
      {key: "study", title: "study", text: true}, {key: "algo", title: "algo", text: true},
      {key: "parent", title: "reranks", text: true}, {key: "state", title: "state", text: true},
      {key: "trials", title: "trials", digits: 0}, {key: "complete", title: "complete", digits: 0},
      {key: "failed", title: "failed", digits: 0},
      {key: "examples", title: "examples", digits: 0},
      {key: "rerank_examples", title: "rerank examples", digits: 0},
      {key: "total", title: "search + rerank", digits: 0},
      {key: "train_s", title: "train CPU s", digits: 1},
      {key: "eval_s", title: "eval CPU s", digits: 1},
      {key: "cpu_s", title: "CPU s", digits: 1}], rows, null, total);
  })();

  ["progress", "pool", "arch", "rdm", "trials"].forEach(function (id) {
    var b = body(id);
    if (!b.querySelector(".plot, table, .note")) none(id, "Nothing to show yet.");
  });

  /* ---- draw, then the marker ---- */
  var counts = {}, drawn = 0;
  Promise.all(plots.map(function (p) {
    return vegaEmbed(p.el, p.spec, {actions: false}).then(function (res) {
      Object.keys(p.spec.datasets || {}).forEach(function (name) {
        counts[name] = res.view.data(name).length;
      });
      drawn++;
    }, function (e) {
      window.tgErrors.push("plot: " + (e && e.message || e));
    });
  })).then(function () {
    var m = el("div");
    m.id = "tg-ready";
    m.hidden = true;
    m.setAttribute("data-plots", String(drawn));
    m.setAttribute("data-expected", String(plots.length));
    m.setAttribute("data-points", JSON.stringify(counts));
    var tr = document.querySelectorAll("#trials-table tr");
    m.setAttribute("data-rows", String(tr.length ? tr.length - 1 : 0));
    m.setAttribute("data-errors", JSON.stringify(window.tgErrors));
    document.body.appendChild(m);
  });
})();
