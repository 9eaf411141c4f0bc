// The 审批 page (docs/console.md#审批): the signed-in person's approvals inbox — 待我审批, 抄送我的, 我已处理, 我发起的
// (their own requests, with 撤回 on the pending ones) — and one request's details (the order, the flow's steps and who decided, the trail) with one-tap 同意 / 驳回 and the other
// actions: 转交, 加签, 评论, 撤回 (the requester), 催办. The tab's badge counts the tasks waiting for the person; the
// shell keeps their `approvals:{user_id}` topic subscribed whatever page is shown (live.js pin), and each delta
// re-reads the counts, the list and the request shown. docs/approvals.md#http-api has the endpoints.

import * as api from './api.js';
import { app, toast } from './app.js';
import { h, clear, yuan, time, duration, debounce, label, STATUS, HOLD, ROLE } from './util.js';

const BOXES = [
  ['pending', '待我审批'],
  ['cc', '抄送我的'],
  ['done', '我已处理'],
  ['mine', '我发起的'],
];

const EMPTY = { pending: '没有待审批的事项', cc: '没有抄送给我的审批', done: '还没有处理过的审批', mine: '还没有发起过审批' };

export const KIND = {
  order_hold: '订单审批',
  refund_reship: '退款补发',
  address_change: '修改收货地址',
  stock_writeoff: '库存核销/调整',
  cancel_after_pick: '拣货后取消',
};

const REQUEST_STATUS = { pending: '审批中', approved: '已同意', rejected: '已驳回', withdrawn: '已撤回', cancelled: '已取消' };

const TASK_STATUS = {
  waiting: '等待中',
  pending: '待审批',
  approved: '已同意',
  rejected: '已驳回',
  transferred: '已转交',
  escalated: '已升级',
  cancelled: '已取消',
  told: '知会',
};

const ORIGIN = { fallback: '兜底审批人', before: '前加签', after: '后加签', parallel: '并加签', transfer: '转交', escalation: '超时升级' };

const MODE = { any: '或签（一人同意即可）', all: '会签（需全部同意）', sequential: '依次审批' };

const POSITIONS = [
  ['before', '前加签', '他们先审，之后回到我'],
  ['after', '后加签', '我现在同意，他们随后审批'],
  ['parallel', '并加签', '与我同时审批'],
];
const POSITION = Object.fromEntries(POSITIONS.map(([value, name]) => [value, name]));

const TRAIL = {
  opened: '发起审批',
  step_started: '进入步骤',
  approved: '同意',
  rejected: '驳回',
  signer_added: '加签',
  transferred: '转交',
  commented: '评论',
  reminded: '催办',
  time_reminder: '到期提醒',
  escalated: '超时升级',
  auto_approve: '超时自动同意',
  auto_reject: '超时自动驳回',
  kept_waiting: '超时，继续等待',
  step_approved: '步骤通过',
  step_rejected: '步骤驳回',
  no_step_applies: '没有适用的步骤',
  decided: '审批结束',
  effect: '执行结果',
  expiry_failed: '超时处理失败',
};

const OUTCOME = { ...REQUEST_STATUS, approved: '通过' };

// --- the badge and the live topic -------------------------------------------------------------------------------

const counts = { pending: 0, cc: 0, mine: 0 };

function showCounts(c) {
  if (!c) return;
  Object.assign(counts, c);
  const badge = document.getElementById('badge-approvals');
  if (badge) {
    badge.hidden = !counts.pending;
    badge.textContent = counts.pending > 99 ? '99+' : String(counts.pending);
  }
  for (const box of ['pending', 'cc', 'mine']) {
    const el = document.getElementById(`box-count-${box}`);
    if (el) el.textContent = counts[box] ? String(counts[box]) : '';
  }
}

function failed(err) {
  if (err && err.status === 404) return h('p.empty', {}, err.code === 'approval_not_found' ? err.message : '审批接口暂不可用');
  return h('p.empty', {}, (err && err.message) || '加载失败');
}

function card(title, ...children) {
  return h('section.card', {}, title ? h('h2', {}, title) : null, ...children);
}

