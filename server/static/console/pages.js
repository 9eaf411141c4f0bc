// The console's pages: 战略 (strategic), 战术 (tactical), 执行 (operations / my work), 财务 (finance, in finance.js),
// 告警 (alerts), 审批 (approvals, in approvals.js), 队列 (the exception and hold queues). Each page reads its REST
// endpoint, watches its live topics (live.js) and re-reads the endpoint, debounced, when the feed hints that its
// figures changed. `orders` deltas move funnel counts at once.

import * as api from './api.js';
import { app, drill, toast } from './app.js';
import { approvals } from './approvals.js';
import { finance } from './finance.js';
import * as charts from './charts.js';
import { h, clear, num, yuan, pct, change, time, duration, debounce, label, STATUS, FUNNEL, REASON, HOLD, ROLE } from './util.js';

const HUB_WIDE = new Set(['admin', 'manager', 'finance']);
const MANAGERS = new Set(['admin', 'manager']);

function whName(id) {
  const w = app.warehouses.find((x) => x.id === id);
  return w ? w.name || w.code : id === null || id === undefined ? '全部仓库' : `仓库 ${id}`;
}

function card(title, ...children) {
  return h('section.card', {}, title ? h('h2', {}, title) : null, ...children);
}

function unavailable(err) {
  if (err && err.status === 404) return h('p.empty', {}, '该数据接口暂不可用');
  if (err && err.status === 403) return h('p.empty', {}, err.message || '无权查看');
  return h('p.empty', {}, (err && err.message) || '加载失败');
}

/** A tappable figure: its value, its label, an optional comparison line; a tap opens its drill-down. */
function figure({ id, name, value, sub, metric, params, extra }) {
  const props = { type: 'button', id, dataset: metric ? { metric } : {} };
  if (metric) props.onclick = () => drill(name, { metric, ...(params || {}) });
  return h(metric ? 'button.figure' : 'div.figure', props, h('span.figure-name', {}, name), h('span.figure-value', {}, value), sub || null, extra || null);
}

function compare(now, yesterday, lastWeek) {
  const y = change(now, yesterday);
  const w = change(now, lastWeek);
  return h('span.figure-sub', {}, h('span', { className: 'chg ' + y.dir }, '昨日同时 ' + y.text), h('span', { className: 'chg ' + w.dir }, '上周同时 ' + w.text));
}

/** The order funnel: one bar per open status, tap for the orders in it. `counts` may be live (orders topic). */
function funnel(counts, { idPrefix, warehouseId }) {
  const max = Math.max(1, ...FUNNEL.map((s) => counts[s] || 0));
  return h(
    'div.funnel',
    {},
    FUNNEL.map((status) => {
      const n = counts[status] || 0;
      const bar = h('span.funnel-bar', { dataset: { status } });
      bar.style.width = (n / max) * 100 + '%';
      return h(
        'button.funnel-row',
        {
          type: 'button',
          dataset: { status },
          onclick: () => drill(`${label(STATUS, status)} · ${whName(warehouseId)}`, { metric: `status:${status}`, warehouse_id: warehouseId }),
        },
        h('span.funnel-label', {}, label(STATUS, status)),
        h('span.funnel-track', {}, bar),
        h('span.funnel-count', { id: `${idPrefix}-${status}` }, num(n)),
      );
    }),
  );
}

/** Applies an `orders` delta ({from, to}) to counts kept per status (docs/live-feed.md). */
function applyMove(counts, delta) {
  if (delta.from && delta.from in counts) counts[delta.from] = Math.max(0, counts[delta.from] - 1);
  if (delta.to && delta.to in counts) counts[delta.to] += 1;
}

function blankCounts() {
  return Object.fromEntries(FUNNEL.map((s) => [s, 0]));
}

/** Re-reads the page's data when a `dash.*` hint arrives, at most once per 400 ms, while the page is shown. */
function refresher(page, fn) {
  const run = debounce(() => {
    if (app.page === page) fn();
  }, 400);
  return run;
}

// --- 战略 ----------------------------------------------------------------------------------------------------------

