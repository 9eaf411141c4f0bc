// The picker's pages (/pda/): sign in by badge, next task / claim, stop by stop in route order — scan the location,
// then the items (or key a quantity) — short pick with a reason, skip, complete. Every scan goes through the outbox
// (core.js): shown at once, sent in order, kept on the device while there is no network and replayed with its
// client_id when it returns; the screen is the hub's last answer with the scans still on the device applied on top,
// and after the outbox empties the task is read again, so the device ends exactly where the hub is.

import {
  $, ApiError, askText, fill, NetworkError, Outbox, Scanner, api, cameraScan, choose, clearSession, clientId, closeSheet, el,
  expectedText, flash, floorSocket, hideFlash, keypad, kv, loadSession, loginScreen, logout, metres, openSheet,
  registerServiceWorker, setUnauthorizedHandler, settingsSheet, showNet, showWho, signal,
} from "/pda/core.js";

const app = $("#app");
const state = {
  screen: "boot",
  task: null, // the hub's last TaskView of the task in hand
  confirmed: {}, // line_id → the location barcode confirmed at that stop (sent with its item scans)
  lastBarcode: {}, // line_id → a barcode of the line's SKU scanned there (a keyed quantity reuses it)
  pendingQty: null, // the next item scan counts this many units
  next: null, // the home screen's task summary
  refreshing: false,
  stale: false, // answers came that the task's last reading does not show: read it again once the queue is empty
};
let login = null;
let socket = null;

const same = (a, b) => String(a || "").trim().toUpperCase() === String(b || "").trim().toUpperCase();

// ------------------------------------------------------------------------------------------ the outbox

const outbox = new Outbox({ onAnswer, onChange: () => { netState(); if (state.screen === "task") renderTask(); } });

function netState() {
  const mine = outbox.mine.length;
  showNet(outbox.offline || !navigator.onLine ? "offline" : mine ? "syncing" : "online", mine);
}
window.addEventListener("offline", netState);
window.addEventListener("online", () => { netState(); outbox.drain(); });

/** The scans of this task still on the device, in order. */
function pendingScans() {
  return outbox.mine.filter((e) => e.meta && e.meta.task_id === (state.task && state.task.id));
}

/** The stops as the picker sees them: the hub's, with the device's unsent scans that looked right applied. */
function viewStops() {
  if (!state.task) return [];
  const stops = state.task.stops.map((s) => ({ ...s }));
  for (const entry of pendingScans()) applyScan(stops, entry.body, entry.meta.predicted);
  return stops;
}

function applyScan(stops, body, predicted) {
  if (!predicted || !predicted.ok) return;
  const stop = stops.find((s) => s.line_id === body.line_id);
  if (!stop) return;
  if (body.kind === "item" && stop.status === "pending") {
    stop.picked += body.qty;
    if (stop.picked >= stop.qty) stop.status = "picked";
  } else if (body.kind === "skip" && stop.status === "pending") {
    stop.skipped += 1;
  } else if (body.kind === "short" && stop.status === "pending") {
    stop.status = "short";
    for (const other of stops) if (other.order_id === stop.order_id && other.status === "pending") other.status = "withdrawn";
  }
}

/** The stop to work: the pending one least skipped, first in route order (as the hub chooses it). */
function currentStop(stops) {
  const pending = stops.filter((s) => s.status === "pending");
  pending.sort((a, b) => a.skipped - b.skipped || a.seq - b.seq);
  return pending[0] || null;
}

/** One of the stop's SKU's barcodes, or its code (the hub takes both). */
function isItemCode(stop, code) {
  return same(code, stop.sku) || (Array.isArray(stop.barcodes) && stop.barcodes.some((b) => same(b, code)));
}

