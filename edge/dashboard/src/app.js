// The live dashboard: charts fed by one EventSource (prices, mesh.stats,
// orders), a connection indicator, and an order form that goes through
// /v1/rpc and watches its result arrive on the orders stream.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { HeraldClient, HeraldError } from './herald.js';

const WINDOW_SECONDS = 120;
const COLORS = ['#4cc38a', '#5b9cf5', '#f0b94a', '#ef6461', '#b68cf0', '#4fd1d9', '#f58fc4'];
const $ = (id) => document.getElementById(id);

// What the page has seen; tests read it too.
const state = { ticks: 0, stats: 0, orders: 0, placed: [], arrived: [], status: null };
window.heraldDashboard = state;

function chart(element, series, { yLabel } = {}) {
  const width = () => Math.max(300, element.clientWidth || 400);
  const plot = new uPlot({
    width: width(), height: 220,
    scales: { x: { time: true } },
    axes: [{ stroke: '#8a93a8', grid: { stroke: '#232c40' } },
      { stroke: '#8a93a8', grid: { stroke: '#232c40' }, label: yLabel, size: 56 }],
    series: [{}, ...series.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true }))],
    legend: { live: false },
  }, [[], ...series.map(() => [])], element);
  new ResizeObserver(() => plot.setSize({ width: width(), height: 220 })).observe(element);
  return plot;
}

// A time-windowed set of series behind one chart.
class Series {
  constructor(plot, count) {
    this.plot = plot;
    this.data = [[], ...Array.from({ length: count }, () => [])];
    this.pending = false;
  }
  add(seconds, values) {
    this.data[0].push(seconds);
    values.forEach((v, i) => this.data[i + 1].push(v));
    const horizon = seconds - WINDOW_SECONDS;
    while (this.data[0].length && this.data[0][0] < horizon) this.data.forEach((s) => s.shift());
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.plot.setData(this.data); });
    }
  }
}

// Prices: one series per symbol, added as symbols appear.
const symbols = [];
let prices = null;
const first = {};
const last = {};
function onTick(tick) {
  if (typeof tick !== 'object' || !tick.symbol) return;
  state.ticks += 1;
  if (!symbols.includes(tick.symbol)) {
    symbols.push(tick.symbol);
    const option = document.createElement('option');
    option.value = option.textContent = tick.symbol;
    $('order-symbol').append(option);
    $('chart-prices').replaceChildren();
    prices = new Series(chart($('chart-prices'), symbols, { yLabel: '% since open' }), symbols.length);
  }
  // Each symbol as a change since the page first saw it, so they share a scale.
  first[tick.symbol] ??= tick.price;
  last[tick.symbol] = ((tick.price / first[tick.symbol]) - 1) * 100;
  prices.add(tick.ts / 1000, symbols.map((s) => last[s] ?? null));
}

const rate = new Series(chart($('chart-rate'), ['published', 'delivered']), 2);
const latency = new Series(chart($('chart-latency'), ['p50', 'p99'], { yLabel: 'ms' }), 2);
function onStats(s) {
  state.stats += 1;
  const t = s.ts / 1000;
  rate.add(t, [s.publishedPerSec, s.deliveredPerSec]);
  latency.add(t, [s.latencyP50Ms, s.latencyP99Ms]);
  $('tile-published').textContent = s.publishedPerSec.toFixed(1);
  $('tile-delivered').textContent = s.deliveredPerSec.toFixed(1);
  $('tile-connections').textContent = s.connections;
  $('tile-latency').textContent = s.latencyP99Ms == null ? '–' : `${s.latencyP99Ms.toFixed(1)} ms`;
  $('tile-lag').textContent = s.kafkaLag;
}

const sent = new Map();  // orderId -> when the POST was answered
const seen = new Map();  // orderId -> when it arrived on the stream (it may beat the answer)

function showArrival(orderId) {
  state.arrived.push(orderId);
  const result = $('order-result');
  const gap = seen.get(orderId) - sent.get(orderId);
  result.className = 'result ok';
  result.textContent = `Order ${orderId} arrived on the orders stream ` +
    (gap >= 0 ? `${gap.toFixed(0)} ms after the answer.` : `${(-gap).toFixed(0)} ms before the answer.`);
  result.dataset.arrived = orderId;
}

function onOrder(order) {
  state.orders += 1;
  seen.set(order.orderId, performance.now());
  if (seen.size > 1000) seen.delete(seen.keys().next().value);
  const row = document.createElement('tr');
  const mine = sent.has(order.orderId);
  if (mine) row.className = 'mine';
  for (const v of [order.orderId, order.symbol, order.side === 'SIDE_SELL' ? 'sell' : 'buy',
    order.quantity, Number(order.limitPrice).toFixed(2), order.placedBy || '–',
    new Date().toLocaleTimeString()]) {
    const cell = document.createElement('td');
    cell.textContent = v;
    row.append(cell);
  }
  row.dataset.order = order.orderId;
  $('orders').prepend(row);
  while ($('orders').children.length > 12) $('orders').lastChild.remove();
  if (mine && sent.has(order.orderId)) showArrival(order.orderId);
}

function onStatus(s) {
  state.status = s;
  $('connection').className = `connection ${s.state}`;
  $('connection-state').textContent = s.state;
  $('reconnects').textContent = s.reconnects;
  $('resumes').textContent = s.resumes;
  $('cursor').textContent = s.lastEventId || '–';
}

const herald = new HeraldClient();
const subscription = herald.subscribe(['prices', 'mesh.stats', 'orders'], {
  rewind: 60,
  on: { 'price.tick': onTick, 'mesh.stats': onStats, 'order.placed': onOrder },
  onReset: (reset) => console.info('history gone for', reset.streams, reset.reason),
  onStatus,
});
setInterval(() => { $('cursor').textContent = subscription.status.lastEventId || '–'; }, 1000);

$('order-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const result = $('order-result');
  $('order-submit').disabled = true;
  result.className = 'result';
  result.textContent = 'Placing…';
  try {
    const answer = await herald.call('herald.demo.v1.Orders/PlaceOrder', {
      symbol: form.get('symbol'),
      side: form.get('side'),
      quantity: Number(form.get('quantity')),
      limitPrice: Number(form.get('limitPrice')),
      clientOrderId: `web-${crypto.randomUUID()}`,
    }, { timeoutMs: 5000 });
    const id = answer.order.orderId;
    state.placed.push(id);
    sent.set(id, performance.now());
    if (seen.has(id)) {
      // The event beat the answer to the page.
      document.querySelector(`#orders tr[data-order="${CSS.escape(id)}"]`)?.classList.add('mine');
      showArrival(id);
    } else {
      result.textContent = `Order ${id} accepted (event ${answer.eventId}); waiting for it on the stream…`;
    }
  } catch (error) {
    result.className = 'result error';
    result.textContent = error instanceof HeraldError
      ? `${error.status} ${error.code}: ${error.message}` : `Failed: ${error.message}`;
  } finally {
    $('order-submit').disabled = false;
  }
});
