// epochledger operator and auditor page. Plain JavaScript, no build step,
// no third-party code: it reads the JSON API of the same origin and writes
// every number exactly as the API gives it (decimal strings), into elements
// with stable ids and data-field attributes. Text is only ever set with
// textContent, never parsed as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const explorerTemplate = (document.querySelector('meta[name="explorer-tx-url"]') || {}).content || 'https://explorer.solana.com/tx/{sig}';
  let position = -1;

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // api fetches one document and notes the log position it reflects.
  async function api(path) {
    const res = await fetch(path, { headers: { Accept: 'application/json' } });
    const pos = Number(res.headers.get('X-Log-Position'));
    if (Number.isFinite(pos) && pos > position) {
      position = pos;
      $('log-position').textContent = String(pos);
    }
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      throw new APIError(res.status, (body && body.error) || `HTTP ${res.status}`);
    }
    return body;
  }

  // pages follows next_cursor and calls each(page) for every page.
  async function pages(path, each) {
    let cursor = '';
    for (let i = 0; i < 10000; i++) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await api(`${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      each(page);
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  // ---- formatting (exact: strings in, strings out) ----

  // renderText turns base units ("470000000000") into RENDER ("4700").
  function renderText(units) {
    if (!/^\d+$/.test(units || '')) return '';
    const s = units.padStart(9, '0');
    const whole = s.slice(0, -8).replace(/^0+(?=\d)/, '');
    const frac = s.slice(-8).replace(/0+$/, '');
    return frac ? `${whole}.${frac}` : whole;
  }
  const renderNumber = (units) => Number(units) / 1e8; // for charts only
  const percent = (share) => `${(Number(share) * 100).toFixed(2)}%`;
  const short = (s) => (s && s.length > 20 ? `${s.slice(0, 8)}…${s.slice(-8)}` : s || '');

  function explorerURL(sig) {
    return explorerTemplate.split('{sig}').join(encodeURIComponent(sig));
  }

  // ---- DOM helpers ----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  const td = (field, text, cls) => el('td', { 'data-field': field, class: cls }, text);

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
    if (rows.length === 0) {
      const cols = tbody.closest('table').querySelectorAll('thead th').length;
      tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: cols }, 'none')));
    }
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // columns draws a bar chart of values (numbers) in the box (x, y, w, h)
  // of chart, one bar per label; series holds [{values, cls, name}] drawn
  // side by side. fmt labels the scale and the tooltips.
  function columns(chart, box, labels, series, fmt, title, attr) {
    const { x, y, w, h } = box;
    const g = svg('g', { class: 'panel' });
    const maxV = Math.max(0, ...series.flatMap((s) => s.values));
    g.append(svg('text', { x, y: y - 6, class: 'panel-title' }, title));
    g.append(svg('line', { x1: x, y1: y + h, x2: x + w, y2: y + h, class: 'axis' }));
    g.append(svg('text', { x: x + w, y: y - 6, class: 'scale', 'text-anchor': 'end' }, `max ${fmt(maxV)}`));
    const n = Math.max(labels.length, 1);
    const slot = w / n;
    const bw = Math.min(48, Math.max(1, (slot * 0.8) / series.length));
    const pad = (slot - bw * series.length) / 2;
    labels.forEach((label, i) => {
      series.forEach((s, k) => {
        const v = s.values[i] || 0;
        const bh = maxV > 0 ? (v / maxV) * h : 0;
        const r = svg('rect', {
          x: (x + i * slot + pad + k * bw).toFixed(2),
          y: (y + h - bh).toFixed(2),
          width: bw.toFixed(2),
          height: bh.toFixed(2),
          class: s.cls,
          [attr]: label,
        });
        r.append(svg('title', {}, `${s.name} ${label}: ${fmt(v)}`));
        g.append(r);
      });
      if (n <= 40 || i % Math.ceil(n / 40) === 0) {
        g.append(svg('text', { x: (x + i * slot + slot / 2).toFixed(2), y: y + h + 14, class: 'tick', 'text-anchor': 'middle' }, String(label)));
      }
    });
    chart.append(g);
  }

  function legend(chart, x, y, items) {
    items.forEach((it, i) => {
      chart.append(svg('rect', { x: x + i * 140, y: y - 9, width: 10, height: 10, class: it.cls }));
      chart.append(svg('text', { x: x + i * 140 + 14, y, class: 'legend' }, it.name));
    });
  }

  // stacked draws one column per label with the series stacked on each
  // other (bottom first): the RENDER of each reward channel per epoch.
  function stacked(chart, box, labels, series, fmt, title, attr) {
    const { x, y, w, h } = box;
    const g = svg('g', { class: 'panel' });
    const totals = labels.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
    const maxV = Math.max(0, ...totals);
    g.append(svg('text', { x, y: y - 6, class: 'panel-title' }, title));
    g.append(svg('line', { x1: x, y1: y + h, x2: x + w, y2: y + h, class: 'axis' }));
    g.append(svg('text', { x: x + w, y: y - 6, class: 'scale', 'text-anchor': 'end' }, `max ${fmt(maxV)}`));
    const n = Math.max(labels.length, 1);
    const slot = w / n;
    const bw = Math.min(48, Math.max(1, slot * 0.8));
    labels.forEach((label, i) => {
      let top = y + h;
      series.forEach((s) => {
        const v = s.values[i] || 0;
        const bh = maxV > 0 ? (v / maxV) * h : 0;
        top -= bh;
        const r = svg('rect', {
          x: (x + i * slot + (slot - bw) / 2).toFixed(2), y: top.toFixed(2),
          width: bw.toFixed(2), height: bh.toFixed(2), class: s.cls, [attr]: label, 'data-channel': s.channel,
        });
        r.append(svg('title', {}, `${s.name} ${label}: ${fmt(v)}`));
        g.append(r);
      });
      if (n <= 40 || i % Math.ceil(n / 40) === 0) {
        g.append(svg('text', { x: (x + i * slot + slot / 2).toFixed(2), y: y + h + 14, class: 'tick', 'text-anchor': 'middle' }, String(label)));
      }
    });
    chart.append(g);
  }

  // channelsOf returns an epoch summary's or operator line's channel
  // amounts; an epoch of one job channel has none listed: all is job.
  const CHANNELS = [{ channel: 'job', name: 'job rewards', cls: 'bar-job' }, { channel: 'availability', name: 'availability', cls: 'bar-availability' }];

  // ---- errors ----

  function showError(msg) {
    const p = $('error');
    p.textContent = msg;
    p.hidden = false;
  }

  // ---- operator section ----

  async function findOperator(q) {
    // An operator id first; else a wallet.
    try {
      await api(`/v1/operators/${encodeURIComponent(q)}?limit=1`);
      return q;
    } catch (e) {
      if (!(e instanceof APIError) || (e.status !== 404 && e.status !== 400)) throw e;
    }
    if (/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(q)) {
      const list = await api(`/v1/operators?wallet=${encodeURIComponent(q)}`);
      if (list.operators.length === 1) return list.operators[0].operator_id;
      if (list.operators.length > 1) {
        const p = $('lookup-matches');
        p.replaceChildren('Operators paid to this wallet: ', ...list.operators.map((o, i) => [
          i ? ', ' : '',
          el('a', { href: `/?operator=${encodeURIComponent(o.operator_id)}` }, o.operator_id),
        ]).flat());
        p.hidden = false;
        return list.operators[0].operator_id;
      }
    }
    throw new APIError(404, `no operator or wallet ${JSON.stringify(q)} in the log`);
  }

  async function loadOperator(id) {
    const doc = { epochs: [], settlements: [] };
    await pages(`/v1/operators/${encodeURIComponent(id)}`, (p) => {
      Object.assign(doc, p, { epochs: doc.epochs.concat(p.epochs), settlements: doc.settlements.concat(p.settlements) });
    });
    const frames = await api(`/v1/operators/${encodeURIComponent(id)}/frames?limit=25`);

    $('op-id').textContent = doc.operator_id;
    $('op-wallet').textContent = doc.wallet || '— none set —';
    for (const f of ['allocated', 'paid', 'in_flight', 'planned', 'owed']) {
      const idf = f.replace('_', '-');
      $(`op-${idf}`).textContent = doc[f];
      $(`op-${idf}-render`).textContent = `(${renderText(doc[f])} RENDER)`;
    }
    $('op-carried').hidden = !doc.carried_forward;
    const csv = $('op-payouts-csv');
    csv.href = `/v1/operators/${encodeURIComponent(doc.operator_id)}/payouts.csv`;
    csv.download = `payouts-${doc.operator_id.replace(/[^A-Za-z0-9._-]/g, '_')}.csv`;

    fill($('op-epochs').tBodies[0], doc.epochs.map((e) => el('tr', { 'data-epoch': e.epoch },
      td('epoch', e.epoch), td('status', e.provisional ? 'open (provisional)' : e.status),
      td('frames', e.frames), td('tasks', e.tasks),
      td('work_obh', e.work_obh, 'num'), td('work_usd', e.work_usd, 'num'), td('share', e.share, 'num'),
      td('allocated', e.allocated, 'num'), td('allocated_render', renderText(e.allocated), 'num'))));

    fill($('op-payouts').tBodies[0], doc.settlements.map((s) => {
      const txs = el('td', { 'data-field': 'transactions' });
      s.transactions.forEach((t, i) => {
        if (i) txs.append(el('br'));
        txs.append(el('a', { href: explorerURL(t.signature), rel: 'noopener noreferrer', target: '_blank', 'data-signature': t.signature, class: 'hash' }, short(t.signature)));
        txs.append(` ${t.state}`);
      });
      const proof = el('a', { href: `/v1/operators/${encodeURIComponent(doc.operator_id)}/proof?epoch=${s.epoch}` }, `${s.index + 1} of ${s.count}`);
      return el('tr', { 'data-epoch': s.epoch },
        td('epoch', s.epoch), td('state', s.state.replace('_', ' ')),
        td('amount', s.amount, 'num'), td('amount_render', renderText(s.amount), 'num'),
        td('covers_epochs', (s.covers_epochs || []).join(', ')), el('td', { 'data-field': 'proof' }, proof), txs);
    }));

    fill($('op-nodes').tBodies[0], doc.nodes.map((n) => el('tr', { 'data-node': n.node_id },
      td('node_id', n.node_id), td('gpu', n.gpu), td('ob_score', n.ob_score, 'num'), td('registered_at_position', n.registered_at_position, 'num'))));

    fill($('op-frames').tBodies[0], frames.frames.map((f) => el('tr', { 'data-job': f.job_id, 'data-frame': f.frame },
      td('job_id', f.job_id), td('frame', f.frame, 'num'), td('state', f.state), td('node_id', f.node_id || ''),
      td('duration_ms', f.duration_ms || '', 'num'), td('output_hash', short(f.output_hash), 'hash'))));

    // Availability of each node per epoch (logs with reward channels).
    const avail = doc.epochs.flatMap((e) => (e.availability || []).map((a) => ({ epoch: e.epoch, ...a })));
    $('op-availability-section').hidden = avail.length === 0 && !doc.epochs.some((e) => e.channels);
    fill($('op-availability').tBodies[0], avail.map((a) => el('tr', { 'data-epoch': a.epoch, 'data-node': a.node_id },
      td('epoch', a.epoch), td('node_id', a.node_id), td('idle_percent', `${a.idle_percent}%`, 'num'),
      td('points', a.points, 'num'), td('rank', a.rank, 'num'), td('penalty', a.penalty, 'num'))));

    // Chart: share (top) and RENDER allocated (bottom) per epoch.
    const chart = $('chart-operator');
    chart.replaceChildren();
    const labels = doc.epochs.map((e) => e.epoch);
    columns(chart, { x: 50, y: 24, w: 650, h: 90 }, labels,
      [{ name: 'share in epoch', cls: 'bar-share', values: doc.epochs.map((e) => Number(e.share) * 100) }],
      (v) => `${v.toFixed(2)}%`, 'Work share (%)', 'data-epoch');
    if (doc.epochs.some((e) => e.channels)) {
      stacked(chart, { x: 50, y: 174, w: 650, h: 90 }, labels,
        CHANNELS.map((c) => ({ ...c, values: doc.epochs.map((e) => renderNumber((e.channels || {})[c.channel] || 0)) })),
        (v) => `${v.toLocaleString('en-US', { maximumFractionDigits: 2 })} RENDER`, 'RENDER allocated per channel', 'data-epoch');
      legend(chart, 450, 160, CHANNELS);
    } else {
      columns(chart, { x: 50, y: 174, w: 650, h: 90 }, labels,
        [{ name: 'RENDER in epoch', cls: 'bar-render', values: doc.epochs.map((e) => renderNumber(e.allocated)) }],
        (v) => `${v.toLocaleString('en-US', { maximumFractionDigits: 2 })} RENDER`, 'RENDER allocated', 'data-epoch');
    }

    $('operator').hidden = false;
    document.title = `epochledger — operator ${doc.operator_id}`;
  }

  // ---- epoch section ----

  async function loadEpochs(wanted) {
    let epochs = [];
    await pages('/v1/epochs', (p) => { epochs = epochs.concat(p.epochs); });
    if (epochs.length === 0) return;

    const closed = epochs.filter((e) => e.status !== 'open');
    let n = Number(wanted);
    if (!epochs.some((e) => e.epoch === n)) n = (closed.length ? closed[closed.length - 1] : epochs[epochs.length - 1]).epoch;

    const sel = $('epoch-select');
    sel.replaceChildren(...epochs.map((e) => el('option', { value: e.epoch }, `${e.epoch} (${e.status})`)));
    sel.value = String(n);

    const [summary, shares] = await Promise.all([api(`/v1/epochs/${n}`), api(`/v1/epochs/${n}/shares`)]);
    $('epoch-number').textContent = String(shares.epoch);
    $('epoch-status').textContent = summary.status;
    $('epoch-emission').textContent = shares.emission;
    $('epoch-total-work-obh').textContent = shares.total_work_obh;
    $('epoch-total-work-usd').textContent = shares.total_work_usd;
    $('epoch-burned').textContent = summary.burned;
    $('epoch-settlement').textContent = summary.settlement_state.replace('_', ' ');
    $('epoch-root').textContent = summary.settlement_root || '—';
    $('epoch-provisional').hidden = !summary.provisional;

    fill($('shares').tBodies[0], shares.operators.map((o) => el('tr', { 'data-operator': o.operator_id },
      el('td', { 'data-field': 'operator_id' }, el('a', { href: `/?operator=${encodeURIComponent(o.operator_id)}&epoch=${n}` }, o.operator_id)),
      td('work_obh', o.work_obh, 'num'), td('work_usd', o.work_usd, 'num'),
      td('job', (o.channels || {}).job || o.allocated, 'num'), td('availability', (o.channels || {}).availability || '0', 'num'),
      td('availability_points', o.availability_points || '0', 'num'),
      td('allocated', o.allocated, 'num'), td('allocated_render', renderText(o.allocated), 'num'))));

    // Work distribution: one horizontal bar per operator, by work value.
    const dist = $('chart-distribution');
    dist.replaceChildren();
    const total = Number(shares.total_work_usd);
    const rowH = 22;
    dist.setAttribute('viewBox', `0 0 720 ${Math.max(60, 30 + shares.operators.length * rowH)}`);
    dist.append(svg('text', { x: 0, y: 14, class: 'panel-title' }, `Share of $${shares.total_work_usd} of work value`));
    shares.operators.forEach((o, i) => {
      const frac = total > 0 ? Number(o.work_usd) / total : 0;
      const y = 24 + i * rowH;
      dist.append(svg('text', { x: 0, y: y + 14, class: 'tick' }, short(o.operator_id)));
      const r = svg('rect', { x: 160, y, width: (frac * 480).toFixed(2), height: rowH - 6, class: 'bar-share', 'data-operator': o.operator_id });
      r.append(svg('title', {}, `${o.operator_id}: $${o.work_usd}, ${renderText(o.allocated)} RENDER`));
      dist.append(r);
      dist.append(svg('text', { x: 160 + frac * 480 + 6, y: y + 14, class: 'tick' }, `${(frac * 100).toFixed(2)}%`));
    });

    // RENDER allocated per channel over the epochs, stacked (an epoch of
    // one job channel is all job).
    const ch = $('chart-channels');
    ch.replaceChildren();
    legend(ch, 50, 14, CHANNELS);
    stacked(ch, { x: 50, y: 44, w: 650, h: 140 }, epochs.map((e) => e.epoch),
      CHANNELS.map((c) => ({ ...c, values: epochs.map((e) => renderNumber(e.channels ? ((e.channels[c.channel] || {}).allocated || 0) : (c.channel === 'job' ? e.allocated : 0))) })),
      (v) => `${v.toLocaleString('en-US', { maximumFractionDigits: 2 })} RENDER`, 'RENDER allocated per channel', 'data-epoch');
    const chans = shares.channels || { job: { emission: shares.emission, allocated: shares.operators.reduce((a, o) => a + Number(o.allocated), 0).toString(), unallocated: '' } };
    fill($('epoch-channels').tBodies[0], Object.entries(chans).map(([name, c]) => el('tr', { 'data-channel': name },
      td('channel', name), td('emission', c.emission, 'num'), td('emission_render', renderText(c.emission), 'num'),
      td('allocated', c.allocated, 'num'), td('unallocated', c.unallocated, 'num'))));

    // Burns vs emission per epoch (closed epochs mint; the open one is provisional).
    const sup = $('chart-supply');
    sup.replaceChildren();
    legend(sup, 50, 14, [{ name: 'minted', cls: 'bar-mint' }, { name: 'burned', cls: 'bar-burn' }]);
    columns(sup, { x: 50, y: 44, w: 650, h: 140 }, epochs.map((e) => e.epoch), [
      { name: 'minted', cls: 'bar-mint', values: epochs.map((e) => renderNumber(e.minted)) },
      { name: 'burned', cls: 'bar-burn', values: epochs.map((e) => renderNumber(e.burned)) },
    ], (v) => `${v.toLocaleString('en-US', { maximumFractionDigits: 2 })} RENDER`, 'RENDER per epoch', 'data-epoch');
  }

  // ---- start ----

  async function main() {
    const params = new URLSearchParams(window.location.search);
    const q = params.get('operator') || params.get('wallet') || params.get('q') || '';
    $('lookup-input').value = q;
    $('lookup-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('lookup-input').value.trim();
      if (v) window.location.search = `?q=${encodeURIComponent(v)}`;
    });
    $('epoch-select').addEventListener('change', () => {
      const p = new URLSearchParams(window.location.search);
      p.set('epoch', $('epoch-select').value);
      window.location.search = `?${p}`;
    });

    const tasks = [loadEpochs(params.get('epoch')).catch((e) => { showError(`Epochs: ${e.message}`); throw e; })];
    if (q) {
      tasks.push(findOperator(q).then(loadOperator).catch((e) => { showError(e.message); throw e; }));
    }
    const results = await Promise.allSettled(tasks);
    document.body.dataset.state = results.every((r) => r.status === 'fulfilled') ? 'ready' : 'error';
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', main);
  } else {
    main();
  }
})();
