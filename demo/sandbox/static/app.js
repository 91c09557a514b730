// Earshot sandbox: a little plain JavaScript, no build step, no framework.
// It reads the demo world through /api, acts through /api (the server
// drives the platform fakes), and refetches what it shows whenever the
// live-update stream (/api/events) says something changed. Every text from
// the server goes into the page as text (textContent), never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

// el builds an element: el('a', {href: u, class: 'x'}, 'text', child, ...).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

const state = {
  cast: null,
  network: 'mastodon',
  desk: 'slack',
  channel: '',         // the queue channel shown, per desk below
  channelBy: {},
  as: '',              // who we act as, per desk below
  asBy: {},
  thread: '',          // id of the open thread
  replyTo: null,       // the post being answered
  public: null,
  cards: null,
  threadData: null,
  editing: '',         // id of the message being edited
  unreadNet: new Set(),
  unreadChan: new Set(),
};

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

// refresher runs fn one at a time; a call during a run runs it once more after.
function refresher(fn) {
  let running = false, again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try { await fn(); } catch (e) { console.warn(e); } finally {
      running = false;
      if (again) { again = false; run(); }
    }
  };
  return run;
}

// reconcile makes list show one element per item, in order, reusing the
// elements of items that did not change (so focus, scroll and an open
// select survive a refresh) and touching the DOM only where needed.
function reconcile(list, items, key, draw, extra) {
  const old = new Map();
  for (const n of list.children) if (n.dataset.key) old.set(n.dataset.key, n);
  const nodes = items.map((it) => {
    const k = key(it), sig = JSON.stringify(it) + '|' + extra;
    const prev = old.get(k);
    if (prev && prev.dataset.sig === sig) return prev;
    const n = draw(it);
    n.dataset.key = k;
    n.dataset.sig = sig;
    return n;
  });
  let ref = list.firstChild;
  for (const n of nodes) {
    if (n === ref) { ref = ref.nextSibling; continue; }
    list.insertBefore(n, ref);
  }
  while (ref) { const next = ref.nextSibling; ref.remove(); ref = next; }
}

const when = (iso) => {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
};
const timeEl = (iso) => el('time', { datetime: iso }, when(iso));

// ---- desk markup as safe DOM ----

// Slack shows :shortcodes: as emoji; these are the ones Earshot writes.
const emoji = {
  white_check_mark: '✅', x: '❌', warning: '⚠️', hourglass_flowing_sand: '⏳', no_entry_sign: '🚫',
  wastebasket: '🗑️', eyes: '👀', arrows_counterclockwise: '🔄', lock: '🔒', envelope: '✉️', speech_balloon: '💬',
};
const unescapeSlack = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
// shown is a piece of mrkdwn text as Slack shows it: unescaped, emoji drawn.
const shown = (s) => unescapeSlack(s).replace(/:([a-z0-9_+-]+):/g, (m, name) => emoji[name] || m);

// styled appends text to parent with bold toggled by the marker (Slack *,
// Discord **) next to a word, and `code` spans; draw renders plain pieces.
function styled(tokens, parent, marker, draw) {
  let target = parent;
  const toggle = () => {
    if (target === parent) { target = el('strong'); parent.append(target); } else { target = parent; }
  };
  const split = new RegExp('(`[^`\\n]+`|' + marker.replace(/\*/g, '\\*') + ')');
  tokens.forEach((t, ti) => {
    if (t.link) {
      target.append(/^https?:\/\//.test(t.link) ? linkTo(t.link, t.label) : t.label);
      return;
    }
    const parts = t.text.split(split);
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (!part) continue;
      // A marker opens bold before a non-space and closes it after one (5 * 3 stays).
      const next = parts[i + 1] || (tokens[ti + 1] ? 'x' : '');
      const prev = parts[i - 1] || 'x';
      if (part === marker && ((target === parent && /^\S/.test(next)) || (target !== parent && /\S$/.test(prev)))) toggle();
      else if (part.length > 2 && part[0] === '`' && part[part.length - 1] === '`') target.append(el('code', {}, part.slice(1, -1)));
      else target.append(draw(part));
    }
  });
  return parent;
}

