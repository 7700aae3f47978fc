// The page: reads pasted text or a chosen file, sends it to /v1/check, shows each claim.
// Everything runs here and on the server it came from: no file from anywhere else.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let rawLines = [];   // the server's JSON lines, as payer-rules check writes them
  let results = [];    // parsed, with fixes_in_words

  function sniffType(text) {
    return text.trimStart().startsWith("ISA") ? "application/edi-x12" : "application/x-ndjson";
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c === null || c === undefined ? "" : c);
    return e;
  }

  function denial(e) {
    const code = [e.group, e.carc].filter(Boolean).join("-");
    return code ? code + (e.rarc ? " " + e.rarc : "") : "none";
  }

  function render() {
    const only = $("failing").checked;
    const box = $("results");
    box.replaceChildren();
    const counts = {};
    for (const r of results) counts[r.status] = (counts[r.status] || 0) + 1;
    $("summary").textContent = results.length + " claim(s): " +
      Object.entries(counts).map(([k, v]) => v + " " + k).join(", ");
    for (const r of results) {
      if (only && r.status !== "fail" && r.status !== "error") continue;
      const card = el("article", {"class": "claim", "aria-label": "claim " + (r.claim_id || r.index)});
      const pol = r.policy ? r.policy.id + " " + r.policy.version : "no policy";
      card.append(el("h3", {}, el("span", {"class": "badge " + r.status}, r.status.toUpperCase()), " claim ",
        r.claim_id || "(no id)", " · payer ", r.payer || "?", " · ", pol));
      if (r.error) card.append(el("p", {}, "Could not be evaluated: " + r.error));
      if (r.lines && r.lines.length) {
        const t = el("table", {}, el("caption", {}, "Lines"));
        t.append(el("tr", {}, el("th", {scope: "col"}, "Line"), el("th", {scope: "col"}, "Code"),
          el("th", {scope: "col"}, "Minutes"), el("th", {scope: "col"}, "Billed"),
          el("th", {scope: "col"}, "Units"), el("th", {scope: "col"}, "Why")));
        for (const ln of r.lines) {
          t.append(el("tr", {}, el("td", {}, String(ln.line)), el("td", {}, ln.code),
            el("td", {}, ln.minutes === null ? "-" : String(ln.minutes)),
            el("td", {}, ln.billed_units === null ? "-" : String(ln.billed_units)),
            el("td", {}, ln.units === null ? "-" : String(ln.units)), el("td", {}, ln.explanation)));
        }
        card.append(t);
      }
      if (r.edits && r.edits.length) {
        const t = el("table", {}, el("caption", {}, "Edits"));
        t.append(el("tr", {}, el("th", {scope: "col"}, "Severity"), el("th", {scope: "col"}, "Rule"),
          el("th", {scope: "col"}, "Lines"), el("th", {scope: "col"}, "Denial code"),
          el("th", {scope: "col"}, "What"), el("th", {scope: "col"}, "Fix")));
        r.edits.forEach((e, i) => {
          const words = (r.fixes_in_words || [])[i];
          t.append(el("tr", {}, el("td", {}, e.severity), el("td", {}, e.rule),
            el("td", {}, e.lines.join(", ")), el("td", {}, denial(e)), el("td", {}, e.message),
            el("td", {"class": "fix"}, words || "")));
        });
        card.append(t);
      }
      box.append(card);
    }
  }

  function download(name, type, text) {
    const a = el("a", {href: URL.createObjectURL(new Blob([text], {type})), download: name});
    document.body.append(a);
    a.click();
    a.remove();
  }

  function csvCell(v) {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(s) || /^[=+\-@]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  // One row per edit (a claim without edits gets one row), the columns a biller filters on.
  function toCsv() {
    const rows = [["claim_id", "payer", "policy_version", "status", "rule", "category", "severity", "lines",
      "denial", "message", "fix"]];
    for (const r of results) {
      const base = [r.claim_id, r.payer, r.policy ? r.policy.version : "", r.status];
      if (!r.edits.length) rows.push(base.concat(["", "", "", "", "", r.error || "", ""]));
      r.edits.forEach((e, i) => rows.push(base.concat([e.rule, e.category, e.severity, e.lines.join(" "),
        denial(e) === "none" ? "" : denial(e), e.message, (r.fixes_in_words || [])[i] || ""])));
    }
    return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
  }

  $("file").addEventListener("change", async () => {
    const f = $("file").files[0];
    if (f) $("claims").value = await f.text();
  });
  $("failing").addEventListener("change", render);
  // the results as payer-rules check writes them: the page's extra key taken off the end
  $("download-jsonl").addEventListener("click", () => download("results.jsonl", "application/x-ndjson",
    rawLines.map((l) => l.replace(/,"fixes_in_words":\[.*\]\}$/, "}") + "\n").join("")));
  $("download-csv").addEventListener("click", () => download("results.csv", "text/csv", toCsv()));

  $("form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("claims").value;
    if (!text.trim()) { $("status").textContent = "Paste claims or choose a file first."; return; }
    $("status").textContent = "Checking…";
    const headers = {"Content-Type": sniffType(text)};
    if ($("token").value) headers["Authorization"] = "Bearer " + $("token").value;
    try {
      const resp = await fetch("/v1/check?fix_text=1", {method: "POST", headers, body: text});
      const body = await resp.text();
      if (!resp.ok) {
        let msg = body;
        try { msg = JSON.parse(body).error; } catch (e) { /* keep the text */ }
        $("status").textContent = "Not checked (" + resp.status + "): " + msg;
        return;
      }
      rawLines = body.split("\n").filter((l) => l.trim());
      results = rawLines.map((l) => JSON.parse(l));
      $("status").textContent = "Checked " + results.length + " claim(s).";
      $("results-area").hidden = false;
      render();
      $("results-title").focus();
    } catch (e) {
      $("status").textContent = "The server could not be reached.";
    }
  });
  $("results-title").setAttribute("tabindex", "-1");
})();
