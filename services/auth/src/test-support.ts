// The request envelope this package's tests send by default (not exported from the package).
import { requestBuilder } from "@impp/service-kit/testing";

export const request = requestBuilder({ family: 1, type: 2, server: "impp.example.org:3158" });
