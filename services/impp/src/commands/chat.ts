// `impp chat`: a terminal IMPP client for a person, on @impp/client. Line-oriented (node:readline),
// no TUI framework: what arrives is printed as it arrives, commands start with "/", any other line
// goes to the current conversation.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { ImppClient, isClientError, type ResponseFrame } from "@impp/client";
import {
  Capability,
  errorName,
  Family,
  ImTlv,
  ImType,
  ListsTlv,
  ListsType,
  PresenceTlv,
  PresenceType,
  ProtocolError,
  Status,
  TlvWriter,
  TypingState,
  typeName,
} from "@impp/protocol";
import type { CommandIo } from "../command.js";

const COMMANDS = `Commands (any other line goes to the current conversation: the last /msg or /to,
else the first person who wrote to you):
  /msg <name> <text>     send a message (and talk to <name> from now on)
  /to <name>             talk to <name> from now on
  /typing [<name>]       tell them you are typing (a terminal does this by itself)
  /add <name> [nick]     add a contact (asks them for approval)
  /approve <name>        let someone who asked see you (and add them back with /add)
  /deny <name>           refuse a request
  /remove <name>         remove a contact
  /status online|away|dnd|invisible [message]
  /list                  contacts with presence, and requests waiting for you
  /help                  this list
  /quit                  log out (end of input does the same)`;

export const help = `impp chat — chat from the terminal

  impp chat [--host <host>] [--port <port>] [options] <name>

  --host <host>          server (default localhost)
  --port <port>          IMPP port (default 3158)
  --ca <file>            trust this PEM CA (or self-signed certificate) for the server
  --fingerprint <sha256> accept the server's certificate if its SHA-256 fingerprint is this
                         (as \`impp serve\` prints it: AB:CD:…)
  --insecure             accept any certificate without checking (tests, never on a network)

The password is asked for without echo, or taken from IMPP_CHAT_PASSWORD (scripts).
A certificate that does not verify is refused unless --fingerprint matches it or
--insecure is given; on a terminal you are shown its fingerprint and asked first.
Nothing, not even your name, is sent before the certificate is accepted.

${COMMANDS}`;

const STATUS_BY_NAME: Record<string, number> = {
  online: Status.ONLINE,
  away: Status.AWAY,
  dnd: Status.DND,
  invisible: Status.INVISIBLE,
};

function statusText(status: number): string {
  const name = Object.entries(Status).find(([, v]) => v === status)?.[0];
  return name === undefined ? `status ${status}` : name.toLowerCase();
}

interface Contact {
  nickname: string;
  status: number;
  statusMessage: string;
  /** "is typing…" was shown and nothing has come from them since. */
  typingShown: boolean;
}

