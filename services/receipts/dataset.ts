/**
 * The receipts table as a dataset of the archive domain: the service answers it at
 * `receipts.archiveDataset`, and the archive moves months wholly older than RECEIPTS_HOT_DAYS
 * to Parquet (summary columns, line items, the document and the original bytes), serves them
 * back to the listing and GET by id (archived.ts), and runs the named analytics below.
 * Only the receipts domain knows this table's shape; the archive knows datasets.
 */

/** A column of the dataset (the archive's column types). */
interface Column {
  readonly name: string;
  readonly type: "VARCHAR" | "INTEGER" | "BIGINT" | "DECIMAL(20,2)" | "TIMESTAMPTZ" | "BLOB" | "JSON";
}

const COLUMNS: readonly Column[] = [
  { name: "id", type: "VARCHAR" },
  { name: "client_id", type: "VARCHAR" },
  { name: "created_at", type: "TIMESTAMPTZ" },
  { name: "updated_at", type: "TIMESTAMPTZ" },
  { name: "type", type: "VARCHAR" },
  { name: "type_version", type: "INTEGER" },
  { name: "format", type: "VARCHAR" },
  { name: "status", type: "VARCHAR" },
  { name: "version", type: "INTEGER" },
  { name: "issued_at", type: "TIMESTAMPTZ" },
  { name: "total", type: "DECIMAL(20,2)" },
  { name: "currency", type: "VARCHAR" },
  { name: "tax_reference", type: "VARCHAR" },
  { name: "warehouse_reference", type: "VARCHAR" },
  { name: "reason", type: "VARCHAR" },
  { name: "idempotency_key", type: "VARCHAR" },
  { name: "fingerprint", type: "VARCHAR" },
  { name: "content_type", type: "VARCHAR" },
  { name: "callback_url", type: "VARCHAR" },
  { name: "original", type: "BLOB" },
  { name: "document", type: "JSON" },
];

/** The line items of every type in one shape (fiscal receipts carry none of their own). */
const ITEM = "STRUCT(sku VARCHAR, name VARCHAR, quantity DOUBLE, amount DOUBLE)[]";
const ITEMS_SQL = `CAST(CASE "type"
  WHEN 'retail' THEN from_json(json_extract("document", '$.lines'), '[{"sku":"VARCHAR","name":"VARCHAR","quantity":"DOUBLE","amount":"DOUBLE"}]')
  WHEN 'invoice' THEN list_transform(from_json(json_extract("document", '$.items'), '[{"description":"VARCHAR","quantity":"DOUBLE","netAmount":"DOUBLE"}]'),
    x -> {'sku': NULL::VARCHAR, 'name': x.description, 'quantity': x.quantity, 'amount': x.netAmount})
  ELSE [] END AS ${ITEM})`;

const NEW_YEAR_SQL = `
WITH w AS (
  SELECT *, CASE WHEN month(created_at) = 12 THEN year(created_at) + 1 ELSE year(created_at) END AS season
    FROM dataset
   WHERE (month(created_at) = 12 AND day(created_at) >= 24) OR (month(created_at) = 1 AND day(created_at) <= 7)
), spend AS (
  SELECT season, type AS category, count(*) AS receipts, CAST(sum(total) AS DOUBLE) AS spend FROM w GROUP BY ALL
), lines AS (
  SELECT season, type AS category, unnest(items) AS it FROM w
), top AS (
  SELECT season, category, it.name AS item, sum(it.amount) AS amount, sum(it.quantity) AS quantity
    FROM lines GROUP BY season, category, it.name
  QUALIFY row_number() OVER (PARTITION BY season, category ORDER BY sum(it.amount) DESC, it.name) <= $top
)
SELECT s.season, s.category, s.receipts, s.spend,
       coalesce(list({'item': t.item, 'amount': t.amount, 'quantity': t.quantity} ORDER BY t.amount DESC, t.item) FILTER (WHERE t.item IS NOT NULL), []) AS top_items
  FROM spend s LEFT JOIN top t USING (season, category)
 WHERE s.season BETWEEN $fromSeason AND $toSeason
 GROUP BY ALL ORDER BY s.season, s.category`;

const TREND_SQL = `
SELECT strftime(date_trunc('month', created_at), '%Y-%m') AS month, count(*) AS receipts,
       CAST(sum(total) AS DOUBLE) AS spend, CAST(avg(total) AS DOUBLE) AS average
  FROM dataset
 WHERE created_at >= CAST($from AS TIMESTAMPTZ) AND created_at < CAST($to AS TIMESTAMPTZ)
 GROUP BY 1 ORDER BY 1`;

/** The receipts dataset, for months older than `hotDays`. */
export function receiptsDataset(hotDays: number) {
  return {
    name: "receipts",
    table: "receipts",
    idColumn: "id",
    timeColumn: "created_at",
    clientColumn: "client_id",
    hotDays,
    columns: COLUMNS,
    derived: [{ name: "items", sql: ITEMS_SQL }],
    listColumns: [
      "id",
      "type",
      "format",
      "status",
      "created_at",
      "updated_at",
      "issued_at",
      "total",
      "currency",
      "tax_reference",
      "warehouse_reference",
      "reason",
    ],
    filterColumns: ["status", "type"],
    queries: [
      {
        name: "new-year",
        description:
          "Spend and top items per category (receipt type) over the New Year holidays (24 Dec - 7 Jan) of each season in a range of years",
        months: [12, 1],
        params: [
          { name: "fromSeason", type: "integer", default: 1990, min: 1970, max: 9999 },
          { name: "toSeason", type: "integer", default: 9999, min: 1970, max: 9999 },
          { name: "top", type: "integer", default: 5, min: 1, max: 100 },
        ],
        sql: NEW_YEAR_SQL,
      },
      {
        name: "client-trend",
        description: "Receipts, spend and average ticket per month in a time range",
        params: [
          { name: "from", type: "string", default: "1970-01-01T00:00:00Z", pattern: "^\\d{4}-\\d{2}-\\d{2}" },
          { name: "to", type: "string", default: "9999-01-01T00:00:00Z", pattern: "^\\d{4}-\\d{2}-\\d{2}" },
        ],
        sql: TREND_SQL,
      },
    ],
  } as const;
}
