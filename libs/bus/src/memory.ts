// The in-process Bus: the embedded mode's transport. It mirrors NATS closely
// enough that a service cannot tell them apart — asynchronous delivery, the same
// wildcard and queue-group rules, copies of payloads, the same errors — so the
// embedded mode finds the same bugs the distributed one would.
import {
  type Bus,
  type BusCommonOptions,
  BusError,
  type BusMessage,
  DEFAULT_DRAIN_TIMEOUT_MS,
  defaultHandlerErrorReporter,
  type Headers,
  type MessageHandler,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
} from "./bus.js";
import { closeLocalCalls } from "./calls.js";
import { HandlerRunner } from "./handlers.js";
import { headersWireSize, normalizeHeaders } from "./headers.js";
import { hasWildcardToken, isPublishSubject, isSubscribeSubject, matchTokens } from "./subject-syntax.js";

/** NATS's default max_payload, so oversized messages fail in the embedded mode too. */
export const MEMORY_MAX_PAYLOAD = 1024 * 1024;

export interface MemoryBusOptions extends BusCommonOptions {
  maxPayload?: number;
}

interface MemorySub {
  readonly subject: string;
  /** Set only for wildcard patterns; literal subjects are found by map lookup. */
  readonly tokens: readonly string[] | undefined;
  readonly queue: string | undefined;
  readonly handler: MessageHandler;
  /** Request inboxes survive the drain phase of close() so replies still arrive. */
  readonly internal: boolean;
  active: boolean;
}

interface Delivery {
  readonly targets: readonly MemorySub[];
  readonly msg: MemoryMessage;
}

interface PendingRequest {
  readonly sub: MemorySub;
  readonly reject: (e: BusError) => void;
  timer: NodeJS.Timeout | undefined;
}

let busCounter = 0;

class MemoryMessage implements BusMessage {
  constructor(
    private readonly bus: MemoryBus,
    readonly subject: string,
    readonly data: Uint8Array,
    readonly headers: Headers | undefined,
    readonly reply: string | undefined,
  ) {}

  respond(data: Uint8Array, headers?: Headers): boolean {
    if (this.reply === undefined) return false;
    this.bus.publish(this.reply, data, headers);
    return true;
  }
}

class MemorySubscription implements Subscription {
  constructor(
    private readonly bus: MemoryBus,
    private readonly sub: MemorySub,
  ) {}
  get subject(): string {
    return this.sub.subject;
  }
  unsubscribe(): void {
    this.bus.remove(this.sub);
  }
}

type State = "open" | "closing" | "closed";

class MemoryBus implements Bus {
  readonly kind = "memory" as const;
  readonly maxPayload: number;
  get handlerErrors(): number {
    return this.handlers.errors;
  }

  private state: State = "open";
  private closing: Promise<void> | undefined;
  private readonly exact = new Map<string, Set<MemorySub>>();
  private readonly wildcard = new Set<MemorySub>();
  private readonly userSubs = new Set<MemorySub>();
  private readonly pending = new Set<PendingRequest>();
  private queue: Delivery[] = [];
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  private requestSeq = 0;
  private readonly inboxPrefix: string;
  private readonly handlers: HandlerRunner;
  private readonly drainTimeoutMs: number;

