// Events between features (Prosody's module:fire_event / module:hook, over the bus): the module that
// publishes an event defines it — its name and its payload's binary layout — and exports the
// definition; subscribers import it from that module. The bus only frames the bytes.
import {
  type Bus,
  EnvelopeError,
  encodeEvent,
  openEvent,
  type Reader,
  type Subscription,
  subjects,
  type Writer,
} from "@impp/bus";
import type { Telemetry } from "@impp/telemetry";

export interface EventDefinition<T> {
  /** Subject token: impp.evt.<name>. */
  readonly name: string;
  /** Encoded length of the payload. Throws EnvelopeEncodeError for a value that cannot be sent. */
  size(payload: T): number;
  write(w: Writer, payload: T): void;
  /** Reads the payload; a short or malformed payload leaves an error on the reader. */
  read(r: Reader): T;
}

export interface EventType<T> extends EventDefinition<T> {
  readonly subject: string;
  encode(payload: T): Buffer;
  decode(bytes: Uint8Array): T | EnvelopeError;
}

/** Declares an event (checked now: the name must be a subject token). */
export function defineEvent<T>(def: EventDefinition<T>): EventType<T> {
  const subject = subjects.event(def.name);
  return {
    ...def,
    subject,
    encode: (payload) => encodeEvent(def.size(payload), (w) => def.write(w, payload)),
    decode(bytes) {
      const r = openEvent(bytes);
      if (r instanceof EnvelopeError) return r;
      const v = def.read(r);
      return r.finish() ?? v;
    },
  };
}

export function publishEvent<T>(bus: Bus, event: EventType<T>, payload: T): void {
  bus.publish(event.subject, event.encode(payload));
}

export interface EventSubscription {
  /** Stops taking events and waits for the handlers running. */
  stop(): Promise<void>;
}

/**
 * Runs `handler` for each event; with `role`, one instance of that role gets each event (a queue
 * group per role and event). An undecodable event or a failing handler is logged, never thrown.
 */
export function subscribeEvent<T>(
  bus: Bus,
  event: EventType<T>,
  handler: (payload: T) => Promise<void>,
  opts: { role?: string; telemetry?: Telemetry } = {},
): EventSubscription {
  const running = new Set<Promise<void>>();
  const log = opts.telemetry?.logger;
  const sub: Subscription = bus.subscribe(
    event.subject,
    (msg) => {
      const payload = event.decode(msg.data);
      if (payload instanceof EnvelopeError) {
        log?.warn({ err: payload, event: event.name }, "undecodable event dropped");
        return;
      }
      const p = handler(payload).catch((err: unknown) => {
        log?.error({ err, event: event.name }, "event handler failed");
      });
      running.add(p);
      void p.finally(() => running.delete(p));
      return p;
    },
    opts.role === undefined ? {} : { queue: subjects.eventQueue(event.name, opts.role) },
  );
  return {
    async stop() {
      sub.unsubscribe();
      await Promise.allSettled([...running]);
    },
  };
}
