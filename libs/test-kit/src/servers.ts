// Throwaway nats-server and redis-server processes on free ports, for tests of what only a server
// configured a certain way shows (authentication, TLS).
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";

export interface TestServer {
  port: number;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (closed again, so a child can bind it). */
export async function freeTcpPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function startLogged(
  command: string,
  args: string[],
  ready: string,
  port: number,
): Promise<TestServer> {
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    let log = "";
    const on = (c: Buffer) => {
      log += c.toString();
      if (log.includes(ready)) resolve();
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", on);
    child.once("exit", (code) => reject(new Error(`${command} exited (${code}): ${log}`)));
    child.once("error", reject);
  });
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** nats-server (IMPP_TEST_NATS_SERVER, default /usr/sbin/nats-server) with `args` on a free port. */
export async function startNatsServer(args: string[]): Promise<TestServer> {
  const port = await freeTcpPort();
  const bin = process.env.IMPP_TEST_NATS_SERVER ?? "/usr/sbin/nats-server";
  return startLogged(bin, ["-a", "127.0.0.1", "-p", String(port), ...args], "Server is ready", port);
}

/** redis-server (IMPP_TEST_REDIS_SERVER, default on PATH), no persistence, `args(port)` on a free port. */
export async function startRedisServer(args: (port: number) => string[]): Promise<TestServer> {
  const port = await freeTcpPort();
  const bin = process.env.IMPP_TEST_REDIS_SERVER ?? "redis-server";
  return startLogged(
    bin,
    ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args(port)],
    "Ready to accept connections",
    port,
  );
}
