// 财务: the finance view in the console (docs/console.md#财务, docs/finance.md) — the date range, sales per channel
// with the refund rate, unsettled orders by age, fees by type, margin per SKU and channel, settlement lag, the daily
// reconciliation of a chosen day, and the open differences with their resolve action. Roles finance and admin (hub-wide
// users: the API refuses a user bound to a warehouse); the API answers 403 to anyone else.
//
// Money is integer fen from the API and is formatted from the integer (`money`), never through a float.

import * as api from './api.js';
import { app, toast } from './app.js';
import * as charts from './charts.js';
import { h, clear, num, pct, time } from './util.js';

const FINANCE_ROLES = new Set(['finance', 'admin']);

/** Settlement line kinds other than sale and refund, as the overview's fees carry them. */
export const FEE_KIND = {
  commission: '佣金',
  service_fee: '平台服务费',
  payment_fee: '支付手续费',
  promotion_fee: '推广费',
  insurance: '运费险',
  penalty: '罚款',
  shipping_subsidy: '运费补贴',
  platform_coupon: '平台优惠券',
  adjustment: '其他调整',
};

const RESOLUTION = { note: '备注', write_off: '核销', claim: '向平台申诉' };
const RESOLUTION_HELP = {
  note: '记录处理说明，标记为已处理',
  write_off: '接受平台结算金额，差额核销（需填写说明）',
  claim: '向平台发起申诉，等待平台补款（需填写说明）',
};
const DIFF_STATUS = { flagged: '待核查', explained: '已解释' };

/** Integer fen → "¥1,234.56" / "-¥12.30" (`signed`: "+¥50.00"), from the integer's digits. */
export function money(fen, signed = false) {
  if (fen === null || fen === undefined) return '—';
  const n = Math.trunc(Number(fen));
  const digits = String(Math.abs(n)).padStart(3, '0');
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const sign = n < 0 ? '-' : signed && n > 0 ? '+' : '';
  return `${sign}¥${whole}.${digits.slice(-2)}`;
}

function days(v) {
  return v === null || v === undefined ? '—' : `${Number(v).toFixed(1)} 天`;
}

// --- Asia/Shanghai calendar days -------------------------------------------------------------------------------------

const dayFmt = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });

function today() {
  return dayFmt.format(new Date());
}

/** 'YYYY-MM-DD' moved by n days (calendar arithmetic in UTC, no time zone involved). */
function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

function daysBetween(since, until) {
  const out = [];
  for (let d = since; d <= until && out.length < 400; d = addDays(d, 1)) out.push(d);
  return out;
}

// --- small pieces ------------------------------------------------------------------------------------------------------

function card(title, id, ...children) {
  return h('section.card', { id }, title ? h('h2', {}, title) : null, ...children);
}

function problem(err) {
  if (err && err.status === 403) return '当前账号无权查看财务数据（需要“财务”或“管理员”角色，且不绑定仓库）';
  if (err && err.status === 404) return '该数据接口暂不可用';
  return (err && err.message) || '加载失败';
}

function failed(err) {
  return h('p.empty.fin-error', { dataset: { status: err && err.status } }, problem(err));
}

function td(labelText, value, extra = {}) {
  return h('td', { dataset: { label: labelText, ...(extra.dataset || {}) }, className: extra.className || '' }, value);
}

// --- the page ----------------------------------------------------------------------------------------------------------