/** What the hub will answer, as far as the device can tell (the same checks, on what it knows). */
function predict(stop, body) {
  const ok = (message) => ({ ok: true, code: "ok", message });
  const refuse = (code, message, expected) => ({ ok: false, code, message, expected });
  if (!stop) return ok("");
  if (body.kind === "location") {
    if (stop.location && !same(body.barcode, stop.location)) return refuse("wrong_location", `库位不对，应到 ${stop.location}`, { location: stop.location });
    return ok(`库位正确，请扫描商品 ${stop.name}`);
  }
  if (body.kind === "skip") return ok("已跳过，稍后回来拣这一行");
  if (body.kind === "short") return ok("已登记缺货");
  const asksShelf = !state.task || state.task.require_location !== false; // the warehouse's require_location_scan
  if (stop.location && !body.location && asksShelf) return refuse("location_not_scanned", `请先扫描库位 ${stop.location}，再扫描商品`, { location: stop.location });
  if (stop.location && body.location && !same(body.location, stop.location)) return refuse("wrong_location", `库位不对，应到 ${stop.location}`, { location: stop.location });
  if (Array.isArray(stop.barcodes) && stop.barcodes.length && !isItemCode(stop, body.barcode)) {
    return refuse("wrong_item", `商品不对，应拣 ${stop.name}（${stop.sku}）`, { sku: stop.sku, name: stop.name, location: stop.location });
  }
  if (stop.picked + body.qty > stop.qty) {
    const left = stop.qty - stop.picked;
    return refuse("over_pick", left > 0 ? `数量超出：这一行还需 ${left} 件` : "这一行已拣完，请扫下一行", { remaining: Math.max(left, 0) });
  }
  const picked = stop.picked + body.qty;
  const slot = stop.tote_slot ? `，放入 ${stop.tote_slot} 号格` : "";
  return ok(picked < stop.qty ? `已拣 ${picked}/${stop.qty}${slot}` : `本行完成 ${picked}/${stop.qty}${slot}`);
}

function announce(result, { offline = false } = {}) {
  const suffix = offline ? "（离线，已保存）" : "";
  if (result.ok && result.code === "line_withdrawn") {
    signal("line_withdrawn");
    flash("warn", result.message, { code: result.code, sticky: true });
  } else if (result.ok) {
    const finished = /本行完成|已拣完/.test(result.message || "");
    signal(finished ? "done" : "ok");
    flash("ok", (result.message || "成功") + suffix, { code: "ok" });
  } else {
    signal(result.code);
    flash("bad", (result.message || "扫描被拒绝") + suffix, { expected: expectedText(result.expected), code: result.code });
  }
}

async function sendScan(stop, body) {
  const predicted = predict(stop, body);
  if (body.kind === "location" && predicted.ok) state.confirmed[stop.line_id] = body.barcode;
  if (body.kind === "item" && predicted.ok) state.lastBarcode[stop.line_id] = body.barcode;
  const marked = kv.set(`marks:${state.task.id}`, { confirmed: state.confirmed, lastBarcode: state.lastBarcode });
  const offline = outbox.offline || !navigator.onLine;
  const meta = { task_id: state.task.id, line_id: stop.line_id, predicted, told: offline };
  const entry = await outbox.add({ url: "/pda/v1/scans", body, meta });
  if (offline) announce(predicted, { offline: true }); // "saved" only once it is on the device's disk
  await marked;
  // no answer within a moment (a weak signal): say what the device thinks, and correct it if the hub disagrees
  setTimeout(() => {
    if (!entry.meta.told && outbox.items.includes(entry)) {
      entry.meta.told = true;
      announce(predicted, { offline: true });
    }
  }, 1200);
  renderTask();
}

async function onAnswer(entry, answer) {
  if (!entry.meta || entry.meta.task_id === undefined) return;
  const result = answer.ok ? answer.data : { ok: false, code: answer.code, message: answer.message, expected: (answer.data || {}).expected };
  const predicted = entry.meta.predicted || {};
  const lineId = entry.body.line_id;
  if (!result.ok && entry.body.kind === "location" && same(state.confirmed[lineId], entry.body.barcode)) {
    delete state.confirmed[lineId];
  }
  if (!entry.meta.told) {
    announce(result);
  } else if (predicted.ok && !result.ok) {
    // told "OK" while offline, refused by the hub: the picker must know (the units are not counted)
    announce({ ...result, message: `离线扫描被拒绝：${result.message}` });
  } else if (!predicted.ok && result.ok && entry.body.kind === "item") {
    // told "refused" while offline (a barcode the device did not know, a warehouse that does not ask for the shelf
    // first), counted by the hub: the picker must know, or the unit goes back on the shelf and is scanned again
    announce({ ...result, message: `离线扫描已被接受：${result.message}` });
  } else if (result.ok && result.code === "line_withdrawn") {
    announce(result);
  }
  if (state.task && state.task.id === entry.meta.task_id && answer.ok && result.line) {
    state.task = { ...state.task, stops: state.task.stops.map((s) => (s.line_id === result.line.line_id ? { ...s, ...result.line } : s)) };
    await kv.set("task", state.task); // what the device shows after a reload with no network
  }
  // The answer's line is the hub's own row: a scan inside a line needs no more. The task is read again (once the
  // queue is empty) after anything else — a refusal, a skip or short (no line), a withdrawal, a line finished (the
  // walk left changes), a scan replayed from the offline queue — so the device ends exactly where the hub is.
  const settled = answer.ok && result.line && result.code !== "line_withdrawn" && result.line.status === "pending" && !entry.meta.told;
  if (!settled) state.stale = true;
  if (state.stale && !outbox.mine.length) await refreshTask();
  else renderTask();
}

