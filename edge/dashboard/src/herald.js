// Herald's browser client: an ES module around EventSource and fetch.
//
//   import { HeraldClient } from './herald.js';
//   const herald = new HeraldClient();                  // same origin; or { baseUrl }
//   const sub = herald.subscribe(['prices', 'orders'], {
//     rewind: 50,
//     on: { 'price.tick': (tick) => draw(tick), 'order.placed': (order, e) => list(order) },
//     onReset: (reset) => reload(reset.streams),        // history is gone: start over
//     onStatus: (s) => badge(s.state, s.reconnects),
//   });
//   const placed = await herald.call('herald.demo.v1.Orders/PlaceOrder', { symbol: 'ACME', ... });
//   await herald.publish('chat.room1', 'message', { text: 'hi' });
//   sub.close();
//
// Resume is the browser's: EventSource sends the last id (a cursor covering
// every subscribed stream) when it reconnects, and the edge resumes each
// stream exactly there. Authentication uses the herald_token cookie (set it
// for the edge's origin); POST helpers also take a bearer token.
//
// A stream lives no longer than its token: the edge ends it with a
// `herald.auth` event ({"reason": "expired"}) whose id is the cursor. With
// `refreshToken`, the client gets a new token, sets it (the cookie for the
// page's origin, the Bearer token for POSTs) and reopens from that id: the
// application sees no gap and no duplicate. Without it, onStatus reports the
// state `expired`.
//
//   const herald = new HeraldClient({
//     refreshToken: async () => (await fetch('/auth/token', { method: 'POST' })).text(),
//   });

/** An HTTP answer that was not 2xx: `status`, and the edge's `code` and message. */
export class HeraldError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'HeraldError';
    this.status = status;
    this.code = code;
  }
}

export class HeraldClient {
  /**
   * @param {{baseUrl?: string, token?: string,
   *          refreshToken?: function(): Promise<string|undefined>}} options
   *   `token` is sent as a Bearer token on POSTs (subscriptions use the
   *   herald_token cookie). `refreshToken` is called when the edge ends a
   *   stream because its token expired, and when a POST gets 401: resolve to
   *   the new token (set as the cookie for the page's origin and as the Bearer
   *   token), or to nothing once the callback has refreshed the cookie itself
   *   (e.g. an HttpOnly cookie set by your server, or a cross-origin edge).
   */
  constructor({ baseUrl = '', token, refreshToken } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.token = token;
    this.refreshToken = refreshToken;
  }

  /** Uses `token` from now on: the Bearer token, and the cookie of a same-origin edge. */
  setToken(token) {
    this.token = token;
    if (this.baseUrl === '' && typeof document !== 'undefined') {
      const secure = location.protocol === 'https:' ? '; Secure' : '';
      document.cookie = `herald_token=${token}; path=/; SameSite=Strict${secure}`;
    }
  }

  /** Calls refreshToken and applies what it gives; false without one or when it fails. */
  async refresh() {
    if (!this.refreshToken) return false;
    try {
      const token = await this.refreshToken();
      if (typeof token === 'string' && token !== '') this.setToken(token);
      return true;
    } catch (e) {
      console.warn('herald: refreshToken failed:', e);
      return false;
    }
  }

  /**
   * Follows one or more streams on one connection.
   * @param {string[]} streams
   * @param {{rewind?: number, lastEventId?: string,
   *          on?: Object<string, function(any, MessageEvent): void>,
   *          onReset?: function(object): void,
   *          onStatus?: function(Status): void}} options
   *   `on` maps event types to handlers; each gets the data (parsed when it
   *   is JSON) and the raw event. `message` is the default type.
   * @returns {Subscription}
   */
  subscribe(streams, options = {}) {
    return new Subscription(this, streams, options);
  }