export async function run(args: string[], io: CommandIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (e) {
    io.stderr.write(`impp chat: ${(e as Error).message}\n\n${help}\n`);
    return 2;
  }
  if (parsed === "help") {
    io.stdout.write(`${help}\n`);
    return 0;
  }
  const { host, port, name, ca, fingerprint, insecure } = parsed;
  const ask = io.stdin.isTTY === true ? makeAsker(io) : undefined;

  let client: ImppClient;
  try {
    client = await ImppClient.connect({
      host,
      port,
      // Verified below, before anything else is sent: a refusal here could not show the fingerprint.
      rejectUnauthorized: false,
      ...(ca === undefined ? {} : { ca: await readFile(ca) }),
    });
  } catch (e) {
    io.stderr.write(`impp chat: cannot connect to ${host}:${port}: ${(e as Error).message}\n`);
    return 1;
  }
  const cert = client.peerCertificate;
  if (cert === undefined) {
    client.destroy();
    io.stderr.write("impp chat: the server did not start TLS\n");
    return 1;
  }
  if (!cert.authorized) {
    const fp = cert.fingerprint256;
    const pinned = fingerprint !== undefined && sameFingerprint(fingerprint, fp);
    if (insecure) {
      io.stderr.write(`warning: not checking the server's certificate (--insecure); SHA-256 ${fp}\n`);
    } else if (!pinned) {
      const why = cert.authorizationError ?? "not trusted";
      const shown = `the server's certificate is not trusted (${why}).\nIts SHA-256 fingerprint is\n  ${fp}\n`;
      if (fingerprint !== undefined) {
        client.destroy();
        io.stderr.write(`impp chat: ${shown}which is not the --fingerprint given: refusing.\n`);
        return 1;
      }
      if (ask === undefined) {
        client.destroy();
        io.stderr.write(
          `impp chat: ${shown}Compare it with the one \`impp serve\` printed and pass --fingerprint ${fp} to accept it.\n`,
        );
        return 1;
      }
      const answer = await ask.line(
        `${shown}Accept it? Only if it matches the one the server's operator gave you [y/N] `,
      );
      if (!/^y(es)?$/i.test(answer.trim())) {
        client.destroy();
        io.stderr.write("impp chat: certificate refused\n");
        return 1;
      }
    }
  }

  let password = process.env.IMPP_CHAT_PASSWORD;
  if (password === undefined || password === "") {
    if (ask === undefined) {
      client.destroy();
      io.stderr.write("impp chat: no terminal to ask for the password: set IMPP_CHAT_PASSWORD\n");
      return 2;
    }
    password = await ask.secret(`password for ${name}: `);
  }
  ask?.close();

  const auth = await client.authenticate(name, password).catch((e: unknown) => e as Error);
  if (auth instanceof Error || auth.isError) {
    client.destroy();
    const why = auth instanceof Error ? auth.message : errorName(Family.STREAM, auth.errorCode ?? 0);
    io.stderr.write(`impp chat: login as ${name} failed: ${why}\n`);
    return 1;
  }
  const me = client.account ?? name;
  const bound = await client.bind({
    deviceName: `chat-${randomBytes(3).toString("hex")}`,
    capabilities: [Capability.IM, Capability.TYPING],
    client: { name: "impp-chat", description: "impp chat (terminal)" },
  });
  if (bound.isError) {
    client.destroy();
    io.stderr.write(
      `impp chat: binding a device failed: ${errorName(Family.DEVICE, bound.errorCode ?? 0)}\n`,
    );
    return 1;
  }

  const session = new ChatSession(client, me, io);
  return session.run();
}

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      ca: { type: "string" },
      fingerprint: { type: "string" },
      insecure: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return "help" as const;
  if (positionals.length !== 1) throw new Error("give one account name");
  const port = Number(values.port ?? "3158");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a port: ${values.port}`);
  return {
    host: values.host ?? "localhost",
    port,
    name: positionals[0]!,
    ca: values.ca,
    fingerprint: values.fingerprint,
    insecure: values.insecure === true,
  };
}

function sameFingerprint(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/[^0-9a-f]/gi, "").toUpperCase();
  return norm(a) === norm(b);
}

/** Questions on the terminal before the chat starts: a line, or a secret read without echo. */
function makeAsker(io: CommandIo) {
  const stdin = io.stdin as NodeJS.ReadStream;
  return {
    line(prompt: string): Promise<string> {
      const rl = readline.createInterface({ input: stdin, output: process.stderr, terminal: true });
      return new Promise((resolve) => {
        rl.question(prompt, (a) => {
          rl.close();
          resolve(a);
        });
      });
    },
    secret(prompt: string): Promise<string> {
      process.stderr.write(prompt);
      return new Promise((resolve) => {
        let text = "";
        stdin.setRawMode(true);
        stdin.resume();
        const onData = (chunk: Buffer) => {
          for (const ch of chunk.toString("utf8")) {
            if (ch === "\r" || ch === "\n") {
              stdin.off("data", onData);
              stdin.setRawMode(false);
              stdin.pause();
              process.stderr.write("\n");
              resolve(text);
              return;
            }
            if (ch === "\u0003") {
              stdin.setRawMode(false);
              process.stderr.write("\n");
              process.exit(130);
            }
            if (ch === "\u007f" || ch === "\b") text = [...text].slice(0, -1).join("");
            else text += ch;
          }
        };
        stdin.on("data", onData);
      });
    },
    close() {},
  };
}

class ChatSession {
  private readonly contacts = new Map<string, Contact>();
  private readonly pending = new Set<string>();
  private current: string | undefined;
  private rl: readline.Interface | undefined;
  private typingSentTo: string | undefined;
  private closing = false;
  private readonly tty: boolean;

  constructor(
    private readonly client: ImppClient,
    private readonly me: string,
    private readonly io: CommandIo,
  ) {
    this.tty = io.stdin.isTTY === true;
  }

  async run(): Promise<number> {
    this.say(`logged in as ${this.me}. /help lists the commands.`);
    await this.loadLists();
    await this.refreshPresence();
    this.printList();
    await this.offlineMessages();
    const indications = this.pump();

    const rl = readline.createInterface({
      input: this.io.stdin,
      output: this.tty ? (process.stdout as NodeJS.WritableStream) : undefined,
      terminal: this.tty,
      prompt: "> ",
    });
    this.rl = rl;
    if (this.tty) {
      // Typing notices from keystrokes: typing when the line gets text, stopped when it empties.
      (this.io.stdin as NodeJS.ReadStream).on("keypress", () => setImmediate(() => this.onKeystroke()));
      rl.prompt();
    }
    const closed = new Promise<void>((resolve) => this.client.once("close", () => resolve()));
    let lost = false;
    void closed.then(() => {
      if (!this.closing) {
        lost = true;
        this.say("* the server closed the connection");
        rl.close();
      }
    });
    for await (const line of rl) {
      const quit = await this.command(line).catch((e: unknown) => {
        this.say(`! ${(e as Error).message}`);
        return false;
      });
      if (quit || this.client.closed) break;
      if (this.tty) rl.prompt();
    }
    this.closing = true;
    rl.close();
    this.rl = undefined;
    if (!this.client.closed) await this.client.close().catch(() => this.client.destroy());
    await indications;
    if (!lost) this.say("bye");
    return lost ? 1 : 0;
  }

  /** Prints a line without mangling what the person is typing. */
  private say(line: string): void {
    if (this.tty && this.rl !== undefined) {
      readline.clearLine(process.stdout, 0);
      readline.cursorTo(process.stdout, 0);
      this.io.stdout.write(`${line}\n`);
      this.rl.prompt(true);
    } else {
      this.io.stdout.write(`${line}\n`);
    }
  }

  private async loadLists(): Promise<void> {
    const res = await this.client.getLists();
    if (res.isError) {
      this.say(`! could not read your lists: ${errorName(Family.LISTS, res.errorCode ?? 0)}`);
      return;
    }
    for (const c of strings(res, ListsTlv.CONTACT_ADDRESS)) this.contact(c);
    for (const p of strings(res, ListsTlv.PENDING_ADDRESS)) this.pending.add(p);
  }

  private contact(name: string): Contact {
    let c = this.contacts.get(name);
    if (c === undefined) {
      c = { nickname: "", status: Status.OFFLINE, statusMessage: "", typingShown: false };
      this.contacts.set(name, c);
    }
    return c;
  }

  /** One PRESENCE GET with TO per contact: answers, not indications to wait for. */
  private async refreshPresence(): Promise<void> {
    await Promise.all(
      [...this.contacts.keys()].map(async (name) => {
        const w = new TlvWriter().string(PresenceTlv.TO, name);
        const res = await this.client.request(Family.PRESENCE, PresenceType.GET, w);
        if (!res.isError) this.applyPresence(name, res);
      }),
    );
  }

  private applyPresence(name: string, f: ResponseFrame): Contact {
    const c = this.contact(name);
    const status = f.tlvs.u16(PresenceTlv.STATUS);
    if (typeof status === "number") c.status = status;
    const msg = f.tlvs.string(PresenceTlv.STATUS_MESSAGE);
    c.statusMessage = typeof msg === "string" ? msg : "";
    const nick = f.tlvs.string(PresenceTlv.NICKNAME);
    if (typeof nick === "string") c.nickname = nick;
    return c;
  }

  private printList(): void {
    if (this.contacts.size === 0) this.say("contacts: none (add one with /add <name>)");
    else {
      this.say("contacts:");
      for (const [name, c] of [...this.contacts].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const msg = c.statusMessage ? ` "${c.statusMessage}"` : "";
        this.say(`  ${name}${c.nickname ? ` (${c.nickname})` : ""}  ${statusText(c.status)}${msg}`);
      }
    }
    if (this.pending.size > 0) {
      this.say(`waiting for your approval: ${[...this.pending].sort().join(", ")} (/approve or /deny)`);
    }
  }

  /** Stored messages first, oldest first; then deleted up to the newest shown, as clients do. */
  private async offlineMessages(): Promise<void> {
    const res = await this.client.request(Family.IM, ImType.OFFLINE_MESSAGES_GET);
    if (res.isError) {
      this.say(`! could not fetch offline messages: ${errorName(Family.IM, res.errorCode ?? 0)}`);
      return;
    }
    const stored = res.tlvs.nestedAll(ImTlv.OFFLINE_MESSAGE);
    if (stored instanceof ProtocolError || stored.length === 0) return;
    this.say(`${stored.length} message${stored.length === 1 ? "" : "s"} while you were away:`);
    for (const m of stored) {
      const from = m.string(ImTlv.FROM);
      const cap = m.u16(ImTlv.CAPABILITY);
      const chunk = m.first(ImTlv.MESSAGE_CHUNK) ?? Buffer.alloc(0);
      const at = m.u64number(ImTlv.CREATED_AT);
      if (cap !== Capability.IM || typeof from !== "string") continue;
      const when =
        typeof at === "number" ? `[${new Date(at).toISOString().slice(0, 16).replace("T", " ")}] ` : "";
      this.say(`  ${when}${from}: ${chunk.toString("utf8")}`);
    }
    const newest = res.tlvs.first(ImTlv.TIMESTAMP);
    if (newest !== undefined) {
      const del = await this.client.request(
        Family.IM,
        ImType.OFFLINE_MESSAGES_DELETE,
        new TlvWriter().bytes(ImTlv.TIMESTAMP, newest),
      );
      if (del.isError)
        this.say(`! could not delete them on the server: ${errorName(Family.IM, del.errorCode ?? 0)}`);
    }
  }

  /** What the server sends unasked, as it comes, until the connection ends. */
  private async pump(): Promise<void> {
    try {
      for await (const f of this.client.indications) this.onIndication(f);
    } catch (e) {
      if (!this.closing && !isClientError(e)) this.say(`! ${(e as Error).message}`);
    }
  }

  private onIndication(f: ResponseFrame): void {
    if (f.family === Family.IM && f.type === ImType.MESSAGE_SEND) {
      this.onMessage(f);
      return;
    }
    if (f.family === Family.PRESENCE && f.type === PresenceType.UPDATE) {
      const from = f.tlvs.string(PresenceTlv.FROM);
      if (typeof from !== "string") return;
      if (from === this.me) return; // my other device changed my status
      const before = this.contacts.get(from);
      const old = before === undefined ? undefined : [before.status, before.statusMessage].join("\0");
      const c = this.applyPresence(from, f);
      if (old !== [c.status, c.statusMessage].join("\0")) {
        this.say(`* ${from} is ${statusText(c.status)}${c.statusMessage ? ` "${c.statusMessage}"` : ""}`);
      }
      return;
    }
    if (f.family === Family.LISTS) {
      const from = f.tlvs.string(ListsTlv.FROM);
      const address = f.tlvs.string(ListsTlv.CONTACT_ADDRESS);
      switch (f.type) {
        case ListsType.CONTACT_AUTH_REQUEST:
          if (typeof from === "string") {
            this.pending.add(from);
            this.say(`* ${from} wants to add you as a contact: /approve ${from} or /deny ${from}`);
          }
          return;
        case ListsType.CONTACT_APPROVED:
          if (typeof from === "string") this.say(`* ${from} approved you: you see their presence now`);
          return;
        case ListsType.CONTACT_ADD:
          if (typeof address === "string") {
            this.contact(address);
            this.say(`* ${address} was added on your other device`);
          }
          return;
        case ListsType.CONTACT_REMOVE:
          if (typeof address === "string") {
            this.contacts.delete(address);
            this.say(`* ${address} was removed on your other device`);
          }
          return;
        case ListsType.CONTACT_APPROVE:
        case ListsType.CONTACT_DENY:
          if (typeof address === "string") this.pending.delete(address);
          return;
      }
    }
    this.say(`* ${typeName(f.family, f.type)} from the server`);
  }

  private onMessage(f: ResponseFrame): void {
    const from = f.tlvs.string(ImTlv.FROM);
    const to = f.tlvs.string(ImTlv.TO);
    const cap = f.tlvs.u16(ImTlv.CAPABILITY);
    const chunk = f.tlvs.first(ImTlv.MESSAGE_CHUNK) ?? Buffer.alloc(0);
    if (typeof from !== "string") return;
    if (cap === Capability.TYPING) {
      if (from === this.me) return;
      const typing = chunk.length === 2 && chunk.readUInt16BE(0) === TypingState.TYPING;
      const c = this.contact(from);
      if (typing && !c.typingShown) this.say(`* ${from} is typing…`);
      c.typingShown = typing;
      return;
    }
    if (cap !== Capability.IM) return;
    const text = chunk.toString("utf8");
    if (from === this.me) {
      // My other device sent it: show the whole conversation.
      this.say(`${this.me} -> ${to}: ${text}`);
      return;
    }
    this.contact(from).typingShown = false;
    this.current ??= from;
    this.say(`${from}: ${text}`);
  }

  private onKeystroke(): void {
    const line = this.rl?.line ?? "";
    const to = this.current;
    if (to === undefined || line.startsWith("/")) return;
    if (line.length > 0 && this.typingSentTo !== to) {
      this.typingSentTo = to;
      void this.client.sendTyping(to, true).catch(() => {});
    } else if (line.length === 0 && this.typingSentTo !== undefined) {
      const was = this.typingSentTo;
      this.typingSentTo = undefined;
      void this.client.sendTyping(was, false).catch(() => {});
    }
  }

  /** Runs one input line; true to quit. */
  private async command(line: string): Promise<boolean> {
    const text = line.trim();
    if (text === "") return false;
    if (!text.startsWith("/")) {
      if (this.current === undefined) {
        this.say("! nobody to send it to: /msg <name> <text> first (or /to <name>)");
        return false;
      }
      await this.send(this.current, line);
      return false;
    }
    const [cmd, ...rest] = text.split(/\s+/);
    const arg = rest[0];
    const need = (what: string) => {
      if (arg === undefined) throw new Error(`${cmd} needs ${what}`);
      return arg;
    };
    switch (cmd) {
      case "/quit":
      case "/exit":
        return true;
      case "/help":
        for (const l of COMMANDS.split("\n")) this.say(l);
        return false;
      case "/list":
        await this.refreshPresence();
        this.printList();
        return false;
      case "/msg": {
        const m = /^\/msg\s+(\S+)\s*(.*)$/s.exec(text);
        if (m === null) throw new Error("/msg needs a name and a message");
        this.current = m[1]!.toLowerCase();
        if (m[2] === "") this.say(`talking to ${this.current}`);
        else await this.send(this.current, m[2]!);
        return false;
      }
      case "/to":
        this.current = need("a name").toLowerCase();
        this.say(`talking to ${this.current}`);
        return false;
      case "/typing": {
        const to = arg?.toLowerCase() ?? this.current;
        if (to === undefined) throw new Error("/typing needs a name");
        const r = await this.client.sendTyping(to, true);
        if (r.isError) this.say(`! ${this.imError(to, r)}`);
        return false;
      }
      case "/add": {
        const who = need("a name");
        const nick = rest.slice(1).join(" ") || undefined;
        const r = await this.client.lists(ListsType.CONTACT_ADD, who, nick);
        if (r.isError) return this.listError("add", who, r);
        const name = stringOr(r, ListsTlv.CONTACT_ADDRESS, who.toLowerCase());
        this.contact(name);
        this.say(`added ${name}; they are asked to approve you`);
        return false;
      }
      case "/approve":
      case "/deny": {
        const who = need("a name");
        const type = cmd === "/approve" ? ListsType.CONTACT_APPROVE : ListsType.CONTACT_DENY;
        const r = await this.client.lists(type, who);
        if (r.isError) return this.listError(cmd.slice(1), who, r);
        this.pending.delete(who.toLowerCase());
        this.say(
          cmd === "/approve"
            ? `approved ${who.toLowerCase()}: they see your presence${this.contacts.has(who.toLowerCase()) ? "" : ` (/add ${who.toLowerCase()} to see theirs)`}`
            : `denied ${who.toLowerCase()}`,
        );
        return false;
      }
      case "/remove": {
        const who = need("a name");
        const r = await this.client.lists(ListsType.CONTACT_REMOVE, who);
        if (r.isError) return this.listError("remove", who, r);
        this.contacts.delete(who.toLowerCase());
        this.say(`removed ${who.toLowerCase()}`);
        return false;
      }
      case "/status": {
        const s = need("online, away, dnd or invisible").toLowerCase();
        const status = STATUS_BY_NAME[s];
        if (status === undefined) throw new Error("/status takes online, away, dnd or invisible");
        const message = rest.slice(1).join(" ");
        const r = await this.client.setPresence({ status, statusMessage: message });
        if (r.isError) this.say(`! status not changed: ${errorName(Family.PRESENCE, r.errorCode ?? 0)}`);
        else this.say(`you are ${s}${message ? ` "${message}"` : ""}`);
        return false;
      }
      default:
        this.say(`! unknown command ${cmd} (/help lists them)`);
        return false;
    }
  }

  private async send(to: string, text: string): Promise<void> {
    this.typingSentTo = undefined;
    const r = await this.client.sendIm(to, text);
    if (r.isError) this.say(`! not sent: ${this.imError(to, r)}`);
    else this.say(`${this.me} -> ${to}: ${text}`);
  }

  private imError(to: string, r: ResponseFrame): string {
    const name = errorName(Family.IM, r.errorCode ?? 0);
    if (name === "USERNAME_NOT_CONTACT") return `${to} is not in your contacts (/add ${to}) (${name})`;
    if (name === "USERNAME_BLOCKED") return `one of you blocks the other (${name})`;
    return name;
  }

  private listError(what: string, who: string, r: ResponseFrame): false {
    this.say(`! could not ${what} ${who}: ${errorName(Family.LISTS, r.errorCode ?? 0)}`);
    return false;
  }
}

function strings(f: ResponseFrame, type: number): string[] {
  const s = f.tlvs.strings(type);
  return s instanceof ProtocolError ? [] : s;
}

function stringOr(f: ResponseFrame, type: number, fallback: string): string {
  const s = f.tlvs.string(type);
  return typeof s === "string" ? s : fallback;
}
