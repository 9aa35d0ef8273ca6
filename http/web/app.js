// parledger's dashboard: live rankings per block with a chart, a unit's
// breakdown by area, its audit trail, a diff between two versions, open
// explanations, the campaign's progress, rankings as of a past moment,
// and downloads. Plain ES modules; the DOM is built with textContent
// only (the page's Trusted Types policy forbids HTML strings).

import { api, download, getToken, setToken, ApiError, LiveStream } from './api.js';
import { barChart } from './chart.js';
import * as fmt from './format.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['xep-hang', 'don-vi', 'nhat-ky', 'so-sanh', 'giai-trinh', 'tien-do', 'thoi-diem'];
const BLOCKS = ['so', 'huyen'];

const state = {
  view: 'xep-hang',
  block: 'so',
  campaign: '',
  campaigns: [],
  info: null, // GET /campaigns/{c}
  principal: null, // whoami; null for the public
  rankings: null, // the last live snapshot
  previous: new Map(), // unit code → index of the snapshot before
  unit: '',
  live: null,
  audit: { unit: '', entries: [] }, // the unfiltered trail of state.unit
  asOf: null,
};

// --- small DOM helpers

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'title') e.title = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// table fills a <table> with a header and rows.
//   columns: [{title, cls, value(row) → string | Node, abbr}]
//   rowAttrs(row) → attributes of the <tr>
function fillTable(table, columns, rows, rowAttrs = () => ({}), empty = 'Không có dữ liệu.') {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.cls, scope: 'col', title: c.abbr }, c.title))));
  const body = h('tbody');
  for (const r of rows) {
    body.append(h('tr', rowAttrs(r), columns.map((c) => h('td', { class: c.cls }, c.value(r)))));
  }
  if (rows.length === 0) body.append(h('tr', {}, h('td', { class: 'empty', colspan: columns.length }, empty)));
  table.replaceChildren(head, body);
}

let noticeTimer;

function notice(text, kind = 'error') {
  const m = $('message');
  m.dataset.kind = kind;
  $('message-text').textContent = text;
  m.hidden = false;
  clearTimeout(noticeTimer);
  // Information goes by itself; errors stay until closed.
  if (kind === 'info') noticeTimer = setTimeout(clearNotice, 8000);
}

function clearNotice() { $('message').hidden = true; }

// explain turns a failure into a sentence for people.
function explain(err, what) {
  if (err instanceof ApiError) {
    if (err.missing) return `Máy chủ này chưa hỗ trợ ${what}.`;
    if (err.status === 401) return `Cần đăng nhập (dán mã truy cập) để xem ${what}.`;
    if (err.status === 403) return `Tài khoản này không được xem ${what}.`;
    if (err.status === 404) return `Không tìm thấy ${what}: ${err.message}`;
    if (err.status === 503) return `Máy chủ đang bận, hãy thử lại sau giây lát (${what}).`;
    return `Không lấy được ${what}: ${err.message}`;
  }
  return `Không kết nối được máy chủ (${what}): ${err.message}`;
}

// placeholder shows a sentence in place of a table's rows.
function placeholder(table, text) {
  table.replaceChildren(h('tbody', {}, h('tr', {}, h('td', { class: 'empty' }, text))));
}

const campaignPath = () => `/api/v1/campaigns/${encodeURIComponent(state.campaign)}`;
const unitPath = (u = state.unit) => `${campaignPath()}/assessments/${encodeURIComponent(u)}`;

// --- location: which view, campaign, block and unit are shown (never the
// credential)

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (VIEWS.includes(p.get('v'))) state.view = p.get('v');
  if (BLOCKS.includes(p.get('b'))) state.block = p.get('b');
  if (p.get('u')) state.unit = p.get('u');
  return p.get('c') || '';
}

function writeHash() {
  const p = new URLSearchParams();
  p.set('v', state.view);
  if (state.campaign) p.set('c', state.campaign);
  p.set('b', state.block);
  if (state.unit) p.set('u', state.unit);
  history.replaceState(null, '', '#' + p.toString());
}

// --- sign-in

async function signIn(secret) {
  setToken(secret);
  try {
    state.principal = await api('/api/v1/whoami');
  } catch (err) {
    setToken('');
    state.principal = null;
    notice(err instanceof ApiError && err.status === 401
      ? 'Mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi.'
      : explain(err, 'thông tin tài khoản'));
  }
  showWho();
}

function showWho() {
  const p = state.principal;
  $('who').textContent = p
    ? `${p.id} · ${fmt.roleLabel[p.role] || p.role}${p.scope ? ' ' + p.scope : ''}`
    : 'Công chúng: chỉ xem kết quả đã công bố';
  $('token').hidden = !!p;
  $('login-btn').hidden = !!p;
  $('logout').hidden = !p;
  document.body.dataset.role = p ? p.role : 'public';
}

// --- campaigns and the live stream

