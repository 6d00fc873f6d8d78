// Where `impp user` finds a running embedded server's local admin endpoint. Its own module, so the
// command can read it without loading the server (runtime.ts).

/** The file in IMPP_DATA_DIR the server writes (mode 0600) while it holds the embedded database. */
export const ADMIN_FILE = "admin.json";

export interface AdminEndpoint {
  url: string;
  token: string;
  pid: number;
}