// mrkdwn renders Slack mrkdwn into parent: <url|label> links, *bold*,
// `code`, the &lt; &gt; &amp; escapes and :emoji:.
function mrkdwn(parent, s) {
  const tokens = [];
  const re = /<([^<>|]+)(?:\|([^<>]*))?>/g;
  let last = 0, m;
  while ((m = re.exec(s))) {
    if (m.index > last) tokens.push({ text: s.slice(last, m.index) });
    tokens.push({ link: m[1], label: unescapeSlack(m[2] || m[1]) });
    last = re.lastIndex;
  }
  if (last < s.length) tokens.push({ text: s.slice(last) });
  return styled(tokens, parent, '*', shown);
}

// discordStamp shows a Discord <t:unix:style> timestamp as Discord does.
function discordStamp(secs, style) {
  const d = new Date(Number(secs) * 1000);
  if (style === 'R') {
    const min = Math.round((d.getTime() - Date.now()) / 60000);
    if (min === 0) return 'now';
    return min > 0 ? `in ${min} minute${min === 1 ? '' : 's'}` : `${-min} minute${min === -1 ? '' : 's'} ago`;
  }
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

// mentionName shows a Discord mention (<@id>, <#id>) by name where the cast knows it.
function mentionName(kind, id) {
  if (kind === '#') {
    const c = state.cast.channels.find((x) => x.id === id);
    return '#' + (c ? c.name : 'channel');
  }
  const p = state.cast.staff.find((x) => x.id === id);
  return '@' + (p ? p.name : 'someone');
}

// markdown renders Discord markdown into parent: [label](url) and <url>
// links, **bold**, `code`, backslash escapes, <t:…> times and mentions.
function markdown(parent, s) {
  s = s.replace(/<t:(-?\d+)(?::([tTdDfFR]))?>/g, (m, secs, style) => discordStamp(secs, style))
    .replace(/<(@[!&]?|#)(\d+)>/g, (m, kind, id) => mentionName(kind[0], id));
  const tokens = [];
  const re = /\[((?:\\.|[^\]\\])*)\]\(<?(https?:\/\/[^\s)>]+)>?\)|<(https?:\/\/[^\s>]+)>/g;
  let last = 0, m;
  const unesc = (x) => x.replace(/\\([^A-Za-z0-9\s])/g, '$1');
  while ((m = re.exec(s))) {
    if (m.index > last) tokens.push({ text: s.slice(last, m.index) });
    tokens.push(m[3] ? { link: m[3], label: m[3] } : { link: m[2], label: unesc(m[1]) });
    last = re.lastIndex;
  }
  if (last < s.length) tokens.push({ text: s.slice(last) });
  // Escaped markers are not markers: hide them from the bold split.
  for (const t of tokens) if (t.text) t.text = t.text.replace(/\\\*/g, '\u0000');
  return styled(tokens, parent, '**', (x) => unesc(x.replace(/\u0000/g, '*')));
}

function textNode(t) {
  const span = el('span');
  if (!t) return span;
  if (t.kind === 'mrkdwn') mrkdwn(span, t.text);
  else if (t.kind === 'markdown') markdown(span, t.text);
  else span.textContent = t.text;
  return span;
}

// linkTo opens links to the demo's own posts in the Public half.
function linkTo(href, label) {
  return el('a', { href, target: '_blank', rel: 'noopener noreferrer', onclick: (ev) => locate(ev, href) }, label);
}

async function locate(ev, href) {
  ev.preventDefault();
  try {
    const p = await api('GET', '/api/locate?url=' + encodeURIComponent(href));
    await selectNetwork(p.network);
    const target = p.id ? document.querySelector(`#timeline [data-id="${CSS.escape(p.id)}"]`) : $('dms');
    if (target) {
      target.scrollIntoView({ block: 'center', behavior: 'smooth' });
      target.classList.remove('flash'); void target.offsetWidth; target.classList.add('flash');
    }
  } catch (_) {
    window.open(href, '_blank', 'noopener');
  }
}

// ---- the cast and pickers ----

const netInfo = (name) => state.cast.networks.find((n) => n.name === name);
const channelInfo = (id) => state.cast.channels.find((c) => c.desk === state.desk && c.id === id);
const person = (id) => state.cast.staff.find((p) => p.desk === state.desk && p.id === id);
const deskLabel = (name) => (state.cast.desks.find((d) => d.name === name) || { label: name }).label;

function tabButton(id, pressed, onclick, ...label) {
  return el('button', { type: 'button', class: 'tab', id, 'aria-pressed': String(pressed), onclick }, ...label);
}

const dot = () => el('span', { class: 'dot', role: 'img', 'aria-label': 'new activity' });

function drawNetTabs() {
  $('net-tabs').replaceChildren(...state.cast.networks.map((n) => tabButton('tab-' + n.name, n.name === state.network,
    () => selectNetwork(n.name), n.label, state.unreadNet.has(n.name) ? dot() : null)));
}

function drawDeskTabs() {
  $('desk-tabs').replaceChildren(...state.cast.desks.map((d) => tabButton('desk-' + d.name, d.name === state.desk,
    () => selectDesk(d.name), d.label,
    state.cast.channels.some((c) => c.desk === d.name && state.unreadChan.has(d.name + '/' + c.id)) && d.name !== state.desk ? dot() : null)));
}

function drawChanTabs() {
  $('chan-tabs').replaceChildren(...state.cast.channels.filter((c) => c.desk === state.desk).map((c) => tabButton('chan-' + c.id,
    c.id === state.channel, () => selectChannel(c.id), '#' + c.name,
    c.forum ? el('span', { class: 'team-badge' }, 'forum') : null,
    c.team ? el('span', { class: 'team-badge' }, 'team') : null,
    state.unreadChan.has(state.desk + '/' + c.id) ? dot() : null)));
  const c = channelInfo(state.channel);
  $('chan-purpose').textContent = c ? `Queue “${c.queue}”. ${c.purpose}` : '';
  $('slash-chan').textContent = c ? '#' + c.name : '';
  const none = c && c.forum;
  $('slash-row').hidden = none;
  $('slash-none').hidden = !none;
  $('slash-none').textContent = none ? 'A Discord forum has no message box: open a post and type the slash command there.' : '';
  $('slash-list').replaceChildren(...(state.cast.slash_commands[state.desk] || []).map((s) => el('option', { value: s.command + ' ' },
    `${s.command} ${s.usage || ''} — ${s.description}`)));
}

function drawHandles() {
  const list = state.cast.customers[state.network] || [];
  $('handles').replaceChildren(...list.map((c) => el('option', { value: c.handle }, `${c.name} (${c.display})`)));
  const n = netInfo(state.network);
  const words = state.cast.keywords.join(', ');
  const tags = state.network === 'mastodon' ? ` or a watched hashtag (#${state.cast.hashtags.join(', #')})` : '';
  $('post-text').placeholder = state.network === 'webhook'
    ? 'Two weeks and still no refund for my cancelled flight.'
    : `${n.brand.replace(/@fake\.social$/, '')} my train is 40 minutes late and nobody says why`;
  $('post-hint').textContent = state.network === 'webhook'
    ? 'Everything posted on the review site reaches the brand (it is sent to Earshot signed, as a webhook).'
    : `Mention ${n.brand}, or use a watched word (${words})${tags}, and a case opens in the team chat.`;
}

async function selectNetwork(name) {
  state.network = name;
  state.unreadNet.delete(name);
  clearReply();
  drawNetTabs();
  drawHandles();
  await refreshPublic();
}

function selectDesk(name) {
  state.desk = name;
  state.channel = state.channelBy[name];
  state.as = state.asBy[name];
  state.cards = null;
  closeThread();
  drawDeskTabs();
  drawStaff();
  selectChannel(state.channel);
}

function selectChannel(id) {
  state.channel = id;
  state.channelBy[state.desk] = id;
  state.unreadChan.delete(state.desk + '/' + id);
  closeThread();
  drawDeskTabs();
  drawChanTabs();
  refreshChannel();
}

function drawStaff() {
  const sel = $('staff');
  sel.replaceChildren(...state.cast.staff.filter((p) => p.desk === state.desk).map((p) => el('option', { value: p.id },
    `${p.name} — ${p.role || 'not staff'}`)));
  sel.value = state.as;
  const p = person(state.as);
  $('staff-about').textContent = p ? p.about : '';
  const undo = state.cast.undo_seconds;
  const cmds = state.desk === 'slack'
    ? ['Slack runs no slash commands in threads: type ', el('code', {}, '!claim'), ', ', el('code', {}, '!dm'), ', ',
      el('code', {}, '!escalate network-ops'), ', ', el('code', {}, '!resolve fixed'), ' here instead.']
    : [el('code', {}, '/claim'), ', ', el('code', {}, '/resolve fixed'), ' and the ', el('code', {}, '!'), ' commands work here.'];
  $('say-hint').replaceChildren(
    'As the claimer, what you write here is the reply: it is published after the ', el('strong', {}, `${undo} s undo window`),
    ' (edit or delete it before then). Start with ', el('code', {}, 'note:'), ' or ', el('code', {}, '//'), ' for a note. ',
    ...cmds, ' Enter sends, Shift+Enter is a new line.');
}

// ---- Public ----

const refreshPublic = refresher(async () => {
  const net = state.network;
  const data = await api('GET', '/api/public/' + encodeURIComponent(net));
  if (net !== state.network) return;
  state.public = data;
  drawPublic();
});

function drawPublic() {
  const d = state.public;
  const byID = new Map(d.posts.map((p) => [p.id, p]));
  $('timeline-count').textContent = d.total > d.posts.length ? `(latest ${d.posts.length} of ${d.total})` : `(${d.total})`;
  const tl = $('timeline');
  if (!d.posts.length) {
    tl.replaceChildren(el('li', { class: 'empty' }, 'Nothing posted yet on this network.'));
  } else {
    tl.replaceChildren(...d.posts.map((p) => {
      const parent = p.in_reply_to ? byID.get(p.in_reply_to) : null;
      return el('li', { class: 'post' + (p.brand ? ' brand' : ''), 'data-id': p.id },
        el('div', {},
          el('span', { class: 'who' }, p.name || p.author), ' ',
          el('span', { class: 'handle' }, p.author), ' ',
          p.brand ? el('span', { class: 'badge' }, 'brand reply') : null, ' ',
          timeEl(p.at)),
        p.in_reply_to ? el('div', { class: 'ctx' }, '↪ in reply to ',
          parent ? `${parent.author}: “${parent.text.slice(0, 80)}${parent.text.length > 80 ? '…' : ''}”` : 'an earlier post') : null,
        el('p', { class: 'text' }, p.text),
        p.brand ? null : el('button', { type: 'button', class: 'link', onclick: () => startReply(p) }, 'Reply'));
    }));
  }
  const dms = $('dms');
  if (!d.dms.length) {
    dms.replaceChildren(el('li', { class: 'empty' }, 'No direct messages yet. Staff move a case to DM with the card’s “Move to DM” button or !dm.'));
  } else {
    dms.replaceChildren(...d.dms.map((m) => el('li', { class: 'post' + (m.brand ? ' brand' : '') },
      el('div', {}, el('span', { class: 'who' }, m.from), m.to ? ` → ${m.to} ` : ' ', timeEl(m.at)),
      el('p', { class: 'text' }, m.text))));
  }
}

function startReply(p) {
  state.replyTo = p;
  $('replying').hidden = false;
  $('replying-text').textContent = `Replying to ${p.author}: “${p.text.slice(0, 60)}${p.text.length > 60 ? '…' : ''}”`;
  $('post-direct').checked = false;
  $('post-text').focus();
}

function clearReply() {
  state.replyTo = null;
  $('replying').hidden = true;
}

async function submitPost(ev) {
  ev.preventDefault();
  const err = $('post-error');
  err.textContent = '';
  const handle = $('post-handle').value.trim().replace(/^@/, '').toLowerCase();
  const text = $('post-text').value.trim();
  if (!/^[a-z0-9_]{1,15}$/.test(handle)) { err.textContent = 'Pick a customer handle: 1 to 15 letters, digits or _.'; $('post-handle').focus(); return; }
  if (!text) { err.textContent = 'Write something first.'; $('post-text').focus(); return; }
  const btn = ev.submitter || $('post-form').querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    await api('POST', '/api/public/post', {
      network: state.network, handle, text, in_reply_to: state.replyTo ? state.replyTo.id : '', direct: $('post-direct').checked,
    });
    $('post-text').value = '';
    clearReply();
    if (!(state.cast.customers[state.network] || []).some((c) => c.handle === handle)) loadCast();
    refreshPublic();
  } catch (e) {
    err.textContent = e.message;
  } finally {
    btn.disabled = false;
  }
}

