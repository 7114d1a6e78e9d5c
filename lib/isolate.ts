/**
 * Writing a batch in which one item may be poison (data the store refuses on every try): the
 * batch is halved, in order, around the refusal until the poisoned items stand alone, so every
 * other item is written and nothing waits behind the bad one. Pure control flow: the caller
 * brings the write and says which errors are about the data.
 */

/** How {@link writeIsolating} writes and reports. */
export interface IsolatingWrite<T, R> {
  /** Writes `slice` in one go (one statement or transaction). */
  write(slice: readonly T[]): Promise<R>;
  /** True when `err` means the slice's data is refused (retrying the same rows cannot help). */
  isPoison(err: unknown): boolean;
  /** Called with what `write` returned after `slice` was written, before the next slice is tried. */
  committed(slice: readonly T[], result: R): void | Promise<void>;
  /** Called for a single item the store refused as poison (`err` is its refusal). */
  poisoned(item: T, err: unknown): Promise<void>;
}

/**
 * Writes `items` with `w.write`, in order. A failure that `w.isPoison` accepts splits the slice
 * into halves written one after the other (earlier items first), down to single items, which go
 * to `w.poisoned`. Any other failure is thrown at once: items already committed or poisoned were
 * reported, the rest are the caller's to retry. A batch of n items with k poisoned costs about
 * 1 + 2k·log2(n) writes.
 */
export async function writeIsolating<T, R>(items: readonly T[], w: IsolatingWrite<T, R>): Promise<void> {
  const run = async (slice: readonly T[]): Promise<void> => {
    if (slice.length === 0) return;
    let result: R;
    try {
      result = await w.write(slice);
    } catch (err) {
      if (!w.isPoison(err)) throw err;
      if (slice.length === 1) {
        await w.poisoned(slice[0]!, err);
        return;
      }
      const mid = Math.ceil(slice.length / 2);
      await run(slice.slice(0, mid));
      await run(slice.slice(mid));
      return;
    }
    await w.committed(slice, result);
  };
  await run(items);
}
