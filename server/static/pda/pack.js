// The pack station's page (/pda/pack): scan the order (its number, the platform's number or the tote T{task}-{slot}),
// verify every unit (gifts called out), weigh — a scale that types its reading like a keyboard, or a weight keyed in
// — and print the label: a PDF to the browser's print dialog, or ZPL sent by the hub to the station's network
// printer (the station's setting). Scans and weighings go through the same outbox as the picker's (core.js).

import {
  $, ApiError, askText, fill, NetworkError, Outbox, Scanner, api, cameraScan, clientId, closeSheet, el, expectedText, flash,
  floorSocket, grams, keypad, loadSession, loginScreen, logout, registerServiceWorker, setUnauthorizedHandler,
  settings, settingsSheet, showNet, showWho, signal,
} from "/pda/core.js";

const app = $("#app");
const state = { screen: "boot", pack: null, weighing: null, label: null, station: null, waybill: null };
let login = null;
let socket = null;

const outbox = new Outbox({ onAnswer, onChange: netState });

function netState() {
  const n = outbox.mine.length;
  showNet(outbox.offline || !navigator.onLine ? "offline" : n ? "syncing" : "online", n);
}
window.addEventListener("offline", netState);
window.addEventListener("online", () => { netState(); outbox.drain(); });

// ------------------------------------------------------------------------------------------------ weights

// What a scale types: "1.234kg", "1234 g", "ST,GS,+0001.234kg", "WT: 0.850 kg", or a bare number in the station's
// unit. Returns grams, or null when the text is no weight.
const WEIGHT = /^(?:[A-Z]{1,3}\s*[,:]\s*)*(?:[A-Z]{1,3}\s*[,:]\s*)?\s*([+-]?\s*\d+(?:\.\d+)?)\s*(KG|G)?\s*$/i;

export function parseWeight(text, { bareOk = true } = {}) {
  const match = WEIGHT.exec(String(text).trim());
  if (!match) return null;
  const value = Number(match[1].replace(/\s+/g, ""));
  const unit = (match[2] || "").toLowerCase() || (bareOk ? settings.scaleUnit : "");
  if (!unit || !Number.isFinite(value) || value <= 0) return null;
  const g = Math.round(unit === "kg" ? value * 1000 : value);
  return g >= 1 && g <= 1000000 ? g : null;
}

/** A reading the scale flags as not settled (US: unstable) or out of range (OL: overload): not a weight to check. */
function unsettled(text) {
  return /^\s*(?:US|OL)\s*[,:]/i.test(text);
}

function looksLikeScale(text) {
  // a unit, a decimal point or a scale's prefix: never a barcode
  return /(kg|g)\s*$/i.test(text) || /^\s*[+-]?\d+\.\d+\s*$/.test(text) || /^[A-Z]{1,3}\s*[,:]/i.test(text);
}

// ------------------------------------------------------------------------------------------------ answers

async function onAnswer(entry, answer) {
  const meta = entry.meta || {};
  if (!state.pack || meta.pack_id !== state.pack.id) {
    // an order no longer on screen (weighed with no network, then the next one taken): packed now, but no label yet
    if (meta.kind === "weigh" && answer.ok && answer.data && answer.data.ok) {
      signal("alert");
      flash("warn", `订单 ${meta.order || ""} 已打包但面单未打印：请重新扫描该订单，点“重新打印”`, { code: "packed_unlabelled", sticky: true });
    }
    return;
  }
  const result = answer.ok ? answer.data : { ok: false, code: answer.code, message: answer.message, expected: (answer.data || {}).expected, pack: (answer.data || {}).pack };
  if (result.pack) state.pack = result.pack;
  if (meta.kind === "weigh") {
    state.weighing = { measured_g: entry.body.weight_g, result };
    if (result.ok) {
      signal("done");
      flash("ok", result.message || "已打包", { code: "packed" });
      await afterPacked();
      return;
    }
  }
  if (result.ok) {
    signal("ok");
    flash("ok", result.message || "已核对", { code: "ok" });
  } else {
    signal(result.code);
    flash("bad", result.message || "被拒绝", { expected: result.code === "weight_mismatch" ? "" : expectedText(result.expected), code: result.code });
  }
  if (!answer.ok && !result.pack && answer.status !== 422) await reloadPack();
  render();
}

