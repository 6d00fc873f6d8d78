// The edge as a module: no family of its own (it routes every family to the modules serving them),
// but composed from the same list, with the same start/stop, plus drain and readiness.
import { defineModule } from "@impp/service-kit";
import { type EdgeHandle, startEdge } from "./edge.js";
import { loadOrCreateTls, type TlsMaterial } from "./tls.js";

export interface EdgeState {
  readonly edge: EdgeHandle;
  readonly tls: TlsMaterial;
}

export const edgeModule = defineModule<EdgeState>({
  role: "edge",
  description:
    "listeners, TLS, compression, the session state machine; routes requests, delivers indications",
  settings: [
    "IMPP_PORT",
    "IMPP_TLS_PORT",
    "IMPP_HOST",
    "IMPP_SERVER_NAME",
    "IMPP_DRAIN_REDIRECT",
    "IMPP_COMPRESSION",
    "IMPP_TLS_CERT",
    "IMPP_TLS_KEY",
    "IMPP_EDGE_ID",
    "IMPP_MAX_BLOCK",
    "IMPP_IDLE_TIMEOUT_MS",
    "IMPP_MAX_OUTPUT_BUFFER",
    "IMPP_REQUEST_TIMEOUT_MS",
    "IMPP_DRAIN_GRACE_MS",
    "IMPP_MAX_CONNECTIONS",
    "IMPP_READY_MAX_CONNECTIONS_PERCENT",
    "IMPP_TLS_HANDSHAKE_TIMEOUT_MS",
    "IMPP_EDGE_HEARTBEAT_MS",
    "IMPP_LOG_BODIES",
    "IMPP_LOG_REPEATS_PER_MINUTE",
  ],
  async start(ctx) {
    const { config } = ctx;
    const tls = await loadOrCreateTls({
      certFile: config.tlsCert,
      keyFile: config.tlsKey,
      dataDir: config.dataDir,
      serverName: config.serverName,
    });
    if (tls.source === "replaced") {
      ctx.telemetry.logger.warn(
        { certPath: tls.certPath, reason: tls.replacedReason, fingerprint256: tls.fingerprint256 },
        "replaced the self-signed certificate in the data folder: clients that accepted the old one will ask again",
      );
    }
    const edge = await startEdge({
      config,
      bus: ctx.bus,
      sessions: ctx.sessions,
      telemetry: ctx.telemetry,
      tls: { key: tls.key, cert: tls.cert },
    });
    return {
      state: { edge, tls },
      stop: () => edge.stop(),
      drain: () => edge.drain(),
      ready: () => edge.ready(),
    };
  },
});
