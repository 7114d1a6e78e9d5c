/** The Switchyard operator console: a hash-routed single page over the admin routes. */
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError, live, signIn, signOut } from "./api";
import { diff } from "./diff";
import "./style.css";

type Json = unknown;
const fmt = (v: Json) => JSON.stringify(v, null, 2);
const ago = (ms: number | null) => (ms === null ? "—" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

function useHash(): string {
  const [h, setH] = useState(location.hash || "#/cluster");
  useEffect(() => {
    const on = () => setH(location.hash || "#/cluster");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return h;
}

function useLoad<T>(
  load: () => Promise<T>,
  deps: unknown[],
  everyMs = 0,
): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let alive = true;
    const go = () =>
      load().then(
        (d) => alive && (setData(d), setError(null)),
        (e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)),
      );
    void go();
    const t = everyMs > 0 ? setInterval(() => void go(), everyMs) : undefined;
    return () => {
      alive = false;
      if (t) clearInterval(t);
    };
  }, [...deps, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

const Err = ({ e }: { e: string | null }) =>
  e ? (
    <p class="error" role="alert">
      {e}
    </p>
  ) : null;

// ---------------------------------------------------------------- sign in

function SignIn({ onDone }: { onDone: (who: string) => void }) {
  const [id, setId] = useState("");
  const [key, setKey] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    try {
      const c = await signIn(id, key);
      setKey("");
      onDone(`${c.name} (${c.id})`);
    } catch (e) {
      setErr(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
    }
  };
  return (
    <main class="signin">
      <form onSubmit={(e) => void submit(e)} aria-label="sign in">
        <h1>Switchyard console</h1>
        <p class="muted">Sign in with an admin client. The key is kept in this page's memory only.</p>
        <label>
          Client id <span class="muted">(empty: the key is a token or API key)</span>
          <input
            name="clientId"
            value={id}
            onInput={(e) => setId((e.target as HTMLInputElement).value)}
            autocomplete="off"
          />
        </label>
        <label>
          API key or token
          <input
            name="secret"
            type="password"
            value={key}
            onInput={(e) => setKey((e.target as HTMLInputElement).value)}
            autocomplete="off"
          />
        </label>
        <button type="submit">Sign in</button>
        <Err e={err} />
      </form>
    </main>
  );
}

// ---------------------------------------------------------------- cluster

interface Partition {
  kind: string;
  partition: number;
  owner: string | null;
  desired: string | null;
  leaseAgeMs: number | null;
}
interface ClusterNode {
  id: string;
  roles: string[];
  services: string[];
  info: null | {
    ready: { ready: boolean; checks: Record<string, { ok: boolean }> };
    ownedPartitions: number;
    heapUsed: number;
    uptimeSec: number;
  };
}
interface Cluster {
  namespace: string;
  answeredBy: string;
  nodes: ClusterNode[];
  partitions: Partition[];
  rebalancing: number;
}

const PALETTE = ["#2f7fd1", "#2e9d5b", "#b7791f", "#8a5cd1", "#c53030", "#0f8b8d", "#d53f8c", "#4a5568"];

function ClusterPage() {
  const { data, error } = useLoad(() => api<Cluster>("/api/v1/admin/console/cluster"), [], 2000);
  const colour = useMemo(() => {
    const m = new Map<string, string>();
    data?.nodes.forEach((n, i) => m.set(n.id, PALETTE[i % PALETTE.length]!));
    return m;
  }, [data]);
  if (!data)
    return (
      <>
        <h2>Cluster</h2>
        <Err e={error} />
        <p class="muted">Loading…</p>
      </>
    );
  const kinds = [...new Set(data.partitions.map((p) => p.kind))];
  return (
    <>
      <h2>
        Cluster{" "}
        <span class="muted small">
          namespace {data.namespace} · answered by {data.answeredBy}
        </span>
      </h2>
      <Err e={error} />
      <p>
        <b>{data.nodes.length}</b> nodes · <b>{data.partitions.length}</b> partitions ·{" "}
        {data.rebalancing > 0 ? (
          <span class="warn">rebalancing: {data.rebalancing} partitions moving</span>
        ) : (
          <span class="ok">balanced</span>
        )}
      </p>
      <div class="cards">
        {data.nodes.map((n) => (
          <section class="card node" data-node={n.id} key={n.id}>
            <h3>
              <span class="dot" style={{ background: colour.get(n.id) }} />
              {n.id}
            </h3>
            <p>
              {n.roles.map((r) => (
                <span class="tag" key={r}>
                  {r}
                </span>
              ))}{" "}
              {n.info ? n.info.ready.ready ? <span class="ok">ready</span> : <span class="bad">not ready</span> : null}
            </p>
            <p class="small muted">
              {n.services.length > 0
                ? `services: ${n.services.join(", ")}`
                : "no services: a client of the cluster (REPL, tool or test)"}
            </p>
            {n.info ? (
              <p class="small">
                partitions owned <b>{n.info.ownedPartitions}</b> · heap {(n.info.heapUsed / 1048576).toFixed(0)} MiB ·
                up {n.info.uptimeSec} s
                <br />
                checks:{" "}
                {Object.entries(n.info.ready.checks).map(([k, v]) => (
                  <span key={k} class={v.ok ? "ok" : "bad"}>
                    {k}{" "}
                  </span>
                ))}
              </p>
            ) : null}
          </section>
        ))}
      </div>
      {kinds.map((k) => (
        <section key={k}>
          <h3>Kind {k}</h3>
          <div class="grid" data-kind={k}>
            {data.partitions
              .filter((p) => p.kind === k)
              .map((p) => (
                <div
                  key={p.partition}
                  class={`cell ${p.owner !== p.desired ? "moving" : ""}`}
                  data-owner={p.owner ?? ""}
                  style={{ background: p.owner ? (colour.get(p.owner) ?? "#999") : "#ddd" }}
                  title={`${k}/${p.partition} owner ${p.owner ?? "none"} desired ${p.desired ?? "none"} lease ${ago(p.leaseAgeMs)}`}
                >
                  {p.partition}
                </div>
              ))}
          </div>
          <details>
            <summary>partition table</summary>
            <table>
              <thead>
                <tr>
                  <th>partition</th>
                  <th>owner</th>
                  <th>desired</th>
                  <th>lease age</th>
                </tr>
              </thead>
              <tbody>
                {data.partitions
                  .filter((p) => p.kind === k)
                  .map((p) => (
                    <tr key={p.partition}>
                      <td>{p.partition}</td>
                      <td>{p.owner ?? "—"}</td>
                      <td>{p.desired ?? "—"}</td>
                      <td>{ago(p.leaseAgeMs)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </details>
        </section>
      ))}
    </>
  );
}

// ---------------------------------------------------------------- streams (live)

interface Consumer {
  stream: string;
  consumer: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
}
interface Snapshot {
  at: number;
  streams: { name: string; lastSeq: number; messages: number }[];
  consumers: Consumer[];
}

function Spark({
  points,
  label,
  width = 160,
  height = 36,
}: {
  points: number[];
  label: string;
  width?: number;
  height?: number;
}) {
  const max = Math.max(1, ...points);
  const d = points
    .map(
      (p, i) =>
        `${((i / Math.max(1, WINDOW - 1)) * width).toFixed(1)},${(height - (p / max) * (height - 4) - 2).toFixed(1)}`,
    )
    .join(" ");
  return (
    <svg
      class="spark"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
      data-points={points.length}
      data-last={points[points.length - 1] ?? 0}
    >
      <line x1="0" y1={height - 1} x2={width} y2={height - 1} stroke="#d5d9de" />
      <polyline points={d} fill="none" stroke="#2f7fd1" stroke-width="1.5" />
    </svg>
  );
}

const WINDOW = 60;

function StreamsPage() {
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [rates, setRates] = useState<Record<string, number[]>>({});
  const [total, setTotal] = useState<number[]>([]);
  useEffect(() => {
    const ac = new AbortController();
    let prev: Snapshot | null = null;
    live(
      "/api/v1/admin/console/live",
      (event, data) => {
        if (event !== "snapshot") return;
        const s = data as Snapshot;
        if (prev) {
          const dt = Math.max(0.001, (s.at - prev.at) / 1000);
          const before = new Map(prev.streams.map((x) => [x.name, x.lastSeq]));
          let sum = 0;
          const next: Record<string, number> = {};
          for (const x of s.streams) {
            const r = Math.max(0, (x.lastSeq - (before.get(x.name) ?? x.lastSeq)) / dt);
            next[x.name] = r;
            sum += r;
          }
          setRates((old) => {
            const o: Record<string, number[]> = {};
            for (const [k, r] of Object.entries(next)) o[k] = [...(old[k] ?? []), r].slice(-WINDOW);
            return o;
          });
          setTotal((t) => [...t, sum].slice(-WINDOW));
        }
        prev = s;
        setSnap(s);
      },
      ac.signal,
    );
    return () => ac.abort();
  }, []);
  if (!snap)
    return (
      <>
        <h2>Streams</h2>
        <p class="muted">Connecting to the live feed…</p>
      </>
    );
  const last = total[total.length - 1] ?? 0;
  return (
    <>
      <h2>
        Streams <span class="live">● live</span>
      </h2>
      <section class="card wide">
        <h3>
          Messages in, all streams{" "}
          <span class="muted small" data-testid="total-rate">
            {last.toFixed(0)} msg/s
          </span>
        </h3>
        <Spark points={total} label="messages per second, all streams" width={1100} height={90} />
        <p class="small muted">last 60 s · peak {Math.max(0, ...total).toFixed(0)} msg/s</p>
      </section>
      <table>
        <thead>
          <tr>
            <th>stream</th>
            <th>messages</th>
            <th>last seq</th>
            <th>rate</th>
            <th>msg/s (60 s)</th>
          </tr>
        </thead>
        <tbody>
          {snap.streams.map((s) => {
            const r = rates[s.name] ?? [];
            return (
              <tr key={s.name} data-stream={s.name}>
                <td>{s.name}</td>
                <td class="num">{s.messages}</td>
                <td class="num">{s.lastSeq}</td>
                <td class="num">{(r[r.length - 1] ?? 0).toFixed(0)}</td>
                <td>
                  <Spark points={r} label={`rate of ${s.name}`} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h3>Consumers</h3>
      <table>
        <thead>
          <tr>
            <th>stream</th>
            <th>consumer</th>
            <th>pending</th>
            <th>ack pending</th>
            <th>redelivered</th>
            <th>waiting</th>
          </tr>
        </thead>
        <tbody>
          {snap.consumers.map((c) => (
            <tr key={`${c.stream}/${c.consumer}`}>
              <td>{c.stream}</td>
              <td>{c.consumer}</td>
              <td class="num">{c.pending}</td>
              <td class="num">{c.ackPending}</td>
              <td class="num">{c.redelivered}</td>
              <td class="num">{c.waiting}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

// ---------------------------------------------------------------- actor

interface Pending {
  seq: number;
  subject: string;
  at: string;
  data: Json;
}
interface DeadLetter {
  seq: number;
  subject: string;
  group?: string;
  originalSubject: string;
  error: string;
  attempts: number;
  deliveryCount: number;
  failedAt: string;
  headers: Record<string, string>;
  data: Json;
}
interface ActorView {
  kind: string;
  key: string;
  partition: number;
  current: Json;
  revisions: { revision: number; at: string; operation: string; value: Json }[];
  historyKept: number;
  mailbox: Pending[];
  jobs: Pending[];
  deadLetters: DeadLetter[];
}

function ActorPage({ query }: { query: URLSearchParams }) {
  const [kind, setKind] = useState(query.get("kind") ?? "probe");
  const [key, setKey] = useState(query.get("key") ?? "");
  const target = query.get("kind") && query.get("key") ? `${query.get("kind")}/${query.get("key")}` : null;
  const { data, error } = useLoad(
    () => (target ? api<ActorView>(`/api/v1/admin/console/actors/${target}`) : Promise.resolve(null)),
    [target],
    target ? 3000 : 0,
  );
  const go = (ev: Event) => {
    ev.preventDefault();
    location.hash = `#/actor?kind=${encodeURIComponent(kind)}&key=${encodeURIComponent(key)}`;
  };
  return (
    <>
      <h2>Actor</h2>
      <form class="row" onSubmit={go} aria-label="find actor">
        <input
          name="kind"
          value={kind}
          onInput={(e) => setKind((e.target as HTMLInputElement).value)}
          placeholder="kind"
        />
        <input name="key" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} placeholder="key" />
        <button type="submit">Show</button>
      </form>
      <Err e={error} />
      {data ? (
        <>
          <p class="small muted">
            partition {data.partition} · keeps {data.historyKept} revision(s)
          </p>
          <div class="cols">
            <section class="card">
              <h3>State</h3>
              <pre data-testid="actor-state">
                {data.current === null
                  ? "(never handled a message)"
                  : fmt((data.current as { s?: Json }).s ?? data.current)}
              </pre>
            </section>
            <section class="card">
              <h3>Revisions</h3>
              {data.revisions.map((r, i) => {
                const older = data.revisions[i + 1];
                const ch = older ? diff(older.value, r.value) : [];
                return (
                  <div class="rev" key={r.revision}>
                    <b>#{r.revision}</b>{" "}
                    <span class="muted small">
                      {r.at} {r.operation}
                    </span>
                    {older ? (
                      <ul class="diff">
                        {ch.map((c) => (
                          <li key={c.path} class={c.kind}>
                            {c.path}:{" "}
                            {c.kind === "added"
                              ? `+ ${JSON.stringify(c.after)}`
                              : c.kind === "removed"
                                ? `− ${JSON.stringify(c.before)}`
                                : `${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`}
                          </li>
                        ))}
                      </ul>
                    ) : (
                      <span class="muted small"> (oldest kept)</span>
                    )}
                  </div>
                );
              })}
            </section>
          </div>
          <div class="cols">
            <section class="card">
              <h3>Mailbox pending ({data.mailbox.length})</h3>
              {data.mailbox.map((m) => (
                <pre key={m.seq}>
                  #{m.seq} {fmt(m.data)}
                </pre>
              ))}
            </section>
            <section class="card">
              <h3>Jobs in flight ({data.jobs.length})</h3>
              {data.jobs.map((m) => (
                <pre key={m.seq}>
                  #{m.seq} {m.subject} {fmt(m.data)}
                </pre>
              ))}
            </section>
          </div>
          <section class="card">
            <h3>Dead letters of this key ({data.deadLetters.length})</h3>
            {data.deadLetters.map((d) => (
              <p key={d.seq}>
                <a href={`#/dlq?subject=${encodeURIComponent(d.originalSubject)}`}>#{d.seq}</a> {d.error}
              </p>
            ))}
          </section>
        </>
      ) : null}
    </>
  );
}

// ---------------------------------------------------------------- DLQ

interface DlqPage {
  items: DeadLetter[];
  next: number | null;
  scanned: number;
  groups: Record<string, number>;
}

function Editor({
  entry,
  onSaved,
  onCancel,
}: {
  entry: DeadLetter;
  onSaved: (seq: number) => void;
  onCancel: () => void;
}) {
  const [text, setText] = useState(fmt(entry.data));
  const [reason, setReason] = useState("");
  const [err, setErr] = useState<string | null>(null);
  let parseError: string | null = null;
  try {
    JSON.parse(text);
  } catch (e) {
    parseError = `not JSON: ${(e as Error).message}`;
  }
  const save = async () => {
    try {
      const r = await api<{ seq: number }>(`/api/v1/admin/console/dlq/${entry.seq}`, {
        method: "PUT",
        body: { data: JSON.parse(text), ...(reason ? { reason } : {}) },
      });
      onSaved(r.seq);
    } catch (e) {
      setErr(
        e instanceof ApiError
          ? `${e.code}: ${e.message}${e.details.map((d) => ` (${d.path}: ${d.message})`).join("")}`
          : String(e),
      );
    }
  };
  return (
    <div class="editor" aria-label="edit dead letter">
      <textarea
        name="body"
        rows={8}
        value={text}
        onInput={(e) => {
          setText((e.target as HTMLTextAreaElement).value);
          setErr(null);
        }}
      />
      <input
        name="reason"
        placeholder="reason (audited)"
        value={reason}
        onInput={(e) => setReason((e.target as HTMLInputElement).value)}
      />
      {parseError ? <p class="error">{parseError}</p> : null}
      <Err e={err} />
      <button disabled={parseError !== null} onClick={() => void save()}>
        Save edit
      </button>{" "}
      <button class="secondary" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

function DlqPageView({ query }: { query: URLSearchParams }) {
  const [group, setGroup] = useState(query.get("group") ?? "");
  const [subject, setSubject] = useState(query.get("subject") ?? "");
  const [error, setError] = useState(query.get("error") ?? "");
  const [applied, setApplied] = useState({ group, subject, error });
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [open, setOpen] = useState<number | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const qs = new URLSearchParams(Object.entries(applied).filter(([, v]) => v !== "")).toString();
  const {
    data,
    error: loadErr,
    reload,
  } = useLoad(() => api<DlqPage>(`/api/v1/admin/console/dlq?limit=200${qs ? `&${qs}` : ""}`), [qs], 3000);
  const replay = async (body: unknown) => {
    try {
      const r = await api<{ replayed: number[]; missing: number[] }>("/api/v1/admin/console/dlq/replay", {
        method: "POST",
        body,
      });
      setMsg(
        `replayed ${r.replayed.length} in order: ${r.replayed.join(", ")}${r.missing.length ? `; missing ${r.missing.join(", ")}` : ""}`,
      );
      setSelected(new Set());
      reload();
    } catch (e) {
      setMsg(e instanceof Error ? e.message : String(e));
    }
  };
  const filterBody = Object.fromEntries(Object.entries(applied).filter(([, v]) => v !== ""));
  return (
    <>
      <h2>Dead letters</h2>
      <form
        class="row"
        aria-label="filter dead letters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ group, subject, error });
        }}
      >
        <select name="group" value={group} onChange={(e) => setGroup((e.target as HTMLSelectElement).value)}>
          <option value="">every domain</option>
          {Object.entries(data?.groups ?? {}).map(([g, n]) => (
            <option key={g} value={g}>
              {g} ({n})
            </option>
          ))}
        </select>
        <input
          name="subject"
          placeholder="subject contains"
          value={subject}
          onInput={(e) => setSubject((e.target as HTMLInputElement).value)}
        />
        <input
          name="error"
          placeholder="error contains"
          value={error}
          onInput={(e) => setError((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Filter</button>
      </form>
      <div class="row">
        <button disabled={selected.size === 0} onClick={() => void replay({ seqs: [...selected] })}>
          Replay selected ({selected.size})
        </button>
        <button
          class="secondary"
          disabled={!data || data.items.length === 0}
          onClick={() => void replay({ filter: filterBody })}
        >
          Replay all matching
        </button>
      </div>
      {msg ? (
        <p class="note" role="status">
          {msg}
        </p>
      ) : null}
      <Err e={loadErr} />
      <table class="dlq">
        <thead>
          <tr>
            <th></th>
            <th>seq</th>
            <th>group</th>
            <th>original subject</th>
            <th>error</th>
            <th>tries</th>
            <th>failed at</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {(data?.items ?? []).map((d) => (
            <>
              <tr key={d.seq} data-seq={d.seq} class={d.headers["Sy-Dlq-Edited-From"] ? "edited" : ""}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`select ${d.seq}`}
                    checked={selected.has(d.seq)}
                    onChange={() =>
                      setSelected((s) => {
                        const n = new Set(s);
                        if (n.has(d.seq)) n.delete(d.seq);
                        else n.add(d.seq);
                        return n;
                      })
                    }
                  />
                </td>
                <td>{d.seq}</td>
                <td>{d.group}</td>
                <td class="mono">{d.originalSubject}</td>
                <td class="err">{d.error}</td>
                <td class="num">{d.attempts}</td>
                <td class="small">{d.failedAt}</td>
                <td class="actions">
                  <button class="link" onClick={() => setOpen(open === d.seq ? null : d.seq)}>
                    view
                  </button>
                  <button
                    class="link"
                    onClick={() => {
                      setOpen(d.seq);
                      setEditing(d.seq);
                    }}
                  >
                    edit
                  </button>
                  <button class="link" onClick={() => void replay({ seqs: [d.seq] })}>
                    replay
                  </button>
                </td>
              </tr>
              {open === d.seq ? (
                <tr key={`${d.seq}-detail`} class="detail">
                  <td colSpan={8}>
                    <div class="cols">
                      <div>
                        <h4>Headers</h4>
                        <pre>{fmt(d.headers)}</pre>
                      </div>
                      <div>
                        <h4>Body</h4>
                        {editing === d.seq ? (
                          <Editor
                            entry={d}
                            onCancel={() => setEditing(null)}
                            onSaved={(seq) => {
                              setEditing(null);
                              setOpen(seq);
                              setMsg(`edited: dead letter ${d.seq} is now ${seq}`);
                              reload();
                            }}
                          />
                        ) : (
                          <pre>{fmt(d.data)}</pre>
                        )}
                      </div>
                    </div>
                  </td>
                </tr>
              ) : null}
            </>
          ))}
        </tbody>
      </table>
      {data && data.items.length === 0 ? <p class="muted">No dead letters match.</p> : null}
    </>
  );
}

// ---------------------------------------------------------------- audit, alarms

interface Audit {
  id: number;
  at: string;
  who: string;
  action: string;
  target: string;
  detail: Record<string, Json>;
}

function AuditPage() {
  const { data, error } = useLoad(() => api<{ items: Audit[] }>("/api/v1/admin/console/audit?limit=200"), [], 5000);
  return (
    <>
      <h2>Audit log</h2>
      <Err e={error} />
      <table>
        <thead>
          <tr>
            <th>when</th>
            <th>who</th>
            <th>action</th>
            <th>target</th>
            <th>what</th>
          </tr>
        </thead>
        <tbody>
          {(data?.items ?? []).map((a) => (
            <tr key={a.id} data-action={a.action}>
              <td class="small">{a.at}</td>
              <td>{a.who}</td>
              <td>{a.action}</td>
              <td>{a.target}</td>
              <td>
                <pre class="small">{fmt(a.detail)}</pre>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

interface Alarm {
  event: string;
  from: string;
  receivedAt: string;
  payload: Json;
}

function AlarmsPage() {
  const [items, setItems] = useState<Alarm[]>([]);
  useEffect(() => {
    const ac = new AbortController();
    // the feed is the truth once it has spoken: a list fetched earlier but answered later must not
    // hide an alarm the feed already showed
    let fed = false;
    api<{ items: Alarm[] }>("/api/v1/admin/console/alarms").then(
      (r) => {
        if (!fed) setItems(r.items);
      },
      () => undefined,
    );
    // the feed opens with every alarm the node holds, then sends each new one
    live(
      "/api/v1/admin/console/live",
      (event, data) => {
        if (event === "alarms" || event === "alarm") fed = true;
        if (event === "alarms") setItems(data as Alarm[]);
        else if (event === "alarm") setItems((xs) => [data as Alarm, ...xs].slice(0, 200));
      },
      ac.signal,
    );
    return () => ac.abort();
  }, []);
  return (
    <>
      <h2>
        Alarms <span class="live">● live</span>
      </h2>
      {items.length === 0 ? <p class="muted">No alarms since this node started.</p> : null}
      <ul class="alarms">
        {items.map((a, i) => (
          <li key={i}>
            <b>{a.event}</b>{" "}
            <span class="small muted">
              {a.receivedAt} from {a.from}
            </span>
            <pre class="small">{fmt(a.payload)}</pre>
          </li>
        ))}
      </ul>
    </>
  );
}

// ---------------------------------------------------------------- domain pages

interface DomainPage {
  domain: string;
  id: string;
  title: string;
  description?: string;
  inputs: { name: string; label: string; pattern?: string }[];
  path: string;
  table?: string;
}

function pointer(v: Json, p: string): Json {
  let cur = v;
  for (const k of p.split("/").slice(1))
    cur = cur !== null && typeof cur === "object" ? (cur as Record<string, Json>)[k] : undefined;
  return cur;
}

function Table({ rows }: { rows: Json[] }) {
  const cols = [...new Set(rows.flatMap((r) => (r !== null && typeof r === "object" ? Object.keys(r) : [])))].slice(
    0,
    12,
  );
  return (
    <table>
      <thead>
        <tr>
          {cols.map((c) => (
            <th key={c}>{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            {cols.map((c) => {
              const v = (r as Record<string, Json>)[c];
              return (
                <td key={c} class="small">
                  {typeof v === "object" ? JSON.stringify(v) : String(v ?? "")}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DomainsPage({ query }: { query: URLSearchParams }) {
  const { data, error } = useLoad(() => api<{ items: DomainPage[] }>("/api/v1/admin/console/pages"), []);
  const [values, setValues] = useState<Record<string, string>>({});
  const [answer, setAnswer] = useState<{ ok: boolean; body: Json } | null>(null);
  const selected = data?.items.find((p) => `${p.domain}.${p.id}` === query.get("page")) ?? null;
  const run = async (ev: Event) => {
    ev.preventDefault();
    if (!selected) return;
    const path = selected.path.replace(/\{([A-Za-z]+)\}/g, (_, n: string) => encodeURIComponent(values[n] ?? ""));
    try {
      setAnswer({ ok: true, body: await api<Json>(path) });
    } catch (e) {
      setAnswer({ ok: false, body: e instanceof ApiError ? `${e.code}: ${e.message}` : String(e) });
    }
  };
  const domains = [...new Set((data?.items ?? []).map((p) => p.domain))];
  const rows = answer?.ok && selected?.table ? pointer(answer.body, selected.table) : undefined;
  return (
    <>
      <h2>Domain pages</h2>
      <Err e={error} />
      <div class="cards">
        {domains.map((d) => (
          <section class="card" key={d}>
            <h3>{d}</h3>
            {data!.items
              .filter((p) => p.domain === d)
              .map((p) => (
                <p key={p.id}>
                  <a href={`#/domains?page=${p.domain}.${p.id}`}>{p.title}</a>
                  <br />
                  <span class="small muted">{p.description}</span>
                </p>
              ))}
          </section>
        ))}
      </div>
      {selected ? (
        <section class="card" data-page={`${selected.domain}.${selected.id}`}>
          <h3>{selected.title}</h3>
          <form class="row" onSubmit={(e) => void run(e)} aria-label={selected.title}>
            {selected.inputs.map((i) => (
              <input
                key={i.name}
                name={i.name}
                placeholder={i.label}
                pattern={i.pattern}
                required
                value={values[i.name] ?? ""}
                onInput={(e) => setValues({ ...values, [i.name]: (e.target as HTMLInputElement).value })}
              />
            ))}
            <button type="submit">Show</button>
          </form>
          {answer && !answer.ok ? <p class="error">{String(answer.body)}</p> : null}
          {Array.isArray(rows) ? <Table rows={rows} /> : null}
          {answer?.ok ? <pre data-testid="domain-answer">{fmt(answer.body)}</pre> : null}
        </section>
      ) : null}
    </>
  );
}

// ---------------------------------------------------------------- shell

const PAGES: [string, string][] = [
  ["cluster", "Cluster"],
  ["streams", "Streams"],
  ["actor", "Actor"],
  ["dlq", "DLQ"],
  ["audit", "Audit"],
  ["alarms", "Alarms"],
  ["domains", "Domains"],
];

function App() {
  const [who, setWho] = useState<string | null>(null);
  const hash = useHash();
  if (!who) return <SignIn onDone={setWho} />;
  const [path, q] = hash.slice(2).split("?");
  const page = path || "cluster";
  const query = new URLSearchParams(q ?? "");
  return (
    <>
      <header>
        <b class="brand">Switchyard</b>
        <nav>
          {PAGES.map(([id, label]) => (
            <a key={id} href={`#/${id}`} class={page === id ? "on" : ""}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who small">
          {who}{" "}
          <button
            class="link light"
            onClick={() => {
              signOut();
              setWho(null);
            }}
          >
            sign out
          </button>
        </span>
      </header>
      <main>
        {page === "cluster" ? (
          <ClusterPage />
        ) : page === "streams" ? (
          <StreamsPage />
        ) : page === "actor" ? (
          <ActorPage query={query} />
        ) : page === "dlq" ? (
          <DlqPageView query={query} />
        ) : page === "audit" ? (
          <AuditPage />
        ) : page === "alarms" ? (
          <AlarmsPage />
        ) : page === "domains" ? (
          <DomainsPage query={query} />
        ) : (
          <p>No such page.</p>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
