/* lawful web page. Vanilla JavaScript, no library, nothing from the network but this service's API.
 *
 * Every value that comes from a bundle (names, titles, reasons, links) is put into the page as text — with
 * textContent or text nodes, never as HTML — and a link is made only from an http(s) URL.
 */
"use strict";

(() => {
  const state = {
    names: null,               // GET /v1/names
    index: {},                 // kind -> Map(id lower -> entry)
    bundle: null,              // GET /v1/bundle
    token: sessionStorage.getItem("lawful-token") || null,
    record: null,              // what the decision record shows
  };
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];
  const KIND_OF_PICKER = { organisation: "organisations", data: "data", purpose: "purposes" };

  // ---- small helpers --------------------------------------------------------------------------------

  /** An element with attributes and children; strings become text nodes (never HTML). */
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const $ = (id) => document.getElementById(id);

  /** A link only for an http(s) URL; anything else is shown as text. */
  function link(url, text) {
    try {
      const u = new URL(url);
      if (u.protocol === "https:" || u.protocol === "http:") {
        return el("a", { href: u.href, rel: "noopener noreferrer", target: "_blank" }, text || u.href);
      }
    } catch (_e) { /* not a URL */ }
    return document.createTextNode(text || String(url || ""));
  }

  /** Error messages (diagnostics, for the authors of the rules too) put `backticks` around names: show the
   * names plainly. The words of a decision have none. */
  const plainWords = (text) => String(text || "").replace(/`([^`]*)`/g, "$1");

  function todayIso() {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }

  function spoken(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) return iso || "";
    return `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]} ${m[1]}`;
  }

  function entry(kind, id) {
    const map = state.index[kind];
    return map ? map.get(String(id || "").toLowerCase()) || null : null;
  }

  function named(kind, id) {
    const e = entry(kind, id);
    return e && e.title && e.title !== id ? `${e.title} (${id})` : String(id);
  }

  function badges(sensitivity) {
    return (sensitivity || []).map((s) => el("span", { class: `badge ${s}` }, s.replace("-", " ")));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // ---- the API ------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, help, suggestions) {
      super(message);
      this.help = help;
      this.suggestions = suggestions || [];
    }
  }

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
    if (state.token) opts.headers.Authorization = `Bearer ${state.token}`;
    let r;
    try {
      r = await fetch(path, opts);
    } catch (_e) {
      throw new ApiError("The service could not be reached.", "Check that `lawful web` or `lawful serve` is still running.");
    }
    if (r.status === 401) {
      $("token-box").hidden = false;
      $("token-input").focus();
      throw new ApiError("This service needs an access token.", "Enter it above, then ask again.");
    }
    if (!r.ok) {
      let first = {};
      try { first = ((await r.json()).errors || [])[0] || {}; } catch (_e) { /* not JSON */ }
      throw new ApiError(plainWords(first.message || `The service answered ${r.status}.`), plainWords(first.help || ""),
        first.suggestions);
    }
    return options && options.raw ? r : r.json();
  }

  function showError(id, err) {
    const box = $(id);
    clear(box);
    box.append(err.message || String(err));
    if (err.help) box.append(" ", err.help);
    if (err.suggestions && err.suggestions.length) box.append(` Did you mean: ${err.suggestions.join(", ")}?`);
    box.hidden = false;
  }

  function hideError(id) {
    const box = $(id);
    clear(box);
    box.hidden = true;
  }

  // ---- tabs ---------------------------------------------------------------------------------------------

  function setupTabs() {
    const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
    const select = (tab, focus) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        $(t.getAttribute("aria-controls")).hidden = !on;
      }
      if (focus) tab.focus();
    };
    for (const t of tabs) {
      t.addEventListener("click", () => select(t, true));
      t.addEventListener("keydown", (ev) => {
        const i = tabs.indexOf(t);
        const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
        if (to === undefined) return;
        ev.preventDefault();
        select(tabs[(to + tabs.length) % tabs.length], true);
      });
    }
  }

  // ---- pickers: a combobox over titles, ids and other names, with sensitivity badges --------------------

  function matches(item, q) {
    if (!q) return 1;
    const id = item.id.toLowerCase();
    const title = (item.title || "").toLowerCase();
    const aliases = (item.aliases || []).map((a) => a.toLowerCase());
    if (id === q || title === q || aliases.includes(q)) return 4;
    if (id.startsWith(q) || title.startsWith(q) || aliases.some((a) => a.startsWith(q))) return 3;
    if (title.split(/\s+/).some((w) => w.startsWith(q))) return 2;
    if (id.includes(q) || title.includes(q) || aliases.some((a) => a.includes(q))) return 1;
    return 0;
  }

  function setupPicker(field) {
    const kind = field.dataset.picker;
    const input = field.querySelector("input");
    const listId = `${input.id}-list`;
    const chosen = el("p", { id: `${input.id}-chosen`, class: "said" });
    const list = el("ul", { id: listId, role: "listbox", class: "listbox", "aria-label": field.querySelector("label").textContent });
    list.hidden = true;
    input.after(list);
    field.append(chosen);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("aria-describedby", chosen.id);
    input.setAttribute("autocomplete", "off");
    input.setAttribute("spellcheck", "false");
    let shown = [];
    let active = -1;

    const items = () => (state.names ? state.names[KIND_OF_PICKER[kind]] : []);

    function describe() {
      clear(chosen);
      const v = input.value.trim();
      if (!v) return;
      const q = v.toLowerCase();
      const hit = items().find((it) => matches(it, q) === 4);
      if (hit) {
        chosen.append(`${hit.title} (${hit.id})`, ...badges(hit.sensitivity));
        if (hit.end) chosen.append(` — until ${spoken(hit.end)}`);
      } else {
        chosen.append("Not a name this service knows: choose one from the list.");
      }
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(i) {
      const opts = list.querySelectorAll('[role="option"]');
      opts.forEach((o, j) => o.setAttribute("aria-selected", j === i ? "true" : "false"));
      active = i;
      if (i >= 0 && opts[i]) {
        input.setAttribute("aria-activedescendant", opts[i].id);
        opts[i].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(i) {
      const it = shown[i];
      if (!it) return;
      input.value = it.id;
      close();
      describe();
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function open() {
      const q = input.value.trim().toLowerCase();
      shown = items().map((it) => [matches(it, q), it]).filter(([s]) => s > 0)
        .sort((a, b) => b[0] - a[0] || a[1].id.localeCompare(b[1].id)).slice(0, 60).map(([, it]) => it);
      clear(list);
      shown.forEach((it, i) => {
        const more = [it.title];
        if (it.aliases && it.aliases.length) more.push(`also ${it.aliases.join(", ")}`);
        if (it.parent) more.push(kind === "organisation" ? `part of ${it.parent}` : `under ${it.parent}`);
        const opt = el("li", { id: `${listId}-${i}`, role: "option", "aria-selected": "false" },
          el("span", { class: "opt-id" }, it.id), ...badges(it.sensitivity), el("span", { class: "opt-more" }, more.join(" — ")));
        opt.addEventListener("mousedown", (ev) => { ev.preventDefault(); choose(i); });
        list.append(opt);
      });
      if (!shown.length) list.append(el("li", { role: "option", "aria-disabled": "true", "aria-selected": "false" }, "No name matches"));
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(-1);
    }

    input.addEventListener("input", () => { open(); describe(); });
    input.addEventListener("change", describe);
    // Closed a moment after focus leaves (a click on an option lands first), unless focus has come back.
    input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== input) close(); }, 150));
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown") {
        ev.preventDefault();
        if (list.hidden) open();
        highlight(Math.min(active + 1, shown.length - 1));
      } else if (ev.key === "ArrowUp") {
        ev.preventDefault();
        highlight(Math.max(active - 1, 0));
      } else if (ev.key === "Enter" && !list.hidden && active >= 0) {
        ev.preventDefault();
        choose(active);
      } else if (ev.key === "Escape" && !list.hidden) {
        ev.preventDefault();
        close();
      }
    });
  }

  // ---- dates --------------------------------------------------------------------------------------------

  function setupDate(input, defaultIso, label) {
    const said = $(`${input.id}-said`);
    input.value = defaultIso;
    const say = () => {
      clear(said);
      if (!input.value) { said.append("Choose a date."); return; }
      const today = input.value === todayIso() ? " (today)" : "";
      said.append(`${label} ${spoken(input.value)}${today}.`);
    };
    input.addEventListener("input", say);
    input.addEventListener("change", say);
    say();
  }

  // ---- asking about one flow ----------------------------------------------------------------------------

  function askValues() {
    const v = (id) => $(id).value.trim();
    return { source: v("ask-source"), recipient: v("ask-recipient"), data: v("ask-data"), purpose: v("ask-purpose"), on: v("ask-on") };
  }

  async function ask(ev) {
    ev.preventDefault();
    hideError("ask-error");
    const q = askValues();
    const missing = [["source", "who would share it"], ["recipient", "who would receive it"], ["data", "what data"], ["on", "the date"]]
      .filter(([k]) => !q[k]).map(([, w]) => w);
    if (missing.length) {
      showError("ask-error", { message: `Please fill in ${missing.join(", ")}.` });
      return;
    }
    const body = { source: q.source, recipient: q.recipient, data: q.data, on: q.on };
    if (q.purpose) body.purpose = q.purpose;
    await askQuestion(body);
  }

  /** Ask `body` (a question as POST /v1/decide takes it) and show the answer under the form. */
  async function askQuestion(body) {
    const out = clear($("ask-result"));
    out.append(el("p", { class: "status" }, "Asking…"));
    try {
      const answer = await api("/v1/decide", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      clear(out);
      showDecisions(out, answer.decisions, answer.records || null);
    } catch (err) {
      clear(out);
      showError("ask-error", err);
    }
  }

  function verdictWords(d) { return d.verdict === "allow" ? "ALLOWED" : "NOT ALLOWED"; }

  function showDecisions(out, decisions, records) {
    if (decisions.length === 1) {
      out.append(decisionView(decisions[0], records ? records[0] : null));
      state.record = { decisions, records };
      out.append(recordButton());
      return;
    }
    const allowed = decisions.filter((d) => d.verdict === "allow").map((d) => d.question.purpose);
    const denied = decisions.filter((d) => d.verdict !== "allow").map((d) => d.question.purpose);
    const q = decisions[0].question;
    out.append(el("h3", {}, `${named("organisation", q.source)} → ${named("organisation", q.recipient)}: ${named("data", q.data)}, on ${spoken(q.on)}, for each purpose`));
    out.append(el("p", {}, el("strong", { class: "began" }, `Allowed for ${allowed.length}: `), allowed.join(", ") || "none"));
    out.append(el("p", {}, el("strong", { class: "ended" }, `Not allowed for ${denied.length}: `), denied.join(", ") || "none"));
    decisions.forEach((d, i) => {
      out.append(el("details", {}, el("summary", {}, `${named("purpose", d.question.purpose)}: ${verdictWords(d)}`),
        decisionView(d, records ? records[i] : null)));
    });
    state.record = { decisions, records };
    out.append(recordButton());
  }

  function statuteLine(ref) {
    const s = ref && ref.statute;
    if (!s) return null;
    const words = `${s.title || s.id}${s.provision ? `, ${s.provision}` : ""}`;
    return s.url ? link(s.url, words) : document.createTextNode(words);
  }

  function agreementFacts(id) {
    const a = entry("agreement", id);
    if (!a) return [];
    const facts = [];
    if (a.details.owner) facts.push(`owner: ${a.details.owner}`);
    if (a.details.review) facts.push(`review due ${spoken(a.details.review)}`);
    if (a.start) facts.push(`in force from ${spoken(a.start)}`);
    if (a.end) facts.push(`ends ${spoken(a.end)}`);
    return facts;
  }

  function decisionView(d, record) {
    const q = d.question;
    const box = el("article", { class: "answer", "aria-label": `Answer: ${verdictWords(d)}` });
    box.append(el("p", { class: `verdict ${d.verdict === "allow" ? "allow" : "deny"}`, "data-verdict": d.verdict }, verdictWords(d)));
    const data = entry("data", q.data);
    box.append(el("p", {}, el("strong", {}, "Question: "),
      `may ${named("organisation", q.source)} share ${named("data", q.data)} with ${named("organisation", q.recipient)}, for ${named("purpose", q.purpose)}, on ${spoken(q.on)}?`,
      ...badges(data ? data.sensitivity : d.sensitivity)));
    box.append(el("p", { class: "why" }, el("strong", {}, "Why: "), plainWords(d.headline.replace(/^(ALLOWED|DENIED) — /, ""))));
    if (d.basis) {
      const g = d.basis.gateway;
      box.append(el("p", {}, el("strong", {}, "The law: "), statuteLine(g) || "no statute recorded",
        ` — gateway ${g.id}: ${g.title}`));
      if (d.basis.agreement) {
        const a = d.basis.agreement;
        box.append(el("p", {}, el("strong", {}, "The agreement: "), `${a.id}: ${a.title}`,
          agreementFacts(a.id).length ? ` (${agreementFacts(a.id).join("; ")})` : ""));
      }
      if (d.basis.lawful_basis) box.append(el("p", {}, el("strong", {}, "Lawful basis: "), d.basis.lawful_basis));
      if (d.basis.article_9) box.append(el("p", {}, el("strong", {}, "Special category condition: "), d.basis.article_9));
      if (d.basis.article_10) box.append(el("p", {}, el("strong", {}, "Criminal offence data condition: "), d.basis.article_10));
      if (d.basis.onward) box.append(el("p", { class: "onward" }, el("strong", {}, "What they may do with it next: "), onwardWords(d.basis.onward, q.recipient, q.source)));
    }
    const live = d.blocks.filter((b) => !b.overridden_by);
    if (live.length) {
      box.append(el("h4", {}, "What stands in the way"));
      box.append(el("ul", {}, live.map((b) => el("li", {},
        b.one_way ? el("strong", {}, "One-way block: ") : "Block: ",
        statuteLine(b.restriction) || b.restriction.title, ` — ${b.restriction.title} (${b.restriction.id})`,
        b.one_way ? `. ${named("organisation", q.source)} may not disclose this data to anyone, whoever receives it.` : ""))));
    }
    if (d.conditions.length) {
      box.append(el("h4", {}, "Conditions"));
      box.append(el("ul", {}, d.conditions.map((c) => el("li", {}, plainWords(c.text), el("span", { class: "dim" }, ` (agreement ${c.agreement})`)))));
    }
    const relied = d.conditions_relied_on || [];
    if (relied.length) {
      box.append(el("h4", {}, "Taken as established, as you confirmed"));
      box.append(el("ul", {}, relied.map((c) => el("li", {}, c.title, el("span", { class: "dim" }, ` (${c.id}, required by ${c.kind} ${c.rule})`)))));
    }
    const actions = d.fixes.filter((f) => f.kind !== "assume-statute");
    const laws = d.fixes.filter((f) => f.kind === "assume-statute");
    if (actions.length) {
      box.append(el("h4", {}, "What would make it lawful"));
      box.append(el("ul", { class: "todo" }, actions.map((f) => el("li", {}, fixWords(f),
        f.kind === "given-conditions" && f.args && f.args.conditions ? confirmForm(d, f) : ""))));
    }
    if (laws.length) {
      box.append(el("h4", {}, "Only a change in the law would make it lawful"));
      box.append(el("ul", {}, laws.map((f) => el("li", {}, fixWords(f)))));
    }
    if (d.routes.length) {
      box.append(el("h4", {}, "Lawful indirect routes"));
      box.append(el("ul", {}, d.routes.map((r) => el("li", {}, r.path.join(" → "),
        el("span", { class: "dim" }, ` (${r.hops.map((h) => h.gateway + (h.agreement ? ` / ${h.agreement}` : "")).join("; ")})`)))));
    }
    if (d.considered.length) {
      box.append(el("details", {}, el("summary", {}, `Also looked at (${d.considered.length})`),
        el("ul", {}, d.considered.map((c) => el("li", {}, `${c.kind} ${c.id}: ${plainWords(c.reason)}`)))));
    }
    if (record) box.append(el("p", { class: "dim" }, `Recorded in the decision log as record ${record.seq} (${record.hash}).`));
    return box;
  }

  /** For a fix that needs declared conditions (facts only a person can establish, such as an authority given
   * or the recipient's relation to the pupils): a box per condition, and a button that asks the same question
   * again with the ticked ones taken as established (`given`), as `can-share --given` does. The engine never
   * assumes them: the person asking confirms each. */
  function confirmForm(d, f) {
    const q = d.question;
    const already = q.given || [];  // what the question already took as established
    const form = el("form", { class: "confirm no-print" });
    const boxes = f.args.conditions.map((id, i) => {
      const box = el("input", { type: "checkbox", name: "given", value: id, id: `given-${q.purpose}-${id}` });
      return el("label", { for: box.id }, box, ` ${f.args.titles ? f.args.titles[i] : id} (${id})`);
    });
    form.append(el("fieldset", {}, el("legend", {}, "Can you confirm this?"), ...boxes));
    form.append(el("button", { type: "submit" }, "Ask again with this confirmed"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const ticked = [...form.querySelectorAll("input[name=given]:checked")].map((b) => b.value);
      if (!ticked.length) return;
      const body = { source: q.source, recipient: q.recipient, data: q.data, purpose: q.purpose, on: q.on,
        given: [...new Set([...already, ...ticked])] };
      askQuestion(body);
    });
    return form;
  }

  /** A fix as something a person can do (or, for a proposed statute, what new law would do): the words the
   * engine wrote for it (engine/render/words.py), the same as the terminal's and the JSON's. */
  function fixWords(f) {
    return plainWords(f.description);
  }

  /** What the recipient may do with the data next, from the onward permission as the engine states it
   * (`none`, or limits joined with " and "): the same words as engine/render/words.py `onward_words`. */
  function onwardWords(onward, holder, discloser) {
    if (onward === "none") return holder ? `not pass it on (it may not leave ${holder})` : "not pass it on";
    if (onward === "unrestricted") return "pass it on without limit";
    const parts = String(onward || "").split(" and ").map((part) => {
      const i = part.indexOf(" ");
      const word = i < 0 ? part : part.slice(0, i);
      const names = i < 0 ? "" : part.slice(i + 1);
      switch (word) {
        case "to": return `only to ${names}`;
        case "only-for": return `only for ${names}`;
        case "as-discloser": return `only where ${discloser || "the body that disclosed it"} could itself lawfully share it directly`;
        case "lawful": return "in any other lawful sharing, for any purpose";
        case "for": return `also for ${names}`;
        case "as": return `as ${names}`;
        default: return part;
      }
    });
    return `pass it on ${parts.join(", and ")}`;
  }

  function recordButton() {
    return el("div", { class: "actions" }, el("button", { type: "button", id: "print-record", onclick: printRecord },
      "Print the decision record"));
  }

  function fillRecord() {
    const rec = clear($("record"));
    const { decisions, records } = state.record;
    rec.append(el("h2", {}, "Decision record"));
    decisions.forEach((d, i) => {
      const q = d.question;
      const facts = [
        ["Question", `May ${named("organisation", q.source)} share ${named("data", q.data)} with ${named("organisation", q.recipient)}, for ${named("purpose", q.purpose)}?`],
        ["Date of the sharing", `${spoken(q.on)} (${q.on})`],
        ["Answer", verdictWords(d)],
        ["Why", plainWords(d.headline.replace(/^(ALLOWED|DENIED) — /, ""))],
      ];
      if (d.basis) facts.push(["Basis", `gateway ${d.basis.gateway.id}${d.basis.agreement ? `, agreement ${d.basis.agreement.id}` : ""}${d.basis.gateway.statute ? ` (${d.basis.gateway.statute.title}${d.basis.gateway.statute.provision ? `, ${d.basis.gateway.statute.provision}` : ""})` : ""}`]);
      for (const b of d.blocks) facts.push(["Blocked by", `${b.restriction.id}: ${b.restriction.title}${b.one_way ? " (one-way)" : ""}`]);
      for (const c of d.conditions) facts.push(["Condition", plainWords(c.text)]);
      for (const c of d.conditions_relied_on || []) facts.push(["Confirmed by the person asking", `${c.title} (${c.id})`]);
      for (const f of d.fixes) facts.push([f.kind === "assume-statute" ? "Would need a change in the law" : "To do", fixWords(f)]);
      facts.push(["Decision log record", records && records[i] ? `${records[i].hash} (record ${records[i].seq})` : "not recorded: this service keeps no decision log"]);
      rec.append(el("dl", { class: "record-decision" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
    });
    const b = state.bundle;
    rec.append(el("dl", {},
      el("dt", {}, "Rules (content hash of the policy files)"), el("dd", { id: "record-bundle" }, b ? `sha256:${b.digest}` : "unknown"),
      el("dt", {}, "Engine version"), el("dd", {}, state.version || "unknown"),
      el("dt", {}, "Produced"), el("dd", {}, new Date().toISOString())));
  }

  function printRecord() {
    fillRecord();
    const rec = $("record");
    rec.hidden = false;
    document.body.classList.add("printing");
    const done = () => {
      document.body.classList.remove("printing");
      rec.hidden = true;
      window.removeEventListener("afterprint", done);
    };
    window.addEventListener("afterprint", done);
    window.print();
  }

  // ---- who can we share with ----------------------------------------------------------------------------

  async function who(ev) {
    ev.preventDefault();
    hideError("who-error");
    const form = $("who-form");
    const kind = form.querySelector('input[name="kind"]:checked').value;
    const org = $("who-org").value.trim();
    const data = $("who-data").value.trim();
    const purpose = $("who-purpose").value.trim();
    const on = $("who-on").value;
    if (!org || !data || !on) {
      showError("who-error", { message: "Please fill in who you are, what data and the date." });
      return;
    }
    const params = new URLSearchParams({ kind, organisation: org, data, on });
    if (purpose) params.set("purpose", purpose);
    const out = clear($("who-result"));
    out.append(el("p", { class: "status" }, "Looking…"));
    try {
      const r = await api(`/v1/reach?${params}`);
      clear(out);
      showReach(out, r, kind);
    } catch (err) {
      clear(out);
      showError("who-error", err);
    }
  }

  function showReach(out, r, kind) {
    const verb = kind === "recipients" ? "may receive" : "may send";
    const prep = kind === "recipients" ? "from" : "to";
    const about = `${named("data", r.data)} ${prep} ${named("organisation", r.organisation)} on ${spoken(r.on)}` +
      (r.purposes.length === 1 ? `, for ${named("purpose", r.purposes[0])}` : "");
    const byOrg = new Map();
    // A body and its own parts share one legal person: passing data between them is no disclosure (issue 12).
    const sameBody = [...new Set(r.found.filter((x) => x.same_body).map((x) => x.organisation))];
    for (const x of r.found.filter((y) => !y.same_body)) {
      if (!byOrg.has(x.organisation)) byOrg.set(x.organisation, []);
      byOrg.get(x.organisation).push(x);
    }
    const within = sameBody.length
      ? el("p", {}, `Within the same legal person (not a disclosure between bodies): ${sameBody.join(", ")}.`) : null;
    if (!byOrg.size) {
      out.append(el("p", { class: "verdict deny" }, "No one"));
      out.append(el("p", {}, `No organisation ${verb} ${about}.`));
      if (within) out.append(within);
      if (r.why_no_one.length) {
        out.append(el("h3", {}, "Why"));
        out.append(el("ul", {}, r.why_no_one.map((w) => el("li", {}, plainWords(w.reason),
          w.flows.length ? el("details", {}, el("summary", {}, `For example (${w.flows.length})`), el("ul", {}, w.flows.map((f) => el("li", {}, f)))) : null))));
      }
      return;
    }
    out.append(el("h3", {}, `${byOrg.size} organisation${byOrg.size === 1 ? "" : "s"} ${verb} ${about}`));
    const rows = [];
    for (const [org, xs] of byOrg) {
      const direct = xs.filter((x) => x.direct);
      const routed = xs.filter((x) => !x.direct);
      const how = [];
      if (direct.length) {
        const h = direct[0].direct.hops[0];
        how.push(`directly, under ${h.gateway}${h.agreement ? ` / ${h.agreement}` : ""}, for ${direct.map((x) => x.purpose).join(", ")}`);
      }
      if (routed.length) {
        how.push(`by route ${routed[0].routes[0].path.join(" → ")}, for ${routed.map((x) => x.purpose).join(", ")}`);
      }
      rows.push(el("tr", {}, el("td", {}, named("organisation", org)), el("td", {}, how.join("; "))));
    }
    out.append(el("table", {}, el("caption", { class: "dim" }, "Organisations and how"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Organisation"), el("th", { scope: "col" }, "How"))),
      el("tbody", {}, rows)));
    if (within) out.append(within);
  }

  // ---- what changed -------------------------------------------------------------------------------------

  async function changes(ev) {
    ev.preventDefault();
    hideError("changes-error");
    const from = $("changes-from").value;
    const to = $("changes-to").value;
    if (!from || !to) {
      showError("changes-error", { message: "Please choose both dates." });
      return;
    }
    const out = clear($("changes-result"));
    out.append(el("p", { class: "status" }, "Looking…"));
    try {
      const t = await api(`/v1/timeline?${new URLSearchParams({ from, to })}`);
      clear(out);
      showTimeline(out, t);
    } catch (err) {
      clear(out);
      showError("changes-error", err);
    }
  }

  function flowTable(caption, flows, cls) {
    return el("table", { class: cls },
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, ["From", "To", "Data", "Purpose", "Basis"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, flows.map((f) => el("tr", {}, el("td", {}, f.source), el("td", {}, f.recipient), el("td", {}, f.data),
        el("td", {}, f.purpose), el("td", {}, f.bases.join("; "))))));
  }

  function showTimeline(out, t) {
    const span = `between ${spoken(t.from)} and ${spoken(t.to)}`;
    if (!t.days.length) {
      out.append(el("p", {}, `Nothing changed ${span} (both dates included).`));
      return;
    }
    out.append(el("p", {}, `${t.days.length} date${t.days.length === 1 ? "" : "s"} with changes ${span} (both dates included).`));
    for (const day of t.days) {
      const sec = el("section", { class: "day", "aria-label": spoken(day.on) });
      sec.append(el("h3", {}, spoken(day.on)));
      sec.append(el("ul", {}, day.events.map((e) => el("li", {}, e.text))));
      sec.append(el("p", {}, el("strong", { class: "ended" }, `${day.ended.length} flow${day.ended.length === 1 ? "" : "s"} ended`), ", ",
        el("strong", { class: "began" }, `${day.began.length} began`), "."));
      if (day.ended.length) sec.append(flowTable(`Flows lawful the day before and not from ${spoken(day.on)}`, day.ended, "ended-flows"));
      if (day.began.length) sec.append(flowTable(`Flows lawful from ${spoken(day.on)}`, day.began, "began-flows"));
      out.append(sec);
    }
  }

  // ---- the sharing network ------------------------------------------------------------------------------

  async function network(ev) {
    ev.preventDefault();
    hideError("network-error");
    const on = $("network-on").value;
    if (!on) {
      showError("network-error", { message: "Please choose a date." });
      return;
    }
    const params = new URLSearchParams({ on });
    const data = $("network-data").value.trim();
    const purpose = $("network-purpose").value.trim();
    if (data) params.set("data", data);
    if (purpose) params.set("purpose", purpose);
    const out = clear($("network-result"));
    out.append(el("p", { class: "status" }, "Drawing…"));
    try {
      const [svg, flows] = await Promise.all([api(`/v1/graph?${params}`, { raw: true }), api(`/v1/flows?${params}`)]);
      const blob = await svg.blob();
      clear(out);
      if (state.pictureUrl) URL.revokeObjectURL(state.pictureUrl);
      state.pictureUrl = URL.createObjectURL(new Blob([blob], { type: "image/svg+xml" }));
      out.append(el("p", {}, "Green arrows: lawful flows (gateway / agreement). Red dashed arrows: flows a law blocks. Red boxes: bodies bound by a one-way restriction. Grey dashed boxes: bodies that do not exist on the date."));
      out.append(el("img", { class: "picture", src: state.pictureUrl, alt: `The sharing network on ${spoken(on)}: ${flows.flows.length} lawful direct flows, listed in the table below.` }));
      out.append(el("details", {}, el("summary", {}, `The same as a table (${flows.flows.length} flows)`),
        flowTable(`Lawful direct flows on ${spoken(on)}`, flows.flows.map((f) => Object.assign({}, f, { bases: [f.gateway + (f.agreement ? ` / ${f.agreement}` : "")] })), "network-flows")));
    } catch (err) {
      clear(out);
      showError("network-error", err);
    }
  }

  // ---- start --------------------------------------------------------------------------------------------

  async function start() {
    setupTabs();
    const today = todayIso();
    setupDate($("ask-on"), today, "Answers are for");
    setupDate($("who-on"), today, "Answers are for");
    setupDate($("network-on"), today, "The network on");
    const lastYear = `${Number(today.slice(0, 4)) - 1}${today.slice(4)}`;
    setupDate($("changes-from"), lastYear, "From");
    setupDate($("changes-to"), today, "To");
    document.querySelectorAll(".field[data-picker]").forEach(setupPicker);
    $("ask-form").addEventListener("submit", ask);
    $("who-form").addEventListener("submit", who);
    $("changes-form").addEventListener("submit", changes);
    $("network-form").addEventListener("submit", network);
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.token = $("token-input").value.trim() || null;
      if (state.token) sessionStorage.setItem("lawful-token", state.token);
      $("token-box").hidden = true;
      load();
    });
    await load();
  }

  async function load() {
    const status = $("load-status");
    try {
      // One kind at a time: a bundle with very many agreements must not stop the pickers from loading.
      const kinds = ["organisation", "data", "purpose", "statute", "gateway", "restriction", "agreement"];
      const [bundle, health, ...parts] = await Promise.all([api("/v1/bundle"), api("/v1/health"),
        ...kinds.map((k) => api(`/v1/names?kind=${k}`).catch((err) => (k === "organisation" || k === "data" || k === "purpose" ? Promise.reject(err) : null)))]);
      const names = { organisations: [], data: [], purposes: [], gateways: [], restrictions: [], agreements: [], statutes: [] };
      for (const part of parts) {
        if (!part) continue;
        for (const key of Object.keys(names)) if (part[key] && part[key].length) names[key] = part[key];
      }
      state.names = names;
      state.bundle = bundle;
      state.version = health.version;
      for (const [kind, plural] of Object.entries({ organisation: "organisations", data: "data", purpose: "purposes",
        agreement: "agreements", gateway: "gateways", statute: "statutes", restriction: "restrictions" })) {
        state.index[kind] = new Map(names[plural].map((e) => [e.id.toLowerCase(), e]));
      }
      clear(status).append(`Ready: ${names.organisations.length} organisations, ${names.data.length} kinds of data and ${names.purposes.length} purposes to choose from.`);
      clear($("bundle-info")).append(`Rules: version sha256:${bundle.digest.slice(0, 12)}…`);
      document.querySelectorAll(".field[data-picker] input").forEach((i) => i.dispatchEvent(new Event("change")));
    } catch (err) {
      clear(status).append(err.message, " ", err.help || "");
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
