/** Operator commands of the archive: `archive` (status and progress), `archive-seal` (seal what is due now). */
import type { ReplCommand } from "../../node/domain";
import { errorMessage } from "../../lib/errors";

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** The archive's REPL commands. */
export const archiveRepl: readonly ReplCommand[] = [
  {
    command: "archive",
    description:
      "Archive: datasets with months per state, rows and bytes archived, the job's lease holder and progress",
    async action(broker) {
      try {
        print(JSON.stringify(await broker.call("archive.status"), null, 2));
      } catch (err) {
        print(`error: ${errorMessage(err)}`);
      }
    },
  },
  {
    command: "archive-seal",
    description: "Seal the months that are due now (answered by a node holding the job's lease)",
    async action(broker) {
      try {
        print(JSON.stringify(await broker.call("archive.sealNow"), null, 2));
      } catch (err) {
        print(`error: ${errorMessage(err)}`);
      }
    },
  },
];