/** "剩 2时05分" / "已超时 12分03秒" / "截止 12/09 18:00" for a pending task's time limit. */
function due(iso) {
  if (!iso) return null;
  const left = (new Date(iso).getTime() - Date.now()) / 1000;
  if (left < 0) return { text: '已超时 ' + duration(-left), late: true };
  if (left > 86400) return { text: '截止 ' + time(iso, true), late: false };
  return { text: '剩 ' + duration(left), late: false };
}

/** A request's title without its kind ("订单审批：订单 tmall/123" → "订单 tmall/123"): the kind is shown beside it. */
function subject(title, kind) {
  const prefix = label(KIND, kind) + '：';
  return title && title.startsWith(prefix) ? title.slice(prefix.length) : title;
}

// Entries the hub writes as the consequence of an action (under that action's actor): shown without a name.
const CONSEQUENCES = new Set(['step_started', 'step_approved', 'step_rejected', 'no_step_applies', 'decided', 'effect']);

/** A trail entry's actor ("username#12", "system") as a person's name, from the people on the request. */
function actorName(actor, names) {
  if (!actor || actor === 'system') return '系统';
  const m = /^(.*)#(\d+)$/.exec(actor);
  if (!m) return actor;
  return names.get(Number(m[2])) || m[1];
}

function who(list) {
  return (list || []).map((p) => p.name || `#${p.id}`).join('、');
}

/** What a trail entry says, in a line. */
function trailText(e) {
  const d = e.data || {};
  switch (e.action) {
    case 'opened':
      return d.reason || '';
    case 'step_started':
      return [d.name, who(d.approvers) && '审批人 ' + who(d.approvers), who(d.cc) && '抄送 ' + who(d.cc)].filter(Boolean).join(' · ');
    case 'approved':
      return d.comment || '';
    case 'rejected':
      return d.reason || '';
    case 'signer_added':
      return [label(POSITION, d.position), who(d.added), d.comment].filter(Boolean).join(' · ');
    case 'transferred':
      return ['转交给 ' + ((d.to && d.to.name) || ''), d.comment].filter(Boolean).join(' · ');
    case 'commented':
      return d.text || '';
    case 'escalated':
      return `${(d.from && d.from.name) || ''} → ${(d.to && d.to.name) || ''}`;
    case 'decided':
      return [label(OUTCOME, d.outcome), d.reason].filter(Boolean).join(' · ');
    case 'effect':
      return typeof d.done === 'string' ? d.done : '';
    case 'kept_waiting':
    case 'auto_approve':
    case 'auto_reject':
      return d.note || '';
    case 'expiry_failed':
      return d.message || '';
    default:
      return '';
  }
}

/** One request kind's payload, as label/value rows (order holds have the order instead). */
function payloadRows(kind, p) {
  if (!p) return [];
  switch (kind) {
    case 'refund_reship':
      return [
        ['退款', p.refund_amount ? yuan(p.refund_amount) : '无'],
        ['补发', (p.reship_lines || []).map((l) => `${l.sku} × ${l.qty}`).join('，') || '无'],
        ['说明', p.note],
      ];
    case 'address_change': {
      const r = p.receiver || {};
      return [['新收货人', r.name], ['新地址', r.address || [r.province, r.city, r.district, r.detail].filter(Boolean).join(' ')]];
    }
    case 'stock_writeoff':
      return [
        ['仓库', p.warehouse],
        ['商品', p.sku],
        p.set !== undefined && p.set !== null ? ['调整为', String(p.set)] : ['数量变化', (p.delta > 0 ? '+' : '') + p.delta],
        ['原因', p.reason],
      ];
    case 'cancel_after_pick':
      return [['取消原因', p.reason]];
    default:
      return [];
  }
}

