/** One thing wrong with one environment variable. */
export interface ConfigProblem {
  readonly variable: string;
  readonly value: string | undefined;
  readonly problem: string;
}

/** Not fatal: an IMPP_* variable nothing reads (usually a typo), reported so the operator notices. */
export interface ConfigWarning {
  readonly variable: string;
  readonly problem: string;
}

function describe(p: ConfigProblem): string {
  return p.value === undefined ? `${p.variable}: ${p.problem}` : `${p.variable}=${p.value}: ${p.problem}`;
}

/**
 * Every problem found in the environment, all at once — an operator fixing a
 * deployment should not have to restart once per typo.
 */
export class ConfigError extends Error {
  readonly kind = "CONFIG_INVALID" as const;
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${describe(p)}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}
