import { type ConnectOptions, ImppClient } from "./client.js";
import { ClientError } from "./errors.js";

export interface LoginOptions extends ConnectOptions {
  name: string;
  password: string;
  /** Default "<name>-<random>": unique per connection, so parallel test clients do not collide. */
  deviceName?: string;
  /** Default [IM, TYPING]. */
  capabilities?: number[];
  /** Bind a device after authenticating (default true). */
  bind?: boolean;
}

/** connect → AUTHENTICATE → BIND; any error answer rejects (AUTH_FAILED / BIND_FAILED) and closes. */
export async function connectAndLogin(opts: LoginOptions): Promise<ImppClient> {
  const client = await ImppClient.connect(opts);
  try {
    const auth = await client.authenticate(opts.name, opts.password);
    if (auth.isError) {
      throw new ClientError(
        "AUTH_FAILED",
        `AUTHENTICATE as ${opts.name} answered with error ${auth.errorCode}`,
        {
          frame: auth,
        },
      );
    }
    if (opts.bind ?? true) {
      const deviceName = opts.deviceName ?? `${opts.name}-${Math.random().toString(36).slice(2, 8)}`;
      const res = await client.bind(
        opts.capabilities === undefined ? { deviceName } : { deviceName, capabilities: opts.capabilities },
      );
      if (res.isError) {
        throw new ClientError("BIND_FAILED", `BIND of ${deviceName} answered with error ${res.errorCode}`, {
          frame: res,
        });
      }
    }
    return client;
  } catch (e) {
    client.destroy();
    throw e;
  }
}
