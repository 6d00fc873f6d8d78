export interface FixtureTlv {
  type: number;
  /** Lower-case hex. */
  value: string;
  /** The wire used the u32 length form for a short value. */
  wide?: true;
  /** Tuple TLVs: the value decoded (a readable copy; `value` is authoritative). */
  tlvs?: FixtureTlv[];
}

export type FixtureFrame =
  | { channel: "version"; version: number }
  | {
      channel: "tlv";
      flags: number;
      family: number;
      type: number;
      sequence: number;
      tlvs: FixtureTlv[];
      /** The block on the wire is a zlib stream; `tlvs` are the inflated block's. */
      compressed?: true;
    };

export interface Fixture {
  /** "<file>/<slug>", e.g. "im/message-send-request". */
  name: string;
  /** The JSON file it came from, without ".json": "examples", "version", "stream", ... */
  file: string;
  /** Family name ("IM"), "VERSION" for version messages, "EXTENSION" or "0x0009" for non-core families. */
  family: string;
  /** Message type name ("MESSAGE_SEND"), or "VERSION". */
  message: string;
  kind: "request" | "response" | "indication" | "error" | "version";
  direction: "client-to-server" | "server-to-client";
  source: string;
  description: string;
  /** TLVs in readable form (generated fixtures only). */
  summary?: string;
  /** The bytes on the wire, lower-case hex. */
  hex: string;
  /** The decoded form (absent for truncated fixtures). */
  expected?: FixtureFrame;
  /** The block is compressed (a session with COMPRESSION on). */
  compressed?: true;
  /** Cut off (PROTOCOL.md §5): a decoder must wait for more bytes, not fail. */
  truncated?: true;
  /** Truncated fixtures: the header as far as it is known. */
  header?: { flags: number; family: number; type: number; sequence: number; blockSize: number };
  /** Truncated fixtures: the complete TLVs at the start of the block. */
  firstTlvs?: FixtureTlv[];
}

export declare const fixturesDir: string;
export declare function loadFixtures(): readonly Fixture[];
export declare function fixture(name: string): Fixture;
export declare function findFixtures(query?: {
  family?: string;
  message?: string;
  kind?: Fixture["kind"];
  direction?: Fixture["direction"];
  truncated?: boolean;
}): Fixture[];
export declare function fixtureBytes(fx: Fixture): Buffer;