async function reloadPack() {
  if (!state.pack) return;
  try {
    state.pack = await api("POST", "/pda/v1/pack", { code: String(state.pack.order_id) });
  } catch {
    /* shown as it was */
  }
}

// --------------------------------------------------------------------------------------------- actions

async function start(code) {
  let view;
  try {
    view = await api("POST", "/pda/v1/pack", { code });
  } catch (exc) {
    if (exc instanceof ApiError && exc.code === "already_packed" && Number.isInteger(exc.body.pack_id)) {
      await packedAgain(code, exc.body.pack_id);
      return;
    }
    signal("error");
    flash("bad", exc instanceof NetworkError ? "网络不通，无法调出订单" : exc.message, { code: exc.code || "" });
    return;
  }
  state.pack = view;
  state.weighing = null;
  state.label = null;
  state.waybill = null;
  state.screen = "pack";
  const gifts = view.items.filter((i) => i.is_gift);
  if (gifts.length) {
    signal("alert");
    flash("warn", `注意：本单有赠品 ${gifts.map((g) => `${g.name}×${g.qty}`).join("、")}`, { code: "gift" });
  } else {
    signal("ok");
  }
  render();
}

/** An order scanned again once packed (the hub answers already_packed with its pack): its waybill — asked for now if
 * an offline weighing never got it — and its label printed again only when "重新打印" is pressed. */
async function packedAgain(code, packId) {
  state.pack = { id: packId, order_id: null, external_id: code, status: "packed", missing: 0, items: [], expected_g: null, tolerance_g: null, measured_g: null };
  state.weighing = null;
  state.waybill = null;
  state.label = { idle: true };
  state.screen = "packed";
  signal("info");
  flash("info", "该订单已打包，可重新打印面单", { code: "already_packed" });
  render();
  await ensureWaybill();
  render();
}

function queuedOffline() {
  if (outbox.offline || !navigator.onLine) {
    signal("info");
    flash("warn", "离线：已保存在本机，联网后自动核对", { code: "queued" });
  }
}

function scanUnit(barcode) {
  queuedOffline();
  outbox.add({ url: `/pda/v1/pack/${state.pack.id}/scans`, body: { client_id: clientId(), barcode }, meta: { pack_id: state.pack.id, kind: "scan" } });
}

function weigh(weightG) {
  state.weighing = { measured_g: weightG, result: null };
  queuedOffline();
  const order = state.pack.external_id || String(state.pack.order_id);
  outbox.add({ url: `/pda/v1/pack/${state.pack.id}/weigh`, body: { client_id: clientId(), weight_g: weightG }, meta: { pack_id: state.pack.id, kind: "weigh", order } });
  render();
}

async function keyWeight() {
  const unit = settings.scaleUnit;
  const n = await keypad(`输入重量（${unit === "kg" ? "千克" : "克"}）`, "", { unit, max: unit === "kg" ? 1000 : 1000000 });
  if (!n) return;
  const g = Math.round(unit === "kg" ? n * 1000 : n);
  weigh(g);
}

async function afterPacked() {
  state.screen = "packed";
  render();
  if (await ensureWaybill()) await printLabel();
}

/** The packed order's waybill (asked for once; asking again answers the same one). False when there is none. */
async function ensureWaybill() {
  if (state.waybill) return true;
  try {
    state.waybill = await api("POST", `/pda/v1/pack/${state.pack.id}/waybill`);
    return true;
  } catch (exc) {
    signal("error");
    flash("bad", `电子面单获取失败：${exc.message}`, { code: exc.code || "", sticky: true });
    state.label = { error: exc.message };
    render();
    return false;
  }
}

/** How this station prints, read at each label (a manager may change it during the shift); the last one read when
 * the hub does not answer, PDF when none was. */
async function station() {
  try { state.station = await api("GET", "/pda/v1/station"); } catch { /* the last one read */ }
  return state.station || { label_format: "pdf" };
}

