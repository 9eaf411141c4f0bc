// The live feed: one /ws/dash socket for every topic the visible page watches (docs/live-feed.md). The token goes in
// the first message (a browser cannot set the upgrade's headers), never in the URL. After a drop — network, the
// mini-program's background cut, a hub restart — it connects again with a back-off and resumes each topic from the
// last seq it applied; the server answers with exactly the missed deltas or a fresh snapshot.

const DEAD_AFTER_MS = 45000; // the server's heartbeat is 20 s
const BACKOFF_MS = [300, 1000, 2000, 4000, 8000, 15000];

export class Live {
  /**
   * @param {() => string|null} token the bearer token
   * @param {{status?: (s: string) => void, ready?: (msg: object) => void, unauthenticated?: () => void}} hooks
   */
  constructor(token, hooks = {}) {
    this.token = token;
    this.hooks = hooks;
    this.handlers = new Map(); // topic → {snapshot(data, msg), delta(data, msg), error(msg)}
    this.pinned = new Map(); // topic → handlers watched whatever page is shown (the shell's: the approvals badge)
    this.seq = new Map(); // topic → last seq applied
    this.subscribed = new Set(); // topics sent to the current socket
    this.ws = null;
    this.ready = false;
    this.attempt = 0;
    this.lastMessage = 0;
    this.stopped = true;
    this.info = null; // the server's "ready" message: user_id, role, warehouse_id
    this.timer = null;
    this.watchdog = null;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && !this.stopped && !this.ready) this.connectSoon(0);
    });
  }

  start() {
    this.stopped = false;
    if (!this.ws) this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
    this.ready = false;
    this.subscribed.clear();
    this.seq.clear();
  }

  /** Watch exactly these topics (and the pinned ones): `topics` maps a topic to its handlers. Others are unsubscribed. */
  watch(topics) {
    const wanted = new Map([...this.pinned, ...Object.entries(topics)]);
    const gone = [...this.handlers.keys()].filter((t) => !wanted.has(t));
    for (const t of gone) {
      this.handlers.delete(t);
      this.seq.delete(t);
    }
    const added = [];
    for (const [t, handler] of wanted) {
      if (!this.handlers.has(t)) added.push(t);
      this.handlers.set(t, handler);
    }
    if (!this.ready) return;
    if (gone.length) {
      this.send({ type: 'unsubscribe', topics: gone.filter((t) => this.subscribed.has(t)) });
      gone.forEach((t) => this.subscribed.delete(t));
    }
    if (added.length) this.subscribe(added, false);
  }

  /** Watch a topic whatever page is shown, until the socket stops; the pages' watch() leaves it subscribed. */
  pin(topic, handler) {
    this.pinned.set(topic, handler);
    const added = !this.handlers.has(topic);
    this.handlers.set(topic, handler);
    if (added && this.ready) this.subscribe([topic], false);
  }

  /** A fresh snapshot of a topic (e.g. after the page re-read its figures). */
  resync(topic) {
    if (this.ready && this.handlers.has(topic)) this.subscribe([topic], false);
  }

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws/dash`);
    this.ws = ws;
    this.ready = false;
    this.subscribed.clear();
    this.status('connecting');
    ws.addEventListener('open', () => {
      this.lastMessage = Date.now();
      ws.send(JSON.stringify({ type: 'auth', token: this.token() }));
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      this.lastMessage = Date.now();
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.receive(msg);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      clearInterval(this.watchdog);
      if (this.stopped) return;
      if (event.code === 4401) {
        this.status('signed-out');
        this.stopped = true;
        if (this.hooks.unauthenticated) this.hooks.unauthenticated();
        return;
      }
      this.status('offline');
      this.connectSoon(BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]);
    });
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (ws === this.ws && Date.now() - this.lastMessage > DEAD_AFTER_MS) ws.close(4000, 'no heartbeat');
    }, 5000);
  }

  connectSoon(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.stopped && !this.ready) {
        if (this.ws) this.ws.close(4000, 'retry');
        this.ws = null;
        this.connect();
      }
    }, ms);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  subscribe(topics, resume) {
    if (!topics.length) return;
    const msg = { type: 'subscribe', topics };
    if (resume) {
      const from = {};
      for (const t of topics) if (this.seq.has(t)) from[t] = this.seq.get(t);
      if (Object.keys(from).length) msg.resume = from;
    }
    topics.forEach((t) => this.subscribed.add(t));
    this.send(msg);
  }

  status(s) {
    if (this.hooks.status) this.hooks.status(s);
  }

  receive(msg) {
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        this.attempt = 0;
        this.info = msg;
        this.status('live');
        if (this.hooks.ready) this.hooks.ready(msg);
        this.subscribe([...this.handlers.keys()], true);
        return;
      case 'ping':
        this.send({ type: 'pong' });
        return;
      case 'snapshot': {
        const handler = this.handlers.get(msg.topic);
        if (!handler) return;
        this.seq.set(msg.topic, msg.seq);
        if (handler.snapshot) handler.snapshot(msg.data, msg);
        return;
      }
      case 'delta': {
        const handler = this.handlers.get(msg.topic);
        if (!handler) return;
        const last = this.seq.get(msg.topic);
        if (last !== undefined && msg.seq <= last) return; // already applied (in a snapshot or a catch-up)
        this.seq.set(msg.topic, msg.seq);
        if (handler.delta) handler.delta(msg.data, msg);
        return;
      }
      case 'resumed':
        return;
      case 'error': {
        const handler = msg.topic && this.handlers.get(msg.topic);
        if (handler && handler.error) handler.error(msg);
        else console.warn('dash feed:', msg.code, msg.message);
        return;
      }
      default:
    }
  }
}
