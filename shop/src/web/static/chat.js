// The chat widget: without JavaScript its form posts to /help and the page shows the answer; with it,
// messages go to POST /chat (the same assistant, JSON) and the answer appears in place.
(function () {
  const form = document.getElementById("chat-form");
  if (!form || !window.fetch) return;
  const log = document.getElementById("chat-log");
  const input = document.getElementById("chat-message");
  const conv = document.getElementById("chat-conversation");
  const say = (who, text) => {
    const p = document.createElement("p");
    p.className = "msg " + who;
    p.textContent = text;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const message = input.value.trim();
    if (!message) return;
    say("me", message);
    input.value = "";
    const body = { message };
    if (conv.value) body.conversation = conv.value;
    try {
      const r = await fetch("/chat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
      const a = await r.json();
      if (!r.ok) { say("bot", (a.error && a.error.message) || "Sorry, something went wrong."); return; }
      conv.value = a.conversation;
      say("bot", a.reply.text);
    } catch (e) {
      say("bot", "Sorry, the assistant cannot be reached right now.");
    }
  });
})();