async function printLabel() {
  if (!(await ensureWaybill())) return;
  const conf = await station();
  try {
    if (conf.label_format === "zpl") {
      const answer = await api("POST", `/pda/v1/pack/${state.pack.id}/print`);
      state.label = { printed: true, printer: answer.printer || conf.printer_address };
      signal("done");
      flash("ok", `面单已发送到打印机 ${state.label.printer || ""}`, { code: "printed" });
    } else {
      const response = await api("GET", `/pda/v1/pack/${state.pack.id}/label`, undefined, { raw: true });
      const blob = await response.blob();
      if (state.label && state.label.url) URL.revokeObjectURL(state.label.url);
      state.label = { url: URL.createObjectURL(blob), size: blob.size };
      render();
      printPdf(state.label.url);
    }
  } catch (exc) {
    state.label = { error: exc.message };
    signal("error");
    flash("bad", `打印失败：${exc.message}`, { code: exc.code || "" });
  }
  render();
}

/** The PDF in a hidden frame, then the browser's print dialog (where the label printer is chosen once). */
function printPdf(url) {
  let frame = $("#label-frame");
  if (!frame) {
    frame = el("iframe", { id: "label-frame", title: "面单", class: "label-frame" });
    frame.style.cssText = "position:fixed;width:1px;height:1px;opacity:0;border:0;right:0;bottom:0";
    document.body.append(frame);
  }
  frame.onload = () => {
    try { frame.contentWindow.focus(); frame.contentWindow.print(); } catch { /* the link below prints it */ }
  };
  frame.src = url;
}

function next() {
  state.pack = null;
  state.waybill = null;
  state.weighing = null;
  state.label = null;
  state.screen = "start";
  render();
}

// ---------------------------------------------------------------------------------------------- input

function onScan(code) {
  if (state.screen === "login") { login.badge(code); return; }
  if (state.screen === "start" || state.screen === "packed") { start(code); return; }
  if (state.screen !== "pack" || !state.pack) return;
  const missing = state.pack.missing;
  if (looksLikeScale(code) || (missing === 0 && /^\d{1,6}$/.test(code))) {
    if (unsettled(code)) { signal("error"); flash("warn", "电子秤读数未稳定或超载，请等读数稳定后再称", { code: "scale_unsettled" }); return; }
    const g = parseWeight(code);
    if (g) { weigh(g); return; }
  }
  scanUnit(code);
}

function onTyped(text) {
  if (state.screen === "login") { login.badge(text); return; }
  if (state.screen === "pack" && state.pack) {
    if (unsettled(text)) { signal("error"); flash("warn", "电子秤读数未稳定或超载，请等读数稳定后再称", { code: "scale_unsettled" }); return; }
    const g = parseWeight(text);
    if (g) { weigh(g); return; }
  }
  onScan(text);
}

// --------------------------------------------------------------------------------------------- screens

