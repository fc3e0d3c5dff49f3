// banter web client: plain IRC over the IRCv3 WebSocket transport
// (text.ircv3.net, one line per message). No framework, no build step.
'use strict';

// ---- state ----------------------------------------------------------------

const S = {
  ws: null,
  mode: 'login',          // or 'register'
  account: '',
  password: '',
  nick: '',
  registered: false,      // 001 seen on this connection
  everRegistered: false,  // logged in at least once: reconnect on loss
  loggingOut: false,
  authError: '',          // why the server refused the login, if it did
  caps: new Set(),
  prefix: { modes: 'ov', symbols: '@+' },
  chantypes: '#&',
  historyLimit: 0,        // 0: no CHATHISTORY
  buffers: new Map(),     // folded name -> buffer
  current: '',
  rooms: [],              // LIST results: {name, count, topic}
  pendingRooms: null,
  pendingNames: new Map(),
  batches: new Map(),     // batch id -> {target, lines}
  retries: 0,
  retryTimer: null,
  lastHeard: 0,
};

const SERVER = '*server*';
const MAX_LINES = 1000;
const $ = (id) => document.getElementById(id);

// ---- IRC lines --------------------------------------------------------------

function unescapeTag(v) {
  return v.replace(/\\(.)?/g, (_, c) => ({ ':': ';', s: ' ', r: '\r', n: '\n' })[c] ?? (c || ''));
}

/** Parses one line into {tags, source, nick, command, params}. */
function parse(line) {
  const msg = { tags: {}, source: '', nick: '', command: '', params: [] };
  let rest = line;
  if (rest.startsWith('@')) {
    const sp = rest.indexOf(' ');
    for (const tag of rest.slice(1, sp).split(';')) {
      const eq = tag.indexOf('=');
      if (eq < 0) msg.tags[tag] = '';
      else msg.tags[tag.slice(0, eq)] = unescapeTag(tag.slice(eq + 1));
    }
    rest = rest.slice(sp + 1).trimStart();
  }
  if (rest.startsWith(':')) {
    const sp = rest.indexOf(' ');
    msg.source = rest.slice(1, sp);
    msg.nick = msg.source.split('!')[0];
    rest = rest.slice(sp + 1).trimStart();
  }
  while (rest.length) {
    if (rest.startsWith(':')) { msg.params.push(rest.slice(1)); break; }
    const sp = rest.indexOf(' ');
    if (sp < 0) { msg.params.push(rest); break; }
    msg.params.push(rest.slice(0, sp));
    rest = rest.slice(sp + 1).trimStart();
  }
  msg.command = (msg.params.shift() || '').toUpperCase();
  return msg;
}

/** Sends a command; the last parameter becomes a trailing one when it must. */
function send(...parts) {
  const last = parts.length - 1;
  if (last > 0 && (parts[last] === '' || parts[last].includes(' ') || parts[last].startsWith(':'))) {
    parts[last] = ':' + parts[last];
  }
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(parts.join(' '));
}

/** RFC 1459 case folding, as banterd compares names. */
function fold(name) {
  return name.toLowerCase().replace(/[[\]\\~]/g, (c) => ({ '[': '{', ']': '}', '\\': '|', '~': '^' })[c]);
}

const isChannel = (name) => S.chantypes.includes(name[0]);
const isMe = (nick) => fold(nick) === fold(S.nick);

// ---- connection ---------------------------------------------------------------