const strategic = {
  id: 'strategic',
  title: '战略',
  icon: '◎',
  allowed: (a) => HUB_WIDE.has(a.me.role) && !a.me.warehouse,
  enter(el) {
    this.el = el;
    this.data = null;
    this.flow = null;
    this.arrivals = 0; // orders that arrived on the feed since the figures were read
    this.figures = h('div.figures', { id: 'strategic-figures' }, h('p.empty', {}, '加载中…'));
    this.why = h('div', { id: 'why' });
    this.flowEl = h('div', { id: 'flow' }, h('p.empty', {}, '连接实时数据…'));
    this.hourly = h('div.chart', { id: 'chart-hourly' });
    this.channels = h('div.chart', { id: 'chart-channels' });
    this.channelList = h('ul.legend', { id: 'channel-list' });
    this.aov = h('div.chart', { id: 'chart-aov' });
    this.health = h('div', { id: 'health' });
    this.approvalFigures = h('div', { id: 'approval-figures' });
    this.asOf = h('span.muted.small', { id: 'as-of' });
    clear(
      el,
      h('div.page-head', {}, h('h1', {}, '今日经营'), this.asOf),
      h('div.grid', {},
        card(null, this.figures),
        card('为什么变化', this.why),
        card('在途订单（实时）', this.flowEl),
        card('分小时订单与 GMV', this.hourly, h('p.muted.small', {}, '柱：订单数 · 线：GMV')),
        card('渠道占比', this.channels, this.channelList),
        card('客单价趋势（近 7 日）', this.aov),
        this.healthCard = card('订单健康指数', this.health),
        this.approvalsCard = card('审批', this.approvalFigures),
        this.offersCard = card('加购优惠效果', this.offersEl = h('div', { id: 'offers-effect' })),
      ),
    );
    this.healthCard.hidden = true;
    this.approvalsCard.hidden = true;
    this.offersCard.hidden = true;
    this.offersAt = 0;
    this.reload = refresher(this, () => this.load());
    app.live.watch({
      orders: {
        snapshot: (data) => {
          this.flow = { ...blankCounts(), ...data.counts };
          this.drawFlow();
        },
        delta: (d) => {
          if (!this.flow) return;
          applyMove(this.flow, d);
          this.drawFlow();
          if (!d.from && d.to === 'received' && this.data) {
            this.arrivals += 1; // shown at once; the next read of the figures includes it
            this.drawFigures();
          }
        },
      },
      'dash.strategic': {
        snapshot: (data) => {
          if (data && data.today) this.show(data);
        },
        // A hint carries the board when the hub computed it for its watchers; else re-read it.
        delta: (d) => (d && d.board && d.board.today ? this.show(d.board) : this.reload()),
        error: () => {},
      },
    });
    this.load();
  },
  leave() {},
  async load() {
    if (Date.now() - this.offersAt > 60000) this.loadOffers(); // one read a minute: each offer is one grouped query
    try {
      this.show(await api.get('/api/v1/dash/strategic'));
    } catch (err) {
      if (!this.data) clear(this.figures, unavailable(err));
    }
  },
  /** 加购优惠效果 (docs/offers.md#did-it-work): per offer switched on, the attach rate of buyers shown it against the
   * hold-out, the difference with its 95 % interval and the hub's zh-CN reading. Hidden when no offer ever ran. */
  async loadOffers() {
    this.offersAt = Date.now();
    try {
      this.drawOffers(await api.get('/api/v1/dash/offers'));
    } catch (err) {
      this.offersCard.hidden = false;
      clear(this.offersEl, unavailable(err));
    }
  },
  drawOffers(offers) {
    this.offersCard.hidden = !offers || !offers.length;
    if (this.offersCard.hidden) return;
    const rate = (p) => (p && p.n ? h('span', {}, pct(p.rate), h('span.muted.small', {}, ` ${num(p.hits)}/${num(p.n)} 人`)) : h('span.muted', {}, '—'));
    const points = (x) => (x >= 0 ? '+' : '') + (x * 100).toFixed(1);
    const diff = (e) => {
      if (!e) return h('span.muted', {}, '样本不足');
      const dir = e.low > 0 ? 'up' : e.high < 0 ? 'down' : 'flat';
      return h('span', { className: 'chg ' + dir }, `${points(e.estimate)} 点`, h('span.muted.small', {}, `（95% 区间 ${points(e.low)} ~ ${points(e.high)}）`));
    };
    clear(
      this.offersEl,
      h(
        'div.table-wrap',
        {},
        h(
          'table.table.offers-table',
          {},
          h('thead', {}, h('tr', {}, h('th', {}, '优惠'), h('th', {}, '展示组加购率'), h('th', {}, '对照组加购率'), h('th', {}, '差值'))),
          h(
            'tbody',
            {},
            offers.map((o) =>
              h(
                'tr',
                { dataset: { offer: String(o.offer_id) } },
                h('td', {}, h('div', {}, o.name), h('span.tag', { dataset: { state: o.status === 'enabled' ? 'approved' : 'waiting' } }, o.status === 'enabled' ? '上线中' : '已停用'), o.contaminated ? h('span.tag', { dataset: { status: 'exception' } }, '赠品规则已启用') : null),
                h('td.offer-treatment', {}, rate(o.treatment)),
                h('td.offer-holdout', {}, rate(o.holdout)),
                h('td.offer-effect', {}, diff(o.effect)),
              ),
            ),
          ),
        ),
      ),
      h('ul.offer-notes', {}, offers.map((o) => h('li.muted.small', { dataset: { offer: String(o.offer_id) } }, `${o.name}：${o.note}`))),
      h('p.muted.small', {}, '按买家计：加购率 = 加购过的买家 ÷ 有满足条件订单的买家；对照组的买家看不到优惠。不含赠品行、取消单和补发单。'),
    );
  },
  show(data) {
    this.data = data;
    this.arrivals = 0;
    this.asOf.textContent = data.as_of ? `截至 ${time(data.as_of)}` : '';
    this.drawFigures();
    this.drawWhy();
    charts.hourlyChart(this.hourly, data.hourly || [], { onPick: () => drill('今日订单', { metric: 'orders', day: data.day }) });
    const channels = data.channels || [];
    charts.channelChart(this.channels, channels);
    clear(
      this.channelList,
      channels.map((c, i) => {
        const dot = h('span.dot');
        dot.style.background = charts.COLORS[i % charts.COLORS.length];
        return h(
          'li',
          {},
          h(
            'button.legend-row',
            { type: 'button', onclick: () => drill(`${c.name} · 今日订单`, { metric: 'orders', channel_id: c.channel_id, day: data.day }) },
            dot,
            h('span.legend-name', {}, c.name),
            h('span.muted', {}, `${num(c.orders)} 单 · ${yuan(c.gmv_fen, true)}`),
            h('strong', {}, pct(c.share)),
          ),
        );
      }),
    );
    charts.aovChart(this.aov, data.aov_trend || []);
    this.drawHealth(data.health);
    this.drawApprovals(data.approvals);
  },
  drawFigures() {
    const d = this.data;
    const t = d.today || {};
    const y = d.yesterday_same_time || {};
    const w = d.last_week_same_time || {};
    const orders = (t.orders || 0) + this.arrivals;
    clear(
      this.figures,
      figure({ id: 'today-orders', name: '今日订单', value: num(orders), sub: compare(orders, y.orders, w.orders), metric: 'orders', params: { day: d.day } }),
      figure({ id: 'today-gmv', name: '今日 GMV', value: yuan(t.gmv_fen, true), sub: compare(t.gmv_fen, y.gmv_fen, w.gmv_fen), metric: 'orders', params: { day: d.day } }),
      figure({ id: 'today-aov', name: '客单价', value: yuan(t.aov_fen), sub: compare(t.aov_fen, y.aov_fen, w.aov_fen), metric: 'orders', params: { day: d.day } }),
      figure({ id: 'today-refund', name: '退款/取消率', value: pct(t.refund_rate) }),
      figure({ id: 'today-cancelled', name: '取消', value: num(t.cancelled), metric: 'cancelled', params: { day: d.day } }),
    );
  },
  drawWhy() {
    const lines = this.data.why || [];
    if (!lines.length) return clear(this.why, h('p.empty', {}, '与上周同期相比没有明显变化'));
    clear(
      this.why,
      h(
        'ul.why',
        {},
        lines.map((line) => {
          const params = { metric: 'orders', day: this.data.day };
          if (line.dimension === 'channel') params.channel_id = line.id;
          if (line.dimension === 'warehouse') params.warehouse_id = line.id;
          const dir = line.delta > 0 ? 'up' : line.delta < 0 ? 'down' : 'flat';
          return h('li', {}, h('button.why-row', { type: 'button', onclick: () => drill(line.text, params) }, h('span', { className: 'chg-bar ' + dir }), h('span', {}, line.text)));
        }),
      ),
    );
  },
  drawFlow() {
    const counts = this.flow;
    const total = FUNNEL.reduce((s, k) => s + (counts[k] || 0), 0);
    clear(this.flowEl, h('p.muted.small', {}, `在途合计 ${num(total)} 单`), funnel(counts, { idPrefix: 'flow', warehouseId: null }));
  },
  /** Approvals hub-wide (docs/dashboards.md#审批--approvals): pending and overdue now, today's escalations and
   * median cycle time, the slowest flows. */
  drawApprovals(a) {
    this.approvalsCard.hidden = !a;
    if (!a) return;
    const slowest = a.slowest || [];
    clear(
      this.approvalFigures,
      h('div.figures', {},
        figure({ id: 'approvals-pending', name: '待审批', value: num(a.pending) }),
        figure({ id: 'approvals-overdue', name: '超时', value: num(a.overdue) }),
        figure({ id: 'approvals-escalations', name: '升级', value: num(a.escalations) }),
        figure({ id: 'approvals-cycle', name: '审批时长中位数', value: duration(a.cycle_p50_s), sub: h('span.figure-sub', {}, `已决 ${num(a.decided)} 件`) }),
      ),
      slowest.length ? h('p.muted.small', {}, '最慢的流程（今日时长中位数 · 已决）') : null,
      slowest.length
        ? h('ol.ranking', { id: 'approvals-slowest' }, slowest.map((f) => h('li', {}, h('span', {}, f.name || f.code), h('strong', {}, duration(f.cycle_p50_s)), h('span.muted', {}, `${num(f.decided)} 件`))))
        : null,
    );
  },
  drawHealth(health) {
    this.healthCard.hidden = !health;
    if (!health) return;
    const ranking = health.ranking || [];
    clear(
      this.health,
      h('div.health-score', {}, h('strong', { id: 'health-score' }, health.score === null || health.score === undefined ? '—' : Number(health.score).toFixed(1)), h('span.muted', {}, ' / 100')),
      h(
        'ol.ranking',
        {},
        ranking.map((r) => {
          const moved = r.change ?? r.delta ?? r.change_since_last_week;
          return h(
            'li',
            {},
            h('span', {}, r.name || r.region || r.scope_name || r.scope || ''),
            h('strong', {}, r.score === null || r.score === undefined ? '—' : Number(r.score).toFixed(1)),
            moved !== undefined && moved !== null ? h('span', { className: 'chg ' + (moved > 0 ? 'up' : moved < 0 ? 'down' : 'flat') }, (moved > 0 ? '+' : '') + Number(moved).toFixed(1)) : null,
          );
        }),
      ),
    );
  },
};

