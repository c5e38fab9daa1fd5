// The console's only door to the daemon. The bearer token arrives once in the URL fragment (#token=…, which the
// browser never sends), is kept in sessionStorage (this tab only) and travels in the Authorization header of every
// call; never in a query string or a cookie. Images are fetched with the header and shown from blob: URLs.

const KEY = "atelier.token";

/** Moves a #token=… fragment into sessionStorage and removes it from the address bar and history. */
export function adoptTokenFromFragment() {
  const m = /^#token=([0-9a-fA-F]{16,128})(?:&(.*))?$/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(KEY, m[1]);
  const next = m[2] && m[2].startsWith("/") ? "#" + m[2] : "#/jobs";
  history.replaceState(null, "", location.pathname + next);
}

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(t) { sessionStorage.setItem(KEY, t.trim()); }
export function forgetToken() { sessionStorage.removeItem(KEY); }

/** Raised when the daemon answers 401: the page shows the token form. */
export class Unauthorized extends Error {}

/** An error answer of a method: {code, message, data}. */
export class CallError extends Error {
  constructor(error) {
    super(error.message || "request failed");
    this.code = error.data && error.data.code;
    this.field = error.data && error.data.field;
  }
}

function headers(extra) {
  const h = Object.assign({}, extra);
  const t = token();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

/** Calls a JSON-RPC method of the daemon (docs/protocol.md) through POST /api/rpc/{method}. */
export async function call(method, params = {}) {
  const r = await fetch("/api/rpc/" + encodeURIComponent(method), {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(params),
    cache: "no-store", credentials: "omit",
  });
  if (r.status === 401) throw new Unauthorized();
  const body = await r.json();
  if (body.error) throw new CallError(body.error);
  return body.result;
}

/** GETs an API path (its query carries filters, never the token). */
export async function get(path) {
  const r = await fetch(path, { headers: headers(), cache: "no-store", credentials: "omit" });
  if (r.status === 401) throw new Unauthorized();
  const body = await r.json();
  if (body.error) throw new CallError(typeof body.error === "string" ? { message: body.message } : body.error);
  return body;
}

const images = new Map();

/** A blob: URL for a stored image, fetched once per page with the token. */
export function imageURL(taskUUID, imageUUID) {
  const key = taskUUID + "/" + imageUUID;
  if (!images.has(key)) {
    images.set(key, fetch("/api/images/" + key, { headers: headers(), credentials: "omit" }).then(async (r) => {
      if (r.status === 401) throw new Unauthorized();
      if (!r.ok) throw new Error("image " + imageUUID + ": " + r.status);
      return URL.createObjectURL(await r.blob());
    }).catch((e) => { images.delete(key); throw e; }));
  }
  return images.get(key);
}

/**
 * Follows GET /api/events (server-sent events) with fetch, so the token goes in the header (EventSource cannot send
 * one). Calls onEvent(name, data) per event and onState("live"|"offline"); reconnects after a pause. Returns a stop
 * function.
 */
export function followEvents(onEvent, onState) {
  let stopped = false;
  let controller = null;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const r = await fetch("/api/events", { headers: headers(), signal: controller.signal, cache: "no-store", credentials: "omit" });
        if (r.status === 401) { onState("unauthorized"); return; }
        if (!r.ok || !r.body) throw new Error("events: " + r.status);
        onState("live");
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let name = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) name = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (data) { try { onEvent(name, JSON.parse(data)); } catch (e) { console.error(e); } }
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      onState("offline");
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}
