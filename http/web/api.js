// Calls to parledger's API. The credential is kept in this tab only
// (sessionStorage, gone when the tab closes) and sent as
// "Authorization: Bearer …"; it never goes into a URL.

const KEY = 'parledger.token';
let token = sessionStorage.getItem(KEY) || '';

export function getToken() { return token; }

export function setToken(t) {
  token = (t || '').trim();
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const h = { ...extra };
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

// ApiError is a refused request, with the RFC 9457 problem the API sent.
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  // missing says that the server has no such route at all (an older
  // server without this feature), not that a resource is missing.
  get missing() {
    return this.status === 405 || this.status === 501 ||
      (this.status === 404 && /^No such (resource|file)/.test(this.problem.detail || ''));
  }
}

async function problemOf(res) {
  const ct = res.headers.get('Content-Type') || '';
  if (ct.includes('json')) {
    try { return await res.json(); } catch { /* not JSON after all */ }
  }
  return {};
}

// api sends a request and returns the decoded JSON answer, or throws an
// ApiError.
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, cache: 'no-store', credentials: 'omit', headers: headers({ Accept: 'application/json' }) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  return res.json();
}

// filenameOf reads the file name of a Content-Disposition header.
function filenameOf(cd, fallback) {
  if (!cd) return fallback;
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(cd);
  if (star) {
    try { return decodeURIComponent(star[1].trim()); } catch { /* fall through */ }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(cd);
  return plain ? plain[1].trim() : fallback;
}

// download fetches a file with the credential in a header and saves it
// through a blob URL. A server that answers JSON where a file was asked
// for does not know the format: that is an ApiError whose missing is true.
export async function download(path, fallbackName) {
  const res = await fetch(path, { cache: 'no-store', credentials: 'omit', headers: headers() });
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  const ct = res.headers.get('Content-Type') || '';
  const cd = res.headers.get('Content-Disposition') || '';
  if (ct.startsWith('application/json') || !/attachment/i.test(cd)) {
    throw new ApiError(501, { detail: 'the server sent no file' });
  }
  const name = filenameOf(cd, fallbackName);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return { name, size: blob.size };
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

// LiveStream follows a Server-Sent Events stream with fetch() and a
// stream reader, so that it can send the Authorization header (an
// EventSource cannot). It reconnects by itself, sending Last-Event-ID so
// that the server sends at once what changed while it was away, and it
// reconnects too when the server goes quiet for longer than its
// heartbeats allow.
//   handlers: {rankings(data, id), state(name, detail), error(problem)}
// States: connecting, open, reconnecting, stopped.
export class LiveStream {
  constructor(path, handlers) {
    this.path = path;
    this.on = handlers;
    this.lastId = null;
    this.retry = 3000;
    this.quietLimit = 45000;
    this.stopped = false;
    this.stop$ = new AbortController();
  }

  start() {
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    this.stop$.abort();
    clearInterval(this.watchdog);
    this.on.state?.('stopped');
  }

  async loop() {
    let delay = 0;
    while (!this.stopped) {
      if (delay) {
        this.on.state?.('reconnecting', delay);
        await sleep(delay, this.stop$.signal);
        if (this.stopped) return;
      }
      this.on.state?.('connecting');
      const conn = new AbortController();
      const onStop = () => conn.abort();
      this.stop$.signal.addEventListener('abort', onStop, { once: true });
      try {
        const h = headers({ Accept: 'text/event-stream' });
        if (this.lastId !== null) h['Last-Event-ID'] = this.lastId;
        const res = await fetch(this.path, { headers: h, cache: 'no-store', credentials: 'omit', signal: conn.signal });
        if (!res.ok) {
          const p = await problemOf(res);
          // Refusals do not heal by retrying; overload and outages do.
          if ([400, 401, 403, 404, 405].includes(res.status)) {
            this.on.error?.({ status: res.status, ...p });
            this.stopped = true;
            this.on.state?.('stopped');
            return;
          }
          delay = Math.max(this.retry, Math.min((delay || this.retry) * 2, 30000));
          continue;
        }
        this.on.state?.('open');
        delay = 0;
        await this.read(res.body, conn);
      } catch (e) {
        if (this.stopped) return;
      } finally {
        clearInterval(this.watchdog);
        this.stop$.signal.removeEventListener('abort', onStop);
      }
      if (this.stopped) return;
      delay = delay ? Math.min(delay * 2, 30000) : this.retry;
    }
  }

  // read parses the event stream line by line (the WHATWG algorithm) until
  // it ends.
  async read(body, conn) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let heard = Date.now();
    this.watchdog = setInterval(() => {
      if (Date.now() - heard > this.quietLimit) conn.abort();
    }, 5000);
    let buf = '';
    let ev = { type: '', data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      heard = Date.now();
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          this.dispatch(ev);
          ev = { type: '', data: [], id: null };
          continue;
        }
        if (line.startsWith(':')) continue; // a heartbeat
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') ev.type = v;
        else if (field === 'data') ev.data.push(v);
        else if (field === 'id' && !v.includes('\0')) ev.id = v;
        else if (field === 'retry' && /^\d+$/.test(v)) this.retry = Number(v);
      }
    }
  }

  dispatch(ev) {
    if (ev.id !== null) this.lastId = ev.id;
    if (ev.data.length === 0) return;
    let data;
    try { data = JSON.parse(ev.data.join('\n')); } catch { return; }
    if (ev.type === 'rankings') {
      this.on.rankings?.(data, this.lastId);
    } else if (ev.type === 'error') {
      this.on.error?.(data);
      if (data.code === 'unauthorized' || data.code === 'forbidden') this.stop();
    }
    // "bye": the server is shutting down; the stream ends and we reconnect.
  }
}
