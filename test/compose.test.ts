/**
 * docker-compose.yml (for machines with a Docker engine), checked without an engine and without
 * installing a Compose implementation:
 * - it validates against the Compose Specification's JSON schema, kept in
 *   test/fixtures/compose-spec.json (source and version in test/fixtures/README.md);
 * - the rules the deployment relies on hold, each its own check in test/support/compose-lint.ts:
 *   pinned images, a health check on every long-running service, JetStream with
 *   `sync_interval: always`, `depends_on` and `env_file` references that resolve;
 * - every check is also shown to reject a copy of the file with a deliberate error;
 * - and it has the shape the deployment needs: a 3-server NATS >= 2.12 JetStream cluster,
 *   PostgreSQL, Redis, MinIO with its bucket, and two app nodes wired to all of them.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadConfig, ConfigError } from "../node/config";
import {
  COMPOSE_SCHEMA_FILE,
  danglingDependsOn,
  dependsOnOf,
  draftDifferences,
  imageRef,
  missingEnvFiles,
  missingHealthchecks,
  natsBlock,
  natsConfigProblems,
  natsJetStreamProblems,
  natsValue,
  parseCompose,
  schemaProblems,
  unpinnedImages,
  type ComposeObj,
} from "./support/compose-lint";

const ROOT = path.resolve(__dirname, "..");
const COMPOSE_FILE = path.join(ROOT, "docker-compose.yml");

type Obj = ComposeObj;

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

/** A fresh parse of docker-compose.yml, safe to mutate. */
function loadDoc(): Obj {
  return obj(parseCompose(readFileSync(COMPOSE_FILE, "utf8")), "docker-compose.yml");
}

