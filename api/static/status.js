// Live updates of a public status page: an anonymous graphql-transport-ws subscription to
// publicStatusChanged, re-rendering the server's markup on every change, reconnecting with backoff.
"use strict";

(function () {
  const slug = document.body.dataset.slug;
  const STATUS = {
    OPERATIONAL: "Operational",
    DEGRADED_PERFORMANCE: "Degraded performance",
    PARTIAL_OUTAGE: "Partial outage",
    MAJOR_OUTAGE: "Major outage",
    UNDER_MAINTENANCE: "Under maintenance",
  };
  const OVERALL = {
    OPERATIONAL: "All systems operational",
    DEGRADED_PERFORMANCE: "Degraded performance",
    PARTIAL_OUTAGE: "Partial outage",
    MAJOR_OUTAGE: "Major outage",
    UNDER_MAINTENANCE: "Maintenance in progress",
  };
  const phaseLabel = (phase) => phase.charAt(0) + phase.slice(1).toLowerCase().replace(/_/g, " ");
  const QUERY = `subscription ($slug: String!) {
    publicStatusChanged(tenantSlug: $slug) {
      tenantName overall
      services { id name status }
      activeBulletins {
        id kind title phase scheduledStart scheduledEnd
        affectedServices { service { name } status }
        updates { phase body at }
      }
    }
  }`;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  }

  function time(at) {
    if (!at) return "";
    const d = new Date(at);
    const text = d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
    return el("time", { datetime: at }, text);
  }

  function status(value) {
    return el("span", { class: "status", "data-status": value }, STATUS[value] || value);
  }

  function bulletin(b) {
    const article = el("article", { class: "bulletin", "data-kind": b.kind }, el("h3", {}, b.title));
    article.append(el("p", { class: "phase", "data-phase": b.phase }, phaseLabel(b.phase)));
    if (b.scheduledStart || b.scheduledEnd) {
      article.append(el("p", { class: "window" }, "From ", time(b.scheduledStart), " to ", time(b.scheduledEnd)));
    }
    if (b.affectedServices.length) {
      const names = b.affectedServices.map((a) => `${a.service.name} (${STATUS[a.status] || a.status})`);
      article.append(el("p", { class: "affected" }, "Affects: " + names.join(", ")));
    }
    const updates = el("ol", { class: "updates" });
    for (const u of b.updates) {
      updates.append(
        el("li", {}, time(u.at), " ", el("strong", {}, phaseLabel(u.phase)), " ", el("span", { class: "body" }, u.body)),
      );
    }
    article.append(updates);
    return article;
  }

  function render(state) {
    const overall = document.getElementById("overall");
    overall.dataset.status = state.overall;
    overall.textContent = OVERALL[state.overall] || state.overall;
    const services = document.getElementById("services");
    // The server's list carries each service's uptime bars: while the services are the same, only
    // their statuses change in place; a list that changed is written anew (the bars return on reload).
    const shown = [...services.querySelectorAll("li[data-service-id]")];
    if (shown.length === state.services.length && shown.every((li, i) => li.dataset.serviceId === state.services[i].id)) {
      shown.forEach((li, i) => li.querySelector(".status").replaceWith(status(state.services[i].status)));
      return renderBulletins(state);
    }
    services.replaceChildren(
      ...(state.services.length
        ? state.services.map((s) =>
            el("li", { "data-service-id": s.id }, el("span", { class: "name" }, s.name), " ", status(s.status)),
          )
        : [el("li", { class: "empty" }, "No services are listed.")]),
    );
    renderBulletins(state);
  }

  function renderBulletins(state) {
    const maintenance = state.activeBulletins.filter((b) => b.kind === "MAINTENANCE");
    const notices = state.activeBulletins.filter((b) => b.kind !== "MAINTENANCE");
    document
      .getElementById("notices")
      .replaceChildren(...(notices.length ? notices.map(bulletin) : [el("p", { class: "empty" }, "No current notices.")]));
    document
      .getElementById("maintenance")
      .replaceChildren(
        ...(maintenance.length ? maintenance.map(bulletin) : [el("p", { class: "empty" }, "No maintenance scheduled.")]),
      );
  }

  function setLive(state, text) {
    document.body.dataset.live = state;
    document.getElementById("live-state").textContent = text;
  }

  let delay = 1000;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
    socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "status", type: "subscribe", payload: { query: QUERY, variables: { slug } } }));
      } else if (data.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (data.type === "next" && data.payload && data.payload.data) {
        render(data.payload.data.publicStatusChanged);
        delay = 1000;
        setLive("connected", "Live updates are on.");
      } else if (data.type === "error" || data.type === "complete") {
        socket.close(1000);
      }
    };
    socket.onclose = () => {
      setLive("reconnecting", "Connection lost; reconnecting.");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  if ("WebSocket" in window && slug) connect();
})();
