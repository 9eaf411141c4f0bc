// What the picker's and the pack station's pages share: settings, the device session, the /pda/v1 client, the
// on-device outbox (IndexedDB) that sends every scan in order and keeps it until the hub answered, the scanner's
// keyboard input, sounds and vibration, the answer band, sheets, and the live floor socket. Plain ES modules, no
// build step, nothing but the hub (docs/pda-client.md).

export const VERSION = "1";

// ------------------------------------------------------------------------------------------------ little helpers

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") node.style.cssText = value; // through the CSSOM: the CSP refuses style attributes
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector) => document.querySelector(selector);

/** Replace a node's children, leaving out null / false ones (replaceChildren would write "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** A client_id for one scan: unique on this device forever (crypto.randomUUID needs HTTPS; getRandomValues not). */
export function clientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `${settings.device || "pda"}-${Date.now().toString(36)}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`.slice(0, 64);
}

export function grams(g) {
  if (g === null || g === undefined) return "—";
  return g >= 1000 ? `${(g / 1000).toFixed(3).replace(/0+$/, "").replace(/\.$/, "")} kg` : `${g} g`;
}

export function metres(m) {
  return `${Math.max(0, Math.round(Number(m) || 0))} 米`;
}

// ------------------------------------------------------------------------------------------------- settings

const SETTINGS_KEY = "orderhub.pda.settings";
const DEFAULTS = {
  device: "",
  suffix: "Enter", // what the scanner sends after each code: Enter, Tab, or none (a pause ends the code)
  maxIntervalMs: 35, // a scan's keys come faster than this on average; a person types slower
  minLength: 3, // shorter bursts are typing
  scaleUnit: "g", // what a scale's bare number means (g or kg)
  sound: true,
};

function loadSettings() {
  let stored = {};
  try {
    stored = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
  } catch {
    stored = {};
  }
  const merged = { ...DEFAULTS, ...stored };
  const fromUrl = new URLSearchParams(location.search).get("device");
  if (fromUrl) merged.device = fromUrl.trim().slice(0, 32);
  return merged;
}

export const settings = loadSettings();
if (new URLSearchParams(location.search).get("device")) saveSettings({});

export function saveSettings(patch) {
  Object.assign(settings, patch);
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
}

// ----------------------------------------------------------------------------------------------- the session

const SESSION_KEY = "orderhub.pda.session";

export function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (s && s.token && s.expires_at > Date.now() && s.device === settings.device) return s;
  } catch {
    /* nothing kept */
  }
  return null;
}

export function saveSession(answer) {
  const s = { ...answer, expires_at: Date.now() + (answer.expires_in || 0) * 1000 };
  localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  return s;
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

// ------------------------------------------------------------------------------------------------ the API

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || `http_${status}`;
  }
}

/** The network is gone (or the hub is): the request may be sent again as it is. */
export class NetworkError extends Error {}