function render() {
  if (state.screen === "start") {
    fill(app, 
      el("div", { class: "step" }, el("span", { class: "arrow" }, "①"), "请扫描订单号 / 平台单号 / 周转箱"),
      el("div", { class: "hint-scan", id: "start-hint" }, "扫描或输入后按回车"),
      el("div", { class: "actions" },
        el("button", { class: "btn", type: "button", id: "camera", onclick: () => cameraScan(onScan) }, "摄像头扫码"),
        el("button", { class: "btn", type: "button", id: "key-order", onclick: keyOrder }, "输入单号")),
    );
    return;
  }
  if (!state.pack) return;
  const p = state.pack;
  const items = el("div", { class: "items", id: "items" }, p.items.map((i) =>
    el("div", { class: `item ${i.verified >= i.qty ? "done" : ""} ${i.is_gift ? "gift" : ""}`, dataset: { sku: i.sku } },
      el("span", { class: "mid" }, i.is_gift ? el("span", { class: "tag-gift" }, "赠品") : null, i.name),
      el("span", { class: "count" }, `${i.verified}/${i.qty}`),
      el("span", { class: "small muted mono" }, `${i.sku} · ${grams(i.weight_g)}`))));
  const w = state.weighing;
  const mismatch = w && w.result && w.result.code === "weight_mismatch";
  const measured = w ? w.measured_g : p.measured_g;
  const weights = el("div", { class: "weights", id: "weights" },
    el("div", { class: mismatch ? "bad" : "" }, el("p", { class: "label" }, "应为"), el("p", { class: "big", id: "expected-g" }, grams(p.expected_g)),
      el("p", { class: "small" }, `允许 ±${grams(p.tolerance_g)}`)),
    el("div", { class: mismatch ? "bad" : p.status === "packed" ? "ok" : "" }, el("p", { class: "label" }, "实称"),
      el("p", { class: "big", id: "measured-g" }, grams(measured)),
      el("p", { class: "small" }, mismatch ? `相差 ${grams(Math.abs(measured - p.expected_g))}` : " ")));
  const head = el("div", { class: "card focus" },
    el("div", { class: "row" }, el("span", { class: "label" }, "订单"), el("span", { class: "mid mono", id: "pack-order" }, p.external_id || String(p.order_id))),
    el("div", { class: "row" }, el("span", { class: "label" }, p.status === "packed" ? "已打包" : "待核对"),
      el("span", { class: "huge", id: "pack-missing" }, p.status === "packed" ? "✔" : `${p.missing} 件`)));
  if (state.screen === "packed") {
    const l = state.label;
    fill(app, 
      el("div", { class: "step", dataset: { phase: "done" } }, el("span", { class: "arrow" }, "✔"), "已打包，打印面单"),
      head, weights,
      state.waybill ? el("div", { class: "card", id: "waybill" },
        el("div", { class: "row" }, el("span", { class: "label" }, "运单"), el("span", { class: "mid mono" }, `${state.waybill.carrier} ${state.waybill.waybill_no}`)),
        state.waybill.sort_code ? el("div", { class: "row" }, el("span", { class: "label" }, "分拣码"), el("span", { class: "big mono" }, state.waybill.sort_code)) : null) : null,
      el("div", { class: "card", id: "label-state" },
        !l ? el("p", { class: "mid" }, "正在获取电子面单…")
          : l.idle ? el("p", { class: "mid", id: "label-idle" }, "面单未打印：需要补打请点“重新打印”")
          : l.error ? el("p", { class: "mid", id: "label-error" }, `面单：${l.error}`)
            : l.printed ? el("p", { class: "mid" }, `已发送到打印机 ${l.printer || ""}`)
              : el("p", { class: "mid" }, "面单 PDF 已生成", " ", el("a", { href: l.url, target: "_blank", id: "label-link" }, "打开面单"))),
      el("div", { class: "actions" },
        el("button", { class: "btn", type: "button", id: "reprint", onclick: printLabel }, "重新打印"),
        el("button", { class: "btn primary", type: "button", id: "next-order", onclick: next }, "下一单")),
      el("p", { class: "small muted" }, "扫描下一单即可继续"),
    );
    return;
  }
  fill(app, 
    el("div", { class: "step", id: "step", dataset: { phase: p.missing ? "item" : "done" } },
      el("span", { class: "arrow" }, p.missing ? "②" : "③"), p.missing ? "逐件扫描商品" : "请放上电子秤称重"),
    head, items, weights,
    el("div", { class: "actions" },
      el("button", { class: "btn primary", type: "button", id: "key-weight", onclick: keyWeight }, "输入重量"),
      el("button", { class: "btn", type: "button", id: "camera", onclick: () => cameraScan(onScan) }, "摄像头扫码"),
      el("button", { class: "btn", type: "button", id: "key-code", onclick: keyCode }, "手输条码"),
      el("button", { class: "btn", type: "button", id: "change-order", onclick: next }, "换一单")),
  );
}

async function keyOrder() {
  const code = await askText("输入订单号、平台单号或周转箱号");
  if (code) start(code);
}

async function keyCode() {
  const code = await askText("输入商品条码", { placeholder: "条码无法扫描时手动输入" });
  if (code) scanUnit(code);
}

// ------------------------------------------------------------------------------------------------- start

function signedIn() {
  showWho();
  state.station = null;
  if (socket) socket.close();
  socket = floorSocket(() => {});
  outbox.drain();
  state.screen = "start";
  render();
}

function showLogin() {
  state.screen = "login";
  if (socket) { socket.close(); socket = null; }
  showWho();
  login = loginScreen(app, { title: "打包员登录", onSignedIn: signedIn });
}

setUnauthorizedHandler(() => { flash("warn", "登录已过期，请重新登录"); showLogin(); });

$("#menu").addEventListener("click", () => settingsSheet({
  onLogout: async () => { await logout(); showLogin(); },
}));

async function boot() {
  registerServiceWorker();
  new Scanner(onScan, onTyped);
  await outbox.load();
  netState();
  if (!loadSession()) { showLogin(); return; }
  signedIn();
}

window.orderhubPack = { state, outbox, parseWeight, ApiError };
boot();