// --- 战术 ----------------------------------------------------------------------------------------------------------

function warehousePicker(onPick) {
  if (app.boundId || app.warehouses.length < 2) return null;
  return h(
    'div.chips',
    { id: 'wh-picker' },
    app.warehouses.map((w) =>
      h('button.chip', { type: 'button', className: 'chip' + (w.id === app.selectedWh ? ' active' : ''), dataset: { wh: w.id }, onclick: () => onPick(w.id) }, w.name || w.code),
    ),
  );
}

const tactical = {
  id: 'tactical',
  title: '战术',
  icon: '▤',
  allowed: (a) => MANAGERS.has(a.me.role),
  enter(el) {
    this.el = el;
    this.counts = null;
    this.data = null;
    this.render();
  },
  leave() {},
  render() {
    const wh = app.selectedWh;
    this.overview = h('div', { id: 'wh-overview' });
    this.funnelEl = h('div', { id: 'tactical-funnel' }, h('p.empty', {}, '连接实时数据…'));
    this.detail = h('div.grid', { id: 'tactical-detail' }, card(null, h('p.empty', {}, '加载中…')));
    this.asOf = h('span.muted.small', { id: 'as-of' });
    clear(
      this.el,
      h('div.page-head', {}, h('h1', {}, whName(wh)), this.asOf),
      warehousePicker((id) => {
        app.selectedWh = id;
        this.counts = null;
        this.data = null;
        this.render();
      }),
      h('div.grid', {}, card('订单漏斗（实时）', this.funnelEl), app.boundId ? null : card('各仓概览', this.overview)),
      this.detail,
    );
    if (app.boundId) this.overview = null;
    this.reload = refresher(this, () => this.load());
    if (!wh) return;
    const topics = {
      [`orders:${wh}`]: {
        snapshot: (data) => {
          this.counts = { ...blankCounts(), ...data.counts };
          this.drawFunnel();
        },
        delta: (d) => {
          if (!this.counts) return;
          applyMove(this.counts, d);
          this.drawFunnel();
        },
      },
      [`dash.tactical:${wh}`]: {
        snapshot: (data) => {
          if (data && data.warehouses) this.show(data);
        },
        delta: (d) => (d && d.board && d.board.warehouses ? this.show(d.board) : this.reload()),
        error: () => {},
      },
    };
    app.live.watch(topics);
    this.load();
  },
  async load() {
    const wh = app.selectedWh;
    try {
      this.show(await api.get('/api/v1/dash/tactical', { warehouse_id: wh }));
    } catch (err) {
      if (!this.data) clear(this.detail, card(null, unavailable(err)));
    }
    if (this.overview && !app.boundId) {
      try {
        const all = await api.get('/api/v1/dash/tactical');
        this.drawOverview(all.warehouses || []);
      } catch (err) {
        clear(this.overview, unavailable(err));
      }
    }
  },
  show(data) {
    const row = (data.warehouses || []).find((w) => w.warehouse_id === app.selectedWh) || (data.warehouses || [])[0];
    this.data = data;
    this.asOf.textContent = data.as_of ? `截至 ${time(data.as_of)}` : '';
    if (!row) return clear(this.detail, card(null, h('p.empty', {}, '没有该仓库的数据')));
    if (!this.counts && row.funnel) {
      this.counts = { ...blankCounts(), ...row.funnel };
      this.drawFunnel();
    }
    const wh = row.warehouse_id;
    const p = { warehouse_id: wh, day: data.day };
    const ratio = row.capacity ? row.backlog / row.capacity : row.backlog_ratio;
    const meter = h('span.meter-fill', {});
    meter.style.width = Math.min(100, (ratio || 0) * 100) + '%';
    if (ratio > 0.8) meter.classList.add('warn');
    clear(
      this.detail,
      card(
        '积压与产能',
        h('div.figures', {},
          figure({ id: 'backlog', name: '积压', value: num(row.backlog), metric: 'backlog', params: p }),
          figure({ id: 'capacity', name: '日产能', value: row.capacity ? num(row.capacity) : '未设置' }),
          figure({ id: 'shipped-today', name: '今日已发', value: num(row.shipped_today), metric: 'shipped', params: p }),
          figure({ id: 'on-time', name: '准时发货率', value: pct(row.on_time_rate) }),
        ),
        h('div.meter', {}, meter),
        h('p.muted.small', {}, row.capacity ? `积压占日产能 ${pct(ratio)}` : '未设置日产能（管理员可在仓库设置中填写）'),
      ),
      card(
        '时效风险',
        h('div.figures', {},
          figure({ id: 'at-risk', name: '将超时', value: num(row.at_risk), metric: 'at_risk', params: p }),
          figure({ id: 'overdue', name: '已超时', value: num(row.overdue), metric: 'overdue', params: p }),
        ),
        h('p.muted.small', {}, row.next_cutoff ? `下一个揽收截止：${row.next_cutoff.carrier} ${time(row.next_cutoff.at)}` : '没有揽收截止时间'),
      ),
      card(
        '异常原因',
        (row.exceptions_by_reason || []).length
          ? h('ul.bars', {}, (row.exceptions_by_reason || []).map((e) =>
              h('li', {}, h('button.bar-row', { type: 'button', onclick: () => drill(`异常 · ${label(REASON, e.reason)}`, { metric: 'exceptions', reason: e.reason, ...p }) },
                h('span', {}, label(REASON, e.reason)), h('strong', {}, num(e.orders))))))
          : h('p.empty', {}, '没有异常订单'),
      ),
      card(
        '波次进度',
        (row.waves || []).length
          ? h('ul.waves', {}, (row.waves || []).map((wv) => {
              const fill = h('span.meter-fill', {});
              fill.style.width = Math.round((wv.progress || 0) * 100) + '%';
              return h('li', {}, h('div.row-main', {}, h('span', {}, `波次 #${wv.wave_id}`), h('span.muted', {}, `${wv.done}/${wv.tasks} · ${pct(wv.progress, 0)}`)), h('div.meter', {}, fill));
            }))
          : h('p.empty', {}, '没有进行中的波次'),
      ),
    );
  },
  drawFunnel() {
    clear(this.funnelEl, funnel(this.counts, { idPrefix: 'funnel', warehouseId: app.selectedWh }));
  },
  drawOverview(rows) {
    if (!this.overview) return;
    clear(
      this.overview,
      h('table.table', {},
        h('thead', {}, h('tr', {}, h('th', {}, '仓库'), h('th', {}, '积压'), h('th', {}, '将超时'), h('th', {}, '已超时'), h('th', {}, '准时率'))),
        h('tbody', {}, rows.map((r) =>
          h('tr', { className: r.warehouse_id === app.selectedWh ? 'active' : '', onclick: () => { app.selectedWh = r.warehouse_id; this.counts = null; this.data = null; this.render(); } },
            h('td', {}, r.name || whName(r.warehouse_id)), h('td', {}, num(r.backlog)), h('td', {}, num(r.at_risk)), h('td', { className: r.overdue ? 'bad' : '' }, num(r.overdue)), h('td', {}, pct(r.on_time_rate))))),
      ),
    );
  },
};