// --------------------------------------------------------------------------------------------- reading

async function refreshTask() {
  if (!state.task || state.refreshing) return;
  state.refreshing = true;
  const sentBefore = outbox.sent;
  try {
    const task = await api("GET", `/pda/v1/tasks/${state.task.id}`);
    // a scan sent meanwhile may or may not be in this answer: read again once the outbox is empty (while it is not,
    // the answer that empties it reads the task again: onAnswer)
    if (outbox.sent === sentBefore && !outbox.mine.length) { state.stale = false; await keepTask(task); }
    else if (!outbox.mine.length) setTimeout(refreshTask, 300);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404) { await taskGone("任务已不存在", "任务已被删除或不属于本仓"); return; }
  } finally {
    state.refreshing = false;
  }
  if (state.screen === "task") renderTask();
}

async function keepTask(task) {
  state.task = task;
  await kv.set("task", task);
  const session = loadSession();
  const other = session && session.user_id !== undefined && task.picker_id !== undefined && task.picker_id !== session.user_id;
  if (task.status === "withdrawn") await taskGone("任务已撤回", "任务中的订单已全部撤回（取消、拦截或缺货），请把已拣商品放回原库位");
  // given to someone else (or taken back) while the floor socket was down: read here instead
  else if (task.status === "open" || (task.status === "claimed" && other)) await taskGone("任务已改派", `任务 ${task.id} 已不在你名下${task.picker ? `（现由 ${task.picker} 拣货）` : ""}，请停止拣货`);
}

async function forgetTask() {
  const id = state.task && state.task.id;
  state.task = null;
  state.confirmed = {};
  state.lastBarcode = {};
  state.pendingQty = null;
  await kv.del("task");
  if (id) await kv.del(`marks:${id}`);
}

/** The task left the picker's hands (withdrawn, reassigned, gone): they are told, big, then see the next task. */
async function taskGone(title, message) {
  await forgetTask();
  if (alertOpen()) return; // already told (the floor socket and the hub's answer may both say it)
  interrupt(title, message, home);
}

async function dropTask(message) {
  await forgetTask();
  if (message) flash("warn", message);
  home();
}

// ---------------------------------------------------------------------------------------------- screens

async function home() {
  state.screen = "home";
  if (!alertOpen()) closeSheet();
  fill(app, el("p", { class: "boot" }, "正在查找任务…"));
  if (state.task) { state.screen = "task"; renderTask(); return; }
  try {
    const next = await api("GET", "/pda/v1/tasks/next");
    state.next = next.task;
    renderHome(next.message);
  } catch (exc) {
    state.next = null;
    renderHome(exc instanceof NetworkError ? "离线：联网后才能领取新任务" : exc.message);
  }
}

function renderHome(message) {
  if (state.screen !== "home") return;
  const t = state.next;
  const card = t
    ? el("div", { class: "card focus", id: "next-task" },
        el("div", { class: "row" }, el("span", { class: "label" }, "波次"), el("span", { class: "mid mono" }, t.wave)),
        el("div", { class: "row" }, el("span", { class: "label" }, "订单 / 行 / 件"), el("span", { class: "mid" }, `${t.orders} / ${t.lines} / ${t.units}`)),
        el("div", { class: "row" }, el("span", { class: "label" }, "路线"), el("span", { class: "mid" }, metres(t.route_m))),
        el("button", { class: "btn primary wide", type: "button", id: "claim", onclick: () => claim(t) }, t.status === "claimed" ? "继续任务" : "领取任务"))
    : el("div", { class: "card" }, el("p", { class: "mid" }, "暂无拣货任务"), el("p", { class: "muted small" }, "新波次释放后会自动提示"));
  fill(app, 
    el("p", { class: "mid", id: "home-message" }, message || ""),
    card,
    el("div", { class: "actions one" }, el("button", { class: "btn", type: "button", id: "refresh", onclick: home }, "刷新")),
  );
}

