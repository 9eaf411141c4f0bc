// Charts drawn with the vendored uPlot (vendor/uplot/, loaded before this module as the global `uPlot`): canvas,
// ~50 KB, no dependencies. Each chart fills its container's width and follows it when the screen turns or resizes.

const lib = () => window.uPlot; // read when drawing: the classic script runs before this module, but be safe

export const COLORS = ['#1677ff', '#52c41a', '#fa8c16', '#eb2f96', '#722ed1', '#13c2c2', '#faad14', '#8c8c8c'];
const AXIS = { stroke: '#8c8c8c', grid: { stroke: '#f0f0f0', width: 1 }, ticks: { show: false }, font: '11px sans-serif' };

const charts = new WeakMap(); // container → {plot, observer}

function mount(container, opts, data) {
  const old = charts.get(container);
  if (old) {
    old.observer.disconnect();
    old.plot.destroy();
  }
  container.replaceChildren();
  const width = Math.max(container.clientWidth, 200);
  const plot = new (lib())({ ...opts, width, height: opts.height || 180 }, data, container);
  const observer = new ResizeObserver(() => {
    const w = Math.max(container.clientWidth, 200);
    if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: plot.height });
  });
  observer.observe(container);
  charts.set(container, { plot, observer });
  return plot;
}

function compact(v) {
  if (v === null || v === undefined) return '';
  const a = Math.abs(v);
  if (a >= 1e8) return (v / 1e8).toFixed(1) + '亿';
  if (a >= 1e4) return (v / 1e4).toFixed(a >= 1e5 ? 0 : 1) + '万';
  return String(Math.round(v * 100) / 100);
}

/** Orders per hour today (bars) and GMV per hour (a line, yuan, right axis). `hourly`: the API's rows. */
export function hourlyChart(container, hourly, { onPick } = {}) {
  const hours = hourly.map((row) => Number(String(row.hour).slice(11, 13)));
  const orders = hourly.map((row) => row.orders);
  const gmv = hourly.map((row) => (row.gmv_fen || 0) / 100);
  const plot = mount(
    container,
    {
      height: 190,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: false, range: [-0.5, 23.5] }, orders: { range: (u, min, max) => [0, Math.max(5, max * 1.15)] }, gmv: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
      axes: [
        { ...AXIS, size: 28, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? v + '时' : '')), incrs: [3, 6] },
        { ...AXIS, scale: 'orders', size: 40, values: (u, splits) => splits.map(compact) },
        { ...AXIS, scale: 'gmv', side: 1, size: 44, grid: { show: false }, values: (u, splits) => splits.map((v) => '¥' + compact(v)) },
      ],
      series: [
        {},
        { label: '订单', scale: 'orders', fill: 'rgba(22,119,255,0.75)', width: 0, paths: lib().paths.bars({ size: [0.7, 18] }) },
        { label: 'GMV', scale: 'gmv', stroke: '#fa8c16', width: 2, points: { show: false } },
      ],
    },
    [hours, orders, gmv],
  );
  if (onPick) {
    plot.over.addEventListener('click', () => {
      const i = plot.cursor.idx;
      if (i !== null && i !== undefined) onPick(hourly[i]);
    });
  }
  return plot;
}

/** Each channel's share of today's orders: one bar per channel, in the channel's colour. */
export function channelChart(container, channels) {
  const xs = channels.map((_, i) => i);
  const shares = channels.map((c) => Math.round((c.share || 0) * 1000) / 10);
  const names = channels.map((c) => c.name || String(c.channel_id));
  return mount(
    container,
    {
      height: 170,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, Math.max(channels.length - 0.5, 0.5)] }, y: { range: [0, 100] } },
      axes: [
        {
          ...AXIS,
          size: 28,
          grid: { show: false },
          splits: () => xs,
          values: (u, splits) => splits.map((i) => (names[i] || '').slice(0, 5)),
        },
        { ...AXIS, size: 40, splits: () => [0, 25, 50, 75, 100], values: (u, splits) => splits.map((v) => v + '%') },
      ],
      series: [
        {},
        {
          label: '占比',
          width: 0,
          fill: COLORS[0],
          paths: lib().paths.bars({
            size: [0.6, 56],
            disp: { fill: { unit: 3, values: () => xs.map((i) => COLORS[i % COLORS.length]) } },
          }),
          points: { show: false },
        },
      ],
    },
    [xs, shares],
  );
}

/** Average order value of the last days (a line with points, yuan). */
export function aovChart(container, trend) {
  const xs = trend.map((_, i) => i);
  const days = trend.map((row) => String(row.day).slice(5));
  const aov = trend.map((row) => (row.aov_fen === null || row.aov_fen === undefined ? null : row.aov_fen / 100));
  return mount(
    container,
    {
      height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false, range: [-0.3, Math.max(trend.length - 0.7, 0.7)] },
        y: { range: (u, min, max) => [Math.max(0, (min || 0) * 0.9), Math.max(1, (max || 1) * 1.1)] },
      },
      axes: [
        { ...AXIS, size: 28, grid: { show: false }, splits: () => xs, values: (u, splits) => splits.map((i) => days[i] || '') },
        { ...AXIS, size: 44, values: (u, splits) => splits.map((v) => '¥' + compact(v)) },
      ],
      series: [{}, { label: '客单价', stroke: '#722ed1', width: 2, fill: 'rgba(114,46,209,0.08)', points: { size: 6, fill: '#722ed1' } }],
    },
    [xs, aov],
  );
}

/** Daily amounts of several series over the same days (the finance page's sales per channel): one line per
 * series, yuan on the left axis. `days`: 'YYYY-MM-DD' labels; `series`: [{label, values (yuan, one per day)}]. */
export function linesChart(container, days, series) {
  const xs = days.map((_, i) => i);
  const step = Math.max(1, Math.ceil(days.length / 6));
  const ticks = xs.filter((i) => i % step === 0);
  return mount(
    container,
    {
      height: 200,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: false, range: [0, Math.max(days.length - 1, 1)] },
        y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)] },
      },
      axes: [
        { ...AXIS, size: 28, grid: { show: false }, splits: () => ticks, values: (u, splits) => splits.map((i) => (days[i] || '').slice(5)) },
        { ...AXIS, size: 48, values: (u, splits) => splits.map((v) => '¥' + compact(v)) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, points: { show: days.length <= 14, size: 5 } })),
      ],
    },
    [xs, ...series.map((s) => s.values)],
  );
}
