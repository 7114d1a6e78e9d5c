/** The console's pure DLQ parts: groups, filters, replay order, validation of an edit. No server. */
import { expect } from "chai";
import type { DlqEntry } from "../../actors/types";
import {
  groupFilter,
  groupOf,
  matches,
  replayOrder,
  validateEdit,
  MAX_EDIT_BYTES,
} from "../../services/console/dlq-view";
import { AppError } from "../../lib/errors";

function entry(seq: number, origSeq: number, data: unknown = { n: 1 }, stream = "SY_ACTOR_PROBE"): DlqEntry {
  return {
    seq,
    subject: `sy.dlq.actor.probe.k${origSeq}`,
    originalSubject: `sy.actor.probe.3.k${origSeq}`,
    error: `poison n=${origSeq}`,
    attempts: 3,
    deliveryCount: 1,
    failedAt: "2026-12-01T00:00:00Z",
    headers: { "Sy-Dlq-Seq": String(origSeq), "Sy-Dlq-Stream": stream },
    data,
  };
}

describe("console DLQ view (pure)", function () {
  it("groups subjects by runtime kind or job, or by domain", function () {
    expect(groupOf("sy", "sy.dlq.actor.probe.k1")).to.equal("actor.probe");
    expect(groupOf("sy", "sy.dlq.job.taxregister.r1")).to.equal("job.taxregister");
    expect(groupOf("sy", "sy.dlq.events.acme")).to.equal("events");
    expect(groupOf("sy", "other.dlq.x.y")).to.equal("");
    expect(groupFilter("sy", "actor.probe")).to.equal("sy.dlq.actor.probe.>");
    expect(groupFilter("sy", undefined)).to.equal("sy.dlq.>");
  });

  it("filters by substrings of subject and error, case-insensitively", function () {
    const e = entry(1, 7);
    expect(matches(e, {})).to.equal(true);
    expect(matches(e, { subject: "PROBE.3.K7", error: "Poison" })).to.equal(true);
    expect(matches(e, { error: "timeout" })).to.equal(false);
  });

  it("replays in the order of first publication, whatever the DLQ order (edits included)", function () {
    // n=6 was edited first (DLQ seq 10), n=5 later (seq 11): the replay still puts 5 before 6
    const order = replayOrder([entry(11, 5), entry(10, 6), entry(3, 2, {}, "SY_ACTOR_OTHER"), entry(4, 1)]);
    // streams apart (by name), each in its own sequence order
    expect(order.map((e) => e.seq)).to.deep.equal([3, 4, 11, 10]);
  });

  it("accepts an edit of the original's shape and refuses the rest with 422", function () {
    expect(validateEdit(entry(1, 1), true, { n: 2 })).to.equal('{"n":2}');
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).to.be.instanceOf(AppError);
        expect((err as AppError).code).to.equal("VALIDATION_ERROR");
        return;
      }
      expect.fail("not refused");
    };
    refused(() => validateEdit(entry(1, 1), true, [1]));
    refused(() => validateEdit(entry(1, 1), true, undefined));
    refused(() => validateEdit(entry(1, 1, "c2VhbGVk"), false, "x"));
    refused(() => validateEdit(entry(1, 1), true, { pad: "x".repeat(MAX_EDIT_BYTES) }));
  });
});