  constructor(opts: MemoryBusOptions) {
    this.maxPayload = opts.maxPayload ?? MEMORY_MAX_PAYLOAD;
    this.handlers = new HandlerRunner(opts.onHandlerError ?? defaultHandlerErrorReporter);
    this.drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.inboxPrefix = `_INBOX.mem${++busCounter}.`;
  }

  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    const h = this.checkPublish(subject, data, headers);
    this.route(subject, data, h, undefined);
  }

  subscribe(subject: string, handler: MessageHandler, opts?: SubscribeOptions): Subscription {
    if (this.state !== "open") throw new BusError("CLOSED", "bus is closed");
    if (!isSubscribeSubject(subject)) throw new BusError("BAD_SUBJECT", `invalid subject: ${subject}`);
    const queue = opts?.queue;
    if (queue !== undefined && (queue.length === 0 || /\s/.test(queue))) {
      throw new BusError("BAD_SUBJECT", `invalid queue group: ${queue}`);
    }
    const tokens = subject.split(".");
    const sub: MemorySub = {
      subject,
      tokens: hasWildcardToken(tokens) ? tokens : undefined,
      queue,
      handler,
      internal: false,
      active: true,
    };
    this.index(sub);
    this.userSubs.add(sub);
    return new MemorySubscription(this, sub);
  }

  request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage> {
    if (this.state !== "open") return Promise.reject(new BusError("CLOSED", "bus is closed"));
    let headers: Headers | undefined;
    try {
      headers = this.checkPublish(subject, data, opts.headers);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<BusMessage>((resolve, reject) => {
      const inbox = this.inboxPrefix + ++this.requestSeq;
      const settle = (): void => {
        if (p.timer !== undefined) clearTimeout(p.timer);
        this.pending.delete(p);
        this.remove(sub);
      };
      const sub: MemorySub = {
        subject: inbox,
        tokens: undefined,
        queue: undefined,
        handler: (msg) => {
          if (!this.pending.has(p)) return;
          settle();
          resolve(msg);
        },
        internal: true,
        active: true,
      };
      const p: PendingRequest = {
        sub,
        timer: undefined,
        reject: (e) => {
          settle();
          reject(e);
        },
      };
      this.index(sub);
      this.pending.add(p);
      if (this.route(subject, data, headers, inbox) === 0) {
        // NATS answers a request nobody listens to with a 503 status at once; so do we.
        p.reject(new BusError("NO_RESPONDERS", `no responders for ${subject}`));
        return;
      }
      p.timer = setTimeout(
        () => p.reject(new BusError("TIMEOUT", `request to ${subject} timed out after ${opts.timeoutMs} ms`)),
        Math.max(1, opts.timeoutMs),
      );
    });
  }

  flush(): Promise<void> {
    if (this.state === "closed") return Promise.reject(new BusError("CLOSED", "bus is closed"));
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  /** Used by Subscription.unsubscribe and by settled requests. */
  remove(sub: MemorySub): void {
    sub.active = false;
    this.unindex(sub);
    this.userSubs.delete(sub);
  }

  private async drainAndClose(): Promise<void> {
    this.state = "closing";
    // Like requests: new direct calls (calls.ts) fail CLOSED from now on; running ones finish.
    closeLocalCalls(this);
    // Like a NATS drain: subscriptions stop matching new messages but still get
    // what was published before close(); request inboxes stay so replies arrive.
    for (const sub of this.userSubs) this.unindex(sub);
    const deadline = Date.now() + this.drainTimeoutMs;
    for (;;) {
      await this.idle();
      if (this.handlers.running === 0 || !(await this.handlers.settle(deadline))) break;
    }
    this.state = "closed";
    for (const sub of this.userSubs) sub.active = false;
    this.userSubs.clear();
    for (const p of [...this.pending])
      p.reject(new BusError("CLOSED", "bus closed before the reply arrived"));
    this.exact.clear();
    this.wildcard.clear();
    this.queue = [];
  }

  /** Returns the headers as they will arrive. */
  private checkPublish(subject: string, data: Uint8Array, headers: Headers | undefined): Headers | undefined {
    if (this.state === "closed") throw new BusError("CLOSED", "bus is closed");
    if (!isPublishSubject(subject)) throw new BusError("BAD_SUBJECT", `invalid subject: ${subject}`);
    const h = normalizeHeaders(headers);
    const size = data.length + headersWireSize(h);
    if (size > this.maxPayload) {
      throw new BusError("PAYLOAD_TOO_LARGE", `message of ${size} bytes exceeds ${this.maxPayload}`);
    }
    return h;
  }

  /** Picks the receivers now (as the NATS server would) and schedules delivery. Returns how many. */
  private route(subject: string, data: Uint8Array, headers: Headers | undefined, reply: string | undefined) {
    const targets: MemorySub[] = [];
    let groups: Map<string, MemorySub[]> | undefined;
    const consider = (sub: MemorySub): void => {
      if (sub.queue === undefined) {
        targets.push(sub);
        return;
      }
      groups ??= new Map();
      const members = groups.get(sub.queue);
      if (members === undefined) groups.set(sub.queue, [sub]);
      else members.push(sub);
    };
    const literal = this.exact.get(subject);
    if (literal !== undefined) for (const sub of literal) consider(sub);
    if (this.wildcard.size > 0) {
      const tokens = subject.split(".");
      for (const sub of this.wildcard) if (matchTokens(sub.tokens!, tokens)) consider(sub);
    }
    if (groups !== undefined) {
      for (const members of groups.values()) {
        // Random, as the NATS server picks: no correlation between groups or subjects.
        targets.push(members[Math.floor(Math.random() * members.length)]!);
      }
    }
    if (targets.length === 0) return 0;
    // No copy: publish takes ownership of data (the NATS client also holds on to it until it is sent).
    this.queue.push({ targets, msg: new MemoryMessage(this, subject, data, headers, reply) });
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate rather than a microtask: handlers that publish in a loop must not starve I/O.
      setImmediate(this.deliver);
    }
    return targets.length;
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const d of batch) {
      for (const sub of d.targets) if (sub.active) this.handlers.run(sub.handler, d.msg);
    }
    if (this.queue.length === 0 && !this.scheduled) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  private idle(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private index(sub: MemorySub): void {
    if (sub.tokens !== undefined) {
      this.wildcard.add(sub);
      return;
    }
    let set = this.exact.get(sub.subject);
    if (set === undefined) {
      set = new Set();
      this.exact.set(sub.subject, set);
    }
    set.add(sub);
  }

  private unindex(sub: MemorySub): void {
    if (sub.tokens !== undefined) {
      this.wildcard.delete(sub);
      return;
    }
    const set = this.exact.get(sub.subject);
    if (set === undefined) return;
    set.delete(sub);
    if (set.size === 0) this.exact.delete(sub.subject);
  }
}

export function createMemoryBus(opts: MemoryBusOptions = {}): Bus {
  return new MemoryBus(opts);
}