// ---- Team chat ----

function drawBlocks(blocks, msg) {
  const out = [];
  for (const b of blocks || []) {
    switch (b.type) {
      case 'header':
        out.push(el('div', { class: 'block-header' }, textNode(b.text)));
        break;
      case 'section':
        if (b.text) out.push(el('div', { class: 'block-section' }, textNode(b.text)));
        if (b.fields && b.fields.length) out.push(el('div', { class: 'fields' }, b.fields.map((f) => el('div', { class: 'field' }, textNode(f)))));
        if (b.actions && b.actions.length) out.push(drawActions(b.actions, msg));
        break;
      case 'context':
        out.push(el('div', { class: 'block-context' }, (b.elements || []).map((t, i) => [i ? ' · ' : '', textNode(t)])));
        break;
      case 'actions':
        if (msg) out.push(drawActions(b.actions || [], msg));
        break;
      case 'divider':
        out.push(el('hr'));
        break;
    }
  }
  return out;
}

function drawActions(actions, msg) {
  return el('div', { class: 'actions' }, actions.map((a) => {
    if (a.type === 'select') {
      const id = `sel-${msg.id}-${a.id}`.replace(/[^a-zA-Z0-9_-]/g, '_');
      const sel = el('select', { id, onchange: (ev) => { if (ev.target.value) press(msg, a.id, ev.target.value, ev.target); } },
        el('option', { value: '' }, a.label || 'Choose…'),
        (a.options || []).map((o) => el('option', { value: o.value }, o.label)));
      return el('span', {}, el('label', { for: id, class: 'sr-only' }, a.label || 'Choose'), sel);
    }
    return el('button', { type: 'button', class: a.style === 'primary' ? 'primary' : (a.style === 'danger' ? 'danger' : ''),
      onclick: (ev) => press(msg, a.id, '', ev.currentTarget) }, a.label);
  }));
}

