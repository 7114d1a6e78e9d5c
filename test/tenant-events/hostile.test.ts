/**
 * Hostile payloads on both intakes. Over HTTP every one gets a 4xx in the uniform error shape
 * (raw sockets, so truncated bodies and broken encodings reach the server as sent); over plain
 * JetStream publishes every one lands in the DLQ with its reason (or, above the server's
 * payload limit, the publish itself fails). Nothing of it is stored.
 */
import { expect } from "chai";
import net from "node:net";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import type { NatsHandles } from "../../nats";
import type { EventNames } from "../../services/tenant-events/streams";
import {
  call,
  cleanupEvents,
  makeClient,
  postJson,
  startEventsNode,
  testNats,
  type EventsNode,
  type TestClient,
} from "./harness";

interface RawAnswer {
  readonly status: number;
  readonly body: string;
}

/** Sends raw bytes on a fresh socket and reads one HTTP/1.1 answer (Content-Length framed). */
function sendRaw(port: number, raw: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const socket = net.connect({ host: "127.0.0.1", port });
    const finish = (err: Error | null, a?: RawAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(a!);
    };
    const parse = (): RawAnswer | undefined => {
      const text = buf.toString("latin1");
      const sep = text.indexOf("\r\n\r\n");
      if (sep === -1) return undefined;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]);
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, sep))?.[1] ?? NaN);
      const rest = buf.subarray(sep + 4);
      if (Number.isNaN(len) || rest.length < len) return undefined;
      return { status, body: rest.subarray(0, len).toString("utf8") };
    };
    const timer = setTimeout(() => finish(new Error(`no answer within 10 s (${buf.length} bytes)`)), 10_000);
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      const a = parse();
      if (a) finish(null, a);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      const a = parse();
      if (a) finish(null, a);
      else
        finish(
          new Error(`closed without a complete answer: ${JSON.stringify(buf.subarray(0, 200).toString("latin1"))}`),
        );
    });
    socket.write(raw);
  });
}