// --- 执行 ----------------------------------------------------------------------------------------------------------

function todoList(items) {
  if (!items || !items.length) return h('p.empty', {}, '暂无待办');
  return h('ul.todo', { id: 'todo' }, items.map((t) => h('li', {}, h('span.tag', {}, t.kind === 'pick_task' ? '拣货' : t.kind === 'pack' ? '打包' : t.kind || '待办'), h('span', {}, t.title || `#${t.id}`))));
}

const operations = {
  id: 'operations',
  title: '执行',
  icon: '☰',
  allowed: (a) => MANAGERS.has(a.me.role),
  enter(el) {
    this.el = el;
    this.render();
    this.tick = setInterval(() => this.tickTimers(), 1000);
  },
  leave() {
    clearInterval(this.tick);
  },
  render() {
    const wh = app.selectedWh;
    this.table = h('div', { id: 'operators' }, h('p.empty', {}, '加载中…'));
    this.todo = h('div', { id: 'my-todo' }, h('p.empty', {}, '加载中…'));
    this.asOf = h('span.muted.small', { id: 'as-of' });
    clear(
      this.el,
      h('div.page-head', {}, h('h1', {}, `现场 · ${whName(wh)}`), this.asOf),
      warehousePicker((id) => {
        app.selectedWh = id;
        this.render();
      }),
      h('div.grid', {}, card('作业人员', this.table), card('我的待办', this.todo)),
    );
    this.reload = refresher(this, () => this.load());
    app.live.watch(wh ? { [`dash.operations:${wh}`]: { snapshot: (d) => d && d.operators && this.show(d), delta: (d) => (d && d.board && d.board.operators ? this.show(d.board) : this.reload()), error: () => {} } } : {});
    this.load();
  },
  async load() {
    try {
      this.show(await api.get('/api/v1/dash/operations', { warehouse_id: app.selectedWh }));
    } catch (err) {
      clear(this.table, unavailable(err));
    }
    try {
      const me = await api.get('/api/v1/dash/me');
      clear(this.todo, todoList(me.todo));
    } catch (err) {
      clear(this.todo, unavailable(err));
    }
  },
  show(data) {
    this.fetchedAt = Date.now();
    this.asOf.textContent = data.as_of ? `截至 ${time(data.as_of)}` : '';
    const rows = data.operators || [];
    if (!rows.length) return clear(this.table, h('p.empty', {}, '今天还没有人上岗'));
    clear(
      this.table,
      h('div.table-wrap', {}, h('table.table', {},
        h('thead', {}, h('tr', {}, h('th', {}, '人员'), h('th', {}, '当前任务'), h('th', {}, '件/时'), h('th', {}, '件数'), h('th', {}, '差错'))),
        h('tbody', {}, rows.map((r) => {
          const running = h('span.muted.small.timer', { dataset: { base: r.current_task ? r.current_task.running_s : '' } }, r.current_task ? duration(r.current_task.running_s) : '');
          return h('tr', { onclick: () => drill(`${r.name} · 今日任务`, { metric: 'operator_tasks', user_id: r.user_id, warehouse_id: app.selectedWh, day: data.day }) },
            h('td', {}, h('div', {}, r.name), h('div.muted.small', {}, label(ROLE, r.role))),
            h('td', {}, r.current_task ? [h('div', {}, `${label(ROLE, r.current_task.kind)} #${r.current_task.task_id}`), running] : h('span.muted', {}, '空闲')),
            h('td', {}, r.units_per_hour === null || r.units_per_hour === undefined ? '—' : Number(r.units_per_hour).toFixed(1)),
            h('td', {}, num(r.units)),
            h('td', { className: r.errors ? 'bad' : '' }, num(r.errors)));
        })),
      )),
    );
  },
  tickTimers() {
    if (!this.fetchedAt) return;
    const elapsed = (Date.now() - this.fetchedAt) / 1000;
    for (const el of this.el.querySelectorAll('.timer')) {
      if (el.dataset.base !== '') el.textContent = duration(Number(el.dataset.base) + elapsed);
    }
  },
};

