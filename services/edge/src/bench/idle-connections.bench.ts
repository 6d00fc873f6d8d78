// Prints the edge's memory per idle, bound TLS connection. Not a test: a figure to watch.
//   node services/edge/dist/bench/idle-connections.bench.js [connections=2000] [compression=1]
// The clients run in a child process so this process measures the edge alone.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Feature } from "@impp/protocol";
import { TestClient } from "@impp/test-kit";
import { fakeAuth, fakeDevice, startStack } from "../test-support.js";

const role = process.argv[2];

async function clients(port: number, n: number, features: number): Promise<void> {
  const open: TestClient[] = [];
  for (let i = 0; i < n; i++) {
    open.push(await TestClient.bound(port, `user${i % 500}`, `dev${i}`, [1, 2], features));
  }
  process.send?.({ ready: open.length });
  process.on("message", () => {
    for (const c of open) c.close();
    process.exit(0);
  });
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2000);
  const features = process.argv[3] === "0" ? Feature.TLS : Feature.TLS | Feature.COMPRESSION;
  const stack = await startStack({ limits: { maxConnections: n + 10 } });
  // The fake services record every request they answer (tests read them); the bench empties those
  // records before measuring, or their copies of each login would be counted as the edge's.
  const seen = [fakeAuth(stack.bus), fakeDevice(stack.bus)];
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const child = fork(fileURLToPath(import.meta.url), [
    "client",
    String(stack.edge.ports.plain),
    String(n),
    String(features),
  ]);
  await new Promise<void>((resolve) => child.once("message", () => resolve()));
  for (const s of seen) s.length = 0;
  gc?.();
  await new Promise((r) => setTimeout(r, 200));
  gc?.();
  const after = process.memoryUsage();
  const heap = after.heapUsed - before.heapUsed;
  const external = after.external + after.arrayBuffers - before.external - before.arrayBuffers;
  const rss = after.rss - before.rss;
  console.log(
    `connections          ${stack.edge.connectionCount} (TLS${features & Feature.COMPRESSION ? " + compression" : ""})`,
  );
  console.log(`heap                 ${mb(heap)}  ${Math.round(heap / n)} B/connection`);
  console.log(`external+buffers     ${mb(external)}  ${Math.round(external / n)} B/connection`);
  console.log(`rss                  ${mb(rss)}  ${Math.round(rss / n)} B/connection (includes OpenSSL)`);
  if (gc === undefined) console.log("(run with --expose-gc for steadier figures)");
  child.send("stop");
  await new Promise((r) => child.once("exit", r));
  await stack.stop();
}

if (role === "client") {
  await clients(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  await main();
}