/** Service `name` of a parsed document, to mutate in a negative test. */
function serviceIn(doc: Obj, name: string): Obj {
  return obj(obj(doc["services"], "services")[name], `service ${name}`);
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

function hostOf(url: string): string {
  return new URL(url).hostname;
}

describe("docker-compose.yml", function () {
  describe("Compose Specification schema", function () {
    it("is kept in the repository as the specification's draft-07 JSON schema", function () {
      const schema = obj(JSON.parse(readFileSync(COMPOSE_SCHEMA_FILE, "utf8")), "compose-spec.json");
      expect(schema["title"]).to.equal("Compose Specification");
      expect(String(schema["$schema"])).to.match(/json-schema\.org\/draft-07\/schema/);
      expect(obj(schema["definitions"], "definitions")).to.include.keys("service", "healthcheck", "network", "volume");
    });

    it("means the same under draft 2020-12, which the project's Ajv compiles it as", function () {
      const schema: unknown = JSON.parse(readFileSync(COMPOSE_SCHEMA_FILE, "utf8"));
      expect(draftDifferences(schema)).to.deep.equal([]);
      const tuple = { definitions: { a: { type: "array", items: [{ type: "string" }], additionalItems: false } } };
      expect(draftDifferences(tuple)).to.deep.equal([
        '#/definitions/a: "items" is an array (a tuple)',
        '#/definitions/a: "additionalItems"',
      ]);
      const refs = { properties: { b: { $ref: "#/definitions/b", description: "x", type: "string" } } };
      expect(draftDifferences(refs)).to.deep.equal(['#/properties/b: "$ref" beside type']);
    });

    it("accepts docker-compose.yml", function () {
      expect(schemaProblems(loadDoc())).to.deep.equal([]);
    });

    it("rejects a copy with an unknown top-level key", function () {
      const doc = loadDoc();
      doc["servics"] = doc["services"];
      expect(schemaProblems(doc)).to.include('(top level): must NOT have additional properties "servics"');
    });

    it("rejects a copy with a misspelt service property", function () {
      // What a YAML-only check lets through: Compose would refuse the file.
      const doc = loadDoc();
      const redis = serviceIn(doc, "redis");
      redis["imag"] = redis["image"];
      delete redis["image"];
      expect(schemaProblems(doc)).to.include('/services/redis: must NOT have additional properties "imag"');
    });

    it("rejects a copy with a wrongly typed value and an unknown depends_on condition", function () {
      const doc = loadDoc();
      serviceIn(doc, "postgres")["ports"] = "5432:5432";
      obj(serviceIn(doc, "node1")["depends_on"], "node1.depends_on")["redis"] = { condition: "service_ready" };
      const problems = schemaProblems(doc);
      expect(problems).to.include("/services/postgres/ports: must be array");
      expect(problems).to.include(
        "/services/node1/depends_on/redis/condition: must be equal to one of the allowed values",
      );
    });
  });

  describe("deployment rules", function () {
    it("pins every image to a version (no latest, no missing tag)", function () {
      expect(unpinnedImages(loadDoc())).to.deep.equal([]);
    });

    it("rejects a copy with an image on latest, one without a tag and one on a registry port without a tag", function () {
      const doc = loadDoc();
      serviceIn(doc, "redis")["image"] = "redis:latest";
      serviceIn(doc, "postgres")["image"] = "postgres";
      serviceIn(doc, "minio")["image"] = "registry.local:5000/minio/minio";
      expect(unpinnedImages(doc)).to.have.members([
        'redis: image redis:latest is on "latest"',
        'postgres: image postgres has no tag (that is "latest")',
        'minio: image registry.local:5000/minio/minio has no tag (that is "latest")',
      ]);
    });

    it("accepts a digest and reads tags past a registry port", function () {
      const digest = `sha256:${"ab".repeat(32)}`;
      expect(imageRef(`registry.local:5000/minio/minio@${digest}`)).to.deep.equal({
        name: "registry.local:5000/minio/minio",
        tag: undefined,
        digest,
      });
      expect(imageRef("registry.local:5000/nats:2.12-alpine")).to.deep.include({
        name: "registry.local:5000/nats",
        tag: "2.12-alpine",
      });
      const doc = loadDoc();
      serviceIn(doc, "redis")["image"] = `redis@${digest}`;
      expect(unpinnedImages(doc)).to.deep.equal([]);
    });

    it("gives every long-running service a health check (the one-shot bucket step aside)", function () {
      expect(missingHealthchecks(loadDoc())).to.deep.equal([]);
    });

    it("rejects a copy where a long-running service lost its health check or one disabled it", function () {
      const doc = loadDoc();
      delete serviceIn(doc, "redis")["healthcheck"];
      serviceIn(doc, "node2")["healthcheck"] = { disable: true };
      expect(missingHealthchecks(doc)).to.have.members([
        "redis: long-running service has no healthcheck",
        "node2: healthcheck is disabled",
      ]);
    });

    it("rejects a copy where the one-shot bucket step would be restarted after it succeeds", function () {
      const doc = loadDoc();
      serviceIn(doc, "minio-init")["restart"] = "unless-stopped";
      expect(missingHealthchecks(doc)).to.deep.equal([
        'minio-init: one-shot service (others wait for it to complete) has restart "unless-stopped"',
      ]);
    });

    it("runs every NATS server from a repository config with JetStream and sync_interval: always", function () {
      expect(natsJetStreamProblems(loadDoc(), ROOT)).to.deep.equal([]);
    });

    it("rejects NATS configs that leave sync_interval at its default, turn JetStream off or omit it", function () {
      const conf = readFileSync(path.join(ROOT, "deploy/nats/nats1.conf"), "utf8");
      expect(natsConfigProblems(conf)).to.deep.equal([]);
      const noSync = conf.replace(/^\s*sync_interval\s*:.*$/m, "");
      expect(natsConfigProblems(noSync)).to.deep.equal(["has jetstream sync_interval unset, not always"]);
      expect(natsConfigProblems(conf.replace(/sync_interval:\s*always/, "sync_interval: 2m"))).to.deep.equal([
        "has jetstream sync_interval 2m, not always",
      ]);
      // Commented out is not set.
      expect(natsConfigProblems(conf.replace(/sync_interval:/, "# sync_interval:"))).to.have.lengthOf(1);
      expect(natsConfigProblems(conf.replace(/jetstream \{/, "jetstream {\n  enabled: false"))).to.deep.equal([
        "has JetStream disabled",
      ]);
      expect(natsConfigProblems(conf.replace(/^jetstream \{[^}]*\}/m, "jetstream: enabled"))).to.have.lengthOf(1);
      // A sync_interval outside the jetstream block does not count.
      const elsewhere = noSync.replace(/^cluster \{/m, "cluster {\n  sync_interval: always");
      expect(natsConfigProblems(elsewhere)).to.deep.equal(["has jetstream sync_interval unset, not always"]);
    });

    it("reads the NATS config through the compose file: mounted path, command line and file on disk", function () {
      const dir = mkdtempSync(path.join(os.tmpdir(), "compose-nats-"));
      try {
        cpSync(path.join(ROOT, "deploy"), path.join(dir, "deploy"), { recursive: true });
        const conf2 = path.join(dir, "deploy/nats/nats2.conf");
        writeFileSync(conf2, readFileSync(conf2, "utf8").replace(/^\s*sync_interval\s*:.*$/m, ""));
        const doc = loadDoc();
        serviceIn(doc, "nats3")["command"] = ["nats-server", "-js"];
        expect(natsJetStreamProblems(doc, dir)).to.have.members([
          "nats2: ./deploy/nats/nats2.conf has jetstream sync_interval unset, not always",
          "nats3: nats-server is started without --config (JetStream and sync_interval unset)",
        ]);
        rmSync(path.join(dir, "deploy/nats/nats1.conf"));
        expect(natsJetStreamProblems(doc, dir)).to.include("nats1: config ./deploy/nats/nats1.conf does not exist");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("has every depends_on name a service of the file, and service_healthy only on health-checked ones", function () {
      expect(danglingDependsOn(loadDoc())).to.deep.equal([]);
    });

    it("rejects a copy with a depends_on on a missing service or on the health of one without a check", function () {
      const doc = loadDoc();
      obj(serviceIn(doc, "node1")["depends_on"], "node1.depends_on")["nats4"] = { condition: "service_healthy" };
      delete serviceIn(doc, "redis")["healthcheck"];
      expect(danglingDependsOn(doc)).to.have.members([
        "node1: depends_on nats4, which is no service of this file",
        "node1: waits for redis to be healthy, but redis has no healthcheck",
        "node2: waits for redis to be healthy, but redis has no healthcheck",
      ]);
    });

    it("has every required env_file present", function () {
      expect(missingEnvFiles(loadDoc(), ROOT)).to.deep.equal([]);
    });

    it("rejects a copy naming an env_file that does not exist (an optional one may be absent)", function () {
      const doc = loadDoc();
      serviceIn(doc, "node1")["env_file"] = [
        "deploy/does-not-exist.env",
        { path: "deploy/local.env", required: false },
      ];
      serviceIn(doc, "node2")["env_file"] = "package.json";
      expect(missingEnvFiles(doc, ROOT)).to.deep.equal(["node1: env_file deploy/does-not-exist.env does not exist"]);
    });
  });

  describe("shape", function () {
    const doc = loadDoc();
    const services = obj(doc["services"], "services");
    const svc = (name: string): Obj => obj(services[name], `service ${name}`);
    const image = (name: string): string => String(svc(name)["image"] ?? "");
    const natsNames = Object.keys(services)
      .filter((n) => /^nats:/.test(image(n)))
      .sort();
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
        expect(major > 2 || (major === 2 && minor >= 12), `${n} image ${image(n)} should be 2.12 or newer`).to.equal(
          true,
        );
        const conf = confPath(n);
        expect(path.relative(ROOT, conf)).to.match(/^deploy\/nats\/[^/]+\.conf$/);
        expect(existsSync(conf), conf).to.equal(true);
        confs.add(conf);
      }
      expect(confs.size, "one config file per server").to.equal(3);
    });

    it("keeps every NATS server's JetStream store in a persistent named volume at /data", function () {
      const volumes = obj(doc["volumes"], "top-level volumes");
      for (const n of natsNames) {
        const js = natsBlock(readFileSync(confPath(n), "utf8"), "jetstream") ?? "";
        expect(natsValue(js, "store_dir"), `${n} jetstream store_dir`).to.equal("/data");
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
        const cluster = natsBlock(conf, "cluster") ?? "";
        const port = natsValue(cluster, "port");
        expect(port, `${n} cluster port`).to.be.a("string");
        for (const other of natsNames.filter((o) => o !== n)) {
          expect(cluster, `${n} should route to ${other}`).to.match(new RegExp(`nats(-route)?://${other}:${port}\\b`));
        }
      }
      expect(names.size, "distinct server names").to.equal(3);
    });

    it("has NATS configs that nats-server parses (the 2.10+ sync_interval line aside)", function () {
      // The local server is 2.9, which predates sync_interval; the rest of the syntax is the same.
      const bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find((p) =>
        existsSync(p),
      );
      if (!bin) this.skip();
      const dir = mkdtempSync(path.join(os.tmpdir(), "nats-conf-"));
      try {
        // The configs include the shared accounts (deploy/nats/accounts.conf), whose passwords
        // come from the environment the compose file gives each server.
        writeFileSync(
          path.join(dir, "accounts.conf"),
          readFileSync(path.join(path.dirname(confPath(natsNames[0] ?? "")), "accounts.conf"), "utf8"),
        );
        for (const n of natsNames) {
          const tmp = path.join(dir, `${n}.conf`);
          writeFileSync(tmp, readFileSync(confPath(n), "utf8").replace(/^\s*sync_interval\s*[:=].*$/m, ""));
          const passwords = Object.fromEntries(
            Object.entries(envOf(svc(n), n))
              .filter(([k]) => /^NATS_.*PASSWORD$/.test(k))
              .map(([k, v]) => [k, v.replace(/^\$\{\w+:-(.*)\}$/, "$1")]),
          );
          const res = spawnSync(bin ?? "nats-server", ["-t", "-c", tmp], {
            encoding: "utf8",
            timeout: 30_000,
            env: { ...process.env, ...passwords },
          });
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
      const pgData = volumesOf(svc("postgres")).some((v) => v.endsWith(":/var/lib/postgresql/data"));
      expect(pgData, "postgres data volume").to.equal(true);
      const pgHealth = list(
        obj(svc("postgres")["healthcheck"], "postgres.healthcheck")["test"],
        "postgres healthcheck",
      );
      expect(pgHealth.join(" ")).to.contain("pg_isready");
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
      expect(dependsOnOf(init)).to.deep.include({ minio: "service_healthy" });
      const script = [init["entrypoint"], init["command"]].flat().map(String).join(" ");
      const bucket = envOf(svc("node1"), "node1")["S3_BUCKET"] ?? "";
      expect(bucket).to.equal("switchyard");
      expect(script).to.match(/mc mb\b/);
      // The bucket is named either literally or through the init service's S3_BUCKET.
      const initEnv =
        isObj(init["environment"]) || Array.isArray(init["environment"]) ? envOf(init, initName ?? "") : {};
      const viaEnv = script.includes("S3_BUCKET") && initEnv["S3_BUCKET"] === bucket;
      expect(script.includes(`/${bucket}`) || viaEnv, script).to.equal(true);
      for (const node of ["node1", "node2"]) {
        expect(dependsOnOf(svc(node)), node).to.deep.include({ [initName ?? ""]: "service_completed_successfully" });
      }
    });

    it("runs two app nodes built from the root Dockerfile on Node 22", function () {
      const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
      expect(dockerfile).to.match(/^FROM node:22-[\w.-]+\b/m);
      expect(dockerfile).to.match(/^RUN npm ci\b/m);
      for (const node of ["node1", "node2"]) {
        const build = svc(node)["build"];
        const context = isObj(build) ? String(build["context"]) : String(build);
        expect(path.resolve(ROOT, context), `${node} build context`).to.equal(ROOT);
        if (isObj(build) && build["dockerfile"] !== undefined) expect(build["dockerfile"]).to.equal("Dockerfile");
      }
    });

    it("configures each app node for the cluster", function () {
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
        expect(
          natsUrls.every((u) => new URL(u).port === "4222"),
          `${node} NATS_URL ports`,
        ).to.equal(true);
        expect(Number(env["JS_REPLICAS"]), `${node} JS_REPLICAS`).to.equal(natsNames.length);
        expect(env["DATABASE_URL"], node).to.equal("postgres://postgres:postgres@postgres:5432/postgres");
        expect(envOf(svc("postgres"), "postgres")["POSTGRES_PASSWORD"]).to.equal(
          new URL(env["DATABASE_URL"] ?? "").password,
        );
        expect(env["REDIS_URL"], node).to.equal("redis://redis:6379");
        expect(env["S3_ENDPOINT"], node).to.equal("http://minio:9000");
        const minioEnv = envOf(svc("minio"), "minio");
        expect(env["S3_ACCESS_KEY"], `${node} S3_ACCESS_KEY = MinIO root user`).to.equal(minioEnv["MINIO_ROOT_USER"]);
        expect(env["S3_SECRET_KEY"], `${node} S3_SECRET_KEY = MinIO root password`).to.equal(
          minioEnv["MINIO_ROOT_PASSWORD"],
        );
      }
    });

    it("starts the app nodes only once NATS, PostgreSQL and Redis report healthy", function () {
      for (const node of ["node1", "node2"]) {
        const deps = dependsOnOf(svc(node));
        for (const dep of [...natsNames, "postgres", "redis"]) {
          expect(deps[dep], `${node} depends_on ${dep}`).to.equal("service_healthy");
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

  describe("the nodes' environment through the config loader", function () {
    const doc = loadDoc();
    const services = obj(doc["services"], "services");
    const svc = (name: string): Obj => obj(services[name], `service ${name}`);
    /** `${VAR:-default}` and `${VAR}` as Compose substitutes them with an empty shell environment. */
    const substitute = (v: string): string =>
      v.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_m, _name: string, def?: string) => def ?? "");
    /** A service's environment as its container gets it: env_file lines, then `environment`. */
    const containerEnv = (name: string): Record<string, string> => {
      const s = svc(name);
      const env: Record<string, string> = {};
      for (const f of Array.isArray(s["env_file"]) ? s["env_file"] : s["env_file"] ? [s["env_file"]] : []) {
        for (const line of readFileSync(path.join(ROOT, String(f)), "utf8").split("\n")) {
          const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
          if (m) env[m[1]!] = m[2]!;
        }
      }
      for (const [k, v] of Object.entries(envOf(s, name))) env[k] = substitute(v);
      return env;
    };

    for (const node of ["node1", "node2"]) {
      it(`${node}: production mode, and the loader accepts it (every secret set, no dev value)`, function () {
        const config = loadConfig(containerEnv(node));
        expect(config.devMode).to.equal(false);
        expect(config.master.devKey).to.equal(false);
        expect(config.receipts.devCallbackSecrets).to.equal(false);
        expect(config.receipts.useSimulators).to.equal(false);
        expect(hostOf(config.receipts.taxApiUrl)).to.equal("simulators");
        expect(hostOf(config.supporters.userServiceUrl)).to.equal("simulators");
        expect(hostOf(config.receipts.publicUrl)).to.equal(node);
      });
    }

    it("gives both nodes the same secrets, so hashes, sealed secrets and signed calls agree", function () {
      const [a, b] = [loadConfig(containerEnv("node1")), loadConfig(containerEnv("node2"))];
      expect(a.cluster).to.deep.equal(b.cluster);
      expect(a.master).to.deep.equal(b.master);
      expect(a.tenantEvents.dataKeys).to.deep.equal(b.tenantEvents.dataKeys);
      expect([a.supporters.pepper, a.supporters.dataKey]).to.deep.equal([b.supporters.pepper, b.supporters.dataKey]);
      expect([a.receipts.taxCallbackSecret, a.receipts.warehouseCallbackSecret]).to.deep.equal([
        b.receipts.taxCallbackSecret,
        b.receipts.warehouseCallbackSecret,
      ]);
    });

    it("runs the simulators as their own service, signing callbacks with the nodes' secrets", function () {
      const sim = loadConfig(containerEnv("simulators"));
      const node = loadConfig(containerEnv("node1"));
      expect(sim.services).to.deep.equal(["simulators"]);
      expect(sim.receipts.taxCallbackSecret).to.equal(node.receipts.taxCallbackSecret);
      expect(sim.receipts.sim.host).to.equal("0.0.0.0");
    });

    it("is refused by the loader when a node loses a secret (the check bites)", function () {
      const env = containerEnv("node2");
      delete env["CLUSTER_SECRET"];
      expect(() => loadConfig(env)).to.throw(ConfigError, /CLUSTER_SECRET/);
    });
  });
});