async function claim(summary) {
  try {
    const task = summary.status === "claimed" ? await api("GET", `/pda/v1/tasks/${summary.id}`) : await api("POST", `/pda/v1/tasks/${summary.id}/claim`);
    await keepTask(task);
    const marks = (await kv.get(`marks:${task.id}`)) || {};
    state.confirmed = marks.confirmed || {};
    state.lastBarcode = marks.lastBarcode || {};
    signal("done");
    state.screen = "task";
    renderTask();
  } catch (exc) {
    signal("error");
    flash("bad", exc instanceof NetworkError ? "网络不通，无法领取任务" : exc.message, { code: exc.code || "" });
    home();
  }
}

function renderTask() {
  if (state.screen !== "task" || !state.task) return;
  const task = state.task;
  const stops = viewStops();
  const stop = currentStop(stops);
  const handled = stops.filter((s) => s.status !== "pending").length;
  const pending = pendingScans().length;
  const remainingM = task.remaining_m !== undefined ? task.remaining_m : task.route_m * (stops.filter((s) => s.status === "pending").length / Math.max(1, stops.length));
  const list = el("ul", { class: "stops", id: "stop-list" }, stops.map((s) =>
    el("li", { dataset: { status: s.status, line: s.line_id } }, el("span", { class: "mono" }, `${s.seq}. ${s.location || "—"}`), el("span", {}, `${s.name} ${s.picked}/${s.qty}`))));
  const progress = el("div", { class: "progress" }, el("i", { style: `width:${Math.round((100 * handled) / Math.max(1, stops.length))}%` }));
  if (!stop) {
    fill(app, 
      el("div", { class: "step", dataset: { phase: "done" } }, el("span", { class: "arrow" }, "✔"), "全部拣完"),
      el("div", { class: "card focus" },
        el("p", { class: "mid" }, `任务 ${task.id} · 波次 ${task.wave}`),
        el("p", {}, `共 ${stops.length} 行，已处理 ${handled} 行`),
        pending ? el("p", { class: "mid", id: "wait-sync" }, `还有 ${pending} 条扫描未上传，联网后才能完成`) : null,
        el("button", { class: "btn go wide", type: "button", id: "complete", disabled: pending > 0, onclick: complete }, "完成任务")),
      progress,
      list,
    );
    return;
  }
  const confirmed = !stop.location || same(state.confirmed[stop.line_id], stop.location);
  const phase = confirmed ? "item" : "location";
  const left = stop.qty - stop.picked;
  const image = stop.image_url ? el("img", { class: "sku-img", src: stop.image_url, alt: stop.name }) : null;
  fill(app, 
    el("div", { class: "step", id: "step", dataset: { phase } },
      el("span", { class: "arrow" }, phase === "location" ? "①" : "②"),
      phase === "location" ? "请扫描库位" : state.pendingQty ? `请扫描商品（本次 ${state.pendingQty} 件）` : "请扫描商品"),
    el("div", { class: "card focus", id: "stop", dataset: { line: stop.line_id } },
      el("div", { class: "stop-head" },
        el("span", { class: "label" }, `第 ${handled + 1}/${stops.length} 行 · 剩余路程 ${metres(remainingM)}`),
        stop.tote_slot ? el("span", { class: "slot", id: "tote-slot" }, `${stop.tote_slot} 号格`) : null),
      el("div", { class: `stop-loc mono ${confirmed && stop.location ? "ok" : ""}`, id: "stop-location" }, stop.location || "无库位"),
      el("div", { class: "sku-row" }, image,
        el("div", {}, el("p", { class: "mid", id: "stop-name" }, stop.name), el("p", { class: "small muted mono" }, stop.sku))),
      el("div", { class: "row" },
        el("div", { class: "qty" }, el("span", { class: `huge ${stop.picked >= stop.qty ? "done" : ""}`, id: "stop-picked" }, String(stop.picked)),
          el("span", { class: "mid" }, `/ ${stop.qty} 件`)),
        el("span", { class: "small muted" }, left > 0 ? `还需 ${left} 件` : "")),
      progress),
    el("div", { class: "actions" },
      el("button", { class: "btn", type: "button", id: "key-qty", onclick: keyQuantity }, "输入数量"),
      el("button", { class: "btn", type: "button", id: "camera", onclick: () => cameraScan(onScan) }, "摄像头扫码"),
      el("button", { class: "btn bad", type: "button", id: "short", onclick: shortPick }, "缺货"),
      el("button", { class: "btn", type: "button", id: "skip", onclick: skip }, "跳过"),
      el("button", { class: "btn wide", type: "button", id: "key-code", onclick: keyCode }, "手输条码 / 库位")),
    list,
  );
}

