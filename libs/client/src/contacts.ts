import { ListsType } from "@impp/protocol";
import type { ImppClient } from "./client.js";
import { ClientError } from "./errors.js";

/**
 * Makes two logged-in users contacts who see each other, the way users do it: each adds the other
 * (filing an authorization request), each approves the other's request. Rejects (LIST_FAILED) on
 * any error answer.
 */
export async function befriend(
  a: { client: ImppClient; name: string },
  b: { client: ImppClient; name: string },
): Promise<void> {
  for (const [who, other, type] of [
    [a, b, ListsType.CONTACT_ADD],
    [b, a, ListsType.CONTACT_APPROVE],
    [b, a, ListsType.CONTACT_ADD],
    [a, b, ListsType.CONTACT_APPROVE],
  ] as const) {
    const res = await who.client.lists(type, other.name);
    if (res.isError) {
      throw new ClientError(
        "LIST_FAILED",
        `LISTS type ${type} by ${who.name} about ${other.name}: error ${res.errorCode}`,
        {
          frame: res,
        },
      );
    }
  }
}