export const finance = {
  id: 'finance',
  title: '财务',
  icon: '¥',
  allowed: (a) => FINANCE_ROLES.has(a.me.role) && !a.me.warehouse,
  enter(el) {
    this.el = el;
    app.live.watch({}); // nothing live here: the figures are re-read on demand
    this.until = this.until || today();
    this.since = this.since || addDays(this.until, -29);
    this.reconDay = this.reconDay || addDays(today(), -1);
    this.cause = this.cause || '';
    this.sort = this.sort || { key: 'margin', dir: -1 };
    this.names = new Map(); // channel id → name, from the answers that carry it
    this.render();
    this.loadAll();
  },
  leave() {},

  render() {
    const since = h('input.fin-date', { type: 'date', id: 'fin-since', value: this.since, max: today() });
    const until = h('input.fin-date', { type: 'date', id: 'fin-until', value: this.until, max: today() });
    const apply = () => {
      if (!since.value || !until.value) return;
      if (since.value > until.value) return toast('开始日期不能晚于结束日期');
      this.since = since.value;
      this.until = until.value;
      this.markPreset();
      this.loadOverview();
    };
    since.addEventListener('change', apply);
    until.addEventListener('change', apply);
    this.sinceInput = since;
    this.untilInput = until;
    this.presets = h(
      'div.chips.fin-presets',
      { id: 'fin-presets' },
      [7, 30, 90].map((n) =>
        h('button.chip', {
          type: 'button',
          dataset: { days: n },
          onclick: () => {
            this.until = today();
            this.since = addDays(this.until, -(n - 1));
            since.value = this.since;
            until.value = this.until;
            this.markPreset();
            this.loadOverview();
          },
        }, `近${n}天`),
      ),
    );
    this.figures = h('div.figures', { id: 'fin-figures' }, h('p.empty', {}, '加载中…'));
    this.trendChart = h('div.chart', { id: 'fin-trend-chart' });
    this.trendList = h('ul.legend', { id: 'fin-trend-list' });
    this.unsettled = h('div', { id: 'fin-unsettled' }, h('p.empty', {}, '加载中…'));
    this.fees = h('div', { id: 'fin-fees' }, h('p.empty', {}, '加载中…'));
    this.margins = h('div', { id: 'fin-margins' }, h('p.empty', {}, '加载中…'));
    this.lag = h('div', { id: 'fin-lag' }, h('p.empty', {}, '加载中…'));
    this.asOf = h('span.muted.small', { id: 'fin-as-of' });

    const reconDay = h('input.fin-date', { type: 'date', id: 'fin-recon-day', value: this.reconDay, max: today() });
    reconDay.addEventListener('change', () => {
      if (!reconDay.value) return;
      this.reconDay = reconDay.value;
      this.loadRecon();
    });
    this.recon = h('div', { id: 'fin-recon' }, h('p.empty', {}, '加载中…'));
    this.causes = h('div.chips', { id: 'fin-causes' });
    this.diffs = h('div', { id: 'fin-diffs' }, h('p.empty', {}, '加载中…'));
    this.diffMore = h('button.secondary', { type: 'button', id: 'fin-diffs-more', hidden: true, onclick: () => this.loadDiffs(true) }, '加载更多');
    this.diffCount = h('span.muted.small', { id: 'fin-diffs-count' });

    clear(
      this.el,
      h('div.page-head', {}, h('h1', {}, '财务'), this.asOf),
      h(
        'section.card.fin-range',
        { id: 'fin-range' },
        h('div.fin-range-row', {},
          h('label.fin-field', {}, h('span', {}, '开始'), since),
          h('span.muted', {}, '至'),
          h('label.fin-field', {}, h('span', {}, '结束'), until),
          h('button.link', { type: 'button', id: 'fin-refresh', onclick: () => this.loadAll() }, '刷新'),
        ),
        this.presets,
      ),
      h(
        'div.grid',
        {},
        card(null, 'fin-summary', this.figures),
        card('各渠道销售趋势', 'fin-trend', this.trendChart, h('p.muted.small', {}, '每日销售额（元）· 下表为区间合计与退款率'), this.trendList),
        card('未结算订单（按发货天数）', 'fin-unsettled-card', this.unsettled),
        card('费用构成', 'fin-fees-card', this.fees),
        card('结算周期', 'fin-lag-card', h('p.muted.small', {}, '发货到平台结算的天数（区间内发货且已结算的订单）'), this.lag),
      ),
      h(
        'div.grid',
        {},
        h('section.card.wide', { id: 'fin-margins-card' },
          h('h2', {}, '商品毛利（按渠道）'),
          h('p.muted.small', {}, '毛利 = 收入 − 平台费用 − 运费 − 退款（未含商品成本）'),
          this.margins),
        h('section.card.wide', { id: 'fin-recon-card' },
          h('div.fin-card-head', {}, h('h2', {}, '每日对账'), h('label.fin-field.inline', {}, h('span', {}, '账单日'), reconDay)),
          this.recon),
        h('section.card.wide', { id: 'fin-diffs-card' },
          h('div.fin-card-head', {}, h('h2', {}, '待处理差异'), this.diffCount),
          this.causes,
          this.diffs,
          this.diffMore),
      ),
    );
    this.markPreset();
  },

  /** The API refused the person (403): one clear message instead of the sections. */
  denied(err) {
    if (this.el.querySelector('#fin-denied')) return;
    clear(
      this.el,
      h('div.page-head', {}, h('h1', {}, '财务')),
      h('section.card', {}, h('p.empty.fin-error', { id: 'fin-denied', dataset: { status: 403 } }, problem(err)), err.message ? h('p.muted.small.fin-denied-detail', {}, err.message) : null),
    );
  },

  markPreset() {
    const span = daysBetween(this.since, this.until).length;
    for (const b of this.presets.querySelectorAll('.chip')) {
      b.classList.toggle('active', this.until === today() && Number(b.dataset.days) === span);
    }
  },

  loadAll() {
    this.loadOverview();
    this.loadRecon();
    this.loadDiffs();
  },

  name(id) {
    return this.names.get(id) || `渠道 #${id}`;
  },

  learn(rows) {
    for (const r of rows || []) if (r.channel_name) this.names.set(r.channel_id, r.channel_name);
  },

  // --- the overview ------------------------------------------------------------------------------------------------

  async loadOverview() {
    const asked = `${this.since}/${this.until}`;
    this.asked = asked;
    let data;
    try {
      data = await api.get('/api/v1/finance/overview', { since: this.since, until: this.until });
    } catch (err) {
      if (this.asked !== asked || app.page !== this) return;
      if (err.status === 403) return this.denied(err);
      for (const el of [this.figures, this.unsettled, this.fees, this.margins, this.lag]) clear(el, failed(err));
      clear(this.trendList);
      clear(this.trendChart);
      return;
    }
    if (this.asked !== asked || app.page !== this) return; // a newer range was asked meanwhile
    this.data = data;
    this.learn(data.trend);
    this.learn(data.unsettled);
    this.learn(data.lag);
    this.asOf.textContent = data.generated_at ? `更新于 ${time(data.generated_at, true)}` : '';
    this.el.dataset.since = data.since;
    this.el.dataset.until = data.until;
    this.drawSummary();
    this.drawTrend();
    this.drawUnsettled();
    this.drawFees();
    this.drawMargins();
    this.drawLag();
    if (this.diffItems) this.drawDiffs(); // the channel names may have arrived
  },

  drawSummary() {
    const d = this.data;
    let sales = 0;
    let refunded = 0;
    let orders = 0;
    for (const t of d.trend) {
      sales += t.sales;
      refunded += t.refunded;
      orders += t.orders;
    }
    let unsettled = 0;
    let unsettledOrders = 0;
    let overdue = 0;
    for (const u of d.unsettled) {
      for (const b of u.buckets) {
        unsettled += b.expected;
        unsettledOrders += b.orders;
      }
      overdue += u.overdue_orders;
    }
    const fig = (id, name, value, sub) => h('div.figure', { id }, h('span.figure-name', {}, name), h('span.figure-value', {}, value), sub ? h('span.figure-sub.muted', {}, sub) : null);
    clear(
      this.figures,
      fig('fin-sales', '销售额', money(sales), `${num(orders)} 单`),
      fig('fin-refunded', '退款', money(refunded), `退款率 ${pct(sales ? refunded / sales : 0)}`),
      fig('fin-unsettled-total', '未结算', money(unsettled), `${num(unsettledOrders)} 单 · 超期 ${num(overdue)} 单`),
    );
  },

  drawTrend() {
    const trend = this.data.trend;
    if (!trend.length) {
      clear(this.trendChart, h('p.empty', {}, '区间内没有订单'));
      clear(this.trendList);
      return;
    }
    const labels = daysBetween(this.data.since, this.data.until);
    const series = trend.map((t) => {
      const byDay = new Map(t.days.map((d) => [d.day, d.amount]));
      return { label: t.channel_name, values: labels.map((day) => (byDay.get(day) || 0) / 100) }; // drawing only
    });
    charts.linesChart(this.trendChart, labels, series);
    clear(
      this.trendList,
      trend.map((t, i) => {
        const dot = h('span.dot');
        dot.style.background = charts.COLORS[i % charts.COLORS.length];
        return h(
          'li.fin-trend-row',
          { dataset: { channel: t.channel_id } },
          dot,
          h('span.legend-name', {}, t.channel_name),
          h('span.fin-trend-figs', {},
            h('span', { dataset: { f: 'sales' } }, money(t.sales)),
            h('span.muted', { dataset: { f: 'orders' } }, `${num(t.orders)} 单`),
            h('span.muted', { dataset: { f: 'refunded' } }, `退款 ${money(t.refunded)}`),
            h('strong', { dataset: { f: 'refund-rate' }, className: t.refund_rate > 0 ? 'chg up' : '' }, `退款率 ${pct(t.refund_rate)}`)),
        );
      }),
    );
  },

  drawUnsettled() {
    const rows = this.data.unsettled;
    if (!rows.length) return clear(this.unsettled, h('p.empty', {}, '没有已发货未结算的订单'));
    clear(
      this.unsettled,
      rows.map((u) =>
        h(
          'div.fin-unsettled',
          { dataset: { channel: u.channel_id } },
          h('div.row-main', {}, h('strong', {}, u.channel_name), h('span.muted.small', {}, `平台通常 ${num(u.settle_delay_days)} 天结算`)),
          h(
            'div.fin-buckets',
            {},
            u.buckets.map((b, i) =>
              h('div.fin-bucket', { dataset: { bucket: i } },
                h('span.figure-name', {}, b.label),
                h('span.fin-bucket-orders', {}, `${num(b.orders)} 单`),
                h('span.fin-bucket-amount', {}, money(b.expected))),
            ),
          ),
          h(
            'div.fin-overdue',
            { className: 'fin-overdue' + (u.overdue_orders ? ' bad' : ''), dataset: { orders: u.overdue_orders } },
            `超过通常结算期：${num(u.overdue_orders)} 单 · ${money(u.overdue_expected)}`,
          ),
        ),
      ),
    );
  },

  drawFees() {
    const rows = this.data.fees;
    if (!rows.length) return clear(this.fees, h('p.empty', {}, '区间内没有费用明细'));
    const byKind = new Map();
    for (const f of rows) {
      if (!byKind.has(f.kind)) byKind.set(f.kind, { total: 0, channels: [] });
      const k = byKind.get(f.kind);
      k.total += f.amount;
      k.channels.push(f);
    }
    const order = Object.keys(FEE_KIND);
    const kinds = [...byKind.keys()].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
    let total = 0;
    for (const k of byKind.values()) total += k.total;
    clear(
      this.fees,
      h(
        'ul.fin-fees',
        {},
        kinds.map((kind) => {
          const k = byKind.get(kind);
          return h(
            'li',
            { dataset: { kind } },
            h('div.row-main', {}, h('span', {}, FEE_KIND[kind] || kind), h('strong', { className: 'fin-amount' + (k.total < 0 ? '' : ' pos') }, money(k.total))),
            k.channels.length > 1 || this.data.trend.length > 1
              ? h('div.row-sub.muted', {}, k.channels.map((f) => `${this.name(f.channel_id)} ${money(f.amount)}`).join(' · '))
              : null,
          );
        }),
        h('li.fin-total', { dataset: { kind: 'total' } }, h('div.row-main', {}, h('span', {}, '合计'), h('strong', {}, money(total)))),
      ),
      h('p.muted.small', {}, '负数为平台扣除，正数为平台补贴或返还'),
    );
  },

  drawMargins() {
    const rows = [...this.data.margins];
    if (!rows.length) return clear(this.margins, h('p.empty', {}, '区间内没有已发货的订单'));
    const { key, dir } = this.sort;
    const rate = (m) => (m.revenue ? m.margin / m.revenue : 0);
    rows.sort((a, b) => dir * ((key === 'rate' ? rate(a) - rate(b) : a.margin - b.margin) || a.sku.localeCompare(b.sku)));
    const sorter = (k, text) => {
      const active = key === k;
      return h(
        'button.fin-sort',
        {
          type: 'button',
          dataset: { sort: k, dir: active ? (dir < 0 ? 'desc' : 'asc') : '' },
          className: 'fin-sort' + (active ? ' active' : ''),
          onclick: () => {
            this.sort = { key: k, dir: active ? -dir : -1 };
            this.drawMargins();
          },
        },
        text,
        active ? (dir < 0 ? ' ↓' : ' ↑') : ' ↕',
      );
    };
    const shown = rows.slice(0, this.allMargins ? rows.length : 50);
    clear(
      this.margins,
      h(
        'table.table.fin-table.fin-margins',
        {},
        h('thead', {}, h('tr', {},
          h('th', {}, '商品 / 渠道'),
          h('th.num', {}, '件数'),
          h('th.num', {}, '收入'),
          h('th.num.pc', {}, '平台费用'),
          h('th.num.pc', {}, '运费'),
          h('th.num.pc', {}, '退款'),
          h('th.num', {}, sorter('margin', '毛利')),
          h('th.num', {}, sorter('rate', '毛利率')))),
        h(
          'tbody',
          {},
          shown.map((m) =>
            h(
              'tr',
              { dataset: { channel: m.channel_id, sku: m.sku } },
              h('td', { className: 'fin-sku' }, h('div', {}, m.sku), h('div.muted.small', {}, this.name(m.channel_id))),
              h('td.num', { dataset: { f: 'units' } }, num(m.units)),
              h('td.num', { dataset: { f: 'revenue' } }, money(m.revenue)),
              h('td.num.pc', { dataset: { f: 'fees' } }, money(m.platform_fees)),
              h('td.num.pc', { dataset: { f: 'shipping' } }, money(m.shipping_cost)),
              h('td.num.pc', { dataset: { f: 'refunds' } }, money(m.refunds)),
              h('td', { dataset: { f: 'margin' }, className: m.margin < 0 ? 'num bad' : 'num' }, h('strong', {}, money(m.margin))),
              h('td.num', { dataset: { f: 'rate' } }, pct(rate(m))),
            ),
          ),
        ),
      ),
      rows.length > shown.length
        ? h('button.secondary', { type: 'button', onclick: () => { this.allMargins = true; this.drawMargins(); } }, `显示全部 ${num(rows.length)} 行`)
        : null,
    );
  },

  drawLag() {
    const rows = this.data.lag;
    if (!rows.length) return clear(this.lag, h('p.empty', {}, '区间内还没有已结算的订单'));
    clear(
      this.lag,
      h(
        'table.table.fin-table',
        {},
        h('thead', {}, h('tr', {}, h('th', {}, '渠道'), h('th.num', {}, '已结算'), h('th.num', {}, 'P50'), h('th.num', {}, 'P90'))),
        h(
          'tbody',
          {},
          rows.map((l) =>
            h(
              'tr',
              { dataset: { channel: l.channel_id } },
              h('td', {}, l.channel_name),
              h('td.num', { dataset: { f: 'orders' } }, `${num(l.settled_orders)} 单`),
              h('td.num', { dataset: { f: 'p50' } }, days(l.p50_days)),
              h('td.num', { dataset: { f: 'p90' } }, days(l.p90_days)),
            ),
          ),
        ),
      ),
    );
  },

  // --- the daily reconciliation ------------------------------------------------------------------------------------

  async loadRecon() {
    const day = this.reconDay;
    let report;
    try {
      report = await api.get('/api/v1/finance/reconciliation/daily', { day });
    } catch (err) {
      if (this.reconDay === day && app.page === this) clear(this.recon, failed(err));
      return;
    }
    if (this.reconDay !== day || app.page !== this) return;
    this.learn(report.rows);
    const rows = report.rows || [];
    if (!rows.length) return clear(this.recon, h('p.empty', {}, `${day} 没有结算数据`));
    const causes = (r) =>
      r.causes.length
        ? h('ul.fin-causes', {}, r.causes.slice(0, 3).map((c) => h('li', { dataset: { cause: c.cause } }, h('span', {}, c.name), h('span.fin-amount', {}, money(c.amount, true)))))
        : h('span.muted', {}, '已对平');
    const row = (r, total = false) =>
      h(
        'tr',
        { dataset: { channel: total ? 'total' : r.channel_id }, className: total ? 'fin-total' : '' },
        td('渠道', total ? '合计' : r.channel_name, { className: 'fin-head' }),
        td('订单数', num(r.orders), { className: 'num', dataset: { f: 'orders' } }),
        td('平台结算', money(r.settled), { className: 'num', dataset: { f: 'settled' } }),
        td('系统记录', money(r.expected), { className: 'num', dataset: { f: 'expected' } }),
        td('差额', money(r.difference, true), { className: 'num' + (r.difference ? ' bad' : ''), dataset: { f: 'difference' } }),
        td('主要原因', total ? '' : causes(r), { className: 'fin-reason', dataset: { f: 'causes' } }),
      );
    let orders = 0;
    for (const r of rows) orders += r.orders;
    clear(
      this.recon,
      h(
        'table.table.fin-table.fin-stack',
        { id: 'fin-recon-table' },
        h('thead', {}, h('tr', {}, ['渠道', '订单数', '平台结算', '系统记录', '差额', '主要原因'].map((t, i) => h(i && i < 5 ? 'th.num' : 'th', {}, t)))),
        h('tbody', {}, rows.map((r) => row(r)), rows.length > 1 ? row({ orders, settled: report.settled, expected: report.expected, difference: report.difference }, true) : null),
      ),
      h('p.muted.small', {}, '差额 = 平台结算 − 系统记录（预计回款）；原因按金额从大到小'),
    );
  },

  // --- the differences ---------------------------------------------------------------------------------------------

  async loadDiffs(more = false) {
    const cause = this.cause;
    let page;
    try {
      page = await api.get('/api/v1/finance/differences', { cause: cause || undefined, limit: 100, cursor: more ? this.diffCursor : undefined });
    } catch (err) {
      if (app.page === this) {
        if (err.status === 403) return this.denied(err);
        clear(this.diffs, failed(err));
      }
      return;
    }
    if (cause !== this.cause || app.page !== this) return;
    this.diffItems = more ? [...(this.diffItems || []), ...page.items] : page.items;
    this.diffCursor = page.next_cursor;
    this.diffMore.hidden = !page.next_cursor;
    if (!cause) {
      // the causes present in the open list, for the filter (their zh-CN names come from the API)
      this.causeNames = this.causeNames && more ? this.causeNames : new Map();
      for (const d of this.diffItems) this.causeNames.set(d.main_cause, d.main_cause_name);
    }
    this.drawCauses();
    this.drawDiffs();
  },

  drawCauses() {
    const names = this.causeNames || new Map();
    if (this.cause && !names.has(this.cause)) names.set(this.cause, this.cause);
    const chip = (code, text) =>
      h('button', {
        type: 'button',
        className: 'chip' + (this.cause === code ? ' active' : ''),
        dataset: { cause: code || 'all' },
        onclick: () => {
          this.cause = code;
          this.drawCauses();
          this.loadDiffs();
        },
      }, text);
    clear(this.causes, chip('', '全部'), [...names].map(([code, name]) => chip(code, name)));
  },

  drawDiffs() {
    const items = this.diffItems || [];
    this.diffCount.textContent = `${num(items.length)}${this.diffCursor ? '+' : ''} 条`;
    if (!items.length) return clear(this.diffs, h('p.empty', { id: 'fin-diffs-empty' }, '没有待处理的差异'));
    clear(this.diffs, h('ul.fin-diffs', {}, items.map((d) => this.diffRow(d))));
  },

  diffRow(d) {
    const resolve = h('button.secondary.small', { type: 'button', dataset: { resolve: d.id }, onclick: () => this.resolveSheet(d) }, '处理');
    return h(
      'li',
      { dataset: { diff: d.id, cause: d.main_cause } },
      h('div.row-main', {},
        h('span.fin-diff-title', {}, d.external_id || '无订单号'),
        h('strong', { className: 'fin-amount' + (d.difference < 0 ? ' bad' : ''), dataset: { f: 'difference' } }, money(d.difference, true))),
      h('div.row-sub', {},
        h('span.tag', { dataset: { state: d.status } }, d.main_cause_name || d.main_cause),
        ' ',
        h('span.muted', {}, [this.name(d.channel_id), `账单日 ${d.bill_date}`, DIFF_STATUS[d.status] || d.status].join(' · '))),
      d.parts.length > 1
        ? h('ul.fin-parts', {}, d.parts.map((p) => h('li', {}, h('span', {}, p.name), h('span', {}, money(p.amount, true)))))
        : null,
      h('div.row-main.fin-diff-foot', {}, h('span.muted.small', {}, `应收 ${money(d.expected)} · 实结 ${money(d.settled)}`), resolve),
    );
  },

  /** The resolve sheet: 备注 / 核销 / 向平台申诉 with a note; the hub's refusal (problem+json) shows in the sheet. */
  resolveSheet(d) {
    const sheet = document.getElementById('sheet');
    const close = () => {
      sheet.hidden = true;
      clear(sheet);
    };
    const error = h('p.form-error', { id: 'fin-resolve-error', role: 'alert' });
    const note = h('textarea', { name: 'note', id: 'fin-resolve-note', rows: 3, maxLength: 500, placeholder: '说明（核销、申诉必填）' });
    const submit = h('button.primary', { type: 'submit', id: 'fin-resolve-submit' }, '确认');
    const choices = h(
      'div.positions',
      {},
      Object.entries(RESOLUTION).map(([code, name], i) =>
        h('label.position', {},
          h('input', { type: 'radio', name: 'action', value: code, checked: i === 0, dataset: { action: code } }),
          h('span', {}, h('strong', {}, name), h('span.muted.small', {}, RESOLUTION_HELP[code]))),
      ),
    );
    const form = h(
      'form.sheet-form',
      {
        id: 'fin-resolve-form',
        onsubmit: async (event) => {
          event.preventDefault();
          const action = form.querySelector('input[name=action]:checked').value;
          submit.disabled = true;
          error.textContent = '';
          for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
          try {
            await api.post(`/api/v1/finance/differences/${d.id}/resolve`, { action, note: note.value });
          } catch (err) {
            error.textContent = err.message;
            const field = err.problem && err.problem.field;
            const el = field && form.querySelector(`[name="${CSS.escape(field)}"]`);
            if (el) (el.closest('.field') || el).classList.add('invalid');
            submit.disabled = false;
            return;
          }
          close();
          toast(`已${RESOLUTION[action]}`);
          this.diffItems = (this.diffItems || []).filter((x) => x.id !== d.id);
          this.drawDiffs();
        },
      },
      h('dl.kv', {},
        h('dt', {}, '订单'), h('dd', {}, d.external_id || '无订单号'),
        h('dt', {}, '渠道'), h('dd', {}, this.name(d.channel_id)),
        h('dt', {}, '差额'), h('dd', {}, `${money(d.difference, true)}（${d.main_cause_name || d.main_cause}）`)),
      choices,
      h('label.field', {}, h('span', {}, '说明'), note),
      error,
      h('div.sheet-buttons', {}, h('button.secondary', { type: 'button', onclick: close }, '取消'), submit),
    );
    clear(
      sheet,
      h('div.sheet-backdrop', { onclick: close }),
      h('section.sheet-panel', { role: 'dialog', 'aria-label': '处理差异' },
        h('div.sheet-head', {}, h('strong', {}, '处理差异'), h('button.link', { type: 'button', id: 'fin-resolve-close', onclick: close }, '关闭')),
        form),
    );
    sheet.hidden = false;
    document.getElementById('toast').hidden = true;
  },
};
