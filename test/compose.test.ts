/**
 * docker-compose.yml (for machines with a Docker engine): a real Compose implementation accepts
 * it, and it has the shape the deployment relies on: a 3-server NATS >= 2.12 JetStream cluster
 * that fsyncs every write, PostgreSQL, Redis, MinIO with its bucket, and two app nodes wired to
 * all of them. No engine is needed: nothing here starts a container.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "..");
const COMPOSE_FILE = path.join(ROOT, "docker-compose.yml");

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `v` as an object; fails the test with `what` otherwise. */
function obj(v: unknown, what: string): Obj {
  expect(isObj(v), `${what} should be a mapping, got ${JSON.stringify(v)}`).to.equal(true);
  return v as Obj;
}

/** `v` as a list; fails the test with `what` otherwise. */
function list(v: unknown, what: string): unknown[] {
  expect(Array.isArray(v), `${what} should be a list, got ${JSON.stringify(v)}`).to.equal(true);
  return v as unknown[];
}

/** A service's environment as a map, whichever of the two Compose forms it is written in. */
function envOf(svc: Obj, name: string): Record<string, string> {
  const raw = svc["environment"];
  const env: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const [k, ...rest] = String(item).split("=");
      if (k) env[k] = rest.join("=");
    }
  } else {
    for (const [k, v] of Object.entries(obj(raw, `${name}.environment`))) env[k] = String(v);
  }
  return env;
}

/** depends_on as name -> condition ("service_started" for the short list form). */
function dependsOn(svc: Obj): Record<string, string> {
  const raw = svc["depends_on"];
  const deps: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const d of raw) deps[String(d)] = "service_started";
  } else if (isObj(raw)) {
    for (const [k, v] of Object.entries(raw)) deps[k] = String(isObj(v) ? v["condition"] ?? "service_started" : "service_started");
  }
  return deps;
}

/** Short-syntax port mappings ("host:container") and long-syntax ones, as "host:container". */
function portsOf(svc: Obj): string[] {
  const raw = svc["ports"];
  if (!Array.isArray(raw)) return [];
  return raw.map((p) => (isObj(p) ? `${String(p["published"])}:${String(p["target"])}` : String(p)));
}

/** Short-syntax volume strings and long-syntax ones, as "source:target". */
function volumesOf(svc: Obj): string[] {
  const raw = svc["volumes"];
  if (!Array.isArray(raw)) return [];
  return raw.map((v) => (isObj(v) ? `${String(v["source"])}:${String(v["target"])}` : String(v)));
}