// Answers that say nothing about the scan (the hub failed, timed out or asks to slow down): a queued scan is kept and
// sent again with its client_id, never dropped as if refused.
const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export async function api(method, path, body, { timeoutMs = 10000, raw = false } = {}) {
  const session = loadSession();
  const headers = { accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (session) headers.authorization = `Bearer ${session.token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
    });
  } catch (exc) {
    throw new NetworkError(String(exc && exc.message ? exc.message : exc));
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 502 || response.status === 503 || response.status === 504) {
    // a proxy in front with the hub away, or the hub restarting: like no network
    const text = await response.text().catch(() => "");
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    if (!parsed || !parsed.code || response.status !== 502) throw new NetworkError(`HTTP ${response.status}`);
    throw new ApiError(response.status, parsed);
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    if (response.status === 401) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return data;
}

let unauthorizedHandler = () => {};
export function setUnauthorizedHandler(fn) {
  unauthorizedHandler = fn;
}
function onUnauthorized() {
  clearSession();
  unauthorizedHandler();
}

// --------------------------------------------------------------------------------------- IndexedDB (the outbox)

const DB_NAME = "orderhub-pda";
let dbPromise = null;

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
        db.createObjectStore("kv", { keyPath: "k" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return dbPromise;
}

async function tx(store, mode, work, options = undefined) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode, options);
    const result = work(t.objectStore(store));
    t.oncomplete = () => resolve(result && "result" in result ? result.result : result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export const kv = {
  async get(k) {
    const row = await tx("kv", "readonly", (s) => s.get(k));
    return row ? row.v : undefined;
  },
  set: (k, v) => tx("kv", "readwrite", (s) => s.put({ k, v })),
  del: (k) => tx("kv", "readwrite", (s) => s.delete(k)),
};

function owned(entry, session) {
  return entry.user === undefined || entry.user === null || !session || session.user_id === undefined || entry.user === session.user_id;
}

/**
 * Every scan goes through here: written to IndexedDB first (a page killed a moment later loses nothing), then sent
 * in order, one at a time, until the hub answers it — a 200 or a refusal. No network: it stays, and is sent again
 * (same client_id, so the hub counts it once) when the network returns. `onAnswer(entry, answer)` gets each one.
 */
export class Outbox {
  constructor({ onAnswer, onChange }) {
    this.onAnswer = onAnswer;
    this.onChange = onChange || (() => {});
    this.draining = false;
    this.offline = false;
    this.items = [];
    this.sent = 0; // requests sent so far (a read of the task started before one may or may not include it)
    this.retryTimer = null;
    window.addEventListener("online", () => this.drain());
  }

  async load() {
    this.items = await tx("outbox", "readonly", (s) => s.getAll());
    this.onChange(this);
    return this.items;
  }

  get size() {
    return this.items.length;
  }

  /** The queued scans of the person signed in (another's wait on the device for them: under this session the hub
   * would refuse them — not their task — and they would be lost). */
  get mine() {
    const session = loadSession();
    return this.items.filter((e) => owned(e, session));
  }

  /** Queued scans of someone else who signed out on this device. */
  get others() {
    return this.items.length - this.mine.length;
  }

  async add(entry) {
    const session = loadSession();
    const row = { ...entry, user: session ? session.user_id : undefined, created_at: new Date().toISOString() };
    // "strict": complete only once the write is on disk — a handheld's battery swapped a moment later loses nothing
    row.seq = await tx("outbox", "readwrite", (s) => s.add(row), { durability: "strict" });
    this.items.push(row);
    this.onChange(this);
    this.drain();
    return row;
  }

  async drain() {
    if (this.draining) return;
    // no session: nothing can be sent (a 401 would only show the sign-in screen again, over what is typed there)
    const session = loadSession();
    if (!session) return;
    this.draining = true;
    clearTimeout(this.retryTimer);
    try {
      for (;;) {
        const entry = this.items.find((e) => owned(e, session));
        if (!entry) break;
        let answer;
        this.sent += 1;
        try {
          const data = await api("POST", entry.url, entry.body, { timeoutMs: 8000 });
          answer = { ok: true, status: 200, data };
        } catch (exc) {
          if (exc instanceof NetworkError) {
            this.setOffline(true);
            this.retryTimer = setTimeout(() => this.drain(), 3000);
            return;
          }
          if (exc.status === 401) return; // kept: sent again once signed in
          if (!(exc instanceof ApiError) || RETRY_STATUS.has(exc.status)) {
            // the hub failed or is busy, not the scan: kept and sent again (same client_id) — never dropped
            this.setOffline(false);
            this.retryTimer = setTimeout(() => this.drain(), 5000);
            return;
          }
          answer = { ok: false, status: exc.status, data: exc.body, code: exc.code, message: exc.message };
        }
        // Answered: out of the queue and the picker told at once, while the row's deletion runs (a page killed
        // before it completes sends the scan again on reload; the hub answers a replayed client_id the same). The
        // hub's answer goes into the view before the next render (no count dropping back for a moment).
        this.items.splice(this.items.indexOf(entry), 1);
        const deleted = tx("outbox", "readwrite", (s) => s.delete(entry.seq));
        try {
          await this.onAnswer(entry, answer);
        } catch (exc) {
          console.warn("answer handler failed", exc);
        }
        await deleted;
        this.offline = false;
        this.onChange(this);
      }
    } finally {
      this.draining = false;
      this.onChange(this);
    }
  }

  setOffline(value) {
    if (this.offline !== value) {
      this.offline = value;
      this.onChange(this);
    }
  }
}

// --------------------------------------------------------------------------------------------- sounds, vibration

let audio = null;
function audioContext() {
  if (!audio) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    audio = new Ctx();
  }
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
}
// browsers start sound only after a gesture: the first tap or key unlocks it
for (const type of ["pointerdown", "keydown"]) window.addEventListener(type, () => audioContext(), { once: true, capture: true });

// Each answer its own sound and buzz, told apart without looking: [frequency Hz, ms] steps (0 Hz = silence).
const TONES = {
  ok: [[1800, 70]],
  done: [[1400, 70], [0, 30], [2000, 110]],
  info: [[1000, 60]],
  wrong_location: [[330, 180], [0, 70], [330, 180]],
  location_not_scanned: [[620, 90], [0, 50], [620, 90], [0, 50], [620, 90]],
  wrong_item: [[260, 420]],
  extra_item: [[300, 120], [0, 50], [300, 300]],
  over_pick: [[900, 110], [600, 110], [380, 200]],
  line_withdrawn: [[520, 160], [0, 80], [780, 160], [0, 80], [520, 160]],
  items_missing: [[440, 140], [0, 60], [440, 140], [0, 60], [330, 260]],
  weight_mismatch: [[700, 140], [350, 320]],
  error: [[220, 500]],
  alert: [[880, 200], [0, 80], [660, 200], [0, 80], [880, 200], [0, 80], [660, 200]],
};
const BUZZ = {
  ok: [40],
  done: [40, 60, 80],
  info: [30],
  wrong_location: [180, 70, 180],
  location_not_scanned: [90, 50, 90, 50, 90],
  wrong_item: [420],
  extra_item: [120, 50, 300],
  over_pick: [110, 40, 110, 40, 200],
  line_withdrawn: [160, 80, 160, 80, 160],
  items_missing: [140, 60, 140, 60, 260],
  weight_mismatch: [140, 40, 320],
  error: [500],
  alert: [200, 80, 200, 80, 200, 80, 200],
};

export const played = []; // the last sounds (tests read it: what a picker would have heard)

export function signal(kind) {
  const tone = TONES[kind] ? kind : "error";
  played.push(tone);
  if (played.length > 50) played.shift();
  if (navigator.vibrate) {
    try {
      navigator.vibrate(BUZZ[tone]);
    } catch {
      /* not allowed before a gesture */
    }
  }
  if (!settings.sound) return;
  const ctx = audioContext();
  if (!ctx) return;
  let t = ctx.currentTime + 0.01;
  for (const [freq, ms] of TONES[tone]) {
    if (freq > 0) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = tone === "ok" || tone === "done" || tone === "info" ? "sine" : "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.25, t);
      gain.gain.setValueAtTime(0.25, t + ms / 1000 - 0.01);
      gain.gain.linearRampToValueAtTime(0, t + ms / 1000);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + ms / 1000);
    }
    t += ms / 1000;
  }
}

// ---------------------------------------------------------------------------------------- the answer band

let flashTimer = null;

/** The last answer, big, at the bottom: green OK, red refused (with what was expected), yellow offline. */
export function flash(kind, message, { expected = "", code = "", sticky = false } = {}) {
  const band = $("#flash");
  fill(band,
    el("span", { class: "msg" }, message),
    expected ? el("span", { class: "expected" }, expected) : null,
    code ? el("span", { class: "code" }, code) : null,
  );
  band.dataset.kind = kind;
  band.dataset.code = code || kind;
  band.onclick = () => (band.hidden = true); // a tap closes it (the buttons under it on a small screen)
  band.hidden = false;
  clearTimeout(flashTimer);
  if (!sticky) flashTimer = setTimeout(() => (band.hidden = true), kind === "bad" ? 6000 : 2500);
}

export function hideFlash() {
  $("#flash").hidden = true;
}

/** What the refusal says was expected, in words. */
export function expectedText(expected) {
  if (!expected) return "";
  const parts = [];
  if (expected.location) parts.push(`应到库位 ${expected.location}`);
  if (expected.name || expected.sku) parts.push(`应拣 ${expected.name || ""}${expected.sku ? `（${expected.sku}）` : ""}`);
  if (expected.remaining !== undefined) parts.push(`还需 ${expected.remaining} 件`);
  if (expected.expected_g !== undefined) parts.push(`应为 ${grams(expected.expected_g)}`);
  if (Array.isArray(expected.missing) && expected.missing.length) {
    parts.push(`未核对：${expected.missing.map((m) => `${m.name}${m.gift ? "（赠品）" : ""}×${m.missing}`).join("、")}`);
  }
  return parts.join("；");
}

// ------------------------------------------------------------------------------------------------- sheets

export function openSheet(title, body, { alert = false } = {}) {
  const sheet = $("#sheet");
  const panel = el("div", { class: "panel", role: "dialog", "aria-modal": "true" }, el("h2", {}, title), body);
  sheet.replaceChildren(panel);
  sheet.classList.toggle("alert", alert);
  sheet.hidden = false;
  return panel;
}

export function closeSheet() {
  const sheet = $("#sheet");
  sheet.hidden = true;
  sheet.replaceChildren();
  focusSink();
}

export function sheetOpen() {
  return !$("#sheet").hidden;
}

/** A choice among buttons; resolves to the chosen value or null. */
export function choose(title, options) {
  return new Promise((resolve) => {
    const buttons = options.map(([value, text, cls]) =>
      el("button", { class: `btn ${cls || ""}`, type: "button", dataset: { value }, onclick: () => { closeSheet(); resolve(value); } }, text),
    );
    buttons.push(el("button", { class: "btn wide", type: "button", dataset: { value: "" }, onclick: () => { closeSheet(); resolve(null); } }, "取消"));
    openSheet(title, el("div", { class: "actions" }, buttons));
  });
}

/** A line of text keyed by hand (a barcode that will not scan): resolves to it or null. */
export function askText(title, { placeholder = "" } = {}) {
  return new Promise((resolve) => {
    const input = el("input", { id: "ask-text", autocomplete: "off", autocapitalize: "characters", placeholder });
    const done = (v) => { closeSheet(); resolve(v); };
    const form = el("form", { class: "form", onsubmit: (e) => { e.preventDefault(); done(input.value.trim() || null); } },
      input,
      el("div", { class: "actions" },
        el("button", { class: "btn", type: "button", onclick: () => done(null) }, "取消"),
        el("button", { class: "btn go", type: "submit", id: "ask-ok" }, "确定")));
    openSheet(title, form);
    input.focus();
  });
}

/** A big number pad (gloves): resolves to the number or null. */
export function keypad(title, initial = "", { unit = "", max = 100000 } = {}) {
  return new Promise((resolve) => {
    let value = String(initial || "");
    const shown = el("div", { class: "keypad-value", id: "keypad-value" }, value || " ");
    const render = () => (shown.textContent = (value || " ") + (unit && value ? ` ${unit}` : ""));
    const press = (k) => {
      if (k === "⌫") value = value.slice(0, -1);
      else if (k === "C") value = "";
      else if (k === "." && (unit !== "kg" || value.includes("."))) return;
      else if (value.length < 9) value += k;
      render();
    };
    const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", unit === "kg" ? "." : "C", "0", "⌫"].map((k) =>
      el("button", { class: "btn", type: "button", dataset: { key: k }, onclick: () => press(k) }, k),
    );
    const done = (v) => { document.removeEventListener("keydown", onKey, true); closeSheet(); resolve(v); };
    const ok = el("button", { class: "btn go", type: "button", id: "keypad-ok", onclick: () => {
      const n = Number(value);
      if (value && Number.isFinite(n) && n > 0 && n <= max) done(n);
      else signal("error");
    } }, "确定");
    const cancel = el("button", { class: "btn", type: "button", onclick: () => done(null) }, "取消");
    const onKey = (event) => {
      if (/^[0-9.]$/.test(event.key)) press(event.key);
      else if (event.key === "Backspace") press("⌫");
      else if (event.key === "Enter") ok.click();
      else if (event.key === "Escape") cancel.click();
      else return;
      event.preventDefault();
      event.stopImmediatePropagation();
    };
    document.addEventListener("keydown", onKey, true);
    openSheet(title, el("div", { class: "form" }, shown, el("div", { class: "keypad" }, keys), el("div", { class: "actions" }, cancel, ok)));
    render();
  });
}

// -------------------------------------------------------------------------------------------- the scanner

export function focusSink() {
  const sink = $("#scan-sink");
  const active = document.activeElement;
  const typing = active && active !== sink && (active.tagName === "INPUT" || active.tagName === "SELECT" || active.tagName === "TEXTAREA");
  if (sink && !typing) sink.focus({ preventScroll: true });
}

/**
 * The scanner as a keyboard ("keyboard wedge"): each code arrives as keys, fast, then the suffix (Enter by default).
 * A burst of at least `minLength` keys averaging under `maxIntervalMs` apart is a scan: `onScan(code)`; slower keys
 * ended by Enter are a person typing on the device's keypad: `onTyped(text)` (a quantity, a weight). With suffix
 * "none" a pause of 3 × the interval ends the code. A WebView bridge for a broadcast intent calls
 * `window.orderhubScan(code)` (or dispatches `orderhub-scan` with `detail: code`).
 */
export class Scanner {
  constructor(onScan, onTyped = () => {}) {
    this.onScan = onScan;
    this.onTyped = onTyped;
    this.buffer = [];
    this.times = [];
    this.endTimer = null;
    this.keyedAt = -Infinity; // when the keydown last took a character
    this.paused = false;
    document.addEventListener("keydown", (e) => this.key(e), true);
    // a scan bridged from the device's broadcast intent; ignored, as keys are, while a sheet asks something else
    const bridged = (code) => { if (!this.paused && !sheetOpen()) this.deliver(String(code || "").trim(), true); };
    window.orderhubScan = bridged;
    window.addEventListener("orderhub-scan", (e) => bridged(e.detail));
    const sink = $("#scan-sink");
    sink.addEventListener("input", () => {
      // Characters that came without a usable keydown (an IME, or a WebView whose keys all say keyCode 229 /
      // "Unidentified"): taken from the field itself, every one of them (a key the keydown took was prevented and
      // never reaches the field). Not while a sheet is open: those keys are not a scan for the screen below.
      const text = sink.value;
      sink.value = "";
      // the key the keydown just took (a WebView that inserts a prevented key all the same): not twice
      if (!text || performance.now() - this.keyedAt < 30 || this.paused || sheetOpen()) return;
      const now = performance.now();
      for (const ch of text) {
        if (ch === "\n" || ch === "\r") { this.finish(); continue; }
        this.buffer.push(ch);
        this.times.push(now);
      }
      this.armEnd();
    });
    sink.addEventListener("blur", () => setTimeout(focusSink, 0));
    document.addEventListener("click", () => setTimeout(focusSink, 0));
    focusSink();
  }

  key(event) {
    const target = event.target;
    const sink = $("#scan-sink");
    if (target && target !== sink && target !== document.body && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) return;
    if (this.paused || sheetOpen()) { this.reset(); return; }
    const suffix = settings.suffix;
    const enter = event.key === "Enter" || event.keyCode === 13;
    if ((suffix !== "Tab" && enter) || (suffix === "Tab" && event.key === "Tab")) {
      event.preventDefault();
      this.finish();
      return;
    }
    if (event.key.length !== 1 || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    this.buffer.push(event.key);
    this.times.push(performance.now());
    this.keyedAt = performance.now();
    this.armEnd();
  }

  /** With no suffix, a pause ends the code. */
  armEnd() {
    if (settings.suffix !== "none") return;
    clearTimeout(this.endTimer);
    this.endTimer = setTimeout(() => this.finish(), Math.max(60, settings.maxIntervalMs * 3));
  }

  reset() {
    clearTimeout(this.endTimer);
    this.buffer = [];
    this.times = [];
    this.keyedAt = -Infinity;
  }

  /** Fast enough and long enough to be a scanner's. */
  static fast(chars, times) {
    const gaps = times.length > 1 ? (times[times.length - 1] - times[0]) / (times.length - 1) : Infinity;
    return chars.join("").trim().length >= settings.minLength && gaps <= settings.maxIntervalMs;
  }

  finish() {
    let chars = this.buffer;
    let times = this.times;
    this.reset();
    // Keys left over before a scan (one pressed by mistake, a number typed and never ended with Enter) must not
    // become part of it: after a long pause, a fast burst at the end is the scan on its own.
    const pause = Math.max(250, settings.maxIntervalMs * 8);
    for (let i = times.length - 1; i > 0; i -= 1) {
      if (times[i] - times[i - 1] > pause) {
        if (Scanner.fast(chars.slice(i), times.slice(i))) { chars = chars.slice(i); times = times.slice(i); }
        break;
      }
    }
    const text = chars.join("").trim();
    if (!text) return;
    this.deliver(text, Scanner.fast(chars, times));
  }

  deliver(text, scanned) {
    if (!text) return;
    if (scanned) this.onScan(text);
    else this.onTyped(text);
  }
}

// ------------------------------------------------------------------------------------------ the network state

export function showNet(state, pending) {
  const net = $("#net");
  net.dataset.state = state;
  net.textContent = state === "offline" ? "离线" : state === "syncing" ? "同步中" : "在线";
  const bar = $("#pending");
  if (pending > 0) {
    bar.hidden = false;
    bar.textContent = state === "offline" ? `离线：${pending} 条扫描已保存在本机，联网后自动上传` : `正在上传 ${pending} 条扫描…`;
  } else {
    bar.hidden = true;
  }
}

// ------------------------------------------------------------------------------------------- the floor socket

/**
 * The live floor (/ws/floor): the token goes in the first message (never in the URL). `onEvent(event)` gets each
 * event; reconnects with a growing pause. Returns {close()}.
 */
export function floorSocket(onEvent) {
  let socket = null;
  let closed = false;
  let delay = 1000;
  const connect = () => {
    const session = loadSession();
    if (closed || !session) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/floor`;
    try {
      socket = new WebSocket(url);
    } catch {
      setTimeout(connect, delay);
      return;
    }
    socket.onopen = () => {
      delay = 1000;
      socket.send(JSON.stringify({ type: "auth", token: session.token }));
    };
    socket.onmessage = (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch { return; }
      if (data.type === "snapshot" || data.type === "pong") { onEvent(data); return; }
      if (data.event) onEvent(data.event);
    };
    socket.onclose = (event) => {
      socket = null;
      if (closed || event.code === 4401) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  connect();
  const ping = setInterval(() => socket && socket.readyState === 1 && socket.send('{"type":"ping"}'), 25000);
  return { close() { closed = true; clearInterval(ping); if (socket) socket.close(); } };
}

// ------------------------------------------------------------------------------------------------ sign-in

/** The sign-in screen: a badge scan (the scanner) or a username and password; device code set once per device. */
export function loginScreen(app, { title, onSignedIn }) {
  const error = el("p", { class: "error", id: "login-error" });
  const deviceInput = el("input", { id: "device", name: "device", value: settings.device, placeholder: "如 SH-PDA-01", autocomplete: "off" });
  const user = el("input", { id: "username", name: "username", autocomplete: "username" });
  const pass = el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password" });
  const signIn = async (credentials) => {
    const device = deviceInput.value.trim() || settings.device;
    if (!device) { error.textContent = "请先填写设备编号"; signal("error"); return; }
    saveSettings({ device });
    error.textContent = "正在登录…";
    try {
      const answer = await api("POST", "/pda/v1/login", { device, ...credentials });
      saveSession(answer);
      signal("done");
      onSignedIn();
    } catch (exc) {
      error.textContent = exc instanceof NetworkError ? "无法连接服务器，请检查网络" : exc.message;
      signal("error");
    }
  };
  const badge = el("input", { id: "badge", name: "badge", autocomplete: "off", placeholder: "无扫码枪时手动输入" });
  const badgeForm = el("form", { class: "form", id: "badge-form", onsubmit: (e) => { e.preventDefault(); if (badge.value.trim()) signIn({ badge: badge.value.trim() }); } },
    el("label", {}, "工牌号", badge),
    el("button", { class: "btn primary", type: "submit", id: "badge-login" }, "登录"),
  );
  const form = el("form", { class: "form", id: "password-form", hidden: true, onsubmit: (e) => { e.preventDefault(); signIn({ username: user.value.trim(), password: pass.value }); } },
    el("label", {}, "用户名", user),
    el("label", {}, "密码", pass),
    el("button", { class: "btn primary", type: "submit" }, "登录"),
  );
  fill(app,
    el("div", { class: "card focus" },
      el("p", { class: "mid" }, title),
      el("div", { class: "hint-scan", id: "badge-hint" }, "请扫描工牌登录"),
    ),
    el("div", { class: "form" }, el("label", {}, "设备编号", deviceInput)),
    badgeForm,
    error,
    el("button", { class: "btn", type: "button", id: "use-password", onclick: () => { form.hidden = false; user.focus(); } }, "用账号密码登录"),
    form,
  );
  return { badge: (code) => signIn({ badge: code }) };
}

export function showWho() {
  const s = loadSession();
  $("#who").textContent = s ? `${s.name} · ${s.warehouse} · ${s.device}` : settings.device ? `设备 ${settings.device}` : "";
}

export async function logout() {
  try { await api("POST", "/pda/v1/logout"); } catch { /* signed out locally all the same */ }
  clearSession();
}

/** The menu: the scanner's settings, sound, sign out. */
export function settingsSheet({ onLogout, extra = [] }) {
  const suffix = el("select", { id: "set-suffix" },
    ...[["Enter", "回车 Enter"], ["Tab", "Tab"], ["none", "无（停顿结束）"]].map(([v, t]) => el("option", { value: v, selected: settings.suffix === v }, t)));
  const interval = el("input", { id: "set-interval", type: "number", min: 5, max: 200, value: settings.maxIntervalMs });
  const minLength = el("input", { id: "set-minlength", type: "number", min: 1, max: 20, value: settings.minLength });
  const unit = el("select", { id: "set-unit" }, el("option", { value: "g", selected: settings.scaleUnit === "g" }, "克 g"), el("option", { value: "kg", selected: settings.scaleUnit === "kg" }, "千克 kg"));
  const sound = el("select", { id: "set-sound" }, el("option", { value: "1", selected: settings.sound }, "开"), el("option", { value: "0", selected: !settings.sound }, "关"));
  const save = () => {
    saveSettings({
      suffix: suffix.value,
      maxIntervalMs: Math.min(200, Math.max(5, Number(interval.value) || DEFAULTS.maxIntervalMs)),
      minLength: Math.min(20, Math.max(1, Number(minLength.value) || DEFAULTS.minLength)),
      scaleUnit: unit.value,
      sound: sound.value === "1",
    });
    closeSheet();
    flash("info", "设置已保存");
  };
  openSheet("设置", el("div", { class: "form" },
    el("label", {}, "扫码枪结束符", suffix),
    el("label", {}, "扫码判定：按键平均间隔上限（毫秒）", interval),
    el("label", {}, "扫码判定：最短长度", minLength),
    el("label", {}, "电子秤读数单位（无单位时）", unit),
    el("label", {}, "提示音", sound),
    ...extra,
    el("div", { class: "actions" },
      el("button", { class: "btn", type: "button", onclick: closeSheet }, "取消"),
      el("button", { class: "btn primary", type: "button", id: "set-save", onclick: save }, "保存")),
    el("button", { class: "btn bad", type: "button", id: "logout", onclick: () => { closeSheet(); onLogout(); } }, "退出登录"),
    el("p", { class: "small muted" }, `设备 ${settings.device || "未设置"} · 版本 ${VERSION}`),
  ));
}

// ---------------------------------------------------------------------------------------- the service worker

export function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("/pda/sw.js", { scope: "/pda/" }).catch((exc) => console.warn("service worker", exc));
}

/** The camera fallback, loaded only when asked for (its decoder is large). */
export async function cameraScan(onCode) {
  try {
    const camera = await import("/pda/camera.js");
    if (camera.cameraAvailable && !camera.cameraAvailable()) {
      flash("warn", window.isSecureContext ? "本设备没有可用的摄像头" : "摄像头扫码需要 HTTPS 访问");
      return;
    }
    await camera.openCamera(document.body, onCode);
  } catch (exc) {
    flash("warn", `摄像头不可用：${exc && exc.message ? exc.message : exc}`);
  }
}
