// The browser desk: the chat server's own protocol (shared/src/lib.rs
// documents every line) over a WebSocket to /ws, one line per text
// message. It behaves as the terminal desk does (client/src): the name
// first, then messages; the same commands; the chime rules of notify.rs;
// resuming after a lost connection with nothing missed or doubled. Every
// text from the room is put on the page as text (textContent), never as
// HTML.
'use strict';

(() => {
  const SEP = '<SEP>';
  const MAIN = '#main';
  const DIRECT = '@direct';
  // A burst of messages chimes once (notify.rs, CHIME_MIN_INTERVAL).
  const CHIME_MIN_INTERVAL_MS = 2000;
  // The terminal desk pings every minute; the server's idle timeout is ten.
  const PING_EVERY_MS = 60000;
  const RECONNECT_FIRST_MS = 250;
  const RECONNECT_MOST_MS = 4000;
  // A name still held by the connection this desk lost is tried again
  // every second for this long (identity.rs).
  const NAME_HELD_GRACE_MS = 30000;
  // Lines typed while the connection is down are kept, up to this many.
  const MAX_WAITING = 100;
  // Message IDs remembered, to show each message once.
  const MAX_SEEN = 20000;
  const STORE_NAME = 'chat.name';
  const STORE_CHIME = 'chat.chime';

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'),
    chime: $('chime'),
    allow: $('allow-notifications'),
    note: $('notifications-note'),
    rooms: $('room-list'),
    topic: $('topic'),
    logs: $('logs'),
    form: $('composer'),
    prompt: $('prompt'),
    input: $('input'),
  };

  const desk = {
    palette: {},
    maxLineBytes: 4096,
    socket: null,
    quit: false,
    retryMs: RECONNECT_FIRST_MS,
    // Who this desk is.
    name: null,
    color: null,
    secret: null,
    token: null,
    // Per connection.
    joined: false,
    joining: false,
    online: 0,
    signedIn: false,
    resumeFrom: null,
    // From reconnecting until the RESUME answer every message is held
    // back: the replay after the answer holds them all (feed.rs).
    awaitingResume: false,
    nameHeldSince: null,
    asking: 'name',
    // The room's log: which one, the newest message shown, what was shown.
    epoch: null,
    lastId: null,
    seen: new Set(),
    // Rooms by name, in the order they appear.
    rooms: new Map(),
    current: MAIN,
    // The user's lines until the room has them.
    outbox: [],
    lastTagged: null,
    replyTo: null,
    // The room a /join asked for: shown once the server says we are in.
    entering: null,
    typed: [],
    recall: -1,
    txCount: 0,
    // Search results still to come.
    found: 0,
    roomsListed: 0,
    chime: null,
    audio: null,
    stats: { chimes: 0, notifications: 0 },
  };

  // ---- what the text of a message means (chat_text.rs) ----

  const ACTION_PREFIX = '/me ';

  function actionOf(text) {
    return text.startsWith(ACTION_PREFIX) ? text.slice(ACTION_PREFIX.length) : null;
  }

  function continuesName(c) {
    return /[\p{L}\p{N}_-]/u.test(c);
  }

  // Whether `text` names `name`: as a whole word, any case, `@` or not.
  function names(text, name) {
    if (!name) return false;
    const words = (actionOf(text) ?? text).toLowerCase();
    const wanted = name.toLowerCase();
    let at = words.indexOf(wanted);
    while (at >= 0) {
      const before = [...words.slice(0, at)].pop();
      const after = [...words.slice(at + wanted.length)][0];
      if (!(before && continuesName(before)) && !(after && continuesName(after))) return true;
      at = words.indexOf(wanted, at + 1);
    }
    return false;
  }

  // ---- message IDs: one or two numbers joined by `-`, compared in order ----

  function parseId(text) {
    const [major, minor = '0'] = text.split('-');
    return [BigInt(major), BigInt(minor)];
  }

  function compareIds(a, b) {
    if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
    if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
    return 0;
  }

  function idText(id) {
    return id[1] === 0n ? `${id[0]}` : `${id[0]}-${id[1]}`;
  }

  // ---- the chime (notify.rs: ChimeRules) ----

  class ChimeRules {
    constructor(level) {
      this.level = level;
      this.lastSound = null;
      this.lastMention = null;
    }

    // arrival: 'own', 'ordinary', 'mention' or 'direct'.
    shouldSound(arrival, now) {
      const forUs = arrival === 'mention' || arrival === 'direct';
      const wanted = arrival !== 'own' && this.level !== 'off'
        && (forUs || this.level === 'all');
      const last = forUs ? this.lastMention : this.lastSound;
      const quiet = last === null || now - last >= CHIME_MIN_INTERVAL_MS;
      if (!(wanted && quiet)) return false;
      this.lastSound = now;
      if (forUs) this.lastMention = now;
      return true;
    }
  }

  function unlockAudio() {
    if (!desk.audio && window.AudioContext) desk.audio = new AudioContext();
    if (desk.audio && desk.audio.state === 'suspended') desk.audio.resume().catch(() => {});
  }

  // Two short tones. The page counts each chime that played (the body's
  // data-chimes), so that a test can see it without speakers.
  function playChime() {
    const audio = desk.audio;
    if (!audio || audio.state !== 'running') return;
    const start = audio.currentTime;
    [880, 1320].forEach((pitch, i) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = pitch;
      gain.gain.setValueAtTime(0.0001, start + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.2, start + i * 0.12 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.12 + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(start + i * 0.12);
      tone.stop(start + i * 0.12 + 0.3);
      if (i === 1) {
        tone.onended = () => {
          desk.stats.chimes += 1;
          document.body.dataset.chimes = String(desk.stats.chimes);
        };
      }
    });
  }

  // ---- desktop notifications: mentions and direct messages, tab hidden ----

  function notificationsState() {
    if (!('Notification' in window)) return 'missing';
    if (!window.isSecureContext) return 'insecure';
    return Notification.permission;
  }

  function showNotificationControls() {
    const state = notificationsState();
    ui.allow.hidden = state !== 'default';
    const notes = {
      missing: 'This browser has no desktop notifications.',
      insecure: 'Desktop notifications need a secure page: start the server with --tls and '
        + 'open its address with https (or open the desk on localhost).',
      denied: 'Desktop notifications are blocked for this page in the browser\'s settings.',
    };
    ui.note.textContent = notes[state] ?? '';
    ui.note.hidden = !notes[state];
  }

  function notify(title, body) {
    if (notificationsState() !== 'granted' || !(document.hidden || !document.hasFocus())) return;
    const shown = new Notification(title, { body });
    shown.onclick = () => { window.focus(); shown.close(); };
    // Counted once the browser shows it (the body's data-notifications).
    shown.onshow = () => {
      desk.stats.notifications += 1;
      document.body.dataset.notifications = String(desk.stats.notifications);
    };
  }

  // ---- rooms and what they show ----

  function room(name) {
    let found = desk.rooms.get(name);
    if (found) return found;
    const list = document.createElement('ol');
    list.className = 'log';
    list.hidden = true;
    list.dataset.room = name;
    ui.logs.append(list);
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.room = name;
    const label = document.createElement('span');
    label.textContent = name === DIRECT ? 'Direct messages' : name;
    const badge = document.createElement('span');
    badge.className = 'unread';
    badge.hidden = true;
    button.append(label, badge);
    button.addEventListener('click', () => { show(name); ui.input.focus(); });
    item.append(button);
    // The direct messages stay last, below the rooms.
    const direct = desk.rooms.get(DIRECT);
    ui.rooms.insertBefore(item, direct ? direct.item : null);
    found = { name, list, item, button, badge, topic: '', unread: 0 };
    desk.rooms.set(name, found);
    if (name === desk.current) show(name);
    return found;
  }

  function forget(name) {
    const gone = desk.rooms.get(name);
    if (!gone || name === MAIN) return;
    gone.list.remove();
    gone.item.remove();
    desk.rooms.delete(name);
    if (desk.current === name) show(MAIN);
  }

  function show(name) {
    desk.current = name;
    for (const each of desk.rooms.values()) {
      const here = each.name === name;
      each.list.hidden = !here;
      each.button.setAttribute('aria-current', here ? 'true' : 'false');
      if (here) setUnread(each, 0);
    }
    setTopic(desk.rooms.get(name)?.topic ?? '');
    setPrompt();
    ui.logs.scrollTop = ui.logs.scrollHeight;
  }

  function setTopic(text) {
    ui.topic.textContent = text;
    ui.topic.hidden = !text;
  }

  function setUnread(target, count) {
    target.unread = count;
    target.badge.textContent = String(count);
    target.badge.hidden = count === 0;
    target.button.setAttribute('aria-label', count ? `${target.name}, ${count} unread` : target.name);
    const total = [...desk.rooms.values()].reduce((sum, each) => sum + each.unread, 0);
    document.title = total ? `(${total}) Office chat` : 'Office chat';
  }

  function stepRoom(by) {
    const names = [...ui.rooms.querySelectorAll('button')].map((button) => button.dataset.room);
    const at = names.indexOf(desk.current);
    show(names[(at + by + names.length) % names.length]);
  }

  function localTime(wire) {
    const when = new Date(wire);
    const element = document.createElement('time');
    if (Number.isNaN(when.getTime())) return element;
    const pad = (n) => String(n).padStart(2, '0');
    const clock = `${pad(when.getHours())}:${pad(when.getMinutes())}`;
    const date = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
    const today = new Date().toDateString() === when.toDateString();
    element.dateTime = when.toISOString();
    element.title = `${date} ${clock}:${pad(when.getSeconds())}`;
    element.textContent = today ? clock : `${date} ${clock}`;
    return element;
  }

  function nameSpan(name, color) {
    const span = document.createElement('span');
    span.className = 'name';
    span.textContent = name;
    if (Object.hasOwn(desk.palette, color)) span.style.color = desk.palette[color];
    return span;
  }

  // Puts `item` in `target`'s list: a message by its ID (so a late replay
  // lands in order), anything else at the end.
  function place(target, item, id) {
    const list = target.list;
    const follow = ui.logs.scrollTop + ui.logs.clientHeight >= ui.logs.scrollHeight - 40;
    let before = null;
    if (id) {
      for (let other = list.lastElementChild; other && other.dataset.id; other = other.previousElementSibling) {
        if (compareIds(parseId(other.dataset.id), id) <= 0) break;
        before = other;
      }
      item.dataset.id = idText(id);
    }
    list.insertBefore(item, before);
    if (follow && target.name === desk.current) ui.logs.scrollTop = ui.logs.scrollHeight;
  }

  function systemLine(text, kind = 'system', target = desk.rooms.get(desk.current)) {
    const item = document.createElement('li');
    item.className = kind;
    item.textContent = text;
    place(target ?? room(MAIN), item, null);
    return item;
  }

  // A chat message: `chat` has id, time, name, color, text; `to` for a
  // direct message.
  function messageItem(chat, { replayed = false, to = null, found = false } = {}) {
    const item = document.createElement('li');
    const action = actionOf(chat.text);
    const mine = chat.name === desk.name;
    item.append(localTime(chat.time));
    if (to !== null) {
      item.append(nameSpan(mine ? 'you' : chat.name, chat.color), ` → ${to === desk.name ? 'you' : to}: ${chat.text}`);
      item.classList.add('direct');
    } else if (action !== null) {
      item.append('* ', nameSpan(chat.name, chat.color), ` ${action}`);
    } else {
      item.append(nameSpan(chat.name, chat.color), `: ${chat.text}`);
    }
    if (!mine && names(chat.text, desk.name)) item.classList.add('mention');
    if (replayed) item.classList.add('replayed');
    if (found) item.classList.add('found');
    return item;
  }

  // Shows a message of the log once, in its room; live ones may chime.
  function message(roomName, chat, { replayed, to = null }) {
    if (desk.awaitingResume) return;
    const id = parseId(chat.id);
    const key = idText(id);
    if (desk.seen.has(key)) return;
    remember(key, id);
    const target = room(roomName);
    place(target, messageItem(chat, { replayed, to }), id);
    const mine = chat.name === desk.name;
    if (!mine && (target.name !== desk.current || document.hidden)) setUnread(target, target.unread + 1);
    if (to !== null && !mine) {
      desk.replyTo = chat.name;
      setPrompt();
    }
    if (replayed) return;
    let arrival = 'ordinary';
    if (mine) arrival = 'own';
    else if (to !== null) arrival = 'direct';
    else if (names(chat.text, desk.name)) arrival = 'mention';
    if (desk.chime.shouldSound(arrival, Date.now())) playChime();
    if (arrival === 'direct' || arrival === 'mention') {
      const where = to !== null ? 'a direct message' : roomName;
      notify(`${chat.name} (${where})`, actionOf(chat.text) ?? chat.text);
    }
  }

  function remember(key, id) {
    desk.seen.add(key);
    if (desk.seen.size > MAX_SEEN) desk.seen.delete(desk.seen.values().next().value);
    if (!desk.lastId || compareIds(id, desk.lastId) > 0) desk.lastId = id;
  }

  // ---- the wire ----

  function fields(rest, count) {
    const out = [];
    let tail = rest;
    for (let i = 1; i < count; i += 1) {
      const at = tail.indexOf(SEP);
      if (at < 0) return null;
      out.push(tail.slice(0, at));
      tail = tail.slice(at + SEP.length);
    }
    out.push(tail);
    return out;
  }

  function chatOf(rest) {
    const f = fields(rest, 5);
    return f && { id: f[0], time: f[1], name: f[2], color: f[3], text: f[4] };
  }

  function send(line) {
    if (!desk.socket || desk.socket.readyState !== WebSocket.OPEN) return false;
    desk.socket.send(`${line}\n`);
    return true;
  }

  function onLine(line) {
    const at = line.indexOf(SEP);
    const kind = at < 0 ? line : line.slice(0, at);
    const rest = at < 0 ? '' : line.slice(at + SEP.length);
    switch (kind) {
      case 'MSG': case 'HIST': {
        const chat = chatOf(rest);
        if (chat) message(MAIN, chat, { replayed: kind === 'HIST' });
        break;
      }
      case 'RMSG': case 'RHIST': {
        const f = fields(rest, 2);
        const chat = f && chatOf(f[1]);
        if (chat) message(f[0], chat, { replayed: kind === 'RHIST' });
        break;
      }
      case 'DM': case 'HISTDM': {
        const f = fields(rest, 6);
        if (f) {
          const chat = { id: f[0], time: f[1], name: f[2], color: f[3], text: f[5] };
          message(DIRECT, chat, { replayed: kind === 'HISTDM', to: f[4] });
        }
        break;
      }
      case 'JOIN': case 'LEAVE': {
        const f = fields(rest, 3);
        if (f) presence(MAIN, f, kind === 'JOIN' ? 'joined' : 'left');
        if (f && desk.joined && f[1] !== desk.name) {
          desk.online += kind === 'JOIN' ? 1 : -1;
          showOnline();
        }
        break;
      }
      case 'ENTER': case 'EXIT': {
        const f = fields(rest, 4);
        if (f) presence(f[0], f.slice(1), kind === 'ENTER' ? 'entered' : 'left');
        break;
      }
      case 'WELCOME': welcomed(fields(rest, 5)); break;
      case 'RESUME': resumed(fields(rest, 3)); break;
      case 'SENT': sent(fields(rest, 2)); break;
      case 'UNSURE': unsure(fields(rest, 2)); break;
      case 'ERR': refused(fields(rest, 2)); break;
      case 'NOTE': systemLine(`[!] ${rest}`, 'error'); break;
      case 'BYE': if (desk.joined) systemLine(`[!] ${rest}`, 'error'); break;
      case 'WHO': who(rest.split(SEP)); break;
      case 'SEARCH': searched(Number(rest)); break;
      case 'FOUND': case 'RFOUND': foundLine(kind, rest); break;
      case 'INROOM': inRoom(fields(rest, 4)); break;
      case 'PARTED': forget(rest); systemLine(`You left ${rest}.`); break;
      case 'ROOMS':
        desk.roomsListed = Number(rest);
        systemLine(desk.roomsListed ? 'Rooms you may join:' : 'No other rooms yet: /join #name makes one.');
        break;
      case 'ROOM': {
        const f = fields(rest, 4);
        if (f) {
          const people = f[2] === '1' ? '1 person' : `${f[2]} people`;
          systemLine(`  ${f[0]}${f[1] === 'private' ? ' (private)' : ''}, ${people}${f[3] ? `: ${f[3]}` : ''}`);
        }
        break;
      }
      case 'TOPIC': topic(fields(rest, 4)); break;
      case 'INVITED': {
        const f = fields(rest, 2);
        if (f) systemLine(`${f[1]} invited you to ${f[0]}: /join ${f[0]} to enter.`, 'system', room(MAIN));
        break;
      }
      case 'MODE': {
        const f = fields(rest, 3);
        if (f) systemLine(f[1] ? `${f[1]} set ${f[2]} on ${f[0]}.` : `${f[0]} is ${f[2]}.`, 'system', desk.rooms.get(f[0]));
        break;
      }
      case 'KICKED': {
        // A desk put out of a room is out of it, as after PARTED.
        const f = fields(rest, 4);
        if (!f) break;
        const why = f[3] ? ` (${f[3]})` : '';
        if (f[1] === desk.name) {
          forget(f[0]);
          systemLine(`[!] ${f[2]} put you out of ${f[0]}${why}.`, 'error');
        } else {
          systemLine(`${f[2]} put ${f[1]} out of ${f[0]}${why}.`, 'system', desk.rooms.get(f[0]));
        }
        break;
      }
      case 'PONG': break;
      default: break;
    }
  }

  function presence(roomName, f, verb) {
    // A LEAVE or EXIT may say why, in a field after the colour.
    const at = f[2].indexOf(SEP);
    const color = at < 0 ? f[2] : f[2].slice(0, at);
    const reason = at < 0 ? '' : f[2].slice(at + SEP.length);
    const item = document.createElement('li');
    item.className = 'system';
    item.append(localTime(f[0]), nameSpan(f[1], color), ` ${verb}${reason ? ` (${reason})` : ''}`);
    place(room(roomName), item, null);
  }

  function welcomed(f) {
    if (!f) return;
    const [name, color, online, epoch, secret] = f;
    const back = desk.secret !== null;
    desk.joined = true;
    desk.joining = false;
    desk.nameHeldSince = null;
    desk.name = name;
    desk.retryMs = RECONNECT_FIRST_MS;
    // The first secret is this desk's for the page's life: a rejoin gets a
    // new one, and the /resume below hands the first back.
    if (!back) desk.secret = secret;
    localStorage.setItem(STORE_NAME, desk.color ? `${name} ${desk.color}` : name);
    desk.online = Number(online);
    showOnline();
    if (back) {
      systemLine(`Back as ${name}; ${online} online.`, 'system', room(MAIN));
    } else {
      const item = systemLine('', 'system', room(MAIN));
      item.append('You are ', nameSpan(name, color), `; ${online} online. Type /help for commands.`);
    }
    if (desk.awaitingResume) {
      send(`/resume ${desk.epoch} ${idText(desk.resumeFrom)} ${desk.secret}`);
    } else if (!desk.epoch) {
      desk.epoch = epoch;
    }
    desk.asking = 'chat';
    setPrompt();
    for (const line of desk.outbox) sendTagged(line);
  }

  function resumed(f) {
    if (!f) return;
    desk.awaitingResume = false;
    const [epoch, skipped] = f;
    if (epoch !== desk.epoch) {
      // Another log: its IDs cannot be compared with ours, nor ordered
      // among the messages shown.
      desk.epoch = epoch;
      desk.seen.clear();
      desk.lastId = null;
      ui.logs.querySelectorAll('li[data-id]').forEach((item) => item.removeAttribute('data-id'));
      systemLine('[!] The server started a new room log; its recent messages follow.', 'error', room(MAIN));
    } else if (Number(skipped) > 0) {
      systemLine(`[!] ${skipped} earlier messages from while you were away are not shown.`, 'error', room(MAIN));
    }
  }

  function inRoom(f) {
    if (!f) return;
    const [name, access, , text] = f;
    const entered = room(name);
    if (desk.entering === name.toLowerCase()) {
      desk.entering = null;
      show(name);
    }
    entered.topic = text ? `${text}${access === 'private' ? ' (private room)' : ''}` : (access === 'private' ? 'A private room.' : '');
    if (desk.current === name) setTopic(entered.topic);
  }

  function topic(f) {
    if (!f) return;
    const [name, , by, text] = f;
    const target = desk.rooms.get(name);
    if (target) {
      target.topic = text;
      if (desk.current === name) setTopic(text);
    }
    let said = `${name} has no topic.`;
    if (text) said = by ? `${by} set the topic of ${name}: ${text}` : `The topic of ${name}: ${text}`;
    systemLine(said, 'system', target ?? undefined);
  }

  function who(parts) {
    const [count, ...people] = parts;
    const list = people.filter(Boolean).map((entry) => {
      const [name, idle] = entry.split(' ');
      return Number(idle) >= 60 ? `${name} (idle ${Math.floor(Number(idle) / 60)} min)` : name;
    });
    systemLine(`${count} online: ${list.join(', ')}`);
  }

  function searched(count) {
    desk.found = count;
    systemLine(count ? `Search: ${count} found, oldest first:` : 'Search: nothing found.');
  }

  function foundLine(kind, rest) {
    let chat;
    let to = null;
    let where = MAIN;
    if (kind === 'RFOUND') {
      const f = fields(rest, 2);
      chat = f && chatOf(f[1]);
      where = f ? f[0] : MAIN;
    } else {
      const f = fields(rest, 6);
      chat = f && { id: f[0], time: f[1], name: f[2], color: f[3], text: f[5] };
      to = f && f[4] ? f[4] : null;
    }
    if (!chat) return;
    const item = messageItem(chat, { to, found: true });
    item.prepend(`${where === MAIN && to ? '' : `${where} `}`);
    place(desk.rooms.get(desk.current), item, null);
  }

  // ---- the user's lines until the room has them (outbox.rs, with /tx) ----

  function newTx() {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    desk.txCount += 1;
    return `w${desk.txCount}-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  // `wire` is the line without its /tx; `where` the room it shows in.
  function queueLine(wire, where, shown, to = null) {
    if (desk.outbox.length >= MAX_WAITING) {
      systemLine(`[!] Not sent: ${MAX_WAITING} lines already wait for the connection.`, 'error');
      return;
    }
    const item = document.createElement('li');
    item.className = 'pending';
    item.textContent = shown;
    const line = { tx: newTx(), wire, item, to, typed: shown };
    place(room(where), item, null);
    desk.outbox.push(line);
    if (desk.joined) sendTagged(line);
    else systemLine('Not connected; it will be sent once the connection is back.');
  }

  function sendTagged(line) {
    if (send(`/tx ${line.tx} ${line.wire}`)) desk.lastTagged = line.tx;
  }

  function settle(tx) {
    const at = desk.outbox.findIndex((line) => line.tx === tx);
    if (at < 0) return null;
    const [line] = desk.outbox.splice(at, 1);
    line.item.remove();
    return line;
  }

  function sent(f) {
    if (f) settle(f[0]);
  }

  function unsure(f) {
    if (!f) return;
    const line = desk.outbox.find((each) => each.tx === f[0]);
    // The same ID again stores it at most once.
    if (line) setTimeout(() => { if (desk.joined && desk.outbox.includes(line)) sendTagged(line); }, 1000);
  }

  function notSent(line, why) {
    if (!line) return;
    settle(line.tx);
    systemLine(`[!] Not sent (${why}): ${line.typed}`, 'error');
    desk.typed.push(line.typed);
  }

  // Codes that refuse the line just sent, at once.
  const REFUSES_AT_ONCE = new Set([
    'empty-text', 'line-too-long', 'bad-line', 'bad-command', 'bad-room',
    'no-such-room', 'not-in-room', 'wrong-name', 'bad-name',
  ]);

  function refused(f) {
    if (!f) return;
    const [code, detail] = f;
    if (code === 'auth-required') return askToken();
    if (code === 'auth-failed' || code === 'revoked') {
      desk.token = null;
      desk.signedIn = false;
    }
    if (desk.joining && (code === 'name-taken' || code === 'bad-name' || code === 'bad-color')) {
      return joinRefused(code, detail);
    }
    if (code === 'not-saved') {
      notSent(desk.outbox[0], detail);
      return;
    }
    if (code === 'no-such-name') {
      const named = detail.toLowerCase().split(/\s+/);
      notSent(desk.outbox.find((line) => line.to && named.includes(line.to.toLowerCase())), detail);
      return;
    }
    if (REFUSES_AT_ONCE.has(code) && desk.lastTagged) {
      const line = desk.outbox.find((each) => each.tx === desk.lastTagged);
      desk.lastTagged = null;
      if (line) return notSent(line, detail);
    }
    systemLine(`[!] ${detail || code}`, 'error');
  }

  // ---- joining ----

  function join() {
    if (!desk.name || desk.joining || desk.joined) return;
    if (!desk.socket) {
      connect();
      return;
    }
    if (desk.token && !desk.signedIn) {
      send(`/auth ${desk.name} ${desk.token}`);
      desk.signedIn = true;
    }
    const color = desk.color ? ` ${desk.color}` : '';
    const secret = desk.secret ? ` ${desk.secret}` : '';
    if (send(`/join ${desk.name}${color}${secret}`)) desk.joining = true;
  }

  function joinRefused(code, detail) {
    desk.joining = false;
    if (code === 'bad-color' && desk.color) {
      desk.color = null;
      return join();
    }
    if (code === 'name-taken' && desk.secret) {
      // Most likely held by the connection this desk lost.
      desk.nameHeldSince ??= Date.now();
      if (Date.now() - desk.nameHeldSince < NAME_HELD_GRACE_MS) {
        setStatus(`The name ${desk.name} is still in use, most likely by the connection this desk lost; trying again…`);
        setTimeout(join, 1000);
        return;
      }
    }
    systemLine(code === 'name-taken' ? `[!] The name "${desk.name}" is taken; choose another.` : `[!] ${detail}`, 'error');
    desk.name = null;
    desk.secret = null;
    desk.asking = 'name';
    setPrompt();
  }

  function askToken() {
    if (desk.signedIn && desk.token) return;
    desk.joining = false;
    desk.asking = 'token';
    systemLine(`This server requires an account: type ${desk.name}'s token (from chat-server user add).`);
    setPrompt();
  }

  function setPrompt() {
    const prompts = {
      name: 'Your name',
      token: 'Token',
    };
    let text = prompts[desk.asking];
    if (!text) {
      if (desk.current === DIRECT) text = desk.replyTo ? `To ${desk.replyTo}` : 'Direct';
      else text = desk.current;
    }
    ui.prompt.textContent = text;
    ui.input.placeholder = desk.asking === 'name' ? 'Type your name and press Enter'
      : desk.asking === 'token' ? 'Type your token and press Enter'
        : `Message ${desk.current === DIRECT ? (desk.replyTo ?? 'nobody yet') : desk.current}`;
    ui.input.type = desk.asking === 'token' ? 'password' : 'text';
  }

  function showOnline() {
    setStatus(`You are ${desk.name}; ${desk.online} online.`);
  }

  function setStatus(text, down = false) {
    ui.status.textContent = text;
    ui.status.classList.toggle('down', down);
  }

  // ---- what a typed line asks for (commands.rs, and rooms) ----

  const HELP = [
    ['/who', 'list who is online'],
    ['/msg NAME TEXT', 'send TEXT to NAME alone'],
    ['/r TEXT', 'answer whoever last sent you a /msg'],
    ['/me ACTION', 'show "* NAME ACTION" to the room'],
    ['/search WORDS', 'last 20 messages holding every word'],
    ['/join #ROOM [private | key KEY]', 'enter a room (making it if new)'],
    ['/go #ROOM', 'show a room you are in'],
    ['/part', 'leave this room'],
    ['/topic [TEXT]', "show or set this room's topic"],
    ['/invite NAME', 'let NAME into this (private) room'],
    ['/mode [CHANGES]', "show or change this room's modes (+m, +o NAME)"],
    ['/kick NAME [REASON]', 'put NAME out of this room (operators)'],
    ['/rooms', 'list the rooms'],
    ['/names', "who is in this room"],
    ['//TEXT', 'send /TEXT'],
    ['/notify [all|mentions|off]', 'chime for all, mentions only, or none'],
    ['/quit', 'leave'],
    ['Alt+Up, Alt+Down', 'the room above or below'],
    ['Up, Down', 'recall a line you typed'],
  ];

  function say(where, text) {
    if (where === DIRECT) {
      if (!desk.replyTo) return systemLine('[!] Nobody has sent you a direct message yet: /msg NAME TEXT.', 'error');
      return direct(desk.replyTo, text);
    }
    const wire = where === MAIN ? `${desk.name}${SEP}${text}` : `/to ${where} ${text}`;
    if (tooLong(wire)) return;
    const action = actionOf(text);
    queueLine(wire, where, action !== null ? `* ${desk.name} ${action}` : `${desk.name}: ${text}`);
  }

  function direct(to, text) {
    const wire = `/msg ${to} ${text}`;
    if (tooLong(wire)) return;
    queueLine(wire, DIRECT, `you → ${to}: ${text}`, to);
  }

  function tooLong(wire) {
    const bytes = new TextEncoder().encode(`/tx w00-0000000000000000 ${wire}`).length;
    if (bytes <= desk.maxLineBytes) return false;
    systemLine(`[!] That message is ${bytes} bytes; the limit is ${desk.maxLineBytes}. Not sent.`, 'error');
    return true;
  }

  function ask(line) {
    if (!desk.joined) return systemLine('[!] Not connected; try again once the connection is back.', 'error');
    // Its refusal, if any, is not about a line in the outbox.
    desk.lastTagged = null;
    return send(line);
  }

  function chatTyped(line) {
    const trimmed = line.trim();
    if (!trimmed) return;
    if (trimmed.toLowerCase() === 'q' || trimmed === '/quit') return leave();
    if (trimmed.startsWith('//')) return say(desk.current, line.trimStart().slice(1));
    if (!trimmed.startsWith('/')) return say(desk.current, line);
    const space = trimmed.search(/\s/);
    const command = space < 0 ? trimmed : trimmed.slice(0, space);
    const argument = space < 0 ? '' : trimmed.slice(space).trim();
    const here = desk.current === MAIN || desk.current === DIRECT ? null : desk.current;
    const needsRoom = () => systemLine('[!] Go to a room first (Alt+Down), or name one.', 'error');
    switch (command) {
      case '/help':
        HELP.forEach(([usage, meaning]) => systemLine(`${usage.padEnd(28)} ${meaning}`));
        return;
      case '/who': return ask('/who');
      case '/me':
        if (!argument) return systemLine('[!] usage: /me ACTION', 'error');
        return say(desk.current === DIRECT ? MAIN : desk.current, `${ACTION_PREFIX}${argument}`);
      case '/msg': {
        const at = argument.search(/\s/);
        if (at < 0) return systemLine('[!] usage: /msg NAME TEXT', 'error');
        return direct(argument.slice(0, at), argument.slice(at).trim());
      }
      case '/r': case '/reply':
        if (!argument) return systemLine('[!] usage: /r TEXT', 'error');
        if (!desk.replyTo) return systemLine('[!] Nobody has sent you a direct message yet.', 'error');
        return direct(desk.replyTo, argument);
      case '/search':
        if (!argument) return systemLine('[!] usage: /search WORDS', 'error');
        return ask(`/search ${argument}`);
      case '/notify': {
        if (argument && !['all', 'mentions', 'off'].includes(argument.toLowerCase())) {
          return systemLine('[!] usage: /notify [all|mentions|off]', 'error');
        }
        if (argument) setChime(argument.toLowerCase());
        return systemLine(`Sound: ${ui.chime.options[ui.chime.selectedIndex].text}.`);
      }
      case '/join': {
        const [name, flag, key] = argument.split(/\s+/);
        if (!name) return systemLine('[!] usage: /join #ROOM [private | key KEY]', 'error');
        const wanted = name.startsWith('#') ? name : `#${name}`;
        desk.entering = wanted.toLowerCase();
        const extra = flag === 'private' ? ' private' : flag === 'key' && key ? ` key ${key}` : '';
        return ask(`/room join ${wanted}${extra}`);
      }
      case '/part': {
        const name = argument || here;
        if (!name) return needsRoom();
        return ask(`/room part ${name}`);
      }
      case '/topic':
        if (!here) return needsRoom();
        return ask(argument ? `/room topic ${here} ${argument}` : `/room topic ${here}`);
      case '/invite':
        if (!here) return needsRoom();
        if (!argument) return systemLine('[!] usage: /invite NAME', 'error');
        return ask(`/room invite ${here} ${argument}`);
      case '/mode':
        if (!here) return needsRoom();
        return ask(argument ? `/room mode ${here} ${argument}` : `/room mode ${here}`);
      case '/kick':
        if (!here) return needsRoom();
        if (!argument) return systemLine('[!] usage: /kick NAME [REASON]', 'error');
        return ask(`/room kick ${here} ${argument}`);
      case '/go': {
        const name = argument.startsWith('#') ? argument : `#${argument}`;
        const target = [...desk.rooms.keys()].find((each) => each.toLowerCase() === name.toLowerCase());
        if (!argument || !target) return systemLine('[!] usage: /go #ROOM, a room you are in (/rooms lists them)', 'error');
        return show(target);
      }
      case '/rooms': return ask('/room list');
      case '/names':
        if (!here) return ask('/who');
        return ask(`/room who ${here}`);
      case '/room': return ask(trimmed);
      case '/to': {
        const [name] = argument.split(/\s+/, 1);
        const text = argument.slice(name.length).trim();
        if (!name || !text) return systemLine('[!] usage: /to #ROOM TEXT', 'error');
        return say(name === MAIN ? MAIN : name, text);
      }
      default:
        return systemLine(`[!] Unknown command ${command} (not sent); /help lists them, //TEXT sends a line starting with /.`, 'error');
    }
  }

  function nameTyped(line) {
    const [name, color] = line.trim().split(/\s+/);
    if (!name) return;
    if (name.toLowerCase() === 'q' && !color) return leave();
    if (color && !Object.hasOwn(desk.palette, color)) {
      return systemLine(`[!] Unknown colour ${color}; choose one of: ${Object.keys(desk.palette).join(', ')}`, 'error');
    }
    desk.name = name;
    desk.color = color ?? null;
    desk.asking = 'chat';
    setPrompt();
    join();
  }

  function leave() {
    desk.quit = true;
    send('/quit');
    setStatus('You left. Reload the page to come back.', true);
    ui.input.disabled = true;
  }

  function setChime(level) {
    ui.chime.value = level;
    desk.chime.level = level;
    localStorage.setItem(STORE_CHIME, level);
  }

  // ---- the connection ----

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    desk.socket = socket;
    let partial = '';
    socket.onopen = () => {
      desk.joined = false;
      desk.joining = false;
      desk.signedIn = false;
      // What to ask /resume for: taken now, before this connection's
      // history moves the newest ID on.
      desk.resumeFrom = desk.lastId ?? (desk.epoch ? [0n, 0n] : null);
      // Only a desk that will join (and so resume) holds messages back.
      desk.awaitingResume = Boolean(desk.name && desk.epoch);
      setStatus(desk.name ? 'Connected; joining…' : 'Connected. Type your name to join.');
      if (desk.name && desk.asking !== 'token') join();
    };
    socket.onmessage = (event) => {
      const lines = (partial + event.data).split('\n');
      partial = lines.pop();
      lines.forEach((line) => onLine(line.replace(/\r$/, '')));
    };
    socket.onclose = () => {
      if (desk.socket !== socket) return;
      desk.socket = null;
      const wasJoined = desk.joined;
      desk.joined = false;
      desk.joining = false;
      if (desk.quit) return;
      if (!desk.name) {
        // Nothing to come back as: connect again once a name is typed.
        setStatus('Not connected; type your name to join.');
        return;
      }
      if (wasJoined) systemLine('[!] Connection lost; reconnecting…', 'error', room(MAIN));
      setStatus('Connection lost; reconnecting…', true);
      setTimeout(connect, desk.retryMs);
      desk.retryMs = Math.min(desk.retryMs * 2, RECONNECT_MOST_MS);
    };
  }

  function typedLine(line) {
    if (desk.asking === 'name') return nameTyped(line);
    if (desk.asking === 'token') {
      desk.token = line.trim();
      desk.asking = 'chat';
      setPrompt();
      return join();
    }
    return chatTyped(line);
  }

  function start(settings) {
    desk.palette = settings.palette ?? {};
    desk.maxLineBytes = settings.maxLineBytes ?? desk.maxLineBytes;
    const level = localStorage.getItem(STORE_CHIME) ?? 'all';
    desk.chime = new ChimeRules(level);
    ui.chime.value = level;
    room(MAIN);
    room(DIRECT);
    show(MAIN);
    const remembered = localStorage.getItem(STORE_NAME);
    if (remembered) {
      ui.input.value = remembered;
      ui.input.select();
    }
    showNotificationControls();
    document.body.dataset.chimes = '0';
    document.body.dataset.notifications = '0';
    ui.input.focus();
    connect();
    setInterval(() => { if (desk.joined) send('/ping'); }, PING_EVERY_MS);
  }

  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    const line = ui.input.value;
    ui.input.value = '';
    if (desk.asking !== 'token' && line.trim()) {
      desk.typed.push(line);
      desk.recall = -1;
    }
    // A paste of several lines is several lines.
    line.split('\n').forEach(typedLine);
  });

  ui.input.addEventListener('keydown', (event) => {
    unlockAudio();
    if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
      event.preventDefault();
      stepRoom(event.key === 'ArrowUp' ? -1 : 1);
      return;
    }
    if ((event.key === 'ArrowUp' || event.key === 'ArrowDown') && desk.asking === 'chat' && desk.typed.length) {
      event.preventDefault();
      const last = desk.typed.length - 1;
      if (event.key === 'ArrowUp') desk.recall = desk.recall < 0 ? last : Math.max(0, desk.recall - 1);
      else desk.recall = desk.recall < 0 || desk.recall >= last ? -1 : desk.recall + 1;
      ui.input.value = desk.recall < 0 ? '' : desk.typed[desk.recall];
    }
  });

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') ui.input.focus();
  });
  document.addEventListener('pointerdown', unlockAudio);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      const shown = desk.rooms.get(desk.current);
      if (shown) setUnread(shown, 0);
    }
  });

  ui.chime.addEventListener('change', () => { setChime(ui.chime.value); ui.input.focus(); });
  ui.allow.addEventListener('click', () => {
    Notification.requestPermission().then(showNotificationControls, showNotificationControls);
    ui.input.focus();
  });

  fetch('/desk.json').then((answer) => answer.json()).then(start, () => start({}));
})();