async function loadCampaigns(wanted) {
  let list = [];
  try {
    list = (await api('/api/v1/campaigns')).campaigns || [];
  } catch (err) {
    notice(explain(err, 'danh sách kỳ đánh giá'));
  }
  state.campaigns = list;
  const sel = $('campaign');
  sel.replaceChildren(...list.map((c) => h('option', { value: c.id }, `${c.year} · ${c.id}${c.published ? '' : ' (đang đánh giá)'}`)));
  if (list.length === 0) {
    sel.append(h('option', { value: '' }, '(không có)'));
    stopLive();
    state.campaign = '';
    state.rankings = null;
    renderAll();
    notice(state.principal
      ? 'Chưa có kỳ đánh giá nào.'
      : 'Chưa có kỳ đánh giá nào được công bố. Đăng nhập để xem kỳ đang diễn ra.', 'info');
    return;
  }
  const id = list.some((c) => c.id === wanted) ? wanted : list.some((c) => c.id === state.campaign) ? state.campaign : list[0].id;
  sel.value = id;
  await selectCampaign(id, true);
}

// refreshCampaigns adds campaigns opened since the list was read, when a
// person goes to pick one; the one being watched stays selected.
async function refreshCampaigns() {
  let list;
  try {
    list = (await api('/api/v1/campaigns')).campaigns || [];
  } catch {
    return;
  }
  const ids = (l) => l.map((c) => c.id + (c.published ? '+' : '')).join(',');
  if (ids(list) === ids(state.campaigns) || list.length === 0) return;
  state.campaigns = list;
  const sel = $('campaign');
  sel.replaceChildren(...list.map((c) => h('option', { value: c.id }, `${c.year} · ${c.id}${c.published ? '' : ' (đang đánh giá)'}`)));
  sel.value = state.campaign;
}

async function selectCampaign(id, force = false) {
  if (id === state.campaign && !force) return;
  if (id !== state.campaign) {
    state.unit = '';
    state.audit = { unit: '', entries: [] };
    state.asOf = null;
  }
  state.campaign = id;
  state.rankings = null;
  state.previous = new Map();
  state.info = null;
  writeHash();
  const c = state.campaigns.find((x) => x.id === id);
  $('campaign-title').textContent = c ? c.title : '';
  renderAll();
  startLive();
  try {
    state.info = await api(campaignPath());
  } catch (err) {
    notice(explain(err, 'thông tin kỳ đánh giá'));
  }
  renderStatus();
}

function stopLive() {
  if (state.live) state.live.stop();
  state.live = null;
}

function startLive() {
  stopLive();
  const live = new LiveStream(`${campaignPath()}/live`, {
    rankings: (rk, id) => { if (state.live === live) onRankings(rk, id); },
    state: (name) => { if (state.live === live) showLive(name); },
    error: (p) => {
      if (state.live !== live) return;
      notice(p.status === 401 || p.code === 'unauthorized'
        ? 'Phiên đăng nhập không còn hiệu lực; cập nhật trực tiếp đã dừng. Hãy đăng nhập lại.'
        : `Cập nhật trực tiếp dừng: ${p.detail || p.status}`);
    },
  });
  state.live = live;
  live.start();
}

function showLive(name) {
  const el = $('live');
  el.dataset.state = name;
  const at = state.rankings ? ` · cập nhật ${fmt.clock(new Date())}` : '';
  el.textContent = {
    connecting: 'Đang kết nối…',
    open: 'Trực tiếp' + at,
    reconnecting: 'Mất kết nối, đang kết nối lại…',
    stopped: 'Không cập nhật trực tiếp',
  }[name] || name;
}

function onRankings(rk, id) {
  if (state.rankings) {
    state.previous = new Map();
    for (const b of state.rankings.blocks) for (const r of b.rows) state.previous.set(r.unitCode, r.score.index);
  }
  const first = !state.rankings;
  state.rankings = rk;
  document.body.dataset.position = id || rk.position;
  showLive('open');
  if (first) clearNoticeIfInfo();
  fillUnitSelects();
  renderRankings();
  if (state.view === 'don-vi') renderArea();
  if (state.view === 'tien-do') refreshStatus();
}

function clearNoticeIfInfo() {
  if ($('message').dataset.kind === 'info') clearNotice();
}

// --- rankings

function rowsOf(rk, block) {
  const b = rk?.blocks.find((x) => x.block === block);
  return b ? b.rows : [];
}

// breakdown joins a block's nodes (areas or criteria: code, title, max)
// with a row's points for them ({achieved: [], index: []}, in the
// block's order): the rankings send the nodes once per block.
function breakdown(nodes, values) {
  if (!nodes || !values) return [];
  return nodes.map((n, i) => ({ code: n.code, title: n.title, max: n.max, achieved: values.achieved[i], index: values.index[i] }));
}

function bonusPenalty(s) {
  const parts = [];
  if (!fmt.isZero(s.bonus)) parts.push('+' + fmt.decimal(s.bonus));
  if (!fmt.isZero(s.penalty)) parts.push('−' + fmt.decimal(s.penalty));
  return parts.length ? parts.join(' / ') : '0';
}

const gradeLabel = (g) => {
  const band = state.info?.settings?.gradeBands?.find((b) => b.grade === g);
  return band?.label ? `${g} (${band.label})` : g || '';
};