async function press(msg, action, option, control) {
  if (control) control.disabled = true;
  try {
    await api('POST', '/api/desk/press', { desk: msg.desk, channel: msg.channel, id: msg.id, as: state.as, action, option });
  } catch (e) {
    showError(e.message);
  } finally {
    if (control) setTimeout(() => { control.disabled = false; }, 400);
  }
}

function showError(msg) {
  (state.thread ? $('say-error') : $('slash-error')).textContent = msg;
}

const refreshChannel = refresher(async () => {
  const desk = state.desk, ch = state.channel;
  const q = state.as ? '?as=' + encodeURIComponent(state.as) : '';
  const data = await api('GET', `/api/desk/${desk}/${encodeURIComponent(ch)}${q}`);
  if (ch !== state.channel || desk !== state.desk) return;
  state.cards = data;
  drawCards();
});

function drawCards() {
  const d = state.cards;
  const forum = (channelInfo(state.channel) || {}).forum;
  const what = forum ? 'post' : 'message';
  $('cards-count').textContent = d.total
    ? (d.total > d.cards.length ? `Latest ${d.cards.length} of ${d.total} ${what}s, newest first.` : `${d.total} ${what}${d.total === 1 ? '' : 's'}, newest first.`)
    : '';
  const list = $('cards');
  if (!d.cards.length) {
    list.replaceChildren(el('li', { class: 'empty' }, 'No cases here yet. Post a complaint on the left and its card appears here.'));
  } else {
    if (list.firstElementChild && !list.firstElementChild.dataset.key) list.replaceChildren();
    reconcile(list, d.cards, (m) => m.desk + m.id, (m) => el('li', { class: 'card' + (m.thread && m.thread === state.thread ? ' open' : ''), 'data-id': m.id, 'data-case': m.case_id || '' },
      m.blocks && m.blocks.length ? drawBlocks(m.blocks, m) : el('div', { class: 'block-section' }, el('strong', {}, m.author), ': ', textNode(m.text)),
      el('div', { class: 'card-foot' },
        el('span', { class: 'hint' }, m.tags && m.tags.length ? el('span', { class: 'tags' }, m.tags.map((t) => el('span', { class: 'tag' }, t))) : null, timeEl(m.at)),
        m.thread ? el('button', { type: 'button', class: 'link open-thread', onclick: () => openThread(m.thread) },
          m.replies ? `Open thread (${m.replies} repl${m.replies === 1 ? 'y' : 'ies'})` : 'Open thread') : null)),
    state.thread);
  }
  drawNotices($('notices'), d.notices.filter((n) => !state.thread || n.thread !== state.thread));
}

