// Small helpers shared by the console's modules: DOM building, zh-CN formatting, labels.

/** h('div.card', {onclick}, child…) — an element; strings become text nodes (never HTML). */
export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value); // CSSOM: allowed by the page's CSP
    else if (key in el && key !== 'list') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const intFmt = new Intl.NumberFormat('zh-CN');

export function num(n) {
  return n === null || n === undefined ? '—' : intFmt.format(n);
}

/** Fen → "¥1,234.56" (or "¥12.3万" when `short`). */
export function yuan(fen, short = false) {
  if (fen === null || fen === undefined) return '—';
  const y = fen / 100;
  if (short && Math.abs(y) >= 10000) return '¥' + (y / 10000).toFixed(y >= 1e6 ? 0 : 1) + '万';
  return '¥' + y.toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function pct(ratio, digits = 1) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '—';
  return (ratio * 100).toFixed(digits) + '%';
}

/** The change of `now` against `then` as "+12.3%" / "−4.0%" with its direction ('up', 'down', 'flat'). */
export function change(now, then) {
  if (!then) return { text: then === 0 && now > 0 ? '新增' : '—', dir: 'flat' };
  const r = (now - then) / then;
  const dir = r > 0.0005 ? 'up' : r < -0.0005 ? 'down' : 'flat';
  const sign = r > 0 ? '+' : r < 0 ? '−' : '±';
  return { text: sign + Math.abs(r * 100).toFixed(1) + '%', dir };
}

/** An ISO time (the API's are +08:00) as Shanghai "HH:MM" or "MM-DD HH:MM". */
export function time(iso, withDay = false) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const opts = { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hour12: false };
  if (withDay) Object.assign(opts, { month: '2-digit', day: '2-digit' });
  return d.toLocaleString('zh-CN', opts);
}

/** Seconds as "5分12秒" / "1时03分". */
export function duration(s) {
  if (s === null || s === undefined) return '—';
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + '秒';
  if (s < 3600) return Math.floor(s / 60) + '分' + String(s % 60).padStart(2, '0') + '秒';
  return Math.floor(s / 3600) + '时' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + '分';
}

export const STATUS = {
  received: '已接收',
  validated: '已校验',
  reserved: '已占库存',
  ready: '待拣货',
  picking: '拣货中',
  packed: '已打包',
  shipped: '已发货',
  delivered: '已签收',
  held: '已挂起',
  exception: '异常',
  cancelled: '已取消',
};

/** The funnel's statuses, in the order an order goes through them (held and exception last). */
export const FUNNEL = ['received', 'validated', 'reserved', 'ready', 'picking', 'packed', 'held', 'exception'];

export const REASON = {
  out_of_stock: '缺货',
  unknown_sku: '未知商品',
  no_warehouse: '无可发仓库',
  bad_address: '地址有误',
  bad_phone: '电话有误',
  customs_data_missing: '报关资料不全',
};

/** Why an order is held (`hold_reason`; a rule's own reason is shown as written). */
export const HOLD = {
  needs_approval: '待审批',
  approval_rejected: '审批已驳回',
  suspected_duplicate: '疑似重复订单',
};

export const ROLE = {
  admin: '管理员',
  manager: '主管',
  picker: '拣货员',
  packer: '打包员',
  finance: '财务',
  approver: '审核员',
  pick: '拣货',
  pack: '打包',
};

export function label(map, key) {
  return (key && map[key]) || key || '—';
}

/** Calls `fn` at most once per `ms`, the last call winning (trailing). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
