// A conversation page: new messages arrive over the WebSocket and are added in place. Without
// JavaScript (or when the socket drops) the page shows them on the next load.
(function () {
  const list = document.getElementById("thread");
  if (!list || !window.WebSocket) return;
  const id = Number(list.dataset.conversation);
  const me = list.dataset.me;
  const money = (c) => "£" + (c / 100).toFixed(2);
  function connect(delay) {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/conversations/live");
    ws.onmessage = (ev) => {
      const e = JSON.parse(ev.data);
      if (e.type === "reload") return location.reload();
      const m = e.message;
      if (e.type !== "message" || m.conversation_id !== id || document.getElementById("m" + m.id)) return;
      const li = document.createElement("li");
      li.id = "m" + m.id;
      li.className = "msg " + ((m.from_dealer === (me === "dealer")) ? "me" : "them");
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = (m.from_dealer ? "Store" : "Customer") + ":";
      li.append(who, " " + m.body);
      if (m.offer) {
        const d = document.createElement("div");
        d.className = "offer";
        d.textContent = "Offer: " + m.offer.quantity + " × " + money(m.offer.unit_cents) + " ";
        if (me === "customer") {
          const f = document.createElement("form");
          f.method = "post";
          f.action = "/messages/" + id + "/accept/" + m.id;
          const b = document.createElement("button");
          b.type = "submit";
          b.textContent = "Accept offer into cart";
          f.append(b);
          d.append(f);
        }
        li.append(d);
      }
      list.append(li);
    };
    ws.onclose = () => setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
    window.shopmlLive = ws; // tests wait for it to open
  }
  connect(1000);
})();