function socketUrl() {
  const url = new URL('.', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

function connect() {
  clearTimeout(S.retryTimer);
  S.registered = false;
  S.authError = '';
  S.caps.clear();
  setConnState('connecting…');
  let ws;
  try {
    ws = new WebSocket(socketUrl(), ['text.ircv3.net']);
  } catch (e) {
    onClosed();
    return;
  }
  S.ws = ws;
  ws.onopen = () => {
    S.lastHeard = Date.now();
    send('CAP', 'LS', '302');
    // Registering: NICK first, so REGISTER's "*" names the account after it.
    send('NICK', S.account);
    send('USER', S.account, '0', '*', S.account);
  };
  ws.onmessage = (ev) => {
    S.lastHeard = Date.now();
    if (typeof ev.data === 'string') handle(parse(ev.data));
  };
  ws.onclose = () => { if (S.ws === ws) onClosed(); };
}

function onClosed() {
  S.ws = null;
  const wasRegistered = S.registered;
  S.registered = false;
  if (S.loggingOut) { showLogin(''); return; }
  if (!S.everRegistered || S.authError) {
    showLogin(S.authError || 'Could not reach the chat server. Check your connection and try again.');
    return;
  }
  if (wasRegistered) S.retries = 0;
  for (const b of S.buffers.values()) b.members.clear();
  renderMembers();
  const delay = Math.min(30, 2 ** S.retries) * 1000;
  S.retries++;
  setConnState(`disconnected — reconnecting in ${delay / 1000}s`);
  addLine(SERVER, { kind: 'error', text: 'Connection lost. Reconnecting…' });
  S.retryTimer = setTimeout(connect, delay);
}

// Quiet sockets on sleeping phones die silently: ping, and give up on silence.
setInterval(() => {
  if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return;
  if (Date.now() - S.lastHeard > 150000) { S.ws.close(); return; }
  if (S.registered) send('PING', 'keepalive');
}, 60000);

// Member counts of the rooms we are not in change too.
setInterval(() => { if (S.registered) send('LIST'); }, 30000);

const WANTED_CAPS = ['server-time', 'message-tags', 'batch', 'echo-message', 'draft/chathistory',
  'multi-prefix', 'away-notify'];

// ---- what the server says ------------------------------------------------------

const handlers = {
  PING: (m) => send('PONG', m.params[0] || ''),
  CAP: (m) => {
    const sub = m.params[1];
    if (sub === 'LS') {
      const more = m.params[2] === '*';
      const list = m.params[more ? 3 : 2] || '';
      S.offered = (S.offered || []).concat(list.split(' ').map((c) => c.split('=')[0]));
      if (more) return;
      const want = WANTED_CAPS.filter((c) => S.offered.includes(c));
      if (S.mode === 'login') {
        if (!S.offered.includes('sasl')) return authFailed('This server does not offer password log-in (SASL).');
        want.push('sasl');
      }
      S.offered = [];
      if (want.length) send('CAP', 'REQ', want.join(' '));
      else startAuth();
    } else if (sub === 'ACK') {
      for (const c of m.params[2].split(' ')) S.caps.add(c.replace(/^-/, ''));
      startAuth();
    } else if (sub === 'NAK') {
      startAuth();
    }
  },
  AUTHENTICATE: (m) => {
    if (m.params[0] !== '+') return;
    const utf8 = new TextEncoder().encode(`${S.account}\0${S.account}\0${S.password}`);
    let bin = '';
    for (const b of utf8) bin += String.fromCharCode(b);
    const b64 = btoa(bin);
    for (let i = 0; i < b64.length; i += 400) send('AUTHENTICATE', b64.slice(i, i + 400));
    if (b64.length % 400 === 0) send('AUTHENTICATE', '+');
  },
  903: () => send('CAP', 'END'),
  904: () => authFailed('Wrong name or password.'),
  902: () => authFailed('That account is not available right now.'),
  905: () => authFailed('That password is too long.'),
  REGISTER: (m) => {
    if (m.params[0] === 'SUCCESS') send('CAP', 'END');
    else if (m.params[0] === 'VERIFICATION_REQUIRED') authFailed('The account needs e-mail verification, which this page cannot do.');
  },
  FAIL: (m) => {
    const [command, code] = m.params;
    const text = m.params[m.params.length - 1];
    if (command === 'REGISTER') return authFailed(REGISTER_ERRORS[code] || text);
    showError(FAIL_ERRORS[code] || text);
  },
  '001': (m) => {
    S.nick = m.params[0];
    S.registered = true;
    S.everRegistered = true;
    S.retries = 0;
    setConnState('');
    showChat();
    const rejoin = [...S.buffers.values()].filter((b) => b.kind === 'room' && b.joined).map((b) => b.name);
    for (const b of S.buffers.values()) if (b.kind === 'room') b.joined = false;
    if (rejoin.length) send('JOIN', rejoin.join(','));
    send('LIST');
  },
  '005': (m) => {
    for (const token of m.params.slice(1, -1)) {
      const [key, value = ''] = token.split('=');
      if (key === 'PREFIX') {
        const match = /^\(([^)]*)\)(.*)$/.exec(value);
        if (match) S.prefix = { modes: match[1], symbols: match[2] };
      } else if (key === 'CHANTYPES') S.chantypes = value;
      else if (key === 'CHATHISTORY') S.historyLimit = Math.min(Number(value) || 50, 50);
    }
  },
  433: (m) => {
    if (S.registered) return showError(`The nick ${m.params[1]} is already taken.`);
    // Someone (perhaps this account in another tab) has the name: take another.
    const next = m.params[1] + '_';
    if (next.length > 30) return authFailed('That name is already in use.');
    send('NICK', next);
  },
  432: (m) => {
    if (!S.registered) return authFailed(NAME_RULES);
    showError(NAME_RULES);
  },
  ERROR: (m) => {
    const reason = (m.params[0] || '').replace(/^Closing Link: \S+ \((.*)\)$/, '$1');
    if (!S.registered && !S.loggingOut) S.authError = S.authError || `The server closed the connection: ${reason}`;
    else if (!S.loggingOut) addLine(SERVER, { kind: 'error', text: `Disconnected: ${reason}` });
  },
  JOIN: (m) => {
    const name = m.params[0];
    const b = buffer(name, 'room');
    if (isMe(m.nick)) {
      b.joined = true;
      b.members.clear();
      select(b.key);
      if (S.caps.has('draft/chathistory') && S.historyLimit) send('CHATHISTORY', 'LATEST', name, '*', String(S.historyLimit));
      if (S.caps.has('away-notify')) send('WHO', name);
      send('LIST');
    } else {
      b.members.set(fold(m.nick), { nick: m.nick, prefix: '', away: false });
      addLine(b.key, { kind: 'join', time: m.time, text: `${m.nick} joined`, detail: m.source.split('!')[1] || '' });
    }
    renderMembers();
  },
  PART: (m) => {
    const b = S.buffers.get(fold(m.params[0]));
    if (!b) return;
    const reason = m.params[1] ? ` (${m.params[1]})` : '';
    if (isMe(m.nick)) {
      closeBuffer(b.key);
      send('LIST');
    } else {
      b.members.delete(fold(m.nick));
      addLine(b.key, { kind: 'part', time: m.time, text: `${m.nick} left${reason}` });
      renderMembers();
    }
  },
  KICK: (m) => {
    const b = S.buffers.get(fold(m.params[0]));
    if (!b) return;
    const text = `${m.params[1]} was removed by ${m.nick}` + (m.params[2] ? ` (${m.params[2]})` : '');
    if (isMe(m.params[1])) { b.joined = false; b.members.clear(); showError(`You were removed from ${b.name} by ${m.nick}.`); }
    else b.members.delete(fold(m.params[1]));
    addLine(b.key, { kind: 'part', time: m.time, text });
    renderMembers();
  },
  QUIT: (m) => {
    const reason = m.params[0] ? ` (${m.params[0]})` : '';
    for (const b of S.buffers.values()) {
      if (b.members.delete(fold(m.nick)) || (b.kind === 'pm' && b.key === fold(m.nick))) {
        addLine(b.key, { kind: 'part', time: m.time, text: `${m.nick} quit${reason}` });
      }
    }
    renderMembers();
  },
  NICK: (m) => {
    const to = m.params[0];
    if (isMe(m.nick)) { S.nick = to; $('me-name').textContent = to; }
    for (const b of S.buffers.values()) {
      const member = b.members.get(fold(m.nick));
      if (!member) continue;
      b.members.delete(fold(m.nick));
      b.members.set(fold(to), { ...member, nick: to });
      addLine(b.key, { kind: 'event', time: m.time, text: `${m.nick} is now ${to}` });
    }
    renderMembers();
  },
  MODE: (m) => {
    const b = S.buffers.get(fold(m.params[0]));
    if (!b) return;
    let adding = true;
    let arg = 2;
    for (const c of m.params[1] || '') {
      if (c === '+' || c === '-') { adding = c === '+'; continue; }
      const i = S.prefix.modes.indexOf(c);
      if (i < 0) { if ('beIkl'.includes(c) && (adding || c !== 'l')) arg++; continue; }
      const member = b.members.get(fold(m.params[arg++] || ''));
      if (!member) continue;
      const sym = S.prefix.symbols[i];
      member.prefix = adding ? sortPrefix(member.prefix + sym) : member.prefix.replace(sym, '');
    }
    addLine(b.key, { kind: 'event', time: m.time, text: `${m.nick} set mode ${m.params.slice(1).join(' ')}` });
    renderMembers();
  },
  AWAY: (m) => {
    for (const b of S.buffers.values()) {
      const member = b.members.get(fold(m.nick));
      if (member) member.away = m.params.length > 0;
    }
    renderMembers();
  },
  TOPIC: (m) => {
    const b = buffer(m.params[0], 'room');
    b.topic = m.params[1] || '';
    addLine(b.key, { kind: 'event', time: m.time, text: `${m.nick} set the topic: ${b.topic}` });
    renderTitle();
  },
  332: (m) => { buffer(m.params[1], 'room').topic = m.params[2]; renderTitle(); },
  353: (m) => {
    const key = fold(m.params[2]);
    const names = S.pendingNames.get(key) || [];
    for (const word of (m.params[3] || '').split(' ').filter(Boolean)) {
      let i = 0;
      while (i < word.length && S.prefix.symbols.includes(word[i])) i++;
      const nick = word.slice(i).split('!')[0];
      names.push({ nick, prefix: word.slice(0, i), away: false });
    }
    S.pendingNames.set(key, names);
  },
  366: (m) => {
    const key = fold(m.params[1]);
    const b = S.buffers.get(key);
    const names = S.pendingNames.get(key) || [];
    S.pendingNames.delete(key);
    if (!b) return;
    const old = b.members;
    b.members = new Map(names.map((n) => [fold(n.nick), { ...n, away: old.get(fold(n.nick))?.away || false }]));
    if (b.key === S.current && b.joined && !b.namesShown) {
      b.namesShown = true;
      const count = b.members.size;
      addLine(b.key, { kind: 'event', text: `You joined ${b.name}: ${count} ${count === 1 ? 'member' : 'members'} here.` });
    }
    renderMembers();
  },
  352: (m) => {
    const b = S.buffers.get(fold(m.params[1]));
    const member = b && b.members.get(fold(m.params[5]));
    if (member) member.away = (m.params[6] || '').startsWith('G');
  },
  315: () => renderMembers(),
  321: () => { S.pendingRooms = []; },
  322: (m) => {
    (S.pendingRooms ||= []).push({ name: m.params[1], count: Number(m.params[2]) || 0, topic: m.params[3] || '' });
  },
  323: () => {
    S.rooms = (S.pendingRooms || []).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
    S.pendingRooms = null;
    renderRooms();
  },
  BATCH: (m) => {
    const ref = m.params[0];
    if (ref.startsWith('+')) S.batches.set(ref.slice(1), { type: m.params[1], target: m.params[2], lines: [] });
    else {
      const batch = S.batches.get(ref.slice(1));
      S.batches.delete(ref.slice(1));
      if (batch && batch.type === 'chathistory' && batch.target) mergeHistory(batch.target, batch.lines);
    }
  },
  PRIVMSG: (m) => message(m, false),
  NOTICE: (m) => message(m, true),
};

const NAME_RULES = 'That name cannot be used: use up to 30 letters, digits or - _ [ ] { } \\ | ^ `, not starting with a digit or -.';

const REGISTER_ERRORS = {
  ACCOUNT_EXISTS: 'That name is already taken. Pick another, or log in if it is yours.',
  BAD_ACCOUNT_NAME: NAME_RULES,
  WEAK_PASSWORD: 'That password is too short.',
  UNACCEPTABLE_PASSWORD: 'That password cannot be used (it is too long).',
  TEMPORARILY_UNAVAILABLE: 'Accounts cannot be created right now. Try again later.',
  INVALID_EMAIL: 'This server wants an e-mail address to create an account, which this page does not ask for.',
  ALREADY_AUTHENTICATED: 'You are already logged in.',
};

const FAIL_ERRORS = {
  INVALID_UTF8: 'That message had characters the server could not read.',
  INVALID_LINE: 'That message had characters that are not allowed.',
};

// Errors from the server in plain words: numeric -> text (params: the reply's).
const NUMERIC_ERRORS = {
  401: (p) => `No one called ${p[1]} is online.`,
  403: (p) => `There is no room called ${p[1]}.`,
  404: (p) => `You cannot send messages to ${p[1]} (you may need to join it, or it is moderated).`,
  405: (p) => `You are in too many rooms to join ${p[1]}. Leave one first.`,
  417: () => 'That message is too long.',
  421: (p) => `The server does not know the command ${p[1]}.`,
  442: (p) => `You are not in ${p[1]}.`,
  461: (p) => `The command ${p[1]} needs more details.`,
  471: (p) => `${p[1]} is full.`,
  473: (p) => `${p[1]} is invite-only.`,
  474: (p) => `You are banned from ${p[1]}.`,
  475: (p) => `${p[1]} needs a key to join.`,
  476: (p) => `"${p[1]}" is not a valid room name.`,
  479: (p) => `"${p[1]}" is not a valid room name.`,
  482: (p) => `You need to be a room operator in ${p[1]} to do that.`,
  465: () => 'You are banned from this server.',
  464: () => 'This server needs a password this page does not send.',
};

function handle(m) {
  m.time = m.tags.time ? new Date(m.tags.time) : new Date();
  const batch = m.tags.batch && S.batches.get(m.tags.batch);
  if (batch && (m.command === 'PRIVMSG' || m.command === 'NOTICE')) {
    batch.lines.push(m);
    return;
  }
  const handler = handlers[m.command];
  if (handler) handler(m);
  else if (/^(00[2-4]|25\d|26[56]|37[256]|422)$/.test(m.command)) {
    if (S.registered) addLine(SERVER, { kind: 'server', time: m.time, text: m.params.slice(1).join(' ') });
  } else if (NUMERIC_ERRORS[m.command]) showError(NUMERIC_ERRORS[m.command](m.params));
  else if (/^[45]\d\d$/.test(m.command)) showError(m.params[m.params.length - 1]);
}

function startAuth() {
  if (S.registered) return;
  if (S.mode === 'register') send('REGISTER', '*', '*', S.password);
  else if (S.caps.has('sasl')) send('AUTHENTICATE', 'PLAIN');
  else authFailed('This server does not offer password log-in (SASL).');
}

function authFailed(text) {
  S.authError = text;
  if (S.ws) S.ws.close();
}

/** A PRIVMSG or NOTICE, live or from history. */
function message(m, notice, history = false) {
  const [target, raw = ''] = m.params;
  if (!m.source.includes('!')) {
    // from the server itself
    if (history) return null;
    addLine(SERVER, { kind: 'server', time: m.time, text: raw });
    return;
  }
  let text = raw;
  let kind = notice ? 'notice' : 'msg';
  if (text.startsWith('\x01')) {
    const ctcp = text.replace(/^\x01|\x01$/g, '');
    if (!ctcp.startsWith('ACTION ')) return;
    text = ctcp.slice(7);
    kind = 'action';
  }
  const name = isChannel(target) ? target : isMe(m.nick) ? target : m.nick;
  const b = buffer(name, isChannel(name) ? 'room' : 'pm');
  const line = { kind, time: m.time, nick: m.nick, text: stripFormatting(text), id: m.tags.msgid };
  if (history) return line;
  addLine(b.key, line);
  if (!isMe(m.nick) && b.key !== S.current) {
    b.unread++;
    if (b.kind === 'pm' || text.toLowerCase().includes(S.nick.toLowerCase())) b.mention = true;
    renderOpen();
  }
  return line;
}

function mergeHistory(target, msgs) {
  const b = S.buffers.get(fold(target));
  if (!b) return;
  const known = new Set(b.lines.map((l) => l.id).filter(Boolean));
  const lines = msgs.map((m) => message(m, m.command === 'NOTICE', true)).filter((l) => l && !(l.id && known.has(l.id)));
  if (!lines.length) return;
  for (const l of lines) l.history = true;
  b.lines = lines.concat(b.lines).sort((x, y) => x.time - y.time).slice(-MAX_LINES);
  if (b.key === S.current) renderMessages();
}

// IRC bold, colour and the like: shown as plain text.
function stripFormatting(text) {
  return text.replace(/\x03(\d{1,2}(,\d{1,2})?)?|\x04[0-9a-fA-F]{0,6}(,[0-9a-fA-F]{6})?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g, '');
}

// ---- buffers (rooms, private chats, the server) --------------------------------

function buffer(name, kind) {
  const key = fold(name);
  let b = S.buffers.get(key);
  if (!b) {
    b = { key, name, kind, lines: [], members: new Map(), unread: 0, mention: false, joined: false, topic: '' };
    S.buffers.set(key, b);
    renderOpen();
  }
  return b;
}

function addLine(key, line) {
  const b = S.buffers.get(key) || buffer(key === SERVER ? 'banter' : key, key === SERVER ? 'server' : 'pm');
  line.time = line.time || new Date();
  b.lines.push(line);
  if (b.lines.length > MAX_LINES) b.lines.shift();
  if (b.key === S.current) appendLine(line, true);
}

function select(key) {
  const b = S.buffers.get(key);
  if (!b) return;
  S.current = key;
  b.unread = 0;
  b.mention = false;
  renderOpen();
  renderMessages();
  renderMembers();
  renderTitle();
  closeDrawers();
  $('send-text').focus();
}

function closeBuffer(key) {
  const keys = [...S.buffers.keys()];
  S.buffers.delete(key);
  if (S.current === key) {
    const i = Math.max(0, keys.indexOf(key) - 1);
    const next = [...S.buffers.keys()][i] || SERVER;
    select(next);
  }
  renderOpen();
}

// ---- rendering -------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');
const hhmm = (d) => `[${pad(d.getHours())}:${pad(d.getMinutes())}]`;

function nickColour(nick) {
  let h = 0;
  for (const c of fold(nick)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `nc${h % 8}`;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Text with links made clickable, built from text nodes (never HTML). */
function linkified(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(/\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g)) {
    frag.append(text.slice(last, match.index));
    const a = el('a', '', match[0]);
    a.href = match[0];
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    frag.append(a);
    last = match.index + match[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

function lineElement(line) {
  const li = el('li', `line ${line.kind}${line.history ? ' history' : ''}`);
  const time = el('time', 'ts', hhmm(line.time));
  time.dateTime = line.time.toISOString();
  li.append(time, ' ');
  if (line.kind === 'msg' || line.kind === 'notice') {
    li.append(el('span', `nick ${nickColour(line.nick)}`, line.kind === 'notice' ? `-${line.nick}-` : line.nick), ' ');
    li.append(el('span', 'text'));
    li.lastChild.append(linkified(line.text));
  } else if (line.kind === 'action') {
    li.append('* ', el('span', `nick ${nickColour(line.nick)}`, line.nick), ' ');
    li.append(linkified(line.text));
  } else {
    const marks = { join: '→ ', part: '← ', error: '⚠ ' };
    li.append(el('span', 'text', (marks[line.kind] || '') + line.text));
    if (line.detail) li.append(' ', el('span', 'detail', `<${line.detail}>`));
  }
  return li;
}

function appendLine(line, live) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(lineElement(line));
  while (list.children.length > MAX_LINES) list.firstChild.remove();
  if (atBottom || !live || line.nick && isMe(line.nick)) list.scrollTop = list.scrollHeight;
}

function renderMessages() {
  const list = $('messages');
  list.replaceChildren();
  const b = S.buffers.get(S.current);
  if (b) for (const line of b.lines) list.append(lineElement(line));
  list.scrollTop = list.scrollHeight;
  const inRoom = b && b.kind === 'room';
  $('leave').hidden = !b || b.kind === 'server';
  $('leave').textContent = inRoom ? 'Leave' : 'Close';
  $('send-text').placeholder = b && b.kind !== 'server' ? `Message ${b.name}` : 'Type /join room, or pick a room';
}

function renderTitle() {
  const b = S.buffers.get(S.current);
  $('title').textContent = b ? (b.kind === 'server' ? 'banter' : b.name) : 'banter';
  $('topic').textContent = b && b.topic ? b.topic : '';
  const unread = [...S.buffers.values()].reduce((n, x) => n + x.unread, 0);
  document.title = (unread ? `(${unread}) ` : '') + (b && b.kind !== 'server' ? `${b.name} — banter` : 'banter');
}

function renderOpen() {
  const list = $('open-list');
  list.replaceChildren();
  for (const b of S.buffers.values()) {
    const li = el('li');
    const btn = el('button', `item${b.key === S.current ? ' current' : ''}${b.mention ? ' mention' : ''}`);
    btn.dataset.key = b.key;
    btn.append(el('span', 'name', b.kind === 'server' ? 'Server messages' : b.kind === 'pm' ? `@ ${b.name}` : b.name));
    if (b.unread) btn.append(el('span', 'badge', String(b.unread)));
    if (b.key === S.current) btn.setAttribute('aria-current', 'page');
    btn.onclick = () => select(b.key);
    li.append(btn);
    list.append(li);
  }
  renderTitle();
}

function renderRooms() {
  const list = $('room-list');
  list.replaceChildren();
  if (!S.rooms.length) list.append(el('li', 'muted', 'No rooms yet: create one above.'));
  for (const room of S.rooms) {
    // the rooms we are in are counted live
    const b = S.buffers.get(fold(room.name));
    if (b && b.joined && b.members.size) room.count = b.members.size;
    const li = el('li');
    const btn = el('button', 'item');
    btn.title = room.topic || `Join ${room.name}`;
    btn.append(el('span', 'name', room.name), el('span', 'count', `${room.count} ${room.count === 1 ? 'member' : 'members'}`));
    btn.onclick = () => joinRoom(room.name);
    li.append(btn);
    list.append(li);
  }
}

const rank = (prefix) => { const i = S.prefix.symbols.indexOf(prefix[0]); return i < 0 ? 99 : i; };
const sortPrefix = (p) => [...p].sort((a, b) => S.prefix.symbols.indexOf(a) - S.prefix.symbols.indexOf(b)).join('');
const STATUS = { '~': 'owner', '&': 'admin', '@': 'operator', '%': 'half-operator', '+': 'voiced' };

function renderMembers() {
  const b = S.buffers.get(S.current);
  const list = $('member-list');
  list.replaceChildren();
  const room = b && b.kind === 'room';
  $('members').classList.toggle('empty', !room);
  renderRooms();
  if (!room) { $('members-title').textContent = 'Members'; return; }
  const members = [...b.members.values()].sort((x, y) => rank(x.prefix) - rank(y.prefix) || fold(x.nick).localeCompare(fold(y.nick)));
  $('members-title').textContent = `${members.length} ${members.length === 1 ? 'member' : 'members'}`;
  for (const m of members) {
    const li = el('li', m.away ? 'away' : '');
    const btn = el('button', 'item member');
    btn.title = isMe(m.nick) ? 'You' : `Private message to ${m.nick}`;
    btn.append(el('span', 'prefix', m.prefix[0] || ''), el('span', `name ${nickColour(m.nick)}`, m.nick));
    const status = [STATUS[m.prefix[0]], m.away && 'away'].filter(Boolean).join(', ');
    if (status) btn.append(el('span', 'status', status));
    btn.onclick = () => { if (!isMe(m.nick)) select(buffer(m.nick, 'pm').key); };
    li.append(btn);
    list.append(li);
  }
}

function setConnState(text) {
  $('conn-state').textContent = text;
  $('login-status').textContent = text && !S.everRegistered ? text : '';
}

let bannerTimer = null;
function showError(text) {
  const banner = $('banner');
  banner.textContent = text;
  banner.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { banner.hidden = true; }, 8000);
  addLine(S.current || SERVER, { kind: 'error', text });
}

// ---- screens ---------------------------------------------------------------------

function showLogin(error) {
  clearTimeout(S.retryTimer);
  S.everRegistered = false;
  S.loggingOut = false;
  S.password = '';
  S.buffers.clear();
  S.current = '';
  $('chat').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = error;
  $('login-error').hidden = !error;
  $('login-submit').disabled = false;
  setConnState('');
  $(error ? 'login-password' : 'login-name').focus();
}

function showChat() {
  if (!$('chat').hidden) return;
  $('login').hidden = true;
  $('chat').hidden = false;
  $('me-name').textContent = S.account;
  buffer('banter', 'server');
  if (!S.current) select(SERVER);
  if (S.buffers.size === 1) {
    addLine(SERVER, { kind: 'event', text: `Welcome, ${S.account}. Pick a room on the left, or create one.` });
  }
}

function setMode(mode) {
  S.mode = mode;
  $('tab-login').setAttribute('aria-selected', String(mode === 'login'));
  $('tab-register').setAttribute('aria-selected', String(mode === 'register'));
  $('login-submit').textContent = mode === 'login' ? 'Log in' : 'Create account';
  $('login-password').autocomplete = mode === 'login' ? 'current-password' : 'new-password';
}

function joinRoom(text) {
  let name = text.trim().replace(/\s+/g, '-');
  if (!name) return;
  if (!isChannel(name)) name = '#' + name;
  const b = S.buffers.get(fold(name));
  if (b && b.joined) select(b.key);
  else send('JOIN', name);
}

function leave() {
  const b = S.buffers.get(S.current);
  if (!b || b.kind === 'server') return;
  if (b.kind === 'room' && b.joined) send('PART', b.name);
  else closeBuffer(b.key);
}

function logout() {
  S.loggingOut = true;
  send('QUIT', 'Logged out');
  if (S.ws) S.ws.close();
  else showLogin('');
}

/** What the input line says: a message, or a /command. */
function submit(text) {
  const b = S.buffers.get(S.current);
  if (!text.startsWith('/') || text.startsWith('//')) {
    if (text.startsWith('//')) text = text.slice(1);
    if (!b || b.kind === 'server') return showError('Join a room first: pick one on the left, or type /join name.');
    for (const part of splitText(text)) {
      send('PRIVMSG', b.name, part);
      if (!S.caps.has('echo-message')) addLine(b.key, { kind: 'msg', nick: S.nick, text: part });
    }
    return;
  }
  const [cmd, ...args] = text.slice(1).split(' ');
  const rest = args.join(' ');
  switch (cmd.toLowerCase()) {
    case 'join': return joinRoom(rest);
    case 'part': case 'leave': return leave();
    case 'msg': case 'query': {
      const [nick, ...words] = args;
      if (!nick) return showError('Usage: /msg name message');
      select(buffer(nick, 'pm').key);
      if (words.length) submit(words.join(' '));
      return;
    }
    case 'me':
      if (!b || b.kind === 'server') return showError('Join a room first.');
      send('PRIVMSG', b.name, `\x01ACTION ${rest}\x01`);
      if (!S.caps.has('echo-message')) addLine(b.key, { kind: 'action', nick: S.nick, text: rest });
      return;
    case 'topic': return b && b.kind === 'room' && send('TOPIC', b.name, rest);
    case 'list': openDrawer('rooms'); return send('LIST');
    case 'quit': case 'logout': return logout();
    case 'quote': case 'raw': return S.ws && S.ws.send(rest);
    case 'help':
      return addLine(S.current || SERVER, { kind: 'event', text:
        'Commands: /join room, /leave, /msg name text, /me action, /topic text, /list, /logout. ' +
        'Keys: Alt+↑/↓ switch chats, Alt+R rooms, Alt+M members, Esc closes panels.' });
    default:
      return S.ws && S.ws.send(text.slice(1));
  }
}

// Long messages go out in pieces that fit in an IRC line with room for the prefix.
function splitText(text) {
  const parts = [];
  const enc = new TextEncoder();
  let current = '';
  for (const ch of text) {
    if (enc.encode(current + ch).length > 400) { parts.push(current); current = ''; }
    current += ch;
  }
  if (current) parts.push(current);
  return parts;
}

// ---- drawers (narrow screens) ----------------------------------------------------

function openDrawer(id) {
  closeDrawers(id);
  $(id).classList.toggle('open');
  $(`toggle-${id}`).setAttribute('aria-expanded', String($(id).classList.contains('open')));
}

function closeDrawers(except) {
  for (const id of ['rooms', 'members']) {
    if (id === except) continue;
    $(id).classList.remove('open');
    $(`toggle-${id}`).setAttribute('aria-expanded', 'false');
  }
}

// ---- wiring ------------------------------------------------------------------------

$('tab-login').onclick = () => setMode('login');
$('tab-register').onclick = () => setMode('register');
$('login-form').onsubmit = (ev) => {
  ev.preventDefault();
  const name = $('login-name').value.trim();
  const password = $('login-password').value;
  if (!/^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/.test(name)) {
    $('login-error').textContent = NAME_RULES;
    $('login-error').hidden = false;
    return;
  }
  S.account = name;
  S.password = password;
  S.nick = name;
  $('login-error').hidden = true;
  $('login-submit').disabled = true;
  connect();
};
$('join-form').onsubmit = (ev) => {
  ev.preventDefault();
  joinRoom($('join-name').value);
  $('join-name').value = '';
};
$('send-form').onsubmit = (ev) => {
  ev.preventDefault();
  const text = $('send-text').value;
  if (!text.trim()) return;
  $('send-text').value = '';
  submit(text);
};
$('leave').onclick = leave;
$('logout').onclick = logout;
$('refresh-rooms').onclick = () => send('LIST');
$('toggle-rooms').onclick = () => openDrawer('rooms');
$('toggle-members').onclick = () => openDrawer('members');

document.addEventListener('keydown', (ev) => {
  if ($('chat').hidden) return;
  if (ev.key === 'Escape') closeDrawers();
  if (!ev.altKey) return;
  const keys = [...S.buffers.keys()];
  const i = keys.indexOf(S.current);
  if (ev.key === 'ArrowUp' && i > 0) select(keys[i - 1]);
  else if (ev.key === 'ArrowDown' && i < keys.length - 1) select(keys[i + 1]);
  else if (ev.key.toLowerCase() === 'r') openDrawer('rooms');
  else if (ev.key.toLowerCase() === 'm') openDrawer('members');
  else return;
  ev.preventDefault();
});

showLogin('');
