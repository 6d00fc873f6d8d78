// The request envelope this package's tests send by default (not exported from the package).
import { requestBuilder } from "@impp/service-kit/testing";

export const request = requestBuilder({ family: 2, type: 1, account: "tricia" });