/** A picker's or packer's own page: their figures today and their to-do list. */
const mine = {
  id: 'me',
  title: '我的',
  icon: '☺',
  allowed: (a) => !MANAGERS.has(a.me.role) && ['picker', 'packer'].includes(a.me.role),
  async enter(el) {
    const body = h('div', { id: 'me' }, h('p.empty', {}, '加载中…'));
    clear(el, h('div.page-head', {}, h('h1', {}, '我的今日')), card(null, body));
    try {
      const me = await api.get('/api/v1/dash/me');
      clear(body,
        h('div.figures', {},
          figure({ name: '件数', value: num(me.units) }),
          figure({ name: '件/时', value: me.units_per_hour === null || me.units_per_hour === undefined ? '—' : Number(me.units_per_hour).toFixed(1) }),
          figure({ name: '差错', value: num(me.errors) }),
          figure({ name: '在岗', value: duration(me.working_s) }),
        ),
        h('h2', {}, '我的待办'),
        todoList(me.todo));
    } catch (err) {
      clear(body, unavailable(err));
    }
  },
};

// --- 告警 ----------------------------------------------------------------------------------------------------------

const alerts = {
  id: 'alerts',
  title: '告警',
  icon: '⚑',
  allowed: (a) => MANAGERS.has(a.me.role),
  enter(el) {
    this.el = el;
    this.list = h('div', { id: 'alerts' }, h('p.empty', {}, '加载中…'));
    clear(el, h('div.page-head', {}, h('h1', {}, '告警')), card(null, this.list));
    this.reload = refresher(this, () => this.load());
    // the hub's alerts; a user bound to a warehouse that warehouse's (alerts:{id}, docs/live-feed.md#topics)
    const topic = app.me.warehouse ? (app.boundId ? `alerts:${app.boundId}` : null) : 'alerts';
    app.live.watch(topic ? { [topic]: { delta: () => this.reload(), error: () => {} } } : {});
    this.load();
  },
  leave() {},
  async load() {
    let data;
    try {
      data = await api.get('/api/v1/alerts', { limit: 50 });
    } catch (err) {
      return clear(this.list, unavailable(err));
    }
    const items = Array.isArray(data) ? data : data.items || [];
    if (!items.length) return clear(this.list, h('p.empty', {}, '没有告警'));
    clear(this.list, h('ul.alert-list', {}, items.map((a) => this.row(a))));
  },
  row(a) {
    const acked = Boolean(a.acknowledged_at) || a.state === 'acknowledged';
    const cleared = a.state === 'cleared' || Boolean(a.cleared_at);
    const ack = h('button.secondary.small', { type: 'button', disabled: acked, dataset: { alert: a.id } }, acked ? '已确认' : '确认');
    ack.addEventListener('click', async () => {
      ack.disabled = true;
      try {
        await api.post(`/api/v1/alerts/${a.id}/ack`);
        ack.textContent = '已确认';
        toast('已确认告警');
      } catch (err) {
        ack.disabled = false;
        toast(err.message);
      }
    });
    const metric = ALERT_METRIC[a.metric] || a.metric || '';
    const state = cleared ? '已恢复' : acked ? `已确认${a.acknowledged_by ? '（' + a.acknowledged_by + '）' : ''}` : '未处理';
    return h('li', { className: cleared || acked ? 'acked' : '' },
      h('div.row-main', {}, h('strong', {}, a.rule_name || metric || '告警'), cleared ? h('span.tag', {}, '已恢复') : ack),
      h('div.row-sub', {}, `${metric} ${alertNumber(a.metric, a.value)}（${a.comparison === 'below' ? '低于' : '高于'} ${alertNumber(a.metric, a.threshold)}）`),
      h('div.row-sub.muted', {}, [a.warehouse_id ? whName(a.warehouse_id) : '全局', time(a.fired_at, true), state].join(' · ')));
  },
};