function drawNotices(box, notices) {
  box.replaceChildren(...notices.slice(-4).map((n) => el('div', { class: 'notice' },
    el('span', { class: 'only' }, 'Only visible to you' + (n.thread && n.thread !== state.thread ? ' · in a thread' : '')),
    n.text ? textNode(n.text) : null,
    n.blocks && n.blocks.length ? drawBlocks(n.blocks, null) : null)));
}

function openThread(thread) {
  state.thread = thread;
  state.editing = '';
  $('thread-pane').hidden = false;
  document.querySelector('.team-cols').classList.remove('no-thread');
  if (state.cards) drawCards();
  refreshThread().then(() => $('say-text').focus());
}

function closeThread() {
  state.thread = '';
  state.threadData = null;
  $('thread-pane').hidden = true;
  document.querySelector('.team-cols').classList.add('no-thread');
  for (const li of document.querySelectorAll('#cards .card.open')) li.classList.remove('open');
}

const refreshThread = refresher(async () => {
  if (!state.thread) return;
  const th = state.thread, ch = state.channel, desk = state.desk;
  const q = state.as ? '?as=' + encodeURIComponent(state.as) : '';
  let data;
  try {
    data = await api('GET', `/api/desk/${desk}/${encodeURIComponent(ch)}/thread/${encodeURIComponent(th)}${q}`);
  } catch (e) {
    if (th === state.thread) closeThread();
    return;
  }
  if (th !== state.thread || ch !== state.channel || desk !== state.desk) return;
  state.threadData = data;
  drawThread();
});