// --------------------------------------------------------------------------------------------- actions

function scanBody(stop, kind, extra = {}) {
  return {
    client_id: clientId(),
    kind,
    task_id: state.task.id,
    line_id: stop.line_id,
    barcode: "",
    qty: 1,
    location: null,
    reason: "",
    scanned_at: new Date().toISOString(),
    ...extra,
  };
}

function onScan(code) {
  if (state.screen === "login") { login.badge(code); return; }
  if (state.screen !== "task" || !state.task) { signal("info"); flash("info", "请先领取任务"); return; }
  const stop = currentStop(viewStops());
  if (!stop) { signal("info"); flash("info", "本任务已拣完，请点“完成任务”"); return; }
  const isItem = isItemCode(stop, code);
  const confirmed = state.confirmed[stop.line_id];
  let kind;
  if (isItem) kind = "item";
  else if (stop.location && same(code, stop.location)) kind = "location";
  else if (confirmed || !stop.location) kind = "item";
  else kind = "location";
  if (kind === "location") { sendScan(stop, scanBody(stop, "location", { barcode: code })); return; }
  const qty = state.pendingQty || 1;
  state.pendingQty = null;
  sendScan(stop, scanBody(stop, "item", { barcode: code, qty, location: confirmed || null }));
}

/** A number typed slowly on the device's keys (not a scan) at the item step: that many units. */
function onTyped(text) {
  if (state.screen === "login") { login.badge(text); return; }
  if (state.screen !== "task") return;
  const n = Number(text);
  if (/^\d{1,5}$/.test(text) && n > 0) applyQuantity(n);
  else onScan(text); // keyed by hand: a barcode all the same
}

async function keyCode() {
  const code = await askText("输入条码或库位号", { placeholder: "条码无法扫描时手动输入" });
  if (code) onScan(code);
}

async function keyQuantity() {
  const stop = currentStop(viewStops());
  if (!stop) return;
  const n = await keypad(`${stop.name}：本次拣货数量`, String(Math.max(1, stop.qty - stop.picked)), { max: 100000 });
  if (n) applyQuantity(n);
}

function applyQuantity(n) {
  const stop = currentStop(viewStops());
  if (!stop) return;
  const barcode = state.lastBarcode[stop.line_id];
  if (barcode) {
    sendScan(stop, scanBody(stop, "item", { barcode, qty: n, location: state.confirmed[stop.line_id] || null }));
  } else {
    state.pendingQty = n;
    signal("info");
    flash("info", `请扫描商品，本次计 ${n} 件`);
    renderTask();
  }
}

async function shortPick() {
  const stop = currentStop(viewStops());
  if (!stop) return;
  const reason = await choose(`${stop.location || ""} ${stop.name} 缺货原因`, [
    ["库位无货", "库位无货"],
    ["数量不足", "数量不足"],
    ["商品破损", "商品破损"],
    ["找不到商品", "找不到商品"],
  ]);
  if (!reason) return;
  sendScan(stop, scanBody(stop, "short", { reason }));
}

function skip() {
  const stop = currentStop(viewStops());
  if (stop) sendScan(stop, scanBody(stop, "skip"));
}

async function complete() {
  if (outbox.mine.length) { flash("warn", "还有扫描未上传，请等待网络恢复"); return; }
  try {
    const task = await api("POST", `/pda/v1/tasks/${state.task.id}/complete`);
    signal("done");
    flash("ok", `任务 ${task.id} 已完成`, { code: "task_done" });
    await dropTask("");
  } catch (exc) {
    signal("error");
    flash("bad", exc instanceof NetworkError ? "网络不通，联网后再点完成" : exc.message, { code: exc.code || "" });
    if (!(exc instanceof NetworkError)) refreshTask();
  }
}

