import assert from "node:assert/strict";
import { test } from "node:test";
import { loginAddressBucket } from "./address-key.js";

test("login address buckets: no port, IPv4-mapped as IPv4, IPv6 by /64, anything else as given", () => {
  const cases: Array<[string, string]> = [
    ["192.0.2.1", "192.0.2.1"],
    ["192.0.2.1:50000", "192.0.2.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["[::ffff:192.0.2.1]:443", "192.0.2.1"],
    ["::ffff:c000:201", "192.0.2.1"],
    ["2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::1]:3158", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::ffff", "2001:db8:1:2::/64"],
    ["2001:DB8::1", "2001:db8:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["unix-socket", "unix-socket"],
    ["", ""],
  ];
  for (const [input, want] of cases) assert.equal(loginAddressBucket(input), want, input);
  // Two hosts of one /64 share a bucket; neighbouring /64s do not.
  assert.equal(loginAddressBucket("2001:db8::1"), loginAddressBucket("2001:db8::2"));
  assert.notEqual(loginAddressBucket("2001:db8:0:1::1"), loginAddressBucket("2001:db8:0:2::1"));
});