function pendingLeft(m) {
  if (!m.marks || !m.marks.some((k) => k.state === 'pending')) return -1;
  const left = Math.ceil(state.cast.undo_seconds - (Date.now() - new Date(m.at).getTime()) / 1000);
  return Math.max(left, 0);
}

function drawThread() {
  const d = state.threadData;
  const root = d.messages[0];
  $('thread-title').textContent = root && root.case_id ? `Thread of ${root.case_id}` : 'Thread';
  reconcile($('thread'), d.messages, (m) => m.desk + m.id, (m) => drawMessage(m, m === root), `${state.as}|${state.editing}`);
  drawNotices($('thread-notices'), d.notices);
  const t = $('thread');
  if (t.dataset.count !== String(d.messages.length)) { t.scrollTop = t.scrollHeight; t.dataset.count = String(d.messages.length); }
}

const markTitles = {
  pending: 'pending: waiting out the undo window', sent: 'sent: published', failed: 'failed: see the line below',
  not_sent: 'not sent: see the private note', cancelled: 'cancelled: deleted inside the undo window', uncertain: 'uncertain: check the link',
};
const markTitle = (k) => markTitles[k.state] || k.emoji;

function drawMessage(m, isRoot) {
  if (isRoot && m.blocks && m.blocks.length) {
    return el('li', { class: 'msg root' }, el('div', { class: 'card open' }, drawBlocks(m.blocks, m)));
  }
  const mine = !m.bot && m.author_id === state.as;
  const customer = m.bot && m.as;
  const left = pendingLeft(m);
  const head = el('div', {},
    el('span', { class: 'who' }, customer ? m.as : m.author), ' ',
    customer ? el('span', { class: 'badge muted' }, 'customer, via Earshot') : null, ' ',
    timeEl(m.at), m.edited ? el('span', { class: 'hint' }, ' (edited)') : null,
    m.marks && m.marks.length ? el('span', { class: 'marks' }, m.marks.map((k) => el('span', {
      class: 'mark', role: 'img', title: markTitle(k), 'aria-label': markTitle(k) }, k.emoji))) : null,
    left >= 0 ? el('span', { class: 'pending-note', 'data-id': m.id }, left > 0 ? `goes out in ${left} s` : 'publishing…') : null,
    mine && state.editing !== m.id ? el('span', { class: 'msg-tools' },
      el('button', { type: 'button', 'aria-label': 'Edit your message', onclick: () => { state.editing = m.id; drawThread(); } }, 'Edit'),
      el('button', { type: 'button', class: 'danger', 'aria-label': 'Delete your message', onclick: () => deleteMessage(m) }, 'Delete')) : null);
  let body;
  if (state.editing === m.id) {
    const id = 'edit-' + m.id.replace('.', '_');
    const raw = m.text ? (m.text.kind === 'mrkdwn' ? unescapeSlack(m.text.text) : m.text.text) : '';
    const ta = el('textarea', { id, rows: 2, maxlength: 4000 }, raw);
    body = el('form', { class: 'edit-box', onsubmit: (ev) => { ev.preventDefault(); saveEdit(m, ta.value); } },
      el('label', { for: id, class: 'sr-only' }, 'Edit your message'), ta,
      el('div', { class: 'row' }, el('button', { type: 'submit', class: 'primary' }, 'Save'),
        el('button', { type: 'button', onclick: () => { state.editing = ''; drawThread(); } }, 'Cancel')));
    setTimeout(() => ta.focus(), 0);
  } else {
    body = el('div', {}, m.text ? el('p', { class: 'text' }, textNode(m.text)) : null, drawBlocks(m.blocks, m));
  }
  return el('li', { class: 'msg' + (m.bot ? ' bot' : '') + (customer ? ' customer' : ''), 'data-id': m.id }, head, body);
}