function rankingColumns() {
  return [
    { title: 'Hạng', cls: 'num rank', value: (r) => String(r.rank) },
    { title: 'Đơn vị', cls: 'unit', value: (r) => r.unitName },
    { title: 'Chỉ số (%)', cls: 'num index', value: (r) => fmt.percent(r.score.index) + (r.score.provisional ? '*' : '') },
    { title: 'Tự chấm', cls: 'num', value: (r) => fmt.decimal(r.score.self) },
    { title: 'Thẩm định', cls: 'num', value: (r) => fmt.decimal(r.score.appraised) },
    { title: 'ĐTXHH', abbr: 'Điểm điều tra xã hội học', cls: 'num', value: (r) => fmt.decimal(r.score.survey) },
    { title: 'Thưởng/Trừ', cls: 'num', value: (r) => bonusPenalty(r.score) },
    { title: 'Xếp loại', cls: 'grade', value: (r) => h('span', { title: gradeLabel(r.grade) }, r.grade || '') },
    { title: 'Trạng thái', cls: 'status', value: (r) => fmt.statusLabel[r.status] || r.status },
  ];
}

// drawRankings renders one block of rankings into a table and a chart.
function drawRankings(table, chart, rows, { live = false } = {}) {
  const ranks = new Map();
  for (const r of rows) ranks.set(r.rank, (ranks.get(r.rank) || 0) + 1);
  fillTable(table, rankingColumns(), rows, (r) => {
    const before = state.previous.get(r.unitCode);
    const changed = live && before !== undefined && before !== r.score.index;
    const cls = [ranks.get(r.rank) > 1 ? 'tie' : '', changed ? 'changed' : '', r.score.provisional ? 'provisional' : ''].filter(Boolean).join(' ');
    return { class: cls || undefined, dataset: { unit: r.unitCode, index: r.score.index, rank: r.rank }, title: ranks.get(r.rank) > 1 ? 'Đồng hạng' : undefined };
  }, 'Khối này chưa có đơn vị.');
  table.querySelectorAll('tbody tr[data-unit]').forEach((tr) => {
    tr.tabIndex = 0;
    tr.addEventListener('click', () => openUnit(tr.dataset.unit));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') openUnit(tr.dataset.unit); });
  });
  const marks = (state.info?.settings?.gradeBands || [])
    .map((b) => ({ value: fmt.toNumber(b.min), label: b.grade }))
    .filter((m) => m.value > 0);
  barChart(chart, rows.map((r) => ({
    key: r.unitCode,
    label: fmt.shortName(r.unitName),
    value: fmt.toNumber(r.score.index),
    text: fmt.percent(r.score.index),
    title: `${r.rank}. ${r.unitName}: ${fmt.percent(r.score.index)}%`,
    className: [r.grade ? 'grade-' + r.grade : '', r.score.provisional ? 'provisional' : ''].join(' '),
  })), { marks, label: 'Chỉ số CCHC theo đơn vị' });
}

