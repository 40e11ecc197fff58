// Qingliu duty console. Calls the alert API of the same origin with the
// agency's bearer token, which lives in sessionStorage only. Every piece of
// data from the API reaches the page through textContent or attributes,
// never as markup.
'use strict';

(function () {
  // Changes arrive on the event stream (GET /api/v1/events); the page polls
  // every 5 s only while the stream is down. ?poll=N sets the poll interval
  // in seconds (a test uses it to show that the stream does the work).
  const POLL_MS = (() => {
    const n = Number(new URLSearchParams(location.search).get('poll'));
    return Number.isInteger(n) && n >= 1 && n <= 3600 ? n * 1000 : 5000;
  })();
  const STREAM_BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];
  const STREAM_SILENT_MS = 45000; // three missed heartbeats: reconnect
  const TOKEN_KEY = 'qingliu.token';
  const BY_KEY = 'qingliu.by';

  const LEVELS = {
    none: ['无', 'none'],
    blue: ['蓝色预警', 'blue'],
    yellow: ['黄色预警', 'yellow'],
    orange: ['橙色预警', 'orange'],
    red: ['红色预警', 'red'],
  };
  const STATUSES = {
    pending: ['待定', 'pending'],
    firing: ['生效', 'firing'],
    resolved: ['已解除', 'resolved'],
    inactive: ['无', 'inactive'],
  };
  const SILENCE_STATES = {
    pending: ['待生效', 'pending'],
    active: ['生效中', 'active'],
    expired: ['已过期', 'expired'],
  };
  const EVENTS = {
    firing: '发布 firing', escalated: '升级 escalated', deescalated: '降级 de-escalated',
    updated: '更新 updated', resolved: '解除 resolved', pending: '待定 pending',
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    me: null, // {agency, name, name_en}
    timer: null,
    live: false, // the event stream is open
    stream: null, // AbortController of the open or opening stream
    reconnect: null, // timer of the next stream attempt
    failures: 0, // stream attempts failed in a row
    alerts: new Map(), // ref → alert
    ackTarget: null, // {ref, action}
    detailRef: null,
  };

  // ── DOM helpers: text only ────────────────────────────────────────────
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, String(v));
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  // bi is a Chinese label with its English secondary label.
  function bi(zh, en) {
    const s = el('span', {}, zh);
    if (en) s.append(' ', el('small', { text: en }));
    return s;
  }

  const timeFmt = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  // fmtTime shows a time in Asia/Shanghai; Go's zero time shows as a dash.
  function fmtTime(iso) {
    if (!iso || iso.startsWith('0001-')) return '—';
    const d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return timeFmt.format(d);
  }
  function timeEl(iso) {
    return el('time', { datetime: iso || '', title: iso ? iso + ' (北京时间 Asia/Shanghai)' : '' }, fmtTime(iso));
  }

  // ── banner ────────────────────────────────────────────────────────────
  function showBanner(text) {
    const b = $('banner');
    b.textContent = text;
    b.hidden = false;
  }
  function clearBanner() {
    const b = $('banner');
    b.textContent = '';
    b.hidden = true;
  }

  // ── API ───────────────────────────────────────────────────────────────
  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
    // describe is the banner text: what happened, then the API's own words.
    describe() {
      switch (this.status) {
        case 0: return '无法连接告警服务 API unreachable: ' + this.message;
        case 401: return '令牌被拒绝 Token refused (401): ' + this.message;
        case 403: return '无权操作 Forbidden (403): ' + this.message;
        case 429: return '请求过于频繁 Too many requests (429): ' + this.message;
        default: return '请求失败 Request failed (' + this.status + '): ' + this.message;
      }
    }
  }

  async function api(method, path, body, token) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + (token || state.token || '') };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, e && e.message ? e.message : String(e));
    }
    const text = await resp.text();
    let data = null;
    try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
    if (!resp.ok) {
      const msg = data && typeof data.error === 'string' ? data.error : (text.trim() || resp.statusText);
      throw new APIError(resp.status, msg);
    }
    return data;
  }

  // handleError shows err; a refused token signs out.
  function handleError(err) {
    if (!(err instanceof APIError)) {
      showBanner('页面错误 Console error: ' + (err && err.message ? err.message : String(err)));
      return;
    }
    showBanner(err.describe());
    if (err.status === 401) signOut(true);
  }

  // ── sign in / out ─────────────────────────────────────────────────────
  async function signIn(token) {
    const me = await api('GET', '/api/v1/whoami', undefined, token);
    state.token = token;
    state.me = me;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('who-name').textContent = me.name || me.agency;
    $('who-id').textContent = me.agency + (me.name_en ? ' · ' + me.name_en : '');
    $('who').hidden = false;
    $('signin').hidden = true;
    $('app').hidden = false;
    const by = sessionStorage.getItem(BY_KEY) || '';
    $('ack-by').value = by;
    $('sl-by').value = by;
    clearBanner();
    await refresh();
    openStream();
  }

  // signOut forgets the token; keepBanner leaves the reason on screen.
  function signOut(keepBanner) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.me = null;
    state.alerts.clear();
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    closeStream();
    for (const d of [$('ack-dialog'), $('detail-dialog')]) if (d.open) d.close();
    $('alert-rows').replaceChildren();
    $('silence-rows').replaceChildren();
    $('updated').textContent = '—';
    $('who').hidden = true;
    $('app').hidden = true;
    $('signin').hidden = false;
    $('token').value = '';
    if (!keepBanner) clearBanner();
    $('token').focus();
  }

  // ── polling ───────────────────────────────────────────────────────────
  let refreshing = false;
  let again = false; // a change arrived while a refresh was running
  async function refresh() {
    if (!state.token) return;
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    again = false;
    $('updated').dataset.busy = 'true';
    if (state.timer) clearTimeout(state.timer);
    try {
      const [alerts, silences] = await Promise.all([
        api('GET', '/api/v1/alerts?' + alertQuery()),
        api('GET', '/api/v1/silences'),
      ]);
      if (!state.token) return;
      renderAlerts(alerts.alerts || []);
      renderSilences(silences.silences || []);
      const now = new Date();
      $('updated').textContent = fmtTime(now.toISOString());
      $('updated').setAttribute('datetime', now.toISOString());
      clearBanner();
    } catch (err) {
      handleError(err);
    } finally {
      refreshing = false;
      $('updated').dataset.busy = 'false';
      if (state.timer) clearTimeout(state.timer);
      state.timer = null;
      if (state.token && again) state.timer = setTimeout(refresh, 0);
      else if (state.token && !state.live) state.timer = setTimeout(refresh, POLL_MS);
    }
  }

  // ── event stream ──────────────────────────────────────────────────────
  // EventSource cannot send the Authorization header, so the stream is a
  // fetch whose body is read and split into server-sent events here.
  function setLive(live) {
    state.live = live;
    const ind = $('live');
    ind.dataset.mode = live ? 'live' : 'polling';
    ind.replaceChildren(live ? bi('实时', 'live') : bi('轮询', 'polling'));
    ind.title = live ? '变化即时推送 changes arrive as they happen' : '每 ' + POLL_MS / 1000 + ' 秒刷新 refreshed every ' + POLL_MS / 1000 + ' s';
  }

  function closeStream() {
    if (state.stream) state.stream.abort();
    state.stream = null;
    if (state.reconnect) clearTimeout(state.reconnect);
    state.reconnect = null;
    state.failures = 0;
    setLive(false);
  }

  // streamDown falls back to polling and tries again after a backoff.
  function streamDown() {
    if (!state.token) return;
    setLive(false);
    if (!state.timer && !refreshing) refresh();
    const base = STREAM_BACKOFF_MS[Math.min(state.failures, STREAM_BACKOFF_MS.length - 1)];
    state.failures++;
    if (state.reconnect) clearTimeout(state.reconnect);
    state.reconnect = setTimeout(openStream, base / 2 + Math.random() * base / 2);
  }

  async function openStream() {
    if (!state.token) return;
    if (state.stream) state.stream.abort();
    const ctl = new AbortController();
    state.stream = ctl;
    state.reconnect = null;
    let watchdog = null;
    const alive = () => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = setTimeout(() => ctl.abort(), STREAM_SILENT_MS);
    };
    try {
      const resp = await fetch('/api/v1/events', {
        headers: { Accept: 'text/event-stream', Authorization: 'Bearer ' + state.token },
        cache: 'no-store', credentials: 'omit', signal: ctl.signal,
      });
      if (resp.status === 401) {
        handleError(new APIError(401, 'missing or unknown bearer token'));
        return;
      }
      if (!resp.ok || !resp.body) throw new Error('event stream: ' + resp.status);
      alive();
      state.failures = 0;
      setLive(true);
      // Changes made while the stream was down.
      refresh();
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        alive();
        buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          onFrame(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch (_) {
      // Aborted, refused or cut: handled below.
    } finally {
      if (watchdog) clearTimeout(watchdog);
    }
    // Still ours (not replaced, not closed by sign-out): the stream ended,
    // failed or went silent.
    if (state.stream === ctl) {
      state.stream = null;
      streamDown();
    }
  }

  // onFrame handles one server-sent event: a change refreshes the list (and
  // the open detail); resync (the stream fell behind or the service stops)
  // refreshes everything before the stream ends.
  function onFrame(text) {
    let event = 'message';
    let data = '';
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const k = c < 0 ? line : line.slice(0, c);
      const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (k === 'event') event = v;
      else if (k === 'data') data += (data ? '\n' : '') + v;
    }
    if (!data) return;
    if (event === 'resync') {
      refresh();
      return;
    }
    let ev;
    try { ev = JSON.parse(data); } catch (_) { return; }
    refresh();
    if (ev.ref && state.detailRef === ev.ref) openDetail(ev.ref);
  }

  function alertQuery() {
    const q = new URLSearchParams();
    q.set('status', $('f-status').value);
    if ($('f-level').value) q.set('level', $('f-level').value);
    if ($('f-joint').checked) q.set('joint', 'true');
    if ($('f-mine').checked && state.me) q.set('agency', state.me.agency);
    return q.toString();
  }

  // ── alerts ────────────────────────────────────────────────────────────
  function levelBadge(a) {
    if (a.technical) return el('span', { class: 'badge technical' }, '技术告警', el('small', { text: 'technical' }));
    const lv = LEVELS[a.level] || [a.level_zh || a.level, a.level];
    return el('span', { class: 'badge lvl-' + (LEVELS[a.level] ? a.level : 'none'), 'data-level': a.level },
      a.level_zh || lv[0], el('small', { text: lv[1] }));
  }

  function statusCell(status) {
    const s = STATUSES[status] || [status, ''];
    return bi(s[0], s[1]);
  }

  function mine(a) {
    return state.me && (a.agencies || []).find((x) => x.agency === state.me.agency);
  }

  function ackList(a) {
    const ul = el('ul', { class: 'acks' });
    for (const g of a.agencies || []) {
      const li = el('li', {
        class: (g.acked ? 'acked' : 'unacked') + (state.me && g.agency === state.me.agency ? ' mine' : ''),
        'data-agency': g.agency,
      });
      li.append(el('span', { class: 'mark', text: g.acked ? '✓' : '○' }), g.name || g.agency, ' ');
      if (g.acked) {
        li.append(bi('已确认', 'acknowledged'));
        const who = [g.by, fmtTime(g.at)].filter(Boolean).join(' · ');
        li.append(el('span', { class: 'sub', text: who }));
        if (g.comment) li.append(el('span', { class: 'sub', text: '“' + g.comment + '”' }));
      } else {
        li.append(bi('未确认', 'not acknowledged'));
      }
      ul.append(li);
    }
    return ul;
  }

  function alertRow(a) {
    const tr = el('tr', { 'data-ref': a.ref, class: 'status-' + a.status });
    tr.append(el('td', { class: 'level' }, levelBadge(a)));
    tr.append(el('td', { class: 'status' }, statusCell(a.status)));
    const st = el('td', { class: 'station' }, el('strong', { text: a.station_name || a.station }));
    st.append(el('span', { class: 'sub', text: a.station }));
    const where = [a.city, a.district, a.river].filter(Boolean).join(' · ');
    if (where) st.append(el('span', { class: 'sub', text: where }));
    tr.append(st);

    const sum = el('td', { class: 'summary' });
    if (a.joint) sum.append(el('span', { class: 'tag joint' }, '联合预警 ', el('small', { text: 'joint warning' })));
    if (a.kind === 'propagation') {
      sum.append(el('span', { class: 'tag prewarn' }, '上游预警 ', el('small', { text: 'pre-warning' })));
    }
    if (a.eta) {
      sum.append(el('span', { class: 'tag prewarn' }, '预计到达 ', el('small', { text: 'ETA' }), ' ', timeEl(a.eta)));
    }
    if (a.confidence) sum.append(el('span', { class: 'tag', text: '置信度 confidence: ' + a.confidence }));
    sum.append(el('span', { class: 'summary-zh', text: a.summary_zh }));
    if (a.summary_en) sum.append(el('span', { class: 'summary-en', text: a.summary_en }));
    for (const h of a.held || []) sum.append(el('span', { class: 'sub', text: '暂缓 held: ' + h }));
    tr.append(sum);

    tr.append(el('td', { class: 'times' }, timeEl(a.starts_at), el('span', { class: 'sub' }, timeEl(a.updated_at))));
    tr.append(el('td', { class: 'agencies' }, ackList(a)));

    const act = el('td', { class: 'actions' });
    const m = mine(a);
    if (m && a.status !== 'resolved') {
      if (m.acked) {
        act.append(el('button', { type: 'button', class: 'unack', onclick: () => openAck(a, 'unack') }, '取消确认 ', el('small', { text: 'Unack' })));
      } else {
        act.append(el('button', { type: 'button', class: 'ack primary', onclick: () => openAck(a, 'ack') }, '确认 ', el('small', { text: 'Acknowledge' })));
      }
    }
    act.append(el('button', { type: 'button', class: 'detail', onclick: () => openDetail(a.ref) }, '详情 ', el('small', { text: 'Detail' })));
    tr.append(act);
    return tr;
  }

  function renderAlerts(list) {
    state.alerts = new Map(list.map((a) => [a.ref, a]));
    $('alert-rows').replaceChildren(...list.map(alertRow));
    $('no-alerts').hidden = list.length > 0;
  }

  // ── acknowledge ───────────────────────────────────────────────────────
  function openAck(a, action) {
    state.ackTarget = { ref: a.ref, action };
    $('ack-title').replaceChildren(action === 'ack'
      ? bi('确认预警', 'Acknowledge for ' + (state.me.name_en || state.me.agency))
      : bi('取消确认', 'Withdraw the acknowledgement'));
    $('ack-summary').textContent = (a.level_zh ? a.level_zh + ' · ' : '') + (a.station_name || a.station) + ' — ' + a.summary_zh;
    $('ack-submit').replaceChildren(action === 'ack' ? bi('确认', 'Acknowledge') : bi('取消确认', 'Unack'));
    $('ack-comment').value = '';
    $('ack-error').hidden = true;
    $('ack-dialog').showModal();
    $('ack-comment').focus();
  }

  async function submitAck(ev) {
    ev.preventDefault();
    const t = state.ackTarget;
    if (!t) return;
    const by = $('ack-by').value.trim();
    sessionStorage.setItem(BY_KEY, by);
    $('sl-by').value = by;
    $('ack-submit').disabled = true;
    try {
      const a = await api('POST', '/api/v1/alerts/' + encodeURIComponent(t.ref) + '/' + t.action,
        { by, comment: $('ack-comment').value.trim() });
      $('ack-dialog').close();
      replaceRow(a);
      if (state.detailRef === a.ref) openDetail(a.ref);
      refresh();
    } catch (err) {
      $('ack-error').textContent = err instanceof APIError ? err.describe() : String(err);
      $('ack-error').hidden = false;
      if (err instanceof APIError && err.status === 401) handleError(err);
    } finally {
      $('ack-submit').disabled = false;
    }
  }

  // replaceRow shows the alert the API answered a write with at once.
  function replaceRow(a) {
    const old = $('alert-rows').querySelector('tr[data-ref="' + CSS.escape(a.ref) + '"]');
    state.alerts.set(a.ref, a);
    if (old) old.replaceWith(alertRow(a));
  }

  // ── detail ────────────────────────────────────────────────────────────
  function facts(pairs) {
    const dl = el('dl', { class: 'facts' });
    for (const [zh, en, v] of pairs) {
      if (v === undefined || v === null || v === '') continue;
      dl.append(el('dt', {}, bi(zh, en)), el('dd', {}, v instanceof Node ? v : String(v)));
    }
    return dl;
  }

  function table(headers, rows) {
    const t = el('table');
    const hr = el('tr');
    for (const [zh, en] of headers) hr.append(el('th', {}, zh, el('br'), el('small', { text: en })));
    t.append(el('thead', {}, hr));
    const tb = el('tbody');
    for (const r of rows) {
      const tr = el('tr');
      for (const c of r) tr.append(el('td', {}, c instanceof Node ? c : String(c ?? '')));
      tb.append(tr);
    }
    t.append(tb);
    return t;
  }

  async function openDetail(ref) {
    state.detailRef = ref;
    const dlg = $('detail-dialog');
    $('comment-error').hidden = true;
    let d;
    try {
      d = await api('GET', '/api/v1/alerts/' + encodeURIComponent(ref));
    } catch (err) {
      handleError(err);
      return;
    }
    if (state.detailRef !== ref) return;
    const a = d.alert;
    const rec = d.record || {};
    $('detail-title').replaceChildren(levelBadge(a), ' ', a.station_name || a.station, ' — ', statusCell(a.status));
    const body = $('detail-body');
    const links = el('span', {},
      el('a', { href: '/cap/' + encodeURIComponent(a.ref) + '.xml', target: '_blank', rel: 'noopener', class: 'cap-link' }, 'CAP 1.2'),
      ' · ',
      el('a', { href: '/feeds/active.atom', target: '_blank', rel: 'noopener' }, 'Atom 订阅 feed'));
    body.replaceChildren(
      facts([
        ['摘要', 'Summary', a.summary_zh],
        ['', '', a.summary_en],
        ['编号', 'Alert id', a.id],
        ['引用', 'Ref', a.ref],
        ['规则', 'Rule', a.rule + (a.kind ? ' (' + a.kind + ')' : '')],
        ['参数', 'Parameter', a.parameter],
        ['数值', 'Value', a.value + (a.threshold ? ' / 阈值 threshold ' + a.threshold : '') + (a.window ? ' · ' + a.window : '')],
        ['站点', 'Station', a.station + ' · ' + [a.city, a.district, a.river].filter(Boolean).join(' · ')],
        ['管辖', 'Jurisdictions', (a.jurisdictions || []).join('、')],
        ['联合预警', 'Joint', a.joint ? '是 yes' : '否 no'],
        ['预计到达', 'ETA', a.eta ? timeEl(a.eta) : null],
        ['上游', 'Source', a.source_station ? a.source_station + ' (' + (a.source_alert || '') + ')' : null],
        ['置信度', 'Confidence', a.confidence],
        ['开始', 'Started', timeEl(a.starts_at)],
        ['更新', 'Updated', timeEl(a.updated_at)],
        ['解除', 'Resolved', a.resolved_at ? timeEl(a.resolved_at) : null],
        ['原因', 'Reason', a.reason],
        ['链接', 'Links', links],
      ]),
      el('h4', {}, bi('机构确认', 'Acknowledgements')),
      ackList(a),
      el('h4', {}, bi('备注', 'Comments')),
      (rec.comments || []).length
        ? table([['时间', 'At'], ['机构', 'Agency'], ['作者', 'Author'], ['内容', 'Text']],
          rec.comments.map((c) => [timeEl(c.at), c.agency, c.author || '', c.text]))
        : el('p', { class: 'empty' }, '暂无 ', el('small', { text: 'none' })),
      el('h4', {}, bi('变化历史', 'History')),
      table([['序号', 'Seq'], ['事件', 'Event'], ['状态', 'Status'], ['级别', 'Level'], ['数值', 'Value'], ['观测时间', 'Observed'], ['说明', 'Reason']],
        (rec.history || []).slice().reverse().map((h) => [h.seq, EVENTS[h.event] || h.event, statusCell(h.status),
          (LEVELS[h.level] || [h.level])[0], h.value, timeEl(h.at), h.reason || ''])),
      el('h4', {}, bi('审计记录', 'Audit trail')),
      table([['时间', 'At'], ['操作者', 'Actor'], ['作者', 'Author'], ['操作', 'Action'], ['详情', 'Detail']],
        (rec.audit || []).slice().reverse().map((x) => [timeEl(x.at), x.actor, x.author || '', x.action, x.detail || ''])),
      el('h4', {}, bi('通知投递', 'Deliveries')),
      table([['时间', 'At'], ['接收方', 'Receiver'], ['事件', 'Event'], ['结果', 'Status'], ['尝试', 'Attempts'], ['错误', 'Error']],
        (d.deliveries || []).map((x) => [timeEl(x.at), x.receiver, x.event, x.status, x.attempts, x.error || ''])),
    );
    $('comment-form').hidden = !mine(a);
    if (!dlg.open) dlg.showModal();
  }

  async function submitComment(ev) {
    ev.preventDefault();
    const ref = state.detailRef;
    const text = $('comment-text').value.trim();
    if (!ref || !text) return;
    try {
      const a = await api('POST', '/api/v1/alerts/' + encodeURIComponent(ref) + '/comments',
        { by: sessionStorage.getItem(BY_KEY) || '', text });
      $('comment-text').value = '';
      $('comment-error').hidden = true;
      replaceRow(a);
      openDetail(ref);
    } catch (err) {
      $('comment-error').textContent = err instanceof APIError ? err.describe() : String(err);
      $('comment-error').hidden = false;
    }
  }

  // ── silences ──────────────────────────────────────────────────────────
  // matcherText accepts a matcher as the API writes it (station="x") or as
  // its parts.
  function matcherText(m) {
    if (typeof m === 'string') return m;
    return m.name + m.op + JSON.stringify(m.value);
  }

  function silenceRow(s) {
    const tr = el('tr', { 'data-silence': s.id, class: 'state-' + s.state });
    const st = SILENCE_STATES[s.state] || [s.state, ''];
    tr.append(el('td', {}, bi(st[0], st[1])));
    tr.append(el('td', {}, s.maintenance ? bi('维护窗口', 'maintenance') : bi('静默', 'silence'),
      s.from_config ? el('span', { class: 'sub', text: 'routing.yaml' }) : null));
    const ms = el('td', { class: 'matchers' }, (s.matchers || []).map(matcherText).join(', '));
    if ((s.stations || []).length) ms.append(el('span', { class: 'sub', text: '站点 stations: ' + s.stations.join(', ') }));
    tr.append(ms);
    tr.append(el('td', {}, timeEl(s.starts_at), el('span', { class: 'sub' }, timeEl(s.ends_at))));
    tr.append(el('td', {}, s.created_by || '', s.author ? el('span', { class: 'sub', text: s.author }) : null));
    tr.append(el('td', { text: s.comment || '' }));
    const act = el('td', { class: 'actions' });
    if (s.state !== 'expired' && !s.from_config) {
      act.append(el('button', { type: 'button', class: 'expire', onclick: () => expireSilence(s.id) }, '解除 ', el('small', { text: 'Expire' })));
    }
    tr.append(act);
    return tr;
  }

  function renderSilences(list) {
    const shown = $('f-expired').checked ? list : list.filter((s) => s.state !== 'expired');
    $('silence-rows').replaceChildren(...shown.map(silenceRow));
    $('no-silences').hidden = shown.length > 0;
  }

  async function refreshSilences() {
    try {
      const r = await api('GET', '/api/v1/silences');
      renderSilences(r.silences || []);
    } catch (err) {
      handleError(err);
    }
  }

  function formMessage(okId, errId, ok, err) {
    $(okId).textContent = ok || '';
    $(okId).hidden = !ok;
    $(errId).textContent = err || '';
    $(errId).hidden = !err;
  }

  async function submitSilence(ev) {
    ev.preventDefault();
    const station = $('sl-station').value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(station)) {
      formMessage('sl-ok', 'sl-error', '', '站点编号只含字母、数字、_ 和 - Station ids are letters, digits, _ and -');
      return;
    }
    const by = $('sl-by').value.trim();
    sessionStorage.setItem(BY_KEY, by);
    $('ack-by').value = by;
    const body = {
      matchers: ['station="' + station + '"'],
      duration: $('sl-duration').value,
      by,
      comment: $('sl-comment').value.trim(),
      maintenance: $('sl-maintenance').checked,
    };
    $('sl-submit').disabled = true;
    try {
      const s = await api('POST', '/api/v1/silences', body);
      formMessage('sl-ok', 'sl-error', '已创建 Created ' + (s.maintenance ? '维护窗口 maintenance window ' : '静默 silence ') + s.id +
        ' · ' + (s.stations || [station]).join(', ') + ' → ' + fmtTime(s.ends_at), '');
      $('sl-station').value = '';
      $('sl-comment').value = '';
      await refreshSilences();
    } catch (err) {
      formMessage('sl-ok', 'sl-error', '', err instanceof APIError ? err.describe() : String(err));
      if (err instanceof APIError && err.status === 401) handleError(err);
    } finally {
      $('sl-submit').disabled = false;
    }
  }

  async function expireSilence(id) {
    try {
      await api('DELETE', '/api/v1/silences/' + encodeURIComponent(id));
      formMessage('sl-ok', 'sl-error', '已解除 Expired ' + id, '');
      await refreshSilences();
    } catch (err) {
      formMessage('sl-ok', 'sl-error', '', err instanceof APIError ? err.describe() : String(err));
    }
  }

  // ── wiring ────────────────────────────────────────────────────────────
  function init() {
    $('signin-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const tok = $('token').value.trim();
      if (!tok) return;
      $('signin-submit').disabled = true;
      try {
        await signIn(tok);
      } catch (err) {
        sessionStorage.removeItem(TOKEN_KEY);
        handleError(err);
      } finally {
        $('signin-submit').disabled = false;
      }
    });
    $('signout').addEventListener('click', () => signOut(false));
    $('refresh').addEventListener('click', refresh);
    for (const id of ['f-status', 'f-level', 'f-joint', 'f-mine']) $(id).addEventListener('change', refresh);
    $('f-expired').addEventListener('change', refreshSilences);
    $('ack-form').addEventListener('submit', submitAck);
    $('ack-cancel').addEventListener('click', () => $('ack-dialog').close());
    $('detail-close').addEventListener('click', () => $('detail-dialog').close());
    $('detail-dialog').addEventListener('close', () => { state.detailRef = null; });
    $('comment-form').addEventListener('submit', submitComment);
    $('silence-form').addEventListener('submit', submitSilence);

    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      signIn(saved).catch((err) => { handleError(err); signOut(true); });
    } else {
      signOut(false);
    }
  }

  init();
}());