describe("events: hostile payloads", function () {
  this.timeout(90_000);
  const ns = freshNamespace("teh");
  let n: EventsNode;
  let port: number;
  let nats: NatsHandles;
  let names: EventNames;
  let w: TestClient;
  let other: TestClient;

  const envelope = (over: Record<string, unknown> = {}) => ({
    clientId: w.id,
    eventId: "h-1",
    type: "order.created",
    timestamp: "2026-01-01T00:00:00Z",
    data: { amount: 1 },
    ...over,
  });
  const stored = async (tenant: string): Promise<number> =>
    Number(
      (await n.node.ctx.pg.query<{ n: string }>("SELECT count(*) AS n FROM events WHERE client_id = $1", [tenant]))
        .rows[0]!.n,
    );

  before(async () => {
    n = await startEventsNode(ns, "eh-1", { EVENTS_MAX_EVENT_BYTES: "8192", GATEWAY_BODY_TIMEOUT_MS: "500" });
    port = Number(new URL(n.url).port);
    ({ h: nats, names } = await testNats(ns));
    const admin = await makeClient(n.node, ["admin"]);
    w = await makeClient(n.node, ["events:read", "events:write"]);
    other = await makeClient(n.node, ["events:read", "events:write"]);
    const d = await postJson(`${n.url}/api/v1/admin/event-types/order.created/versions`, admin.key, {
      schema: {
        type: "object",
        required: ["amount"],
        properties: { amount: { type: "number" }, note: { type: "string" } },
      },
    });
    expect(d.status, d.text).to.equal(201);
  });

  after(async () => {
    await nats?.nc.close();
    await n?.stop();
    await cleanupEvents(ns);
  });

  it("answers every hostile HTTP request with a 4xx in the uniform shape and stores nothing", async () => {
    const req = (
      body: Buffer | string | undefined,
      headers: Record<string, string> = {},
      contentLength?: number,
    ): Buffer => {
      const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
      const h: Record<string, string> = {
        host: "127.0.0.1",
        connection: "close",
        authorization: `Bearer ${w.key}`,
        "content-type": "application/json",
        ...headers,
      };
      if (body !== undefined || contentLength !== undefined) h["content-length"] = String(contentLength ?? b.length);
      const head = `POST /api/v1/events HTTP/1.1\r\n${Object.entries(h)
        .filter(([, v]) => v !== "")
        .map(([k, v]) => `${k}: ${v}`)
        .join("\r\n")}\r\n\r\n`;
      return Buffer.concat([Buffer.from(head, "latin1"), b]);
    };
    const json = (v: unknown): string => JSON.stringify(v);
    const valid = json(envelope());
    let deepBody: unknown = 1;
    for (let i = 0; i < 200; i++) deepBody = [deepBody];
    let deepData: unknown = 1;
    for (let i = 0; i < 40; i++) deepData = { d: deepData };
    const cases: Array<[string, Buffer, number]> = [
      ["bad JSON", req('{"clientId": "x", "eventId": '), 400],
      ["NaN literal", req(valid.replace('"amount":1', '"amount":NaN')), 400],
      ["trailing garbage", req(`${valid}}}`), 400],
      ["truncated body (fewer bytes than Content-Length)", req(valid.slice(0, 40), {}, valid.length), 408],
      ["text/plain", req(valid, { "content-type": "text/plain" }), 415],
      ["application/xml", req("<event/>", { "content-type": "application/xml" }), 415],
      ["multipart", req(valid, { "content-type": "multipart/form-data; boundary=x" }), 415],
      ["latin-1 charset", req(valid, { "content-type": "application/json; charset=iso-8859-1" }), 415],
      ["no content type", req(valid, { "content-type": "" }), 415],
      ["no body", req(undefined), 400],
      [
        "invalid UTF-8",
        req(Buffer.concat([Buffer.from('{"clientId":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')])),
        400,
      ],
      [
        "overlong UTF-8 encoding of '/'",
        req(
          Buffer.concat([
            Buffer.from(`{"clientId":"${w.id}","eventId":"a`),
            Buffer.from([0xc0, 0xaf]),
            Buffer.from('b"}'),
          ]),
        ),
        400,
      ],
      ["deep nesting of the body", req(json(deepBody)), 400],
      ["deep nesting of data", req(json(envelope({ data: { amount: 1, x: deepData } }))), 422],
      ["a number that overflows (1e400)", req(valid.replace('"amount":1', '"amount":1e400')), 422],
      ["an integer beyond 2^53", req(valid.replace('"amount":1', '"amount":18446744073709551616')), 422],
      ["a lone surrogate", req(valid.replace('"amount":1', '"amount":1,"note":"\\ud800"')), 422],
      ["a huge event id", req(json(envelope({ eventId: "e".repeat(10_000) }))), 422],
      [
        "a huge data field (above EVENTS_MAX_EVENT_BYTES)",
        req(json(envelope({ data: { amount: 1, note: "x".repeat(100_000) } }))),
        422,
      ],
      [
        "a body above the gateway limit",
        req(json(envelope({ data: { amount: 1, note: "x".repeat(1_100_000) } }))),
        413,
      ],
      ["path traversal in the event id", req(json(envelope({ eventId: "../../etc/passwd" }))), 422],
      ["encoded traversal in the event id", req(json(envelope({ eventId: "%2e%2e%2fsecret" }))), 422],
      ["path traversal in the client id", req(json(envelope({ clientId: "../" + w.id }))), 422],
      ["another tenant's client id", req(json(envelope({ clientId: other.id }))), 403],
      [
        "a duplicate clientId key (the last wins: another tenant)",
        req(valid.replace(`"clientId":"${w.id}"`, `"clientId":"${w.id}","clientId":"${other.id}"`)),
        403,
      ],
      ["__proto__ in the envelope", req(valid.replace('{"clientId"', '{"__proto__":{"admin":true},"clientId"')), 422],
      ["null", req("null"), 422],
      ["a string", req('"event"'), 422],
      ["an empty array", req("[]"), 422],
      ["1001 events", req(json(Array.from({ length: 1001 }, (_, i) => envelope({ eventId: `b${i}` })))), 422],
      ["an empty eventId", req(json(envelope({ eventId: "" }))), 422],
      ["a missing field", req(json({ ...envelope(), data: undefined })), 422],
      ["an unknown type", req(json(envelope({ type: "no.such" }))), 422],
      ["data violating the schema", req(json(envelope({ data: { amount: "1" } }))), 422],
      ["a timestamp without offset", req(json(envelope({ timestamp: "2026-01-01T00:00:00" }))), 422],
      ["a repeated eventId in one batch", req(json([envelope(), envelope()])), 422],
      [
        "one bad event in a batch (all or nothing)",
        req(json([envelope({ eventId: "ok-1" }), envelope({ eventId: "bad/1" })])),
        422,
      ],
      ["no credentials", req(valid, { authorization: "" }), 401],
    ];
    const failures: string[] = [];
    for (const [what, raw, want] of cases) {
      const a = await sendRaw(port, raw);
      let shape = false;
      try {
        const body = JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } };
        shape =
          typeof body.error?.code === "string" &&
          typeof body.error.message === "string" &&
          typeof body.error.requestId === "string";
      } catch {
        shape = false;
      }
      if (a.status !== want || !shape) failures.push(`${what}: ${a.status} ${a.body.slice(0, 200)} (wanted ${want})`);
    }
    expect(failures).to.deep.equal([]);
    expect(await stored(w.id)).to.equal(0);
    const info = await nats.jsm.streams.info(names.inStream, { subjects_filter: names.inSubject(w.id) });
    expect(info.state.subjects?.[names.inSubject(w.id)] ?? 0, "nothing reached the intake stream").to.equal(0);
    // the node is still fine
    expect((await postJson(`${n.url}/api/v1/events`, w.key, envelope({ eventId: "fine-1" }))).status).to.equal(202);
    await waitFor("fine-1 stored", async () => (await stored(w.id)) === 1, 15_000, 100);
  });

  it("dead-letters every hostile NATS publish with its reason (or refuses it at publish) and stores nothing", async () => {
    const t = "hostile-t";
    const ok = {
      clientId: t,
      eventId: "x-1",
      type: "order.created",
      timestamp: "2026-01-01T00:00:00Z",
      data: { amount: 1 },
    };
    const text = JSON.stringify(ok);
    let deep = "1";
    for (let i = 0; i < 300; i++) deep = `[${deep}]`;
    const payloads: Array<[string, string | Uint8Array]> = [
      [
        "INVALID_ENCODING",
        Buffer.concat([Buffer.from(text.slice(0, 20)), Buffer.from([0xff, 0xfe]), Buffer.from(text.slice(20))]),
      ],
      ["INVALID_JSON", text.slice(0, 30)],
      ["INVALID_JSON", ""],
      ["INVALID_JSON", text.replace('"amount":1', '"amount":NaN')],
      ["INVALID_JSON", text.replace('"amount":1', '"amount":1e400')],
      ["INVALID_JSON", text.replace('"amount":1', '"amount":18446744073709551616')],
      ["INVALID_ENVELOPE", deep],
      ["INVALID_ENVELOPE", JSON.stringify({ ...ok, eventId: "../../etc/passwd" })],
      ["INVALID_ENVELOPE", JSON.stringify({ ...ok, eventId: "" })],
      ["INVALID_ENVELOPE", JSON.stringify([ok])],
      ["TOO_LARGE", JSON.stringify({ ...ok, data: { amount: 1, note: "x".repeat(20_000) } })],
      ["TENANT_MISMATCH", JSON.stringify({ ...ok, clientId: "someone-else" })],
      ["UNKNOWN_TYPE", JSON.stringify({ ...ok, type: "no.such" })],
      ["SCHEMA_VIOLATION", JSON.stringify({ ...ok, data: { amount: [] } })],
    ];
    for (const [, p] of payloads) await nats.js.publish(names.inSubject(t), p);
    // a subject token that is no client id: its own (hashed) consumer, dead-lettered
    await nats.js.publish(names.inSubject("bad%tok"), JSON.stringify({ ...ok, clientId: "bad%tok" }));
    // above the server's payload limit: the publish itself is refused
    let refused = false;
    try {
      await nats.js.publish(names.inSubject(t), Buffer.alloc(1_200_000, 0x61));
    } catch {
      refused = true;
    }
    expect(refused, "an oversized publish is refused").to.equal(true);

    const admin = await makeClient(n.node, ["admin"]);
    const dead = await waitFor(
      "every hostile publish dead-lettered",
      async () => {
        const r = await call(`${n.url}/api/v1/admin/events/dlq?tenant=${t}&limit=100`, admin.key);
        return r.json?.items?.length === payloads.length
          ? (r.json.items as Array<{ code: string; reason: string }>)
          : undefined;
      },
      20_000,
      100,
    );
    expect(dead.map((d) => d.code)).to.deep.equal(payloads.map(([code]) => code));
    expect(dead.every((d) => d.reason.startsWith(`${d.code}: `))).to.equal(true);
    const odd = await waitFor(
      "odd tenant dead-lettered",
      async () => {
        const r = await call(`${n.url}/api/v1/admin/events/dlq?limit=1000`, admin.key);
        return (r.json?.items as Array<{ tenant: string; code: string }> | undefined)?.find(
          (d) => d.tenant === "bad%tok",
        );
      },
      20_000,
      100,
    );
    expect(odd.code).to.equal("INVALID_ENVELOPE");
    expect(await stored(t)).to.equal(0);
    expect(await stored("bad%tok")).to.equal(0);
  });
});