const ALERT_METRIC = {
  inflow_per_min: '每分钟进单',
  at_risk_count: '即将超时',
  exception_rate: '异常率',
  backlog: '积压',
  'kpi:cycle_time': '处理时长',
  'kpi:first_pass_accuracy': '一次通过率',
  'kpi:orders_per_person': '人均单量',
  'kpi:query_rate': '查件率',
  'kpi:on_time_rate': '准时发货率',
  'kpi:exception_rate': '异常率',
};

function alertNumber(metric, v) {
  if (v === null || v === undefined) return '—';
  if (/rate|accuracy/.test(metric || '')) return pct(v);
  return Number.isInteger(v) ? num(v) : Number(v).toFixed(1);
}

// --- 异常 / 挂起 queues ---------------------------------------------------------------------------------------------

const queues = {
  id: 'queues',
  title: '队列',
  icon: '⚠',
  allowed: (a) => MANAGERS.has(a.me.role) || a.me.role === 'approver',
  enter(el) {
    this.el = el;
    this.kind = this.kind || 'exception';
    this.render();
  },
  leave() {},
  render() {
    const tabs = h('div.chips', {},
      [['exception', '异常'], ['held', '挂起']].map(([k, name]) =>
        h('button', { type: 'button', className: 'chip' + (this.kind === k ? ' active' : ''), dataset: { queue: k }, onclick: () => { this.kind = k; this.render(); } }, name)));
    this.list = h('div', { id: 'queue' }, h('p.empty', {}, '加载中…'));
    this.more = h('button.secondary', { type: 'button', hidden: true, onclick: () => this.load(true) }, '加载更多');
    clear(this.el, h('div.page-head', {}, h('h1', {}, '待处理队列')), tabs, card(null, this.list, this.more));
    this.reload = refresher(this, () => this.load());
    const topic = app.boundId ? `orders:${app.boundId}` : 'orders';
    const touches = (d) => [d.from, d.to].includes(this.kind);
    app.live.watch({ [topic]: { delta: (d) => touches(d) && this.reload() } });
    this.load();
  },
  async load(more = false) {
    const query = { status: this.kind, limit: 30, cursor: more ? this.cursor : undefined };
    let page;
    try {
      page = await api.get('/api/v1/orders', query);
    } catch (err) {
      return clear(this.list, unavailable(err));
    }
    this.cursor = page.next_cursor;
    this.more.hidden = !page.next_cursor;
    const rows = (page.items || []).map((o) => this.row(o));
    if (!more) clear(this.list, rows.length ? h('ul.queue-list', {}, rows) : h('p.empty', {}, this.kind === 'exception' ? '没有异常订单' : '没有挂起订单'));
    else this.list.querySelector('ul')?.append(...rows);
  },
  row(o) {
    const note = h('input.note', { placeholder: '备注（可选）', maxLength: 255 });
    const li = h('li', { dataset: { order: o.id } });
    const act = async (verb, path, body, done) => {
      for (const b of li.querySelectorAll('button')) b.disabled = true;
      try {
        await api.post(path, body);
        toast(done);
        li.remove();
      } catch (err) {
        toast(err.message);
        for (const b of li.querySelectorAll('button')) b.disabled = false;
      }
    };
    const buttons = [];
    if (this.kind === 'exception' && MANAGERS.has(app.me.role)) {
      buttons.push(h('button.primary.small', { type: 'button', onclick: () => act('retry', `/api/v1/orders/${o.id}/retry`, { note: note.value }, '已重新处理') }, '重试'));
    }
    if (this.kind === 'held') {
      buttons.push(h('button.primary.small', { type: 'button', onclick: () => act('release', `/api/v1/orders/${o.id}/release`, { note: note.value }, '已放行') }, '放行'));
    }
    if (MANAGERS.has(app.me.role)) {
      buttons.push(h('button.danger.small', { type: 'button', onclick: () => {
        const reason = note.value.trim();
        if (!reason) { note.focus(); return toast('取消订单请在备注中填写原因'); }
        act('cancel', `/api/v1/orders/${o.id}/cancel`, { reason }, '已取消订单');
      } }, '取消'));
    }
    const why = this.kind === 'exception' ? label(REASON, o.exception_reason) : o.hold_reason ? label(HOLD, o.hold_reason) : o.hold_queue;
    return clear(li,
      h('div.row-main', {}, h('span', {}, `${o.external_id}`), h('span.tag', { dataset: { status: o.status } }, why || label(STATUS, o.status))),
      h('div.row-sub.muted', {}, [o.channel, o.warehouse || '未分仓', yuan(o.paid_amount), '接收 ' + time(o.received_at, true)].join(' · ')),
      h('div.actions', {}, note, buttons));
  },
};

export const PAGES = [strategic, tactical, operations, mine, finance, alerts, approvals, queues];
