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
   * @param {{baseUrl?: string, token?: string}} options  `token` is sent as a
   *   Bearer token on POSTs (subscriptions use the herald_token cookie).
   */
  constructor({ baseUrl = '', token } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.token = token;
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
    return new Subscription(this.baseUrl, streams, options);
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

  async #post(path, body, { timeoutMs, idempotencyKey } = {}) {
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
    if (!response.ok) {
      throw new HeraldError(response.status, json?.error?.code ?? 'unknown',
        json?.error?.message ?? (text || response.statusText));
    }
    return json;
  }
}

/**
 * @typedef {Object} Status
 * @property {'connecting'|'open'|'reconnecting'|'closed'} state
 * @property {number} opens       how many times the connection opened
 * @property {number} reconnects  opens after the first
 * @property {number} resumes     reconnects that resumed from a last event id
 * @property {string} lastEventId the cursor the browser resumes from
 * @property {number} events      events received
 */
export class Subscription {
  #source;
  #options;
  status = { state: 'connecting', opens: 0, reconnects: 0, resumes: 0, lastEventId: '', events: 0 };

  constructor(baseUrl, streams, options) {
    if (!Array.isArray(streams) || streams.length === 0) {
      throw new TypeError('subscribe: give at least one stream');
    }
    this.#options = options;
    const query = streams.map((s) => `stream=${encodeURIComponent(s)}`);
    if (options.rewind) query.push(`rewind=${options.rewind}`);
    if (options.lastEventId) query.push(`lastEventId=${encodeURIComponent(options.lastEventId)}`);
    this.#source = new EventSource(`${baseUrl}/v1/events?${query.join('&')}`,
      { withCredentials: baseUrl !== '' });
    this.#source.onopen = () => {
      this.status.opens += 1;
      if (this.status.opens > 1) {
        this.status.reconnects += 1;
        // EventSource sent the last id it had: the edge resumed every stream there.
        if (this.status.lastEventId) this.status.resumes += 1;
      }
      this.#report('open');
    };
    this.#source.onerror = () => {
      // EventSource reconnects by itself (after the edge's retry: hint),
      // unless the edge refused the request for good.
      this.#report(this.#source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    };
    const handlers = { ...(options.on ?? {}) };
    for (const [type, handler] of Object.entries(handlers)) {
      this.#source.addEventListener(type, (event) => this.#deliver(event, handler));
    }
    this.#source.addEventListener('herald.reset', (event) => {
      this.status.lastEventId = event.lastEventId;
      options.onReset?.(parse(event.data));
    });
  }

  /** Stops following the streams. */
  close() {
    this.#source.close();
    this.#report('closed');
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
