// The managers' H5 console (docs/console.md): sign-in, the shell (header, tabs, live indicator), the drill-down
// sheet, and the pages in pages.js. Mobile first (375 px), a wider grid on a PC.

import * as api from './api.js';
import { Live } from './live.js';
import { PAGES } from './pages.js';
import { h, clear, label, ROLE, STATUS, REASON, num, yuan, time } from './util.js';

const root = document.getElementById('app');

export const app = {
  me: null, // GET /api/v1/auth/me
  warehouses: [], // GET /api/v1/warehouses
  boundId: null, // the warehouse id of a user bound to one
  tab: null,
  live: null,
  page: null, // the page object shown
  selectedWh: null, // the warehouse the tactical / operations pages show
};

// --- sign-in -------------------------------------------------------------------------------------------------------

const MP_ERRORS = {
  mp_not_bound: '该微信尚未绑定员工账号，请先在小程序中绑定',
  mp_code_invalid: '微信登录凭证已失效，请返回小程序重新进入',
  mp_account_disabled: '账号已停用',
};

async function boot() {
  api.whenSignedOut(() => signedOut('登录已过期，请重新登录'));
  const url = new URL(location.href);
  const code = url.searchParams.get('code');
  if (code !== null) {
    // The mini-program's web-view passes wx.login's code; it is spent once and must not stay in the address bar,
    // the history or a Referer.
    url.searchParams.delete('code');
    history.replaceState(null, '', url.pathname + (url.search || '') + url.hash);
    try {
      await api.loginWithWechatCode(code);
    } catch (err) {
      return showLogin(MP_ERRORS[err.code] || err.message);
    }
  }
  if (!api.token()) return showLogin();
  try {
    app.me = await api.get('/api/v1/auth/me');
  } catch (err) {
    api.setToken(null);
    return showLogin(err.status === 401 ? '' : err.message);
  }
  await start();
}

function showLogin(message = '') {
  const error = h('p.login-error', { id: 'login-error', role: 'alert' }, message);
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, placeholder: '用户名' });
  const password = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    placeholder: '密码',
  });
  const submit = h('button.primary', { type: 'submit', id: 'login-submit' }, '登录');
  const form = h(
    'form.login',
    {
      id: 'login-form',
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        error.textContent = '';
        try {
          await api.loginWithPassword(username.value.trim(), password.value);
          app.me = await api.get('/api/v1/auth/me');
          await start();
        } catch (err) {
          error.textContent = err.code === 'network' ? err.message : err.message || '登录失败';
          submit.disabled = false;
        }
      },
    },
    h('h1', {}, 'OrderHub 管理台'),
    h('p.muted', {}, '订单中枢 · 主管看板'),
    h('label', {}, '用户名', username),
    h('label', {}, '密码', password),
    submit,
    error,
    h('p.muted.small', {}, '在微信小程序中打开时将自动登录'),
  );
  clear(root, h('div.login-wrap', {}, form));
}

function signedOut(message) {
  if (app.live) app.live.stop();
  app.live = null;
  app.me = null;
  api.setToken(null);
  showLogin(message);
}

// --- the shell -----------------------------------------------------------------------------------------------------

async function start() {
  try {
    app.warehouses = (await api.get('/api/v1/warehouses')) || [];
  } catch {
    app.warehouses = [];
  }
  if (!Array.isArray(app.warehouses)) app.warehouses = app.warehouses.items || [];
  const bound = app.me.warehouse ? app.warehouses.find((w) => w.code === app.me.warehouse || String(w.id) === app.me.warehouse) : null;
  app.boundId = bound ? bound.id : null;
  app.selectedWh = app.boundId || (app.warehouses.find((w) => w.active !== false) || app.warehouses[0] || {}).id || null;

  const status = h('span.live-dot', { id: 'live-status', title: '实时连接' });
  const statusText = h('span.live-text', { id: 'live-text' }, '连接中');
  app.live = new Live(api.token, {
    status: (s) => {
      status.dataset.state = s;
      statusText.textContent = { live: '实时', connecting: '连接中', offline: '重连中', 'signed-out': '已退出' }[s] || s;
    },
    ready: (msg) => {
      if (msg.warehouse_id && !app.boundId) app.boundId = msg.warehouse_id;
    },
    unauthenticated: () => signedOut('登录已失效，请重新登录'),
  });

  const who = [app.me.display_name || app.me.username, label(ROLE, app.me.role)];
  if (bound) who.push(bound.name || bound.code);
  const tabs = PAGES.filter((p) => p.allowed(app));
  const nav = h(
    'nav.tabs',
    { id: 'tabs' },
    tabs.map((p) =>
      h(
        'button.tab',
        { type: 'button', dataset: { tab: p.id }, onclick: () => go(p.id) },
        h('span.tab-icon', {}, p.icon),
        h('span', {}, p.title),
        p.badge ? h('span.tab-badge', { id: `badge-${p.id}`, hidden: true }) : null,
      ),
    ),
  );
  const header = h(
    'header.top',
    {},
    h('div.brand', {}, h('strong', {}, 'OrderHub'), h('span.muted', { id: 'who' }, who.join(' · '))),
    h('div.top-right', {}, status, statusText, h('button.link', { type: 'button', id: 'logout', onclick: logout }, '退出')),
  );
  const main = h('main.content', { id: 'content' });
  clear(root, header, main, nav);
  for (const p of tabs) if (p.pinned) p.pinned(app); // topics a tab follows on every page (the approvals badge)
  app.live.start();
  window.addEventListener('hashchange', () => go(location.hash.slice(2)));
  const wanted = location.hash.slice(2);
  go(tabs.some((p) => p.id === wanted.split('/')[0]) ? wanted : (tabs[0] || {}).id);
}

