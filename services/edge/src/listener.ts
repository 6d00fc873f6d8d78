// The TCP listeners. Both are plain net servers: on the TLS-first port the edge wraps each socket in
// TLS itself, so both ports share one connection type, one handshake timeout (the sweeper's) and
// one connection limit.
import net from "node:net";
import { encodeError, Family, GlobalError } from "@impp/protocol";

export interface Listener {
  readonly port: number;
  /** Stops accepting; connections already open are not touched. */
  close(): Promise<void>;
}

export type AcceptHandler = (socket: net.Socket) => void;

export function listen(host: string, port: number, onSocket: AcceptHandler): Promise<Listener> {
  const server = net.createServer({ noDelay: true }, onSocket);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.removeListener("error", reject);
      // Accept errors (EMFILE…) must not crash the process; the server keeps listening.
      server.on("error", () => {});
      const addr = server.address();
      const actual = typeof addr === "object" && addr !== null ? addr.port : port;
      resolve({
        port: actual,
        close() {
          // Stops accepting at once; the callback (which would wait for open connections) is not
          // needed: connections are the edge's business.
          if (server.listening) server.close();
          return Promise.resolve();
        },
      });
    });
  });
}

/** The edge is full: say so in IMPP (a global SERVICE_UNAVAILABLE, sequence 0) and close. */
const FULL = encodeError(Family.STREAM, 0, 0, GlobalError.SERVICE_UNAVAILABLE);

export function refuse(socket: net.Socket, speakFirst: boolean): void {
  socket.on("error", () => {});
  if (!speakFirst) {
    // TLS-first port: nothing can be said before a handshake, and doing one costs the CPU we lack.
    socket.destroy();
    return;
  }
  socket.end(FULL);
  // Bounded lifetime for a refused socket whose peer never closes (one transient timer, not per live connection).
  socket.setTimeout(5000, () => socket.destroy());
}