function renderRankings() {
  document.querySelectorAll('.blocks button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.block === state.block)));
  const rk = state.rankings;
  const meta = $('rk-meta');
  if (!rk) {
    placeholder($('rk-table'), state.campaign ? 'Đang tải xếp hạng…' : 'Chưa chọn kỳ đánh giá.');
    $('rk-chart').replaceChildren();
    meta.textContent = '';
    return;
  }
  const rows = rowsOf(rk, state.block);
  drawRankings($('rk-table'), $('rk-chart'), rows, { live: true });
  const b = rk.blocks.find((x) => x.block === state.block);
  const provisional = rows.some((r) => r.score.provisional);
  meta.textContent = `${fmt.blockLabel[state.block]}: ${rows.length} đơn vị` +
    (b ? ` · bộ chỉ số ${b.framework}` : '') +
    (rk.published ? ` · đã công bố theo Quyết định ${rk.published.decisionNumber} ngày ${fmt.date(rk.published.decisionDate)}` : ' · chưa công bố, số liệu đang cập nhật') +
    ` · vị trí sổ cái ${rk.position}` +
    (provisional ? ' · (*) điểm tạm tính, chưa thẩm định xong' : '');
}

function openUnit(code) {
  state.unit = code;
  showView('don-vi');
}

function syncUnitSelects() {
  for (const sel of document.querySelectorAll('.unit-select')) sel.value = state.unit;
}

// --- per-area breakdown

function allRows() {
  return state.rankings ? state.rankings.blocks.flatMap((b) => b.rows) : [];
}

function fillUnitSelects() {
  const rows = state.rankings ? state.rankings.blocks.map((b) => ({ block: b.block, rows: [...b.rows].sort((x, y) => x.unitName.localeCompare(y.unitName, 'vi')) })) : [];
  // Keep the chosen unit while the rankings load; pick one only when the
  // campaign has no such unit.
  if (state.rankings && (!state.unit || !allRows().some((r) => r.unitCode === state.unit))) {
    state.unit = rows[0]?.rows[0]?.unitCode || '';
  }
  for (const sel of document.querySelectorAll('.unit-select')) {
    const wanted = state.unit;
    const groups = rows.map((g) => h('optgroup', { label: fmt.blockLabel[g.block] },
      g.rows.map((r) => h('option', { value: r.unitCode }, `${r.unitName} (${r.unitCode})`))));
    // Rebuild the options only when the units change, not on every score.
    const sig = rows.map((g) => g.rows.map((r) => r.unitCode).join(',')).join(';');
    if (sel.dataset.sig !== sig) {
      sel.replaceChildren(...groups);
      sel.dataset.sig = sig;
    }
    sel.value = wanted;
  }
}

function renderArea() {
  const row = allRows().find((r) => r.unitCode === state.unit);
  const table = $('area-table');
  if (!row) {
    $('area-summary').replaceChildren();
    placeholder(table, state.rankings ? 'Chọn một đơn vị.' : 'Đang tải…');
    $('area-chart').replaceChildren();
    $('criteria-table').replaceChildren();
    return;
  }
  const s = row.score;
  const block = state.rankings.blocks.find((b) => b.block === row.block);
  const areas = breakdown(block?.areas, s.areas);
  const criteria = breakdown(block?.criteria, s.criteria);
  const card = (label, value, cls) => h('div', { class: 'card ' + (cls || '') }, h('span', {}, label), h('strong', {}, value));
  $('area-summary').replaceChildren(
    card('Đơn vị', row.unitName, 'wide'),
    card('Chỉ số CCHC', fmt.percent(s.index) + '%' + (s.provisional ? ' (tạm tính)' : ''), 'accent'),
    card('Xếp hạng', `${row.rank} / ${rowsOf(state.rankings, row.block).length}`),
    card('Xếp loại', gradeLabel(row.grade) || '—'),
    card('Tổng điểm', `${fmt.decimal(s.final)} / ${fmt.decimal(s.max)}`),
    card('Trạng thái', fmt.statusLabel[row.status] || row.status),
  );
  const cols = [
    { title: 'Mã', cls: 'code', value: (a) => a.code },
    { title: 'Lĩnh vực', value: (a) => a.title },
    { title: 'Điểm tối đa', cls: 'num', value: (a) => fmt.decimal(a.max) },
    { title: 'Điểm đạt', cls: 'num', value: (a) => fmt.decimal(a.achieved) },
    { title: 'Chỉ số (%)', cls: 'num', value: (a) => fmt.percent(a.index) },
  ];
  fillTable(table, cols, areas, (a) => ({ dataset: { area: a.code } }));
  barChart($('area-chart'), areas.map((a) => ({
    key: a.code,
    label: `${a.code}. ${fmt.shortName(a.title, 24)}`,
    value: fmt.toNumber(a.index),
    text: fmt.percent(a.index),
    title: `${a.code}. ${a.title}: ${fmt.decimal(a.achieved)}/${fmt.decimal(a.max)} điểm, ${fmt.percent(a.index)}%`,
  })), { label: 'Chỉ số theo lĩnh vực', rowHeight: 26, labelWidth: 190 });
  fillTable($('criteria-table'), cols.map((c, i) => (i === 1 ? { ...c, title: 'Tiêu chí' } : c)), criteria);
}

// --- audit trail

// showEvent shows one event of the ledger and whether it is proved
// included in the last published checkpoint of the Merkle log.
async function showEvent(position) {
  const box = $('event-detail');
  box.hidden = false;
  $('event-position').textContent = `#${position}`;
  $('event-proof').textContent = 'Đang kiểm tra…';
  $('event-fields').replaceChildren();
  try {
    const e = await api(`/api/v1/events/${position}`);
    const inc = e.inclusion;
    let proof = 'Máy chủ không lưu cây Merkle.';
    if (inc) {
      proof = inc.included
        ? `✓ Có trong điểm kiểm tra đã ký gồm ${inc.checkpointSize} sự kiện; bằng chứng gồm ${(inc.proof?.hashes || []).length} giá trị băm, đã kiểm chứng.`
        : `Chưa có bằng chứng: ${inc.detail}`;
    }
    $('event-proof').textContent = proof;
    $('event-proof').dataset.included = inc?.included ? 'yes' : 'no';
    const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    $('event-fields').replaceChildren(
      ...row('Mã sự kiện', e.id),
      ...row('Luồng, phiên bản', `${e.stream} · ${e.revision}`),
      ...row('Thời điểm ghi', fmt.dateTime(e.recordedAt)),
      ...row('Loại', fmt.eventLabel[e.type] || e.type),
      ...row('Người thực hiện', actorText(e.actor)),
      ...row('Lý do', e.reason || '—'),
      ...row('Mã băm nội dung (SHA-256)', e.contentHash),
      ...row('Nội dung', JSON.stringify(e.payload)),
    );
  } catch (err) {
    $('event-proof').textContent = explain(err, 'sự kiện');
  }
}

function describeChange(e) {
  const before = e.before || {};
  const after = e.after || {};
  const parts = [];
  for (const [k, label] of Object.entries(fmt.valueLabel)) {
    if (before[k] === after[k]) continue;
    const b = before[k] === undefined ? '—' : fmt.decimal(before[k]);
    const a = after[k] === undefined ? '—' : fmt.decimal(after[k]);
    parts.push(`${label}: ${b} → ${a}`);
  }
  if (e.evidence) {
    const { title = '', documentNumber: no = '' } = e.evidence;
    parts.push(title && no && !title.includes(no) ? `${title} (${no})` : title || no || 'tài liệu');
  }
  if (e.statusBefore !== e.statusAfter) parts.push(`Trạng thái: ${fmt.statusLabel[e.statusBefore] || e.statusBefore} → ${fmt.statusLabel[e.statusAfter] || e.statusAfter}`);
  if (e.type === 'ExplanationRaised' && e.event?.claimedPoints) parts.push(`Đề nghị ${fmt.decimal(e.event.claimedPoints)} điểm`);
  return parts.join('; ');
}

function actorText(a) {
  return a ? `${a.id} (${fmt.roleLabel[a.role] || a.role}${a.scope ? ' ' + a.scope : ''})` : '';
}

function auditColumns() {
  return [
    { title: 'Phiên bản', cls: 'num', value: (e) => String(e.revision) },
    { title: 'Thời điểm', cls: 'time', value: (e) => fmt.dateTime(e.at) },
    { title: 'Nội dung', value: (e) => fmt.eventLabel[e.type] || e.type },
    { title: 'Tiêu chí', cls: 'code', value: (e) => e.item || '' },
    { title: 'Thay đổi', value: (e) => describeChange(e) },
    { title: 'Người thực hiện', value: (e) => actorText(e.actor) },
    { title: 'Lý do, ghi chú', cls: 'reason', value: (e) => e.reason || e.after?.selfNote || e.event?.note || '' },
  ];
}

// loadTrail reads the unfiltered audit trail of the chosen unit once; it
// feeds the filters' choices and the diff's versions.
async function loadTrail() {
  if (state.audit.unit === state.unit && state.audit.campaign === state.campaign) return state.audit.entries;
  const data = await api(`${unitPath()}/audit`);
  state.audit = { unit: state.unit, campaign: state.campaign, entries: data.entries || [] };
  return state.audit.entries;
}

function auditQuery() {
  const q = new URLSearchParams();
  const item = $('audit-item').value.trim();
  const actor = $('audit-actor').value;
  if (item) q.set('item', item);
  if (actor) q.set('actor', actor);
  return q;
}

async function renderAudit() {
  const table = $('audit-table');
  const meta = $('audit-meta');
  if (!state.unit) { placeholder(table, 'Chọn một đơn vị.'); return; }
  placeholder(table, 'Đang tải nhật ký…');
  try {
    const all = await loadTrail();
    const items = [...new Set(all.map((e) => e.item).filter(Boolean))].sort(compareCodes);
    $('audit-items').replaceChildren(...items.map((i) => h('option', { value: i })));
    const actorSel = $('audit-actor');
    const keep = actorSel.value;
    const actors = [...new Map(all.map((e) => [e.actor.id, e.actor])).values()];
    actorSel.replaceChildren(h('option', { value: '' }, 'Tất cả'), ...actors.map((a) => h('option', { value: a.id }, actorText(a))));
    actorSel.value = actors.some((a) => a.id === keep) ? keep : '';
    const q = auditQuery();
    const entries = q.toString() ? (await api(`${unitPath()}/audit?${q}`)).entries || [] : all;
    fillTable(table, auditColumns(), entries, (e) => ({ dataset: { revision: e.revision, type: e.type, position: e.position }, class: 'clickable', title: 'Xem sự kiện và bằng chứng toàn vẹn' }), 'Không có sự kiện nào khớp bộ lọc.');
    const unit = allRows().find((r) => r.unitCode === state.unit);
    meta.textContent = `${unit ? unit.unitName : state.unit}: ${entries.length} sự kiện` +
      (q.toString() ? ` khớp bộ lọc (trong tổng số ${all.length})` : '') + '. Giờ Hà Nội.';
  } catch (err) {
    meta.textContent = '';
    placeholder(table, explain(err, 'nhật ký thay đổi'));
  }
}

function compareCodes(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d) return d;
  }
  return 0;
}

