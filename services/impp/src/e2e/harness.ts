// What the end-to-end suites share: a cluster started before a describe block and stopped after
// it, fresh users, and logged-in clients on a chosen edge, closed with the cluster.
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { type ConnectOptions, connectAndLogin, type ImppClient } from "@impp/client";
import { type Cluster, type ClusterMode, isMultiProcess, startCluster } from "../testing/cluster.js";

export const PASSWORD = "correct horse battery staple";

export interface E2eHarness {
  /** The running cluster (set once the describe block's `before` ran). */
  readonly cluster: Cluster;
  /** A new account, `prefix` plus random hex, with PASSWORD. */
  newUser(prefix: string): Promise<string>;
  /** Connection options for edge `i` (modulo the number of edges). */
  options(i: number): ConnectOptions;
  /** A logged-in, bound client on edge `edge`, closed when the suite ends. */
  login(name: string, edge: number, deviceName?: string): Promise<ImppClient>;
  /** Closed when the suite ends. */
  track(c: ImppClient): ImppClient;
}

/** Registers before/after hooks in the calling describe block: a cluster with `env`, two edges when multi-process. */
export function e2eHarness(mode: ClusterMode, env: Record<string, string>): E2eHarness {
  let cluster: Cluster | undefined;
  const clients: ImppClient[] = [];
  before(async () => {
    cluster = await startCluster({ mode, env, ...(isMultiProcess(mode) ? { edges: 2 } : {}) });
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  });
  const running = (): Cluster => {
    if (cluster === undefined) throw new Error("the cluster is not started yet");
    return cluster;
  };
  const h: E2eHarness = {
    get cluster() {
      return running();
    },
    async newUser(prefix) {
      const name = `${prefix}${randomBytes(4).toString("hex")}`;
      await running().addUser(name, PASSWORD);
      return name;
    },
    options(i) {
      const edges = running().edges;
      const e = edges[i % edges.length]!;
      return { host: e.host, port: e.port, rejectUnauthorized: false, timeoutMs: 8000 };
    },
    async login(name, edge, deviceName) {
      const c = await connectAndLogin({
        ...h.options(edge),
        name,
        password: PASSWORD,
        ...(deviceName ? { deviceName } : {}),
      });
      return h.track(c);
    },
    track(c) {
      clients.push(c);
      return c;
    },
  };
  return h;
}
