/* crosseval report: the sample browser, chart switchers and live reload.
 * Data comes from the JSON script blocks of the page, the CROSS-Eval vocabulary included
 * (`data.vocabulary`: dimensions, verdict statuses with their titles and notes, the pass rule), so
 * this script names no dimension or verdict status of its own. Every value from a run is untrusted
 * (model answers above all), so it only ever enters the page as a text node or as an attribute
 * built here; nothing is assigned to innerHTML. Only the visible page of samples is in the DOM. */
"use strict";
(function () {
  const PAGE_SIZE = 20;
  const STATE_KEY = "crosseval-report-state";
  /* Outcomes of a (round, dimension) cell besides the verdict statuses of the vocabulary. */
  const PAGE_OUTCOME_LABELS = {
    pass: "Pass",
    fail: "Fail",
    missing: "Not judged",
    generation_error: "Generation failed",
  };
  /* Glyphs of the mini grid; an unscored verdict, whatever its status, shows "?". */
  const OUTCOME_MARKS = {
    pass: "✓",
    fail: "✗",
    missing: "·",
    generation_error: "!",
  };

  /* CSS classes of an outcome: its own, and `unscored` for every unscored verdict status. */
  function outcomeClasses(vocabulary, outcome) {
    return vocabulary.unscored_statuses.includes(outcome) ? outcome + " unscored" : outcome;
  }

  function outcomeLabel(vocabulary, outcome) {
    return vocabulary.status_titles[outcome] || PAGE_OUTCOME_LABELS[outcome] || outcome;
  }

  /* The judge's dimensions as the page shows them: reported title, and the score that passes. */
  function dimensionsOf(vocabulary) {
    return vocabulary.dimensions.map((key) => ({
      key,
      label: vocabulary.dimension_titles[vocabulary.reported_name[key]],
      pass_score: vocabulary.safe_scores[key],
    }));
  }

  function readJSON(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  async function loadData() {
    const raw = readJSON("crosseval-data");
    if (raw && typeof raw.gzip_base64 === "string") {
      const bytes = Uint8Array.from(atob(raw.gzip_base64), (c) => c.charCodeAt(0));
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      return JSON.parse(await new Response(stream).text());
    }
    return raw;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function verdictOutcome(verdict, dimension) {
    if (!verdict) return "missing";
    if (verdict.status !== "ok") return verdict.status;
    return verdict.score === dimension.pass_score ? "pass" : "fail";
  }

  function roundOutcome(round, dimension) {
    if (round.status !== "ok") return "generation_error";
    return verdictOutcome(round.verdicts[dimension.key], dimension);
  }

  /* Precomputed per sample: search text and, per model, which outcomes occur. */
  function index(data) {
    for (const sample of data.samples) {
      const parts = [sample.id, sample.country, sample.language, sample.item || "", sample.query, sample.norm];
      if (sample.english_query) parts.push(sample.english_query);
      sample._outcomes = {};
      for (const [modelKey, rounds] of Object.entries(sample.results)) {
        const seen = new Set();
        for (const round of rounds) {
          if (round.response) parts.push(round.response);
          for (const dimension of data.dimensions) {
            const outcome = roundOutcome(round, dimension);
            seen.add(outcome);
            if (outcome === "fail") seen.add("fail:" + dimension.key);
          }
        }
        sample._outcomes[modelKey] = seen;
      }
      sample._search = parts.join("\n").toLowerCase();
    }
  }

  const FILTERS = ["country", "language", "subset", "setting", "model", "outcome", "search"];

  function fillOptions(select, values) {
    for (const [value, label] of values) select.append(el("option", { value }, label));
  }

  function setupFilters(data) {
    const unique = (key) => [...new Set(data.samples.map((s) => s[key]))];
    const byName = (a, b) => a.localeCompare(b);
    const languages = unique("language").sort(byName);
    if (languages.includes("English")) languages.splice(languages.indexOf("English"), 1), languages.unshift("English");
    fillOptions(document.getElementById("f-country"), unique("country").sort(byName).map((v) => [v, v]));
    fillOptions(document.getElementById("f-language"), languages.map((v) => [v, v]));
    fillOptions(document.getElementById("f-subset"), unique("subset").map((v) => [v, data.subset_labels[v] || v]));
    fillOptions(document.getElementById("f-setting"), unique("setting").map((v) => [v, data.setting_labels[v] || v]));
    fillOptions(document.getElementById("f-model"), data.models.map((m) => [m.key, m.label]));
    const outcomes = [["fail:any", "Failed any dimension"]];
    for (const d of data.dimensions) outcomes.push(["fail:" + d.key, "Failed " + d.label]);
    outcomes.push(["errors", "Judge or generation errors"], ["missing", "Not judged yet"]);
    fillOptions(document.getElementById("f-outcome"), outcomes);
  }

  function readFilters() {
    const state = {};
    for (const name of FILTERS) state[name] = document.getElementById("f-" + name).value;
    return state;
  }

  function matches(sample, filters, modelKeys, unscoredStatuses) {
    for (const key of ["country", "language", "subset", "setting"]) {
      if (filters[key] && sample[key] !== filters[key]) return false;
    }
    if (filters.model && !sample.results[filters.model]) return false;
    if (filters.search && !sample._search.includes(filters.search.trim().toLowerCase())) return false;
    if (!filters.outcome) return true;
    return modelKeys.some((key) => {
      const seen = sample._outcomes[key];
      if (!seen) return false;
      if (filters.outcome === "fail:any") return seen.has("fail");
      if (filters.outcome === "errors") {
        return [...unscoredStatuses, "generation_error"].some((o) => seen.has(o));
      }
      return seen.has(filters.outcome);
    });
  }

  function thumbnail(images, sha, className) {
    const image = sha ? images[sha] : null;
    if (!image) return el("div", { class: className + " no-image" }, "no image");
    return el("img", {
      class: className,
      src: "data:" + image.mime + ";base64," + image.b64,
      alt: "sample image",
      loading: "lazy",
      decoding: "async",
    });
  }

  function miniGrid(data, sample, modelKeys) {
    const grid = el("div", { class: "mini-grid" });
    grid.append(el("span", { class: "mini-head" }), ...data.dimensions.map((d) => el("span", { class: "mini-head", title: d.label }, d.label.slice(0, 3))));
    for (const key of modelKeys) {
      const model = data.models.find((m) => m.key === key);
      const rounds = sample.results[key] || [];
      grid.append(el("span", { class: "mini-model", title: model.label }, model.label));
      for (const dimension of data.dimensions) {
        const cell = el("span", { class: "mini-cell" });
        if (!rounds.length) cell.append(el("span", { class: "mark none", title: "not generated" }, "–"));
        for (const round of rounds) {
          const outcome = roundOutcome(round, dimension);
          cell.append(el("span", {
            class: "mark " + outcomeClasses(data.vocabulary, outcome),
            title: `${model.label} · round ${round.round} · ${dimension.label}: ${outcomeLabel(data.vocabulary, outcome)}`,
          }, OUTCOME_MARKS[outcome] || "?"));
        }
        grid.append(cell);
      }
    }
    return grid;
  }

  function verdictItem(vocabulary, dimension, round) {
    const verdict = round.verdicts[dimension.key];
    const outcome = verdictOutcome(verdict, dimension);
    let label = outcomeLabel(vocabulary, outcome);
    if (dimension.key === "violation" && outcome === "fail") label = "Fail · violates the norm";
    const explanation = [];
    if (verdict && verdict.reason) explanation.push(el("p", { class: "reason" }, verdict.reason));
    if (verdict && verdict.error) explanation.push(el("p", { class: "verdict-error" }, verdict.error));
    if (verdict && verdict.status !== "ok" && !verdict.error) {
      explanation.push(el("p", { class: "reason muted" }, vocabulary.status_notes[verdict.status] || "Not scored."));
    }
    if (verdict && verdict.raw) {
      explanation.push(el("details", { class: "raw" }, el("summary", {}, "judge's raw reply"), el("pre", {}, verdict.raw)));
    }
    if (!verdict) explanation.push(el("p", { class: "reason muted" }, "No verdict stored for this dimension yet."));
    return el("li", { class: "verdict", dataset: { dimension: dimension.key, status: verdict ? verdict.status : "missing", outcome } },
      el("div", { class: "verdict-head" },
        el("span", { class: "dim" }, dimension.label),
        el("span", { class: "status " + outcomeClasses(vocabulary, outcome) }, label),
        verdict && verdict.status === "ok" ? el("span", { class: "score", title: "judge score (" + dimension.key + ")" }, dimension.key + " = " + verdict.score) : null),
      explanation);
  }

  function roundView(data, round) {
    const body = [];
    if (round.status === "ok") {
      body.push(el("div", { class: "response" }, round.response || "(empty response)"));
      if (round.finish_reason) body.push(el("p", { class: "note" }, "finish reason: " + round.finish_reason));
      body.push(el("ul", { class: "verdicts" }, data.dimensions.map((d) => verdictItem(data.vocabulary, d, round))));
    } else {
      body.push(el("div", { class: "gen-error" },
        el("strong", {}, "Generation failed" + (round.error_kind ? " (" + round.error_kind + ")" : "")),
        el("p", {}, round.error || ""),
        el("p", { class: "note" }, "A failed generation is never judged or scored.")));
    }
    return el("div", { class: "round", dataset: { round: round.round, status: round.status } },
      el("h5", {}, "Round " + round.round), body);
  }

  function detailView(data, images, sample, modelKeys) {
    const facts = el("dl", { class: "facts" });
    const fact = (name, value) => value !== null && value !== undefined && value !== "" && facts.append(el("dt", {}, name), el("dd", {}, String(value)));
    fact("Item", sample.item);
    fact("Domain", sample.domain.replace(/_/g, " "));
    fact("Base item", sample.base_id);
    fact("Paraphrase", sample.setting === "english" ? sample.variant : null);
    const text = el("div", { class: "texts" },
      el("h4", {}, sample.setting === "english" ? "Query" : "Query (" + sample.language + ", as sent)"),
      el("p", { class: "query", lang: sample.setting === "english" ? "en" : null }, sample.query),
      sample.english_query ? [el("h4", {}, "English source"), el("p", { class: "query", lang: "en" }, sample.english_query)] : null,
      el("h4", {}, "Norm (the judge's reference)"),
      el("p", { class: "norm" }, sample.norm));
    const top = el("div", { class: "detail-top" }, el("div", { class: "detail-image" }, thumbnail(images, sample.image, "thumb-large"), facts), text);
    const results = modelKeys.map((key) => {
      const model = data.models.find((m) => m.key === key);
      const rounds = sample.results[key] || [];
      return el("section", { class: "model-result", dataset: { model: key } },
        el("h4", {}, model.label, model.judge_config ? el("span", { class: "judge" }, "judge config " + model.judge_config) : null),
        rounds.length ? el("div", { class: "rounds" }, rounds.map((r) => roundView(data, r))) : el("p", { class: "empty" }, "No response generated yet."));
    });
    return el("div", { class: "detail" }, top, results);
  }

  function sampleView(data, images, sample, modelKeys, expanded, onToggle) {
    const head = el("button", { type: "button", class: "sample-head", "aria-expanded": expanded ? "true" : "false", onclick: onToggle },
      thumbnail(images, sample.image, "thumb"),
      el("div", { class: "sample-main" },
        el("div", { class: "sample-meta" },
          el("span", { class: "sample-id" }, sample.id),
          el("span", { class: "tag" }, data.subset_labels[sample.subset] || sample.subset),
          el("span", { class: "tag" }, sample.country),
          el("span", { class: "tag" }, sample.language)),
        el("p", { class: "snippet" }, sample.query)),
      miniGrid(data, sample, modelKeys));
    const article = el("article", { class: "sample" + (expanded ? " open" : ""), dataset: { sampleId: sample.id } }, head);
    if (expanded) article.append(detailView(data, images, sample, modelKeys));
    return article;
  }

  function pager(container, page, pages, go) {
    container.replaceChildren();
    if (pages <= 1) return;
    container.append(
      el("button", { type: "button", class: "page-prev", disabled: page === 0, onclick: () => go(page - 1) }, "‹ Prev"),
      el("span", { class: "page-info" }, `page ${page + 1} of ${pages}`),
      el("button", { type: "button", class: "page-next", disabled: page >= pages - 1, onclick: () => go(page + 1) }, "Next ›"));
  }

  function saveState(state) {
    try {
      sessionStorage.setItem(STATE_KEY, JSON.stringify(state));
    } catch (e) {
      /* storage may be disabled (private mode, file:// policies); the page works without it */
    }
  }

  function loadState() {
    try {
      return JSON.parse(sessionStorage.getItem(STATE_KEY) || "null");
    } catch (e) {
      return null;
    }
  }

  function startBrowser(data, images) {
    data.dimensions = dimensionsOf(data.vocabulary);
    index(data);
    setupFilters(data);
    const list = document.getElementById("sample-list");
    const count = document.getElementById("result-count");
    const expanded = new Set();
    let page = 0;

    const saved = loadState();
    if (saved && saved.filters) {
      for (const name of FILTERS) {
        const input = document.getElementById("f-" + name);
        const value = saved.filters[name] || "";
        if (input.tagName === "INPUT" || [...input.options].some((o) => o.value === value)) input.value = value;
      }
      page = saved.page || 0;
      (saved.expanded || []).forEach((id) => expanded.add(id));
    }

    function render() {
      const filters = readFilters();
      const modelKeys = filters.model ? [filters.model] : data.models.map((m) => m.key);
      const visible = data.samples.filter((s) => matches(s, filters, modelKeys, data.vocabulary.unscored_statuses));
      const pages = Math.max(1, Math.ceil(visible.length / PAGE_SIZE));
      page = Math.min(page, pages - 1);
      const start = page * PAGE_SIZE;
      const shown = visible.slice(start, start + PAGE_SIZE);
      list.replaceChildren(...shown.map((s) => sampleView(data, images, s, modelKeys, expanded.has(s.id), () => {
        if (expanded.has(s.id)) expanded.delete(s.id);
        else expanded.add(s.id);
        render();
      })));
      if (!shown.length) list.append(el("p", { class: "empty" }, "No sample matches these filters."));
      const total = data.samples.length;
      count.textContent = visible.length
        ? `Showing ${start + 1}–${start + shown.length} of ${visible.length} samples` + (visible.length < total ? ` (filtered from ${total})` : "")
        : `0 of ${total} samples`;
      count.dataset.visible = String(visible.length);
      const go = (p) => {
        page = p;
        render();
        document.getElementById("samples").scrollIntoView();
      };
      pager(document.getElementById("pager-top"), page, pages, go);
      pager(document.getElementById("pager-bottom"), page, pages, go);
      saveState({ filters, page, expanded: [...expanded] });
    }

    for (const name of FILTERS) {
      const input = document.getElementById("f-" + name);
      input.addEventListener(input.tagName === "INPUT" ? "input" : "change", () => {
        page = 0;
        render();
      });
    }
    document.getElementById("f-reset").addEventListener("click", () => {
      for (const name of FILTERS) document.getElementById("f-" + name).value = "";
      page = 0;
      expanded.clear();
      render();
    });
    render();
    document.body.dataset.ready = "true";
  }

  function setupChartSwitches() {
    for (const select of document.querySelectorAll(".chart-switch")) {
      select.addEventListener("change", () => {
        const panels = select.closest("figure").querySelectorAll(".chart-panel");
        panels.forEach((panel, i) => { panel.hidden = String(i) !== select.value; });
      });
    }
  }

  const SCROLL_KEY = STATE_KEY + "-scroll";

  function rememberScroll(value) {
    try {
      if (value === null) sessionStorage.removeItem(SCROLL_KEY);
      else sessionStorage.setItem(SCROLL_KEY, value);
    } catch (e) {
      /* without storage a reload starts at the top */
    }
  }

  /* After a live reload, return to where the reader was (once the sample list has its height). */
  function restoreScroll() {
    let scroll = 0;
    try {
      scroll = Number(sessionStorage.getItem(SCROLL_KEY) || "0");
    } catch (e) {
      scroll = 0;
    }
    if (scroll) window.scrollTo({ top: scroll, behavior: "instant" });
    rememberScroll(null);
  }

  function watchForChanges(config) {
    const badge = document.getElementById("live-badge");
    setInterval(async () => {
      try {
        const reply = await fetch("version", { cache: "no-store" });
        if (!reply.ok) return;
        const { version } = await reply.json();
        if (badge) { badge.textContent = "live"; badge.classList.remove("offline"); }
        if (version !== config.version) {
          rememberScroll(String(window.scrollY));
          window.location.reload();
        }
      } catch (e) {
        if (badge) { badge.textContent = "offline"; badge.classList.add("offline"); }
      }
    }, config.poll_ms);
  }

  function fail(error) {
    const box = document.getElementById("fatal");
    box.hidden = false;
    box.textContent = "The sample browser could not start: " + (error && error.message ? error.message : String(error));
    console.error(error);
  }

  async function main() {
    const config = readJSON("crosseval-config");
    setupChartSwitches();
    if (config.live) watchForChanges(config);
    const images = readJSON("crosseval-images");
    const data = await loadData();
    startBrowser(data, images);
    if (config.live) restoreScroll();
  }

  main().catch(fail);
})();