// --- version diff

async function prepareDiff() {
  const from = $('diff-from');
  const to = $('diff-to');
  if (!state.unit) return;
  try {
    const all = await loadTrail();
    const label = (e) => `${e.revision} · ${fmt.dateTime(e.at)} · ${fmt.eventLabel[e.type] || e.type}${e.item ? ' ' + e.item : ''}`;
    const keepFrom = from.value;
    const keepTo = to.value;
    from.replaceChildren(...all.map((e) => h('option', { value: e.revision }, label(e))));
    to.replaceChildren(...all.map((e) => h('option', { value: e.revision }, label(e))));
    if (all.length) {
      from.value = all.some((e) => String(e.revision) === keepFrom) ? keepFrom : String(all[0].revision);
      to.value = all.some((e) => String(e.revision) === keepTo) ? keepTo : String(all[all.length - 1].revision);
    }
    if (!all.length) $('diff-meta').textContent = 'Đơn vị này chưa có sự kiện nào.';
  } catch (err) {
    $('diff-meta').textContent = explain(err, 'các phiên bản của đơn vị');
  }
}

async function renderDiff() {
  const table = $('diff-table');
  const events = $('diff-events');
  const meta = $('diff-meta');
  const from = $('diff-from').value;
  const to = $('diff-to').value;
  if (from === '' || to === '') return;
  placeholder(table, 'Đang so sánh…');
  events.replaceChildren();
  $('diff-events-title').hidden = true;
  try {
    const d = await api(`${unitPath()}/diff?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    const v = (x, k) => (x && x[k] !== undefined && x[k] !== null ? fmt.decimal(x[k]) : '—');
    const cols = [
      { title: 'Tiêu chí', cls: 'code', value: (i) => i.code },
      { title: 'Nội dung', value: (i) => i.title || '' },
      { title: 'Tự chấm', cls: 'num before', value: (i) => v(i.before, 'self') },
      { title: 'Thẩm định', cls: 'num before', value: (i) => v(i.before, 'appraised') },
      { title: 'ĐTXHH', cls: 'num before', value: (i) => v(i.before, 'survey') },
      { title: 'Cuối cùng', cls: 'num before', value: (i) => v(i.before, 'final') },
      { title: 'Tự chấm', cls: 'num after', value: (i) => v(i.after, 'self') },
      { title: 'Thẩm định', cls: 'num after', value: (i) => v(i.after, 'appraised') },
      { title: 'ĐTXHH', cls: 'num after', value: (i) => v(i.after, 'survey') },
      { title: 'Cuối cùng', cls: 'num after', value: (i) => v(i.after, 'final') },
      { title: 'Chênh lệch', cls: 'num delta', value: (i) => fmt.signed(i.delta) },
    ];
    fillTable(table, cols, d.items || [], (i) => ({ dataset: { item: i.code } }), 'Hai phiên bản không khác nhau.');
    const group = h('tr', { class: 'group' }, h('th', { colspan: 2 }), h('th', { colspan: 4 }, `Phiên bản ${d.from}`), h('th', { colspan: 4 }, `Phiên bản ${d.to}`), h('th'));
    table.tHead.prepend(group);
    meta.textContent = `${(d.items || []).length} tiêu chí thay đổi giữa phiên bản ${d.from} và ${d.to}; ${(d.events || []).length} sự kiện ở giữa.`;
    if ((d.events || []).length) {
      $('diff-events-title').hidden = false;
      fillTable(events, auditColumns(), d.events, (e) => ({ dataset: { revision: e.revision, type: e.type } }));
    }
  } catch (err) {
    placeholder(table, explain(err, 'so sánh phiên bản'));
    meta.textContent = '';
  }
}

// --- explanations

async function renderExplanations() {
  const table = $('expl-table');
  const meta = $('expl-meta');
  const all = $('expl-all').checked;
  placeholder(table, 'Đang tải…');
  meta.textContent = '';
  try {
    const d = await api(`${campaignPath()}/explanations${all ? '' : '?status=open'}`);
    const list = d.explanations || [];
    const open = list.filter((x) => !x.resolved).length;
    let deadline = 'Chưa mở vòng giải trình.';
    if (d.deadline) {
      const left = daysUntil(d.deadline);
      deadline = `Hạn giải trình: ${fmt.date(d.deadline)}` + (left >= 0 ? ` (còn ${left} ngày)` : ' (đã hết hạn)');
    }
    meta.textContent = `${deadline} · ${open} giải trình chưa có kết luận` + (all ? `, ${list.length - open} đã có kết luận.` : '.');
    const outcome = (x) => {
      if (!x.resolved) return 'Đang chờ Hội đồng';
      const pts = x.finalPoints !== undefined && x.finalPoints !== null ? `, ${fmt.decimal(x.finalPoints)} điểm` : '';
      return `${x.accepted ? 'Chấp nhận' : 'Không chấp nhận'}${pts}${x.decisionRef ? ' (' + x.decisionRef + ')' : ''}`;
    };
    fillTable(table, [
      { title: 'Đơn vị', value: (x) => x.unitName || x.unitCode },
      { title: 'Tiêu chí', cls: 'code', value: (x) => x.item },
      { title: 'Điểm đề nghị', cls: 'num', value: (x) => fmt.decimal(x.claimedPoints) },
      { title: 'Nội dung giải trình', cls: 'reason', value: (x) => x.argument },
      { title: 'Gửi lúc', cls: 'time', value: (x) => fmt.dateTime(x.raisedAt) },
      { title: 'Người gửi', value: (x) => x.raisedBy },
      { title: 'Hạn', cls: 'time', value: () => fmt.date(d.deadline) },
      { title: 'Kết luận', cls: 'reason', value: outcome },
    ], list, (x) => ({ class: x.resolved ? 'resolved' : 'open', dataset: { unit: x.unitCode, id: x.id } }),
    all ? 'Chưa có giải trình nào.' : 'Không có giải trình nào đang chờ.');
  } catch (err) {
    placeholder(table, explain(err, 'danh sách giải trình'));
  }
}

// daysUntil counts the days left until the end of a date "YYYY-MM-DD" in
// Hanoi, today included, as the API's daysLeft does; negative once past.
function daysUntil(day) {
  const [y, m, d] = day.split('-').map(Number);
  const end = Date.UTC(y, m - 1, d + 1) - 7 * 3600 * 1000;
  const left = (end - Date.now()) / 86400000;
  return left > 0 ? Math.ceil(left) : -1;
}

// --- campaign status

async function refreshStatus() {
  try {
    state.info = await api(campaignPath());
  } catch (err) {
    notice(explain(err, 'thông tin kỳ đánh giá'));
  }
  renderStatus();
}

function renderStatus() {
  const info = state.info;
  const cards = $('status-cards');
  if (!info) {
    cards.replaceChildren(h('p', { class: 'meta' }, 'Đang tải…'));
    return;
  }
  const card = (label, value, cls) => h('div', { class: 'card ' + (cls || '') }, h('span', {}, label), h('strong', {}, value));
  const rows = allRows();
  const submitted = rows.filter((r) => r.status === 'submitted' || r.status === 'finalized').length;
  cards.replaceChildren(
    card('Giai đoạn', fmt.phaseLabel[info.phase] || info.phase, 'accent'),
    card('Thời gian còn lại', info.daysLeft !== undefined && info.daysLeft !== null ? `${info.daysLeft} ngày` : '—'),
    card('Số đơn vị', String(info.units?.length ?? rows.length)),
    card('Đã nộp báo cáo', `${submitted} / ${rows.length}`),
    card('Công bố', info.published ? `QĐ ${info.published.decisionNumber}, ${fmt.date(info.published.decisionDate)}` : 'Chưa công bố', 'wide'),
  );
  const cal = info.calendar || {};
  const milestones = [
    ['Hạn tự đánh giá, nộp báo cáo', cal.selfAssessmentDue],
    ['Hạn thẩm định', cal.appraisalDue],
    ['Hạn giải trình', cal.explanationDue],
    ['Họp Hội đồng thẩm định (dự kiến)', cal.councilDate],
    ['Công bố kết quả (dự kiến)', cal.publicationDue],
  ].filter(([, d]) => d && !d.startsWith('0001'));
  fillTable($('status-calendar'), [
    { title: 'Mốc', value: (m) => m[0] },
    { title: 'Ngày', cls: 'time', value: (m) => fmt.date(m[1]) },
    { title: 'Còn lại', cls: 'num', value: (m) => { const n = daysUntil(m[1]); return n >= 0 ? `${n} ngày` : 'đã qua'; } },
  ], milestones);
  const byBlock = (state.rankings?.blocks || []).map((b) => {
    const count = (s) => b.rows.filter((r) => r.status === s).length;
    return { block: b.block, total: b.rows.length, ns: count('not-started'), ip: count('in-progress'), sub: count('submitted'), fin: count('finalized') };
  });
  fillTable($('status-blocks'), [
    { title: 'Khối', value: (b) => fmt.blockLabel[b.block] },
    { title: 'Số đơn vị', cls: 'num', value: (b) => String(b.total) },
    { title: 'Chưa tự chấm', cls: 'num', value: (b) => String(b.ns) },
    { title: 'Đang tự chấm', cls: 'num', value: (b) => String(b.ip) },
    { title: 'Đã nộp', cls: 'num', value: (b) => String(b.sub) },
    { title: 'Đã chốt điểm', cls: 'num', value: (b) => String(b.fin) },
  ], byBlock);
  // notSubmitted comes from the API for signed-in readers; the public
  // reads the same from the rankings' statuses.
  const codes = info.notSubmitted ?? rows.filter((r) => r.status === 'not-started' || r.status === 'in-progress').map((r) => r.unitCode);
  const units = new Map((info.units || []).map((u) => [u.code, u]));
  const status = new Map(rows.map((r) => [r.unitCode, r.status]));
  $('status-missing-title').textContent = `Đơn vị chưa nộp báo cáo tự đánh giá (${codes.length})`;
  fillTable($('status-missing'), [
    { title: 'Mã', cls: 'code', value: (c) => c },
    { title: 'Đơn vị', value: (c) => units.get(c)?.name || c },
    { title: 'Khối', value: (c) => fmt.blockLabel[units.get(c)?.block] || '' },
    { title: 'Trạng thái', cls: 'status', value: (c) => fmt.statusLabel[status.get(c)] || '' },
  ], codes, (c) => ({ dataset: { unit: c } }), 'Tất cả đơn vị đã nộp.');
}

// --- rankings as of a moment

async function renderAsOf(fetchIt) {
  document.querySelectorAll('.blocks button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.block === state.block)));
  const table = $('asof-table');
  const meta = $('asof-meta');
  if (fetchIt) {
    let at;
    try {
      at = fmt.parseDateTime($('asof-date').value, $('asof-time').value);
    } catch (err) {
      meta.textContent = err.message;
      return;
    }
    meta.textContent = 'Đang tải…';
    try {
      const rk = await api(`${campaignPath()}/rankings?at=${encodeURIComponent(at)}`);
      if (!rk.asOf) throw new ApiError(501, { detail: 'no asOf' });
      state.asOf = { at, rk };
    } catch (err) {
      state.asOf = null;
      // The only refusal of rankings as of a moment: before the results
      // were published, and nobody is signed in.
      meta.textContent = err instanceof ApiError && err.status === 403
        ? 'Thời điểm này trước khi công bố kết quả: chỉ xem được xếp hạng từ lúc công bố (hoặc đăng nhập).'
        : explain(err, 'xếp hạng theo thời điểm');
      placeholder(table, 'Không có số liệu.');
      $('asof-chart').replaceChildren();
      return;
    }
  }
  if (!state.asOf) {
    placeholder(table, 'Chọn ngày, giờ rồi bấm “Xem xếp hạng”.');
    $('asof-chart').replaceChildren();
    meta.textContent = '';
    return;
  }
  const { at, rk } = state.asOf;
  const saved = state.previous;
  state.previous = new Map();
  drawRankings(table, $('asof-chart'), rowsOf(rk, state.block));
  state.previous = saved;
  const asOf = rk.asOf || {};
  meta.textContent = `Xếp hạng ${fmt.blockLabel[state.block].toLowerCase()} tại thời điểm ${fmt.dateTime(at)} (giờ Hà Nội)` +
    (asOf.position !== undefined ? ` · vị trí sổ cái ${asOf.position}` : '') +
    (asOf.at ? ` · sự kiện cuối lúc ${fmt.dateTime(asOf.at)}` : '') +
    ` · ${rowsOf(rk, state.block).length} đơn vị.`;
  table.dataset.at = at;
}

// --- downloads

async function save(path, name, button) {
  button.disabled = true;
  const label = button.textContent;
  button.textContent = 'Đang tải…';
  try {
    const f = await download(path, name);
    notice(`Đã tải xuống ${f.name}.`, 'info');
  } catch (err) {
    notice(explain(err, 'tải tệp này'));
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// --- views

function showView(view) {
  state.view = view;
  for (const v of VIEWS) $('view-' + v).hidden = v !== view;
  document.querySelectorAll('#tabs button').forEach((b) => b.setAttribute('aria-current', b.dataset.view === view ? 'page' : 'false'));
  document.body.dataset.view = view;
  writeHash();
  syncUnitSelects();
  renderView();
}

function renderView() {
  switch (state.view) {
    case 'xep-hang': renderRankings(); break;
    case 'don-vi': renderArea(); break;
    case 'nhat-ky': renderAudit(); break;
    case 'so-sanh': prepareDiff(); break;
    case 'giai-trinh': renderExplanations(); break;
    case 'tien-do': refreshStatus(); break;
    case 'thoi-diem': renderAsOf(false); break;
  }
}

function renderAll() {
  fillUnitSelects();
  renderView();
}

function setUnit(code) {
  state.unit = code;
  writeHash();
  for (const sel of document.querySelectorAll('.unit-select')) sel.value = code;
  $('audit-item').value = '';
  $('audit-actor').value = '';
  $('diff-table').replaceChildren();
  $('diff-events').replaceChildren();
  $('diff-events-title').hidden = true;
  $('diff-meta').textContent = '';
  renderView();
}

function setBlock(block) {
  state.block = block;
  writeHash();
  if (state.view === 'thoi-diem') renderAsOf(false);
  else renderRankings();
}

function bind() {
  $('tabs').addEventListener('click', (e) => {
    const v = e.target.closest('button')?.dataset.view;
    if (v) showView(v);
  });
  document.querySelectorAll('.blocks').forEach((g) => g.addEventListener('click', (e) => {
    const b = e.target.closest('button')?.dataset.block;
    if (b) setBlock(b);
  }));
  $('campaign').addEventListener('change', (e) => selectCampaign(e.target.value));
  $('campaign').addEventListener('focus', refreshCampaigns);
  $('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const secret = $('token').value.trim();
    $('token').value = '';
    if (!secret) return;
    clearNotice();
    await signIn(secret);
    if (state.principal) await loadCampaigns(state.campaign);
  });
  $('logout').addEventListener('click', async () => {
    setToken('');
    state.principal = null;
    showWho();
    clearNotice();
    await loadCampaigns(state.campaign);
  });
  $('message-close').addEventListener('click', clearNotice);
  document.querySelectorAll('.unit-select').forEach((sel) => sel.addEventListener('change', () => setUnit(sel.value)));
  $('audit-form').addEventListener('submit', (e) => { e.preventDefault(); renderAudit(); });
  $('audit-table').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-position]');
    if (tr) showEvent(tr.dataset.position);
  });
  $('audit-clear').addEventListener('click', () => { $('audit-item').value = ''; $('audit-actor').value = ''; renderAudit(); });
  $('diff-form').addEventListener('submit', (e) => { e.preventDefault(); renderDiff(); });
  $('expl-all').addEventListener('change', renderExplanations);
  $('asof-form').addEventListener('submit', (e) => { e.preventDefault(); renderAsOf(true); });
  $('rk-print').addEventListener('click', () => window.print());
  $('rk-xlsx').addEventListener('click', (e) => save(`${campaignPath()}/rankings?format=xlsx`, `xep-hang-${state.campaign}.xlsx`, e.currentTarget));
  $('rk-csv').addEventListener('click', (e) => save(`${campaignPath()}/rankings?format=csv`, `xep-hang-${state.campaign}.csv`, e.currentTarget));
  const auditFile = (format) => {
    const q = auditQuery();
    q.set('format', format);
    return `${unitPath()}/audit?${q}`;
  };
  $('audit-xlsx').addEventListener('click', (e) => save(auditFile('xlsx'), `nhat-ky-${state.campaign}-${state.unit}.xlsx`, e.currentTarget));
  $('audit-csv').addEventListener('click', (e) => save(auditFile('csv'), `nhat-ky-${state.campaign}-${state.unit}.csv`, e.currentTarget));
  window.addEventListener('hashchange', () => {
    const c = readHash();
    if (c && c !== state.campaign && state.campaigns.some((x) => x.id === c)) {
      $('campaign').value = c;
      selectCampaign(c);
    }
    showView(state.view);
  });
  window.addEventListener('beforeprint', () => {
    $('printed').textContent = `In lúc ${fmt.dateTime(new Date())} · vị trí sổ cái ${state.rankings?.position ?? ''}`;
  });
}

async function main() {
  bind();
  const wanted = readHash();
  showView(state.view);
  if (getToken()) await signIn(getToken());
  else showWho();
  await loadCampaigns(wanted);
  document.body.dataset.ready = 'true';
}

main();
