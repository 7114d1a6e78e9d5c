/**
 * The gateway's error writer (services/gateway/http.ts createErrorWriter) under a burst of
 * deliberate refusals: every request gets its 503 in the uniform shape, but the log gets one
 * "request refused" line per code and interval, the next one counting the refusals it did not
 * log; a real failure (a 500) is logged every time.
 */
import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { AppError } from "../../lib/errors";
import { createErrorWriter } from "../../services/gateway/http";

/** A server whose every answer is `err` through the writer, and the log lines it wrote. */
async function serveErrors(err: () => unknown, intervalMs: number, now: () => number = Date.now) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const writer = createErrorWriter(pino({ level: "info" }, sink), () => undefined, intervalMs, now);
  const server = http.createServer((req, res) => writer(req, res, err()));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { lines, url, close: () => new Promise((r) => server.close(r)) };
}

const overloaded = (): AppError =>
  new AppError("UNAVAILABLE", "this node is overloaded (event loop delay 80 ms, limit 50 ms); retry later", undefined, {
    "Retry-After": "1",
  });

describe("gateway error writer: refusals logged once per interval", function () {
  it("answers every refusal, logs the first, and counts the rest on the next line", async () => {
    let clock = 1_000_000;
    const s = await serveErrors(overloaded, 1000, () => clock);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(s.url)));
      for (const a of answers) {
        expect(a.status).to.equal(503);
        expect(a.headers.get("retry-after")).to.equal("1");
        const body = (await a.json()) as { error: { code: string } };
        expect(body.error.code).to.equal("UNAVAILABLE");
      }
      const refused = s.lines.filter((l) => l["msg"] === "request refused");
      expect(refused).to.have.length(1);
      expect(refused[0]).to.include({ code: "UNAVAILABLE" });
      expect(refused[0]).to.not.have.property("refusedSinceLastLine");
      clock += 1000; // the interval has passed: the next refusal is a line counting the 19
      expect((await fetch(s.url)).status).to.equal(503);
      const after = s.lines.filter((l) => l["msg"] === "request refused");
      expect(after).to.have.length(2);
      expect(after[1]).to.include({ code: "UNAVAILABLE", refusedSinceLastLine: 19 });
    } finally {
      await s.close();
    }
  });

  it("with no interval every refusal is a line; after suppressed ones the next line says how many", async () => {
    const every = await serveErrors(overloaded, 0);
    try {
      for (let i = 0; i < 3; i++) await (await fetch(every.url)).text();
      expect(every.lines.filter((l) => l["msg"] === "request refused")).to.have.length(3);
      expect(every.lines.some((l) => "refusedSinceLastLine" in l)).to.equal(false);
    } finally {
      await every.close();
    }
  });

  it("logs every real failure (500) with its error", async () => {
    const s = await serveErrors(() => new Error("boom"), 3_600_000);
    try {
      for (let i = 0; i < 3; i++) expect((await fetch(s.url)).status).to.equal(500);
      const failed = s.lines.filter((l) => l["msg"] === "request failed");
      expect(failed).to.have.length(3);
    } finally {
      await s.close();
    }
  });
});