  /** POST /v1/streams/{stream}/events; resolves to {id, stream, partition, offset}. */
  publish(stream, type, data, { idempotencyKey } = {}) {
    return this.#post(`/v1/streams/${encodeURIComponent(stream)}/events`, { type, data },
      { idempotencyKey });
  }

  /**
   * POST /v1/rpc/{method}: calls a service's unary method with a JSON body;
   * resolves to its JSON answer.
   * @param {string} method  "package.Service/Method"
   */
  call(method, body = {}, { timeoutMs, idempotencyKey } = {}) {
    return this.#post(`/v1/rpc/${method}`, body, { timeoutMs, idempotencyKey });
  }

  async #post(path, body, { timeoutMs, idempotencyKey } = {}, retried = false) {
    const headers = { 'Content-Type': 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    if (timeoutMs) headers['Grpc-Timeout'] = `${Math.max(1, Math.round(timeoutMs))}m`;
    const response = await fetch(this.baseUrl + path, {
      method: 'POST', headers, body: JSON.stringify(body), credentials: 'include',
    });
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    // A 401 was not processed: with a fresh token the request may go again, once.
    if (response.status === 401 && !retried && this.refreshToken && (await this.refresh())) {
      return this.#post(path, body, { timeoutMs, idempotencyKey }, true);
    }
    if (!response.ok) {
      throw new HeraldError(response.status, json?.error?.code ?? 'unknown',
        json?.error?.message ?? (text || response.statusText));
    }
    return json;
  }
}

/**
 * @typedef {Object} Status
 * @property {'connecting'|'open'|'reconnecting'|'refreshing'|'expired'|'closed'} state
 * @property {number} opens       how many times the connection opened
 * @property {number} reconnects  opens after the first
 * @property {number} resumes     reconnects that resumed from a last event id
 * @property {string} lastEventId the cursor the browser resumes from
 * @property {number} events      events received
 * @property {number} refreshes   reopens with a refreshed token after herald.auth
 */
export class Subscription {
  #client;
  #source;
  #options;
  #url;
  #closed = false;
  status = {
    state: 'connecting', opens: 0, reconnects: 0, resumes: 0, lastEventId: '', events: 0,
    refreshes: 0,
  };

  constructor(client, streams, options) {
    if (!Array.isArray(streams) || streams.length === 0) {
      throw new TypeError('subscribe: give at least one stream');
    }
    this.#client = client;
    this.#options = options;
    const query = streams.map((s) => `stream=${encodeURIComponent(s)}`);
    if (options.rewind) query.push(`rewind=${options.rewind}`);
    this.#url = `${client.baseUrl}/v1/events?${query.join('&')}`;
    this.#open(options.lastEventId);
  }

  /** Stops following the streams. */
  close() {
    this.#closed = true;
    this.#source.close();
    this.#report('closed');
  }

  // A new EventSource, from `lastEventId` when given (its own reconnects then
  // send the Last-Event-ID header, which the edge prefers).
  #open(lastEventId) {
    const url = lastEventId ? `${this.#url}&lastEventId=${encodeURIComponent(lastEventId)}`
      : this.#url;
    const source = new EventSource(url, { withCredentials: this.#client.baseUrl !== '' });
    this.#source = source;
    source.onopen = () => {
      this.status.opens += 1;
      if (this.status.opens > 1) {
        this.status.reconnects += 1;
        // EventSource sent the last id it had: the edge resumed every stream there.
        if (this.status.lastEventId) this.status.resumes += 1;
      }
      this.#report('open');
    };
    source.onerror = () => {
      // EventSource reconnects by itself (after the edge's retry: hint),
      // unless the edge refused the request for good.
      this.#report(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    };
    for (const [type, handler] of Object.entries(this.#options.on ?? {})) {
      source.addEventListener(type, (event) => this.#deliver(event, handler));
    }
    source.addEventListener('herald.reset', (event) => {
      this.status.lastEventId = event.lastEventId;
      this.#options.onReset?.(parse(event.data));
    });
    source.addEventListener('herald.auth', (event) => this.#expired(event));
  }

  // The edge ended the stream because the token expired; its id is the cursor.
  async #expired(event) {
    this.#source.close();  // reconnecting with the old token would be refused
    if (event.lastEventId) this.status.lastEventId = event.lastEventId;
    this.#report('refreshing');
    if (!(await this.#client.refresh())) {
      this.#report('expired');
      return;
    }
    if (this.#closed) return;
    this.status.refreshes += 1;
    this.#open(this.status.lastEventId);
  }

  #deliver(event, handler) {
    this.status.events += 1;
    this.status.lastEventId = event.lastEventId;
    handler(parse(event.data), event);
  }

  #report(state) {
    this.status.state = state;
    this.status.lastEventId = this.status.lastEventId || '';
    this.#options.onStatus?.({ ...this.status });
  }
}

function parse(data) {
  try { return JSON.parse(data); } catch { return data; }
}
