/**
 * The archive job as a child process for the crash test: seals every due month of the receipts
 * dataset in NAMESPACE; with PAUSE_AT=<step> it prints "PAUSED <month> <step>" after that step
 * is recorded and waits there to be killed. Prints "DONE" when everything due is sealed.
 */
import { DATASET, openArchiveParts } from "./fixtures";

async function main(): Promise<void> {
  const ns = process.env["NAMESPACE"] ?? "";
  const pauseAt = process.env["PAUSE_AT"];
  const pauseMonth = process.env["PAUSE_MONTH"];
  const parts = await openArchiveParts(ns, async (_d, month, step) => {
    if (step === pauseAt && (!pauseMonth || pauseMonth === month)) {
      process.stdout.write(`PAUSED ${month} ${step}\n`);
      await new Promise(() => undefined);
    }
  });
  await parts.sealer.sealDue(DATASET, Date.parse(process.env["NOW"] ?? new Date().toISOString()));
  process.stdout.write("DONE\n");
  await parts.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