// The countdown of pending replies ticks without refetching.
setInterval(() => {
  if (!state.threadData) return;
  for (const span of document.querySelectorAll('.pending-note')) {
    const m = state.threadData.messages.find((x) => x.id === span.dataset.id);
    if (!m) continue;
    const left = pendingLeft(m);
    span.textContent = left > 0 ? `goes out in ${left} s` : 'publishing…';
  }
}, 1000);

async function say(ev) {
  ev.preventDefault();
  const err = $('say-error');
  err.textContent = '';
  const text = $('say-text').value.trim();
  if (!text) { err.textContent = 'Write something first.'; return; }
  try {
    if (text.startsWith('/')) {
      await api('POST', '/api/desk/slash', { desk: state.desk, channel: state.channel, thread: state.thread, as: state.as, line: text });
    } else {
      await api('POST', '/api/desk/say', { desk: state.desk, channel: state.channel, thread: state.thread, as: state.as, text });
    }
    $('say-text').value = '';
  } catch (e) {
    err.textContent = e.message;
  }
}

async function saveEdit(m, text) {
  try {
    await api('POST', '/api/desk/edit', { desk: m.desk, channel: m.channel, id: m.id, as: state.as, text });
    state.editing = '';
  } catch (e) {
    $('say-error').textContent = e.message;
  }
}