// ------------------------------------------------------------------------------------------ interruptions

function alertOpen() {
  return !$("#sheet").hidden && $("#sheet").classList.contains("alert");
}

function interrupt(title, message, then) {
  signal("alert");
  const ok = el("button", { class: "btn primary wide", type: "button", id: "interrupt-ok", onclick: () => { closeSheet(); then(); } }, "知道了");
  openSheet(title, el("div", { class: "form" }, el("p", { class: "mid", id: "interrupt-message" }, message), ok), { alert: true });
}

/** The event's picker is the one signed in (by id: two pickers may share a name). */
function mine(event, session) {
  return session.user_id !== undefined && event.picker_id !== undefined ? event.picker_id === session.user_id : event.picker === session.name;
}

function onFloorEvent(event) {
  const session = loadSession();
  if (!session) return;
  if (event.type === "snapshot") {
    // (re)connected: what happened while the socket was down (a withdrawal, a reassignment) is read from the hub
    if (state.screen === "task" && state.task && !outbox.mine.length) refreshTask();
    return;
  }
  const current = state.task && state.task.id;
  if (event.type === "task.withdrawn" && event.task_id === current) {
    if (event.whole) taskGone(event.reason === "reassigned" ? "任务已改派" : "任务已撤回", event.message || "任务已撤回");
    else interrupt("订单已撤回", `${event.message || "订单已撤回"}：已拣的商品请放回原库位`, () => refreshTask());
  } else if (event.type === "task.assigned" && event.task_id === current && !mine(event, session)) {
    taskGone("任务已改派", `主管已把任务 ${current} 改派给 ${event.picker}，请停止拣货`);
  } else if (event.type === "wave.released" && state.screen === "home") {
    signal("info");
    home();
  }
}

// ------------------------------------------------------------------------------------------------- start

function signedIn() {
  showWho();
  if (outbox.others) flash("warn", `本机还有 ${outbox.others} 条其他人的扫描未上传，等扫描人在本机登录后自动上传`, { code: "others_pending", sticky: true });
  else hideFlash();
  if (socket) socket.close();
  socket = floorSocket(onFloorEvent);
  outbox.drain();
  home();
}

function showLogin() {
  state.screen = "login";
  // the task on screen is the signed-out picker's: the next one to sign in reads their own from the hub (the marks of
  // confirmed shelves stay, by task, for when its picker is back)
  state.task = null;
  state.next = null;
  state.confirmed = {};
  state.lastBarcode = {};
  state.pendingQty = null;
  kv.del("task").catch(() => {});
  if (socket) { socket.close(); socket = null; }
  showWho();
  login = loginScreen(app, { title: "拣货员登录", onSignedIn: signedIn });
}

setUnauthorizedHandler(() => { flash("warn", "登录已过期，请重新登录"); showLogin(); });

$("#menu").addEventListener("click", () => settingsSheet({
  onLogout: async () => {
    const left = outbox.mine.length;
    if (left && !(await choose(`还有 ${left} 条扫描未上传：退出后要等你在本机再次登录才会上传`, [["out", "仍然退出", "bad"]]))) return;
    await logout();
    if (socket) socket.close();
    showLogin();
  },
}));

async function start() {
  registerServiceWorker();
  new Scanner(onScan, onTyped);
  await outbox.load();
  netState();
  if (!loadSession()) {
    if (outbox.items.length) flash("warn", `本机还有 ${outbox.items.length} 条扫描未上传，扫描人登录后自动上传`, { sticky: true });
    showLogin();
    return;
  }
  showWho();
  const kept = await kv.get("task");
  if (kept && kept.status === "claimed") {
    state.task = kept;
    const marks = (await kv.get(`marks:${kept.id}`)) || {};
    state.confirmed = marks.confirmed || {};
    state.lastBarcode = marks.lastBarcode || {};
    state.screen = "task";
    renderTask();
    socket = floorSocket(onFloorEvent);
    outbox.drain();
    if (!outbox.mine.length) refreshTask();
    return;
  }
  signedIn();
}

window.addEventListener("pageshow", () => netState());
export const debug = { state, outbox, viewStops, currentStop, clearSession };
window.orderhubPda = debug;
start();
