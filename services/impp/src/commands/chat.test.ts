// `impp chat` driven as a person would: each user is an `impp chat` child process, typed at through
// its stdin and read from its stdout, against an embedded server started here.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { BIN, type Cluster, startCluster } from "../testing/cluster.js";

/** Fails a wait that can never succeed instead of hanging the run; not a timing assertion. */
const GIVE_UP_MS = 30_000;

class Chat {
  readonly lines: string[] = [];
  stderr = "";
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private partial = "";
  readonly exited: Promise<number>;

  constructor(args: string[], password: string) {
    this.child = spawn(process.execPath, [BIN, "chat", ...args], {
      env: { ...process.env, IMPP_CHAT_PASSWORD: password },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (c: Buffer) => {
      const parts = (this.partial + c.toString("utf8")).split("\n");
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.waiters) w();
    });
    this.child.stderr!.on("data", (c: Buffer) => {
      this.stderr += c.toString("utf8");
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code ?? -1)));
  }

  type(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** The first output line matching `re`, waiting for it if it has not come yet. */
  see(re: RegExp): Promise<string> {
    const found = () => this.lines.find((l) => re.test(l));
    return new Promise((resolve, reject) => {
      const check = () => {
        const l = found();
        if (l === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(l);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`never saw ${re}; output:\n${this.lines.join("\n")}\nstderr:\n${this.stderr}`));
      }, GIVE_UP_MS);
      this.waiters.add(check);
      void this.exited.then(() => setImmediate(check));
      check();
    });
  }

  async quit(): Promise<number> {
    this.type("/quit");
    this.child.stdin!.end();
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

describe("impp chat, two people in terminals", () => {
  let cluster: Cluster;
  let server: string[];
  let fingerprint: string;
  const open: Chat[] = [];
  const chat = (args: string[], password: string) => {
    const c = new Chat(args, password);
    open.push(c);
    return c;
  };

  before(async () => {
    cluster = await startCluster({ mode: "embedded" });
    await cluster.addUser("alice", "alice pw");
    await cluster.addUser("bob", "bob pw");
    const edge = cluster.edges[0]!;
    server = ["--host", edge.host, "--port", String(edge.port)];
    fingerprint = cluster.server!.tls!.fingerprint256;
  });
  after(async () => {
    for (const c of open) c.kill();
    await cluster.stop();
  });

  test("a certificate that does not verify is refused, showing its fingerprint, unless pinned or --insecure", async () => {
    const refused = chat([...server, "alice"], "alice pw");
    assert.equal(await refused.exited, 1);
    assert.match(refused.stderr, /not trusted/);
    assert.ok(refused.stderr.includes(fingerprint), refused.stderr);
    assert.match(refused.stderr, /pass --fingerprint/);
    assert.deepEqual(refused.lines, [], "nothing logged in");

    const wrong = chat([...server, "--fingerprint", "00:11:22", "alice"], "alice pw");
    assert.equal(await wrong.exited, 1);
    assert.match(wrong.stderr, /not the --fingerprint given: refusing/);

    const badPassword = chat([...server, "--insecure", "alice"], "not alice's");
    assert.equal(await badPassword.exited, 1);
    assert.match(badPassword.stderr, /login as alice failed: /);

    const usage = chat(server, "alice pw");
    assert.equal(await usage.exited, 2, "no account name");
  });

  test("add and approve each other, presence, typing, a message each way, offline messages, quit", async () => {
    // Alice pins the fingerprint, in lower case without fuss; Bob accepts explicitly.
    const alice = chat([...server, "--fingerprint", fingerprint.toLowerCase(), "alice"], "alice pw");
    const bob = chat([...server, "--insecure", "bob"], "bob pw");
    await alice.see(/^logged in as alice\./);
    await alice.see(/^contacts: none/);
    await bob.see(/^logged in as bob\./);
    await bob.see(/^contacts: none/);

    alice.type("/add bob");
    await alice.see(/^added bob; they are asked to approve you$/);
    await bob.see(/^\* alice wants to add you as a contact: \/approve alice/);
    bob.type("/approve alice");
    await bob.see(/^approved alice: they see your presence \(\/add alice to see theirs\)$/);
    await alice.see(/^\* bob approved you/);
    await alice.see(/^\* bob is online$/);

    bob.type("/add alice");
    await alice.see(/^\* bob wants to add you as a contact/);
    alice.type("/approve bob");
    await bob.see(/^\* alice approved you/);
    await bob.see(/^\* alice is online$/);

    alice.type("/msg bob hello Bob, how are you?");
    await alice.see(/^alice -> bob: hello Bob, how are you\?$/);
    await bob.see(/^alice: hello Bob, how are you\?$/);

    bob.type("/typing");
    await alice.see(/^\* bob is typing…$/);
    // A plain line answers whoever wrote last.
    bob.type("fine, thanks");
    await bob.see(/^bob -> alice: fine, thanks$/);
    await alice.see(/^bob: fine, thanks$/);

    bob.type("/status away at lunch");
    await bob.see(/^you are away "at lunch"$/);
    await alice.see(/^\* bob is away "at lunch"$/);
    alice.type("/list");
    await alice.see(/^ {2}bob {2}away "at lunch"$/);

    assert.equal(await bob.quit(), 0);
    assert.equal(bob.lines.at(-1), "bye");
    await alice.see(/^\* bob is offline$/);

    alice.type("/msg bob call me when you are back");
    await alice.see(/^alice -> bob: call me when you are back$/);

    const bobAgain = chat([...server, "--insecure", "bob"], "bob pw");
    await bobAgain.see(/^1 message while you were away:$/);
    await bobAgain.see(/^ {2}\[\d{4}-\d\d-\d\d \d\d:\d\d\] alice: call me when you are back$/);
    await bobAgain.see(/^ {2}alice {2}online$/);
    assert.equal(await bobAgain.quit(), 0);

    // Shown once: they were deleted up to the TIMESTAMP the server returned.
    const bobThird = chat([...server, "--insecure", "bob"], "bob pw");
    await bobThird.see(/^ {2}alice {2}online$/);
    assert.equal(await bobThird.quit(), 0);
    assert.ok(!bobThird.lines.some((l) => /while you were away/.test(l)), bobThird.lines.join("\n"));

    assert.equal(await alice.quit(), 0);
    assert.equal(alice.lines.at(-1), "bye");
  });
});