async function deleteMessage(m) {
  try {
    await api('POST', '/api/desk/delete', { desk: m.desk, channel: m.channel, id: m.id, as: state.as });
  } catch (e) {
    $('say-error').textContent = e.message;
  }
}

async function slash(ev) {
  ev.preventDefault();
  const err = $('slash-error');
  err.textContent = '';
  const line = $('slash-text').value.trim();
  if (!line.startsWith('/')) { err.textContent = 'A slash command starts with / — try /earshot help.'; return; }
  try {
    await api('POST', '/api/desk/slash', { desk: state.desk, channel: state.channel, thread: '', as: state.as, line });
    $('slash-text').value = '';
  } catch (e) {
    err.textContent = e.message;
  }
}

// ---- live updates ----

function refreshAll() {
  refreshPublic();
  refreshChannel();
  refreshThread();
}

function connect() {
  const live = $('live');
  const es = new EventSource('/api/events');
  es.addEventListener('hello', () => { live.textContent = 'live'; live.className = 'live on'; refreshAll(); });
  es.addEventListener('change', (ev) => {
    let c;
    try { c = JSON.parse(ev.data); } catch (_) { return; }
    for (const n of c.public || []) {
      if (n === state.network) refreshPublic(); else state.unreadNet.add(n);
    }
    let here = false;
    for (const key of c.channels || []) {
      if (key === state.desk + '/' + state.channel) here = true;
      else state.unreadChan.add(key);
    }
    if (here || c.notices) { refreshChannel(); refreshThread(); }
    drawNetTabs();
    drawDeskTabs();
    drawChanTabs();
  });
  es.onerror = () => { live.textContent = 'reconnecting…'; live.className = 'live off'; };
}

async function loadCast() {
  state.cast = await api('GET', '/api/cast');
  drawNetTabs();
  drawHandles();
}

async function init() {
  await loadCast();
  for (const d of state.cast.desks) {
    state.channelBy[d.name] = state.cast.channels.find((c) => c.desk === d.name).id;
    state.asBy[d.name] = state.cast.staff.find((p) => p.desk === d.name).id;
  }
  state.desk = state.cast.desks[0].name;
  state.channel = state.channelBy[state.desk];
  state.as = state.asBy[state.desk];
  $('post-handle').value = (state.cast.customers[state.network] || [{ handle: 'ana' }])[0].handle;
  drawDeskTabs();
  drawStaff();
  drawChanTabs();
  closeThread();
  $('post-form').addEventListener('submit', submitPost);
  $('post-text').addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) $('post-form').requestSubmit(); });
  $('cancel-reply').addEventListener('click', clearReply);
  $('post-direct').addEventListener('change', () => { if ($('post-direct').checked) clearReply(); });
  $('staff').addEventListener('change', (ev) => {
    state.as = ev.target.value;
    state.asBy[state.desk] = state.as;
    drawStaff();
    refreshChannel();
    refreshThread();
  });
  $('slash-form').addEventListener('submit', slash);
  $('say-form').addEventListener('submit', say);
  $('say-text').addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); $('say-form').requestSubmit(); } });
  $('close-thread').addEventListener('click', closeThread);
  connect();
}

init().catch((e) => { $('live').textContent = 'could not load: ' + e.message; $('live').className = 'live off'; });
