// Server-Sent Events from /api/events, with the connection's state made visible.
//
// EventSource reconnects by itself after a dropped stream (and sends Last-Event-ID, so
// the daemon replays what was missed).  It gives up for good on a non-stream answer
// (a 401 after the daemon restarted, a 503): then we retry ourselves, after checking
// the session — a 401 there brings the login form back.

const TYPES = ["job", "frame", "fused", "rail", "marks", "schedule", "light", "job_deleted"];
const RETRY_MS = [0, 2000, 5000, 10000]; // our own retries: at once, then slower

export class Events {
  constructor({ handlers, onDown, onUp, checkSession }) {
    this.handlers = handlers;
    this.onDown = onDown; // the banner: "connection lost — reconnecting…"
    this.onUp = onUp; // (re)connected: refresh everything that may have been missed
    this.checkSession = checkSession;
    this.source = null;
    this.down = false;
    this.timer = null;
    this.failures = 0;
  }

  start() {
    this.stop();
    this.stopped = false;
    this.failures = 0;
    this.down = false; // a fresh start (after a login) is not a "reconnect"
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }

  open() {
    const source = new EventSource("/api/events"); // same origin: the session cookie goes along
    this.source = source;
    source.onopen = () => {
      const wasDown = this.down;
      this.down = false;
      this.failures = 0;
      this.onUp(wasDown);
    };
    source.onerror = () => {
      if (this.stopped || source !== this.source) return;
      if (!this.down) {
        this.down = true;
        this.onDown();
      }
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        const wait = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
        this.failures += 1;
        this.timer = setTimeout(() => this.retry(), wait);
      }
    };
    for (const type of TYPES) {
      source.addEventListener(type, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return; // a malformed event must not break the stream
        }
        this.handlers[type]?.(data);
      });
    }
  }

  async retry() {
    if (this.stopped) return;
    const ok = await this.checkSession(); // false: logged out (login shown) — stop here
    if (this.stopped || !ok) return;
    this.open();
  }
}