async function logout() {
  if (app.live) app.live.stop();
  await api.logout();
  signedOut('');
}

/** Shows `#/<page>` or `#/<page>/<arg>` (e.g. `approvals/42`: one request); the same page with another arg is routed. */
export function go(path) {
  const [id, ...rest] = (path || '').split('/');
  const tabs = PAGES.filter((p) => p.allowed(app));
  const page = tabs.find((p) => p.id === id) || tabs[0];
  if (!page) {
    clear(document.getElementById('content'), h('p.empty', {}, '当前账号没有可查看的看板'));
    return;
  }
  const arg = page.id === id && page.route ? rest.join('/') : '';
  const hash = '#/' + page.id + (arg ? '/' + arg : '');
  if (location.hash !== hash) history.replaceState(null, '', hash);
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === page.id);
  if (app.page === page && page.route) return page.route(arg);
  if (app.page && app.page.leave) app.page.leave();
  app.tab = page.id;
  const content = document.getElementById('content');
  clear(content);
  app.page = page;
  page.enter(content, app, arg);
}

// --- drill-down ----------------------------------------------------------------------------------------------------

/** Opens the list behind a figure: GET /api/v1/dash/drill?metric=…, paginated by cursor. */
export function drill(title, params) {
  const sheet = document.getElementById('sheet');
  const list = h('ul.drill-list', { id: 'drill-list' });
  const more = h('button.secondary', { type: 'button', hidden: true }, '加载更多');
  const note = h('p.muted.small', {});
  let cursor = null;
  const load = async () => {
    more.disabled = true;
    try {
      const page = await api.get('/api/v1/dash/drill', { limit: 50, ...params, cursor });
      for (const item of page.items || []) list.append(drillRow(item));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      if (!list.children.length) note.textContent = '没有数据';
      else note.textContent = page.total !== null && page.total !== undefined ? `共 ${num(page.total)} 条` : '';
    } catch (err) {
      note.textContent = err.status === 404 ? '明细接口暂不可用' : err.message;
    }
    more.disabled = false;
  };
  more.addEventListener('click', load);
  const close = () => {
    sheet.hidden = true;
    clear(sheet);
  };
  clear(
    sheet,
    h('div.sheet-backdrop', { onclick: close }),
    h(
      'section.sheet-panel',
      { role: 'dialog', 'aria-label': title },
      h('div.sheet-head', {}, h('strong', {}, title), h('button.link', { type: 'button', id: 'drill-close', onclick: close }, '关闭')),
      note,
      list,
      more,
    ),
  );
  sheet.hidden = false;
  load();
}

const TASK_STATUS = { open: '待领取', claimed: '进行中', done: '已完成', withdrawn: '已撤回', active: '打包中', packed: '已打包', cancelled: '已取消' };

function drillRow(item) {
  if (item.item === 'task') {
    return h(
      'li',
      {},
      h('div.row-main', {}, h('span', {}, `${label(ROLE, item.kind)}任务 #${item.task_id}`), h('span.tag', {}, TASK_STATUS[item.status] || item.status)),
      h(
        'div.row-sub.muted',
        {},
        [
          item.wave_id ? `波次 #${item.wave_id}` : '',
          item.order_id ? `订单 #${item.order_id}` : '',
          item.started_at ? '开始 ' + time(item.started_at, true) : '',
          item.finished_at ? '完成 ' + time(item.finished_at, true) : '',
        ]
          .filter(Boolean)
          .join(' · '),
      ),
    );
  }
  const reason = item.exception_reason || item.reason;
  return h(
    'li',
    {},
    h(
      'div.row-main',
      {},
      h('span', {}, item.external_id || `#${item.order_id}`),
      h('span.tag', { dataset: { status: item.status || '' } }, label(STATUS, item.status)),
    ),
    h(
      'div.row-sub.muted',
      {},
      [
        item.paid_amount !== undefined ? yuan(item.paid_amount) : '',
        reason ? label(REASON, reason) : '',
        item.created_at ? '下单 ' + time(item.created_at, true) : '',
        item.ship_by ? '最晚发货 ' + time(item.ship_by, true) : '',
      ]
        .filter(Boolean)
        .join(' · '),
    ),
  );
}

// --- toast ---------------------------------------------------------------------------------------------------------

let toastTimer = null;
export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 2500);
}

boot();
