/** The contract of a domain's pages in the operator console (a declaration, no code). */

/**
 * A page a domain adds to the operator console: the operator fills in `inputs`, the console
 * calls one of the domain's own GET routes (`path`, each `{name}` replaced by its input) with
 * the operator's admin credential, exactly as any API client would, and shows the answer (an
 * array at `table`, a JSON pointer, as a table; the rest as JSON). So a page shows nothing
 * that route would not.
 */
export interface ConsolePage {
  /** Unique within the domain: lower-case letters, digits and "-". */
  readonly id: string;
  readonly title: string;
  readonly description?: string;
  readonly inputs: readonly { readonly name: string; readonly label: string; readonly pattern?: string }[];
  /** A GET route of this domain with `{input}` placeholders, e.g. `/api/v1/orders/{id}`; a query may follow `?`. */
  readonly path: string;
  /** JSON pointer of an array in the answer to show as a table, e.g. `/items`. */
  readonly table?: string;
}