/** The body of the first `name { ... }` block of a NATS config (blocks nest at most once here). */
function natsBlock(conf: string, name: string): string {
  const m = new RegExp(`^\\s*${name}\\s*[:=]?\\s*\\{((?:[^{}]|\\{[^{}]*\\})*)\\}`, "m").exec(conf);
  expect(m, `NATS config should have a ${name} { } block`).to.not.equal(null);
  return m?.[1] ?? "";
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", env, timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}

describe("docker-compose.yml", function () {
  describe("bin/compose-check.sh", function () {
    it("finds (installing it if needed) a Compose implementation that accepts docker-compose.yml", function () {
      // A first run on a fresh machine downloads and installs Compose from Debian.
      this.timeout(600_000);
      const res = run("bash", ["bin/compose-check.sh"], process.env, 590_000);
      const out = `${res.stdout}${res.stderr}${res.error ? String(res.error) : ""}`;
      expect(res.status, out).to.equal(0);
      expect(res.stderr, out).to.match(/using .*compose/i);
      expect(res.stderr, out).to.contain("docker-compose.yml is valid");
    });

    it("fails with a message for a file Compose rejects", function () {
      const dir = mkdtempSync(path.join(os.tmpdir(), "compose-check-"));
      try {
        const bad = path.join(dir, "docker-compose.yml");
        // "imag" is no service property; a YAML-only check would let it through.
        writeFileSync(bad, "services:\n  app:\n    imag: redis:7\n");
        const res = run("bash", ["bin/compose-check.sh", bad], { ...process.env, COMPOSE_CHECK_NO_INSTALL: "1" });
        const out = `${res.stdout}${res.stderr}`;
        expect(res.status, out).to.not.equal(0);
        expect(res.stderr, out).to.contain("is not a valid Compose file");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("shape", function () {
    const doc = obj(parse(readFileSync(COMPOSE_FILE, "utf8"), { merge: true }), "docker-compose.yml");
    const services = obj(doc["services"], "services");
    const svc = (name: string): Obj => obj(services[name], `service ${name}`);
    const image = (name: string): string => String(svc(name)["image"] ?? "");
    const natsNames = Object.keys(services).filter((n) => /^nats:/.test(image(n))).sort();
    const confPath = (name: string): string => {
      const mount = volumesOf(svc(name)).find((v) => /\.conf:/.test(v));
      expect(mount, `${name} should mount a config file`).to.be.a("string");
      const source = (mount ?? "").split(":")[0] ?? "";
      return path.resolve(ROOT, source);
    };

    it("runs three NATS servers on a 2.12+ image, each with its own config under deploy/nats/", function () {
      expect(natsNames, "services on a nats: image").to.have.lengthOf(3);
      const confs = new Set<string>();
      for (const n of natsNames) {
        const m = /^nats:(\d+)\.(\d+)/.exec(image(n));
        expect(m, `${n} image ${image(n)} should name a version`).to.not.equal(null);
        const [major, minor] = [Number(m?.[1]), Number(m?.[2])];
        expect(major > 2 || (major === 2 && minor >= 12), `${n} image ${image(n)} should be 2.12 or newer`).to.equal(true);
        const conf = confPath(n);
        expect(path.relative(ROOT, conf)).to.match(/^deploy\/nats\/[^/]+\.conf$/);
        expect(existsSync(conf), conf).to.equal(true);
        // The mounted file must be the one the server is told to read.
        const target = volumesOf(svc(n)).find((v) => /\.conf:/.test(v))?.split(":")[1] ?? "";
        const command = list(svc(n)["command"], `${n}.command`).map(String);
        expect(command, `${n}.command`).to.include(target);
        confs.add(conf);
      }
      expect(confs.size, "one config file per server").to.equal(3);
    });

    it("has every NATS server fsync JetStream (sync_interval: always) into a persistent /data", function () {
      const volumes = obj(doc["volumes"], "top-level volumes");
      for (const n of natsNames) {
        const js = natsBlock(readFileSync(confPath(n), "utf8"), "jetstream");
        expect(js, `${n} jetstream block`).to.match(/^\s*sync_interval\s*[:=]\s*"?always"?\s*$/m);
        expect(js, `${n} jetstream block`).to.match(/^\s*store_dir\s*[:=]\s*"?\/data"?\s*$/m);
        const dataMount = volumesOf(svc(n)).find((v) => v.split(":")[1] === "/data");
        expect(dataMount, `${n} should mount a volume at /data`).to.be.a("string");
        expect(volumes, `named volume of ${n}`).to.have.property((dataMount ?? "").split(":")[0] ?? "");
      }
    });

    it("joins the three NATS servers into one cluster with routes to each other", function () {
      const names = new Set<string>();
      for (const n of natsNames) {
        const conf = readFileSync(confPath(n), "utf8");
        const serverName = /^\s*server_name\s*[:=]\s*"?([\w.-]+)"?/m.exec(conf)?.[1];
        expect(serverName, `${n} server_name`).to.be.a("string");
        names.add(serverName ?? "");
        const cluster = natsBlock(conf, "cluster");
        const port = /^\s*port\s*[:=]\s*(\d+)/m.exec(cluster)?.[1];
        expect(port, `${n} cluster port`).to.be.a("string");
        for (const other of natsNames.filter((o) => o !== n)) {
          expect(cluster, `${n} should route to ${other}`).to.match(new RegExp(`nats(-route)?://${other}:${port}\\b`));
        }
      }
      expect(names.size, "distinct server names").to.equal(3);
    });

    it("has NATS configs that nats-server parses (the 2.10+ sync_interval line aside)", function () {
      // The local server is 2.9, which predates sync_interval; the rest of the syntax is the same.
      const bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find((p) => existsSync(p));
      if (!bin) this.skip();
      const dir = mkdtempSync(path.join(os.tmpdir(), "nats-conf-"));
      try {
        // The configs include the shared accounts (deploy/nats/accounts.conf), whose passwords
        // come from the environment the compose file gives each server.
        writeFileSync(path.join(dir, "accounts.conf"), readFileSync(path.join(path.dirname(confPath(natsNames[0] ?? "")), "accounts.conf"), "utf8"));
        for (const n of natsNames) {
          const tmp = path.join(dir, `${n}.conf`);
          writeFileSync(tmp, readFileSync(confPath(n), "utf8").replace(/^\s*sync_interval\s*[:=].*$/m, ""));
          const passwords = Object.fromEntries(Object.entries(envOf(svc(n), n)).filter(([k]) => /^NATS_.*PASSWORD$/.test(k)).map(([k, v]) => [k, v.replace(/^\$\{\w+:-(.*)\}$/, "$1")]));
          const res = run(bin ?? "nats-server", ["-t", "-c", tmp], { ...process.env, ...passwords });
          expect(res.status, `${n}: ${res.stdout}${res.stderr}`).to.equal(0);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("exposes the NATS client port 4222 from the first server", function () {
      expect(portsOf(svc("nats1"))).to.include("4222:4222");
    });

    it("has PostgreSQL with a volume and a healthcheck, Redis 7 and MinIO with a console", function () {
      expect(image("postgres")).to.match(/^postgres:(15|16)\b/);
      expect(volumesOf(svc("postgres")).some((v) => v.endsWith(":/var/lib/postgresql/data")), "postgres data volume").to.equal(true);
      expect(list(obj(svc("postgres")["healthcheck"], "postgres.healthcheck")["test"], "postgres healthcheck").join(" ")).to.contain("pg_isready");
      expect(image("redis")).to.match(/^redis:7\b/);
      expect(image("minio")).to.match(/^minio\/minio\b/);
      const minioCmd = list(svc("minio")["command"], "minio.command").map(String);
      expect(minioCmd).to.include("--console-address");
      expect(portsOf(svc("minio"))).to.include.members(["9000:9000", "9001:9001"]);
    });

    it("creates the app's bucket in MinIO in a one-shot step the app nodes wait for", function () {
      const initName = Object.keys(services).find((n) => /^minio\/mc\b/.test(image(n)));
      expect(initName, "a service on the minio/mc image").to.be.a("string");
      const init = svc(initName ?? "");
      expect(dependsOn(init)).to.deep.include({ minio: "service_healthy" });
      const script = [init["entrypoint"], init["command"]].flat().map(String).join(" ");
      const bucket = envOf(svc("node1"), "node1")["S3_BUCKET"] ?? "";
      expect(bucket).to.equal("switchyard");
      expect(script).to.match(/mc mb\b/);
      // The bucket is named either literally or through the init service's S3_BUCKET.
      const initEnv = isObj(init["environment"]) || Array.isArray(init["environment"]) ? envOf(init, initName ?? "") : {};
      expect(script.includes(`/${bucket}`) || (script.includes("S3_BUCKET") && initEnv["S3_BUCKET"] === bucket), script).to.equal(true);
      for (const node of ["node1", "node2"]) {
        expect(dependsOn(svc(node)), node).to.deep.include({ [initName ?? ""]: "service_completed_successfully" });
      }
    });

    it("runs two app nodes built from the root Dockerfile on Node 22", function () {
      const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
      expect(dockerfile).to.match(/^FROM node:22-bookworm-slim\b/m);
      expect(dockerfile).to.match(/^RUN npm ci\b/m);
      expect(dockerfile).to.match(/^CMD \["npx",\s*"tsx",\s*"bin\/start\.ts"\]/m);
      for (const node of ["node1", "node2"]) {
        const build = svc(node)["build"];
        const context = isObj(build) ? String(build["context"]) : String(build);
        expect(path.resolve(ROOT, context), `${node} build context`).to.equal(ROOT);
        if (isObj(build) && build["dockerfile"] !== undefined) expect(build["dockerfile"]).to.equal("Dockerfile");
      }
    });

    it("configures each app node for the cluster, and DEV_MODE only on node1", function () {
      const expected = { node1: "3000", node2: "3001" } as const;
      for (const [node, port] of Object.entries(expected)) {
        const env = envOf(svc(node), node);
        expect(env["NODE_ID"], node).to.equal(node);
        expect(env["PORT"], node).to.equal(port);
        expect(portsOf(svc(node)), node).to.include(`${port}:${port}`);
        expect(env["HOST"], node).to.equal("0.0.0.0");
        expect(env["NODE_ENV"], node).to.equal("production");
        const natsUrls = (env["NATS_URL"] ?? "").split(",");
        expect(natsUrls.map(hostOf).sort(), `${node} NATS_URL`).to.deep.equal(natsNames);
        expect(natsUrls.every((u) => new URL(u).port === "4222"), `${node} NATS_URL ports`).to.equal(true);
        expect(Number(env["JS_REPLICAS"]), `${node} JS_REPLICAS`).to.equal(natsNames.length);
        expect(env["DATABASE_URL"], node).to.equal("postgres://postgres:postgres@postgres:5432/postgres");
        expect(envOf(svc("postgres"), "postgres")["POSTGRES_PASSWORD"]).to.equal(new URL(env["DATABASE_URL"] ?? "").password);
        expect(env["REDIS_URL"], node).to.equal("redis://redis:6379");
        expect(env["S3_ENDPOINT"], node).to.equal("http://minio:9000");
        const minioEnv = envOf(svc("minio"), "minio");
        expect(env["S3_ACCESS_KEY"], `${node} S3_ACCESS_KEY = MinIO root user`).to.equal(minioEnv["MINIO_ROOT_USER"]);
        expect(env["S3_SECRET_KEY"], `${node} S3_SECRET_KEY = MinIO root password`).to.equal(minioEnv["MINIO_ROOT_PASSWORD"]);
      }
      expect(envOf(svc("node1"), "node1")["DEV_MODE"]).to.equal("true");
      expect(envOf(svc("node2"), "node2")["DEV_MODE"] ?? "false").to.not.equal("true");
    });

    it("starts the app nodes only once NATS, PostgreSQL and Redis report healthy", function () {
      for (const node of ["node1", "node2"]) {
        const deps = dependsOn(svc(node));
        for (const dep of [...natsNames, "postgres", "redis"]) {
          expect(deps[dep], `${node} depends_on ${dep}`).to.equal("service_healthy");
          expect(svc(dep), `${dep} needs a healthcheck for service_healthy`).to.have.property("healthcheck");
        }
      }
    });

    it("keeps node_modules, var and .git out of the image build context", function () {
      const lines = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
        .split("\n")
        .map((l) => l.trim().replace(/^\/|\/$/g, ""));
      expect(lines).to.include.members(["node_modules", "var", ".git"]);
    });
  });
});
