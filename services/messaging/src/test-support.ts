// The request envelope this package's tests send by default (not exported from the package).
import { requestBuilder } from "@impp/service-kit/testing";

// The sender is tricia's "laptop", which declared IM and TYPING.
export const request = requestBuilder({
  family: 4,
  type: 3,
  account: "tricia",
  device: "laptop",
  capabilities: [1, 2],
});