function rows(pairs) {
  const kept = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  return h('dl.kv', {}, kept.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// --- the sheet with a small form (驳回, 转交, 加签, 评论, 撤回) ---------------------------------------------------------

/** Opens the bottom sheet with a form; `submit()` runs on 确认 and its ApiError shows in the sheet, next to its field. */
function formSheet(title, fields, { ok, danger = false, submit }) {
  const sheet = document.getElementById('sheet');
  const error = h('p.form-error', { id: 'sheet-error', role: 'alert' });
  const button = h(danger ? 'button.danger' : 'button.primary', { type: 'submit', id: 'sheet-submit' }, ok);
  const close = () => {
    sheet.hidden = true;
    clear(sheet);
  };
  const form = h(
    'form.sheet-form',
    {
      id: 'sheet-form',
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        error.textContent = '';
        for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
        try {
          await submit(form);
          close();
        } catch (err) {
          error.textContent = err.message;
          const field = err.problem && err.problem.field;
          const el = (field && form.querySelector(`[name="${CSS.escape(field)}"]`)) || null;
          if (el) {
            (el.closest('.field') || el).classList.add('invalid');
            el.focus();
          }
          button.disabled = false;
        }
      },
    },
    fields,
    error,
    h('div.sheet-buttons', {}, h('button.secondary', { type: 'button', onclick: close }, '取消'), button),
  );
  clear(
    sheet,
    h('div.sheet-backdrop', { onclick: close }),
    h(
      'section.sheet-panel',
      { role: 'dialog', 'aria-label': title },
      h('div.sheet-head', {}, h('strong', {}, title), h('button.link', { type: 'button', id: 'sheet-close', onclick: close }, '关闭')),
      form,
    ),
  );
  sheet.hidden = false;
  document.getElementById('toast').hidden = true; // the last action's toast would cover the form
  const first = form.querySelector('textarea, input:not([type=radio]):not([type=checkbox])');
  if (first && !matchMedia('(pointer: coarse)').matches) first.focus(); // a phone's keyboard would cover the sheet
}

function textarea(name, placeholder, required = false) {
  return h(
    'label.field',
    {},
    h('span', {}, placeholder, required ? h('span.req', {}, ' *') : null),
    h('textarea', { name, id: `sheet-${name}`, rows: 3, maxLength: 1000, placeholder: required ? '必填' : '选填' }),
  );
}

class NeedsInput extends Error {
  constructor(field, message) {
    super(message);
    this.problem = { field };
  }
}

let peopleCache = null;

/** Active staff to pick (GET /api/v1/approvals/people), without the caller; cached a minute. */
async function people() {
  if (!peopleCache || Date.now() - peopleCache.at > 60000) {
    peopleCache = { at: Date.now(), list: await api.get('/api/v1/approvals/people') };
  }
  return peopleCache.list.filter((p) => p.id !== app.me.id);
}

/**
 * A searchable list of people to pick one (radio) or several (checkbox) from — a user id field if the list cannot be
 * read. The choice survives a new search; `picker.chosen()` is the ids picked.
 */
function peoplePicker(name, multiple) {
  const chosen = new Set();
  const list = h('ul.people', { id: 'people-list' }, h('li.muted.small', {}, '加载中…'));
  const search = h('input.search', { type: 'search', placeholder: '搜索姓名、角色或仓库', autocomplete: 'off' });
  const count = h('span.picked', {});
  const wrap = h('div.field', {}, h('span', {}, multiple ? '选择加签人（可多选）' : '转交给', count), search, list);
  let manual = null;
  const pick = (id, on) => {
    if (!multiple) chosen.clear();
    if (on) chosen.add(id);
    else chosen.delete(id);
    count.textContent = multiple && chosen.size ? `已选 ${chosen.size} 人` : '';
  };
  people().then(
    (all) => {
      const draw = () => {
        const q = search.value.trim().toLowerCase();
        const shown = all.filter((p) => !q || [p.name, label(ROLE, p.role), p.warehouse || ''].join(' ').toLowerCase().includes(q));
        clear(
          list,
          shown.length
            ? shown.slice(0, 100).map((p) =>
                h(
                  'li',
                  {},
                  h(
                    'label.person',
                    {},
                    h('input', {
                      type: multiple ? 'checkbox' : 'radio',
                      name,
                      value: p.id,
                      checked: chosen.has(p.id),
                      onchange: (event) => pick(p.id, event.target.checked),
                    }),
                    h('span.person-name', {}, p.name),
                    h('span.muted.small', {}, [label(ROLE, p.role), p.warehouse].filter(Boolean).join(' · ')),
                  ),
                ),
              )
            : h('li.muted.small', {}, '没有匹配的人员'),
        );
      };
      search.addEventListener('input', draw);
      draw();
    },
    () => {
      search.hidden = true;
      manual = h('input.search', { type: 'number', name, min: 1, placeholder: '对方的用户 ID', inputMode: 'numeric' });
      clear(list, h('li', {}, manual));
    },
  );
  wrap.chosen = () => (manual ? (manual.value ? [Number(manual.value)] : []) : [...chosen]);
  return wrap;
}

// --- the page ----------------------------------------------------------------------------------------------------

export const approvals = {
  id: 'approvals',
  title: '审批',
  icon: '✎',
  badge: true,
  allowed: () => true, // everyone has an inbox: approvers, people copied, requesters
  box: 'pending',
  requestId: null,
  keys: new Map(), // `${request}:${action}` → the Idempotency-Key of an action not yet answered (a retry reuses it)

  /** Called once when the console starts: the person's inbox topic, for the badge on every page. */
  pinned() {
    Object.assign(counts, { pending: 0, cc: 0, mine: 0 }); // another person may have signed in on this tab before
    this.keys.clear();
    const changed = new Set();
    const refresh = debounce(() => {
      const ids = new Set(changed);
      changed.clear();
      this.changed(ids);
    }, 300);
    app.live.pin(`approvals:${app.me.id}`, {
      snapshot: (data) => showCounts(data && data.counts),
      delta: (d) => {
        if (d && d.request_id) changed.add(d.request_id);
        refresh();
      },
      error: () => {},
    });
  },

  /** A delta: re-read the counts (with the list, when shown) and the request shown if it changed. */
  async changed(ids) {
    if (app.page !== this) {
      try {
        showCounts(await api.get('/api/v1/approvals/inbox/counts'));
      } catch {
        // the next delta or snapshot tries again
      }
      return;
    }
    this.loadList();
    if (this.requestId !== null && ids.has(this.requestId)) this.loadDetail();
  },

  enter(el, _app, arg) {
    this.el = el;
    this.chips = h(
      'div.chips',
      { id: 'approval-boxes' },
      BOXES.map(([box, name]) =>
        h(
          'button',
          { type: 'button', className: 'chip' + (this.box === box ? ' active' : ''), dataset: { box }, onclick: () => this.pick(box) },
          name,
          box === 'done' ? null : h('span.chip-count', { id: `box-count-${box}` }, counts[box] ? String(counts[box]) : ''),
        ),
      ),
    );
    this.list = h('div', { id: 'approvals-list' }, h('p.empty', {}, '加载中…'));
    this.more = h('button.secondary', { type: 'button', hidden: true, onclick: () => this.loadList(true) }, '加载更多');
    this.detail = h('div.ap-detail', { id: 'approval-detail' });
    this.wrap = h(
      'div.approvals',
      {},
      h('div.ap-list', {}, h('div.page-head', {}, h('h1', {}, '审批')), this.chips, card(null, this.list, this.more)),
      this.detail,
    );
    clear(el, this.wrap);
    app.live.watch({}); // the inbox topic is pinned by the shell: nothing else to watch here
    this.requestId = null;
    this.loadList();
    this.route(arg);
  },

  leave() {
    this.requestId = null;
  },

  /** `#/approvals` (the list) or `#/approvals/<id>` (one request; beside the list on a PC, instead of it on a phone). */
  route(arg) {
    const id = /^\d+$/.test(arg || '') ? Number(arg) : null;
    const changedRequest = id !== this.requestId;
    this.requestId = id;
    this.wrap.classList.toggle('has-detail', id !== null);
    for (const li of this.list.querySelectorAll('li[data-request]')) li.classList.toggle('active', Number(li.dataset.request) === id);
    if (id === null) {
      clear(this.detail, h('section.card.ap-placeholder', {}, h('p.empty', {}, '选择左侧的一条审批查看详情')));
      return;
    }
    if (changedRequest) {
      clear(this.detail, card(null, h('p.empty', {}, '加载中…')));
      if (!matchMedia('(min-width: 900px)').matches) window.scrollTo(0, 0);
    }
    this.loadDetail();
  },

  pick(box) {
    this.box = box;
    for (const c of this.chips.querySelectorAll('.chip')) c.classList.toggle('active', c.dataset.box === box);
    clear(this.list, h('p.empty', {}, '加载中…'));
    this.more.hidden = true;
    this.loadList();
  },

  async loadList(more = false) {
    const box = this.box;
    let page;
    try {
      page = await api.get('/api/v1/approvals/inbox', { box, limit: 20, cursor: more ? this.cursor : undefined });
    } catch (err) {
      if (box === this.box && app.page === this) clear(this.list, failed(err));
      return;
    }
    showCounts(page.counts);
    if (box !== this.box || app.page !== this) return; // another box was picked meanwhile
    this.cursor = page.next_cursor;
    this.more.hidden = !page.next_cursor;
    const items = (page.items || []).map((item) => this.row(item));
    if (!more) clear(this.list, items.length ? h('ul.ap-items', {}, items) : h('p.empty', {}, EMPTY[box]));
    else this.list.querySelector('ul')?.append(...items);
  },

  row(item) {
    if (this.box === 'mine') return this.mineRow(item);
    let tag;
    if (this.box === 'pending') {
      const d = due(item.due_at);
      tag = d ? h(d.late ? 'span.tag.late' : 'span.tag', {}, d.text) : h('span.tag', { dataset: { state: 'pending' } }, '待审批');
    } else if (this.box === 'done') {
      tag = h('span.tag', { dataset: { state: item.task_status } }, label(TASK_STATUS, item.task_status));
    } else {
      tag = h('span.tag', { dataset: { state: item.request_status } }, label(REQUEST_STATUS, item.request_status));
    }
    const when = this.box === 'done' && item.decided_at ? '处理 ' + time(item.decided_at, true) : time(item.created_at, true);
    return h(
      'li',
      { dataset: { request: item.request_id, task: item.task_id }, className: item.request_id === this.requestId ? 'active' : '' },
      this.itemButton(item, [label(KIND, item.kind), item.requester_name, item.step_name, when], tag),
    );
  },

  /** The button opening a request: title and amount, why, a meta line and the state's tag. */
  itemButton(item, meta, tag, ...extra) {
    return h(
      'button.ap-item',
      { type: 'button', onclick: () => (location.hash = `#/approvals/${item.request_id}`) },
      h(
        'div.row-main',
        {},
        h('strong.ap-title', {}, subject(item.title, item.kind)),
        h('span.ap-amount', {}, item.amount ? yuan(item.amount) : ''),
      ),
      item.reason ? h('div.row-sub.ap-reason', {}, item.reason) : null,
      ...extra,
      h('div.row-sub.ap-meta', {}, h('span.muted', {}, meta.filter(Boolean).join(' · ')), tag),
    );
  },

  /** 我发起的: one of the person's requests — its status, the step it is at and whom it waits for; 撤回 while pending. */
  mineRow(item) {
    const pending = item.request_status === 'pending';
    const tag = h('span.tag', { dataset: { state: item.request_status } }, label(REQUEST_STATUS, item.request_status));
    let progress = null;
    if (pending) {
      const d = due(item.due_at);
      const waiting = (item.waiting_on || []).length ? `等待 ${item.waiting_on.join('、')} 审批` : '';
      const parts = [item.step_name, waiting].filter(Boolean).map((t) => h('span', {}, t));
      if (d) parts.push(h(d.late ? 'span.late' : 'span.muted', {}, d.text));
      progress = parts.length ? h('div.row-sub.ap-progress', {}, parts) : null;
    }
    const when = !pending && item.decided_at ? label(REQUEST_STATUS, item.request_status) + ' ' + time(item.decided_at, true) : '发起 ' + time(item.created_at, true);
    const withdraw = pending
      ? h('button.chip.ap-row-withdraw', { type: 'button', dataset: { withdraw: item.request_id }, onclick: () => this.withdraw(item.request_id) }, '撤回')
      : null;
    return h(
      'li',
      { dataset: { request: item.request_id }, className: (item.request_id === this.requestId ? 'active ' : '') + 'ap-mine' },
      this.itemButton(item, [label(KIND, item.kind), when], tag, progress),
      withdraw,
    );
  },

  async loadDetail() {
    const id = this.requestId;
    let r;
    try {
      r = await api.get(`/api/v1/approvals/requests/${id}`);
    } catch (err) {
      if (id === this.requestId && app.page === this) clear(this.detail, this.head(null), card(null, failed(err)));
      return;
    }
    if (id !== this.requestId || app.page !== this) return;
    this.current = r;
    clear(this.detail, this.render(r));
  },

  head(r) {
    const back = h('button.link.ap-back', { type: 'button', id: 'ap-back', onclick: () => (location.hash = '#/approvals') }, '‹ 返回列表');
    const status = r ? h('span.tag', { id: 'ap-status', dataset: { state: r.status } }, label(REQUEST_STATUS, r.status)) : null;
    return h('div.page-head.ap-head', {}, back, status);
  },

  render(r) {
    const names = new Map();
    if (r.requester_id) names.set(r.requester_id, r.requester_name);
    for (const t of r.tasks || []) names.set(t.assignee_id, t.assignee_name);
    if (app.me) names.set(app.me.id, app.me.display_name || app.me.username);

    const summary = card(
      null,
      h('div.ap-kind', {}, h('span.tag', {}, label(KIND, r.kind)), h('span.muted.small', {}, `#${r.id}`)),
      h('h2.ap-detail-title', { id: 'ap-title' }, subject(r.title, r.kind)),
      r.amount ? h('div.ap-big', { id: 'ap-amount' }, yuan(r.amount)) : null,
      r.reason ? h('p.ap-why', { id: 'ap-reason' }, h('span.muted', {}, '审批原因　'), r.reason) : null,
      rows([
        ['申请人', r.requester_name || '系统规则'],
        ['发起时间', time(r.created_at, true)],
        ['流程', `${r.flow_code} · 第 ${r.flow_version} 版`],
      ]),
      r.status !== 'pending'
        ? h(
            'p.ap-outcome',
            { id: 'ap-outcome', dataset: { state: r.status } },
            [
              label(REQUEST_STATUS, r.status),
              r.decided_by_name && `由 ${r.decided_by_name}`,
              r.decided_at && time(r.decided_at, true),
              r.outcome_reason,
            ]
              .filter(Boolean)
              .join(' · '),
          )
        : null,
    );

    const sections = [summary];
    if (r.order) sections.push(this.orderCard(r.order));
    const extra = payloadRows(r.kind, r.payload);
    if (extra.length) sections.push(card(label(KIND, r.kind), rows(extra)));
    sections.push(this.stepsCard(r), this.trailCard(r, names));
    const bar = this.actions(r);
    return [this.head(r), h('div.ap-sections', {}, sections), bar];
  },

  orderCard(o) {
    const place = [o.province, o.city, o.district].filter(Boolean).join(' ');
    const status = label(STATUS, o.status) + (o.status === 'held' && o.hold_reason ? `（${label(HOLD, o.hold_reason)}）` : '');
    return card(
      '订单',
      rows([
        ['订单号', o.external_id],
        ['渠道', o.channel],
        ['状态', status],
        ['仓库', o.warehouse || '未分仓'],
        ['实付', yuan(o.paid_amount)],
        ['商品金额', o.goods_amount !== o.paid_amount ? yuan(o.goods_amount) : null],
        ['收货人', o.receiver_name],
        ['地址', o.address && o.province && o.address.startsWith(o.province) ? o.address : [place, o.address].filter(Boolean).join(' ')],
        ['下单', time(o.placed_at, true)],
        ['买家备注', o.buyer_memo],
        ['卖家备注', o.seller_memo],
        ['标签', (o.tags || []).join('、')],
      ]),
      (o.lines || []).length
        ? h(
            'ul.ap-lines',
            { id: 'ap-lines' },
            o.lines.map((l) =>
              h(
                'li',
                {},
                h('span.ap-sku', {}, l.sku, l.is_gift ? h('span.tag', {}, '赠品') : null),
                h('span.muted', {}, `× ${l.qty}`),
                h('span', {}, yuan(l.amount)),
              ),
            ),
          )
        : null,
    );
  },

  stepsCard(r) {
    const modes = new Map();
    for (const e of r.trail || []) {
      if (e.action === 'step_started' && e.data) modes.set(e.data.step, e.data);
    }
    const steps = new Map();
    for (const t of r.tasks || []) {
      if (!steps.has(t.step)) steps.set(t.step, { name: t.step_name, tasks: [] });
      steps.get(t.step).tasks.push(t);
    }
    if (!steps.size) return card('审批进度', h('p.empty', {}, '没有审批步骤'));
    return card(
      '审批进度',
      h(
        'ol.ap-steps',
        { id: 'ap-steps' },
        [...steps.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([index, step]) => {
            const info = modes.get(index) || {};
            const mode = info.mode === 'n_of_m' ? `${info.needed || info.n} 人同意即可` : label(MODE, info.mode);
            const current = r.status === 'pending' && index === r.step;
            return h(
              'li',
              { className: current ? 'current' : '' },
              h(
                'div.ap-step-head',
                {},
                h('strong', {}, `${index + 1}. ${step.name}`),
                info.mode ? h('span.muted.small', {}, mode) : null,
                current ? h('span.tag', { dataset: { state: 'pending' } }, '进行中') : null,
              ),
              h(
                'ul.ap-tasks',
                {},
                step.tasks
                  .sort((a, b) => (a.role === 'cc') - (b.role === 'cc') || a.slot - b.slot || a.seq - b.seq || a.id - b.id)
                  .map((t) => {
                    const d = t.status === 'pending' ? due(t.due_at) : null;
                    const note = [
                      t.decided_at && time(t.decided_at, true),
                      d && d.text,
                      ORIGIN[t.origin],
                    ].filter(Boolean);
                    return h(
                      'li',
                      { dataset: { task: t.id, user: t.assignee_id } },
                      h(
                        'div.row-main',
                        {},
                        h('span', {}, t.assignee_name),
                        h('span.tag', { dataset: { state: t.status } }, label(TASK_STATUS, t.status)),
                      ),
                      note.length ? h(d && d.late ? 'div.row-sub.muted.late' : 'div.row-sub.muted', {}, note.join(' · ')) : null,
                      t.comment ? h('div.row-sub.ap-comment', {}, `“${t.comment}”`) : null,
                    );
                  }),
              ),
            );
          }),
      ),
    );
  },

  trailCard(r, names) {
    const entries = r.trail || [];
    return card(
      '审批记录',
      entries.length
        ? h(
            'ol.ap-trail',
            { id: 'ap-trail' },
            entries.map((e) =>
              h(
                'li',
                { dataset: { action: e.action } },
                h(
                  'div.row-main',
                  {},
                  h('span', {}, CONSEQUENCES.has(e.action) ? null : [h('strong', {}, actorName(e.actor, names)), ' '], label(TRAIL, e.action)),
                  h('span.muted.small', {}, time(e.at, true)),
                ),
                trailText(e) ? h('div.row-sub.muted', {}, trailText(e)) : null,
              ),
            ),
          )
        : h('p.empty', {}, '暂无记录'),
    );
  },

  /** The buttons for what the caller may do now (`my_actions`): 驳回 / 同意 large, the others small. */
  actions(r) {
    const can = new Set(r.my_actions || []);
    const button = (cls, id, text, onclick) => h(cls, { type: 'button', id, onclick }, text);
    const main = [];
    if (can.has('reject')) main.push(button('button.danger', 'ap-reject', '驳回', () => this.reject()));
    if (can.has('approve')) main.push(button('button.primary', 'ap-approve', '同意', () => this.approve()));
    const more = [];
    if (can.has('transfer')) more.push(button('button.chip', 'ap-transfer', '转交', () => this.transfer()));
    if (can.has('add_signer')) more.push(button('button.chip', 'ap-sign', '加签', () => this.addSigner()));
    if (can.has('comment')) more.push(button('button.chip', 'ap-comment', '评论', () => this.comment()));
    if (can.has('remind')) more.push(button('button.chip', 'ap-remind', '催办', (ev) => this.remind(ev.currentTarget)));
    if (can.has('withdraw')) more.push(button('button.chip', 'ap-withdraw', '撤回', () => this.withdraw()));
    if (!main.length && !more.length) return null;
    return h('div.ap-bar', { id: 'ap-actions' }, main.length ? h('div.ap-main', {}, main) : null, more.length ? h('div.ap-more', {}, more) : null);
  },

  /** POST an action with an Idempotency-Key: one per intent, reused when the answer was lost (a network error). */
  async act(action, body, id = this.requestId) {
    const slot = `${id}:${action}`;
    const key = this.keys.get(slot) || api.idempotencyKey();
    this.keys.set(slot, key);
    try {
      const out = await api.post(`/api/v1/approvals/requests/${id}/${action}`, body, { 'Idempotency-Key': key });
      this.keys.delete(slot);
      if (id === this.requestId) this.loadDetail();
      this.loadList();
      return out;
    } catch (err) {
      if (err.code !== 'network') this.keys.delete(slot);
      if (err.code === 'approval_closed' || err.code === 'approval_task_not_pending') {
        if (id === this.requestId) this.loadDetail(); // decided elsewhere
        this.loadList();
      }
      throw err;
    }
  },

  /** One tap: no confirmation (the order is released at once); a lost answer is retried with the same key. */
  async approve() {
    const buttons = [...this.detail.querySelectorAll('.ap-bar button')];
    buttons.forEach((b) => (b.disabled = true));
    try {
      await this.act('approve', {});
      toast('已同意');
    } catch (err) {
      toast(err.message);
      buttons.forEach((b) => (b.disabled = false));
    }
  },

  reject() {
    formSheet('驳回审批', [h('p.muted.small', {}, '驳回后审批结束；订单审批被驳回时，订单按流程设置取消（释放库存）或继续挂起。'), textarea('reason', '驳回原因', true)], {
      ok: '确认驳回',
      danger: true,
      submit: async (form) => {
        await this.act('reject', { reason: form.elements.reason.value });
        toast('已驳回');
      },
    });
  },

  transfer() {
    const picker = peoplePicker('to_user_id', false);
    formSheet('转交审批', [picker, textarea('comment', '留言')], {
      ok: '确认转交',
      submit: async (form) => {
        const [to] = picker.chosen();
        if (!to) throw new NeedsInput('to_user_id', '请选择转交给谁');
        await this.act('transfer', { to_user_id: to, comment: form.elements.comment.value });
        toast('已转交');
      },
    });
  },

  addSigner() {
    const positions = h(
      'div.field',
      {},
      h('span', {}, '加签方式'),
      h(
        'div.positions',
        {},
        POSITIONS.map(([value, name, hint], i) =>
          h(
            'label.position',
            {},
            h('input', { type: 'radio', name: 'position', value, checked: i === 0 }),
            h('span', {}, h('strong', {}, name), h('span.muted.small', {}, hint)),
          ),
        ),
      ),
    );
    const picker = peoplePicker('user_ids', true);
    formSheet('加签', [positions, picker, textarea('comment', '留言')], {
      ok: '确认加签',
      submit: async (form) => {
        const ids = picker.chosen();
        if (!ids.length) throw new NeedsInput('user_ids', '请选择加签人');
        if (ids.length > 10) throw new NeedsInput('user_ids', '一次最多加签 10 人');
        await this.act('add-signer', { user_ids: ids, position: form.elements.position.value, comment: form.elements.comment.value });
        toast('已加签');
      },
    });
  },

  comment() {
    formSheet('评论', [textarea('text', '评论内容', true)], {
      ok: '发表评论',
      submit: async (form) => {
        if (!form.elements.text.value.trim()) throw new NeedsInput('text', '请填写评论内容');
        await this.act('comment', { text: form.elements.text.value });
        toast('已评论');
      },
    });
  },

  /** 撤回 the request shown, or one of 我发起的 straight from the list. */
  withdraw(id = this.requestId) {
    formSheet('撤回申请', [h('p.muted.small', {}, '撤回后审批结束，审批人的待办随之关闭。'), textarea('reason', '撤回原因')], {
      ok: '确认撤回',
      danger: true,
      submit: async (form) => {
        await this.act('withdraw', { reason: form.elements.reason.value }, id);
        toast('已撤回');
      },
    });
  },

  async remind(button) {
    button.disabled = true;
    try {
      await this.act('remind');
      toast('已催办');
    } catch (err) {
      toast(err.message);
    }
    button.disabled = false;
  },
};
