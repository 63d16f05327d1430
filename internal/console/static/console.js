// Sluice console: the few interactions a server-rendered page cannot do
// alone. Every change is a call to the JSON admin API under /api/v1/;
// data from the API is put in the page with textContent, never as HTML.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);

  function status(msg, isError) {
    const el = $("#status");
    if (!el) return;
    el.hidden = false;
    el.textContent = msg;
    el.className = "status " + (isError ? "error" : "ok");
  }

  async function api(method, path, body) {
    const opts = { method, headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      const msg = data && data.error ? data.code + ": " + data.error : resp.status + " " + resp.statusText;
      throw new Error(msg);
    }
    return data;
  }

  // kv parses "name=value" lines.
  function kv(text) {
    const out = {};
    for (const line of text.split("\n")) {
      const t = line.trim();
      if (!t) continue;
      const i = t.indexOf("=");
      if (i < 0) throw new Error("expected name=value, got " + t);
      out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
    }
    return out;
  }

  function enc(s) { return encodeURIComponent(s); }

  function localTimeToMillis(v) {
    if (!v) return null;
    const t = new Date(v).getTime();
    return isNaN(t) ? null : t;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  // Generic JSON forms: data-api, data-method, data-then ("reload" or a
  // path with {field} placeholders).
  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {};
      try {
        for (const el of form.elements) {
          if (!el.name || el.value === "") continue;
          switch (el.dataset.type) {
            case "int": body[el.name] = parseInt(el.value, 10); break;
            case "kv": body[el.name] = kv(el.value); break;
            default: body[el.name] = el.value;
          }
        }
        await api(form.dataset.method || "POST", form.dataset.api, body);
      } catch (e) {
        status(e.message, true);
        return;
      }
      const then = form.dataset.then;
      if (then === "reload") {
        location.reload();
      } else if (then) {
        location.href = then.replace(/\{(\w+)\}/g, (_, k) => enc(body[k] || ""));
      } else {
        status("Done.");
      }
    });
  }

  // Topic page: message browser.
  const browse = $("#browse");
  let nextOffset = null;
  async function runBrowse(fromOffset) {
    const f = browse.elements;
    const q = new URLSearchParams();
    q.set("partition", f.partition.value);
    q.set("limit", f.limit.value || "20");
    q.set("format", f.format.value);
    if (fromOffset !== undefined && fromOffset !== null) {
      q.set("offset", String(fromOffset));
    } else if (f.from.value === "offset") {
      q.set("offset", f.offset.value || "0");
    } else if (f.from.value === "timestamp") {
      const t = localTimeToMillis(f.timestamp.value);
      if (t === null) { status("Pick a time to browse from.", true); return; }
      q.set("timestamp", String(t));
    }
    let data;
    try {
      data = await api("GET", "/api/v1/topics/" + enc(browse.dataset.topic) + "/messages?" + q.toString());
    } catch (e) {
      status(e.message, true);
      return;
    }
    const table = $("#messages");
    const tbody = $("tbody", table);
    tbody.textContent = "";
    for (const m of data.messages) {
      const tr = document.createElement("tr");
      tr.className = "message";
      cell(tr, String(m.offset));
      cell(tr, m.timestamp);
      cell(tr, m.key.null ? "(null)" : m.key.text, "mono");
      cell(tr, m.headers.map((h) => h.key + "=" + h.value.text).join("\n"), "mono");
      const v = cell(tr, "", "value");
      if (m.value.schema_id) {
        const b = document.createElement("span");
        b.className = "badge schema-badge";
        b.textContent = m.value.schema_type + " schema " + m.value.schema_id;
        v.appendChild(b);
      }
      const pre = document.createElement("pre");
      pre.textContent = m.value.null ? "(null)" : m.value.text;
      pre.dataset.format = m.value.format;
      v.appendChild(pre);
      tbody.appendChild(tr);
    }
    table.hidden = false;
    $("#browse-info").textContent = data.messages.length + " message(s) from offset " + data.start_offset +
      " (partition " + data.partition + ": log start " + data.log_start_offset + ", high watermark " + data.high_watermark + ")";
    nextOffset = data.next_offset;
    $("#browse-next").hidden = data.next_offset >= data.high_watermark;
  }
  if (browse) {
    browse.addEventListener("submit", (ev) => { ev.preventDefault(); runBrowse(); });
    $("#browse-next").addEventListener("click", () => runBrowse(nextOffset));
  }

  // Topic page: produce a test message.
  const produce = $("#produce");
  if (produce) {
    produce.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = produce.elements;
      const body = { partition: parseInt(f.partition.value, 10), value: f.value.value };
      if (f.key.value !== "") body.key = f.key.value;
      try {
        const h = kv(f.headers.value);
        body.headers = Object.keys(h).map((k) => ({ key: k, value: h[k] }));
        const got = await api("POST", "/api/v1/topics/" + enc(produce.dataset.topic) + "/messages", body);
        status("Produced at partition " + got.partition + ", offset " + got.offset + ".");
        if (browse) {
          browse.elements.partition.value = String(got.partition);
          browse.elements.from.value = "latest";
          runBrowse();
        }
      } catch (e) {
        status(e.message, true);
      }
    });
  }

  // Topic page: configs.
  const setConfig = $("#set-config");
  if (setConfig) {
    const topic = setConfig.dataset.topic;
    setConfig.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = setConfig.elements;
      try {
        await api("PATCH", "/api/v1/topics/" + enc(topic) + "/configs", { set: { [f.name.value]: f.value.value } });
        location.reload();
      } catch (e) {
        status(e.message, true);
      }
    });
    for (const b of document.querySelectorAll(".reset-config")) {
      b.addEventListener("click", async () => {
        try {
          await api("PATCH", "/api/v1/topics/" + enc(topic) + "/configs", { delete: [b.dataset.name] });
          location.reload();
        } catch (e) {
          status(e.message, true);
        }
      });
    }
  }

  const delTopic = $("#delete-topic");
  if (delTopic) {
    delTopic.addEventListener("click", async () => {
      if (!confirm("Delete topic " + delTopic.dataset.topic + " and all its messages?")) return;
      try {
        await api("DELETE", "/api/v1/topics/" + enc(delTopic.dataset.topic));
        location.href = "/topics";
      } catch (e) {
        status(e.message, true);
      }
    });
  }

  // Group page: live lag, reset offsets, delete.
  const group = $("#group");
  if (group) {
    const id = group.dataset.group;
    // refresh reloads the page's live parts (cards, members, lag chart and
    // table) from the server-rendered page itself, so they look exactly
    // as on a full load.
    const live = ["#group", "#members", "#lag-chart", "#offsets"];
    const refresh = async () => {
      if (!$("#auto-refresh").checked) return;
      let html;
      try {
        const resp = await fetch(location.href, { headers: { Accept: "text/html" } });
        if (!resp.ok) return;
        html = await resp.text();
      } catch (e) { return; }
      const doc = new DOMParser().parseFromString(html, "text/html");
      for (const sel of live) {
        const fresh = $(sel, doc);
        const cur = $(sel);
        if (fresh && cur) cur.replaceWith(document.importNode(fresh, true));
      }
    };
    setInterval(refresh, 2000);

    const reset = $("#reset-offsets");
    if (reset) {
      reset.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const f = reset.elements;
        const dry = !ev.submitter || ev.submitter.value !== "false";
        const body = { to: f.to.value, dry_run: dry };
        if (body.to === "timestamp") body.timestamp = localTimeToMillis(f.timestamp.value);
        if (body.to === "offset") body.offset = parseInt(f.offset.value, 10);
        if (f.topics.value.trim()) body.topics = f.topics.value.split(",").map((s) => s.trim()).filter(Boolean);
        if (!dry && !confirm("Reset the offsets of group " + id + "?")) return;
        let res;
        try {
          res = await api("POST", "/api/v1/groups/" + enc(id) + "/reset-offsets", body);
        } catch (e) {
          status(e.message, true);
          return;
        }
        const table = $("#reset-plan");
        const tbody = $("tbody", table);
        tbody.textContent = "";
        for (const o of res.offsets) {
          const tr = document.createElement("tr");
          cell(tr, o.topic);
          cell(tr, String(o.partition));
          cell(tr, String(o.current_offset));
          cell(tr, String(o.new_offset));
          tbody.appendChild(tr);
        }
        table.hidden = false;
        status(dry ? "Preview: nothing changed yet." : "Offsets reset.");
        if (!dry) refresh();
      });
    }

    const del = $("#delete-group");
    if (del) {
      del.addEventListener("click", async () => {
        if (!confirm("Delete group " + id + " and its committed offsets?")) return;
        try {
          await api("DELETE", "/api/v1/groups/" + enc(id));
          location.href = "/groups";
        } catch (e) {
          status(e.message, true);
        }
      });
    }
  }
  // Security pages: delete an ACL, save or delete a SCRAM user.
  for (const b of document.querySelectorAll(".delete-acl")) {
    b.addEventListener("click", async () => {
      const acl = JSON.parse(b.dataset.acl);
      if (!confirm("Delete the ACL " + acl.permission + " " + acl.principal + " " + acl.operation + " on " + acl.resource_type + " " + acl.resource_name + "?")) return;
      try {
        await api("POST", "/api/v1/acls/delete", acl);
        location.reload();
      } catch (e) {
        status(e.message, true);
      }
    });
  }
  const upsertUser = $("#upsert-user");
  if (upsertUser) {
    upsertUser.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = upsertUser.elements;
      const body = { password: f.password.value, mechanism: f.mechanism.value };
      if (f.iterations.value) body.iterations = parseInt(f.iterations.value, 10);
      try {
        await api("PUT", "/api/v1/users/" + enc(f.name.value), body);
        location.reload();
      } catch (e) {
        status(e.message, true);
      }
    });
  }
  for (const b of document.querySelectorAll(".delete-user")) {
    b.addEventListener("click", async () => {
      if (!confirm("Delete every SCRAM credential of " + b.dataset.user + "?")) return;
      try {
        await api("DELETE", "/api/v1/users/" + enc(b.dataset.user));
        location.reload();
      } catch (e) {
        status(e.message, true);
      }
    });
  }

  // Subject page: compatibility check of a pasted schema (nothing is
  // registered).
  const compat = $("#compat");
  if (compat) {
    compat.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = compat.elements;
      const body = { schema: f.schema.value, schema_type: f.schema_type.value };
      if (f.version.value) body.version = f.version.value;
      let res;
      try {
        res = await api("POST", "/api/v1/schemas/subjects/" + enc(compat.dataset.subject) + "/compatibility", body);
      } catch (e) {
        status(e.message, true);
        return;
      }
      const verdict = $("#compat-verdict");
      verdict.textContent = res.is_compatible ? "Compatible" : "Incompatible";
      verdict.className = res.is_compatible ? "ok" : "bad";
      const ul = $("#compat-messages");
      ul.textContent = "";
      for (const m of res.messages || []) {
        const li = document.createElement("li");
        li.textContent = m;
        ul.appendChild(li);
      }
      $("#compat-result").hidden = false;
    });
  }
})();
