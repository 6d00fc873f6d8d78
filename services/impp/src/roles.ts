import type { Role } from "@impp/config";

/**
 * The roles that open the database: a process running any of them gets IMPP_DATABASE_URL
 * (the Helm chart's impp.storeRoles, the compose file and k8s/base follow this list, which
 * deploy-roles.test.ts checks). The module registry will replace this constant: each
 * module will say whether it needs the store.
 */
export const STORE_ROLES = ["auth"] as const satisfies readonly Role[];
