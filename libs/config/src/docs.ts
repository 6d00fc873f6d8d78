import { S, settings } from "./settings.js";

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The body of docs/configuration.md, rendered from the same table loadConfig reads. */
export function renderSettingsMarkdown(): string {
  const lines = [
    "# Configuration",
    "",
    "Every setting comes from the environment and is validated once at start; all problems are",
    "reported together and the process does not start. An empty value counts as unset. Unknown",
    "`IMPP_*` variables are reported as warnings (usually a typo).",
    "",
  ];
  const groups = [...new Set(settings.map((s) => s.group))];
  for (const group of groups) {
    lines.push(`## ${group}`, "", "| variable | default | description |", "|---|---|---|");
    for (const s of settings.filter((x) => x.group === group)) {
      const d = s.default === undefined ? "(unset)" : `\`${s.default}\``;
      lines.push(`| \`${s.name}\` | ${cell(d)} | ${cell(s.description)} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** Plain-text listing for `impp help config`. */
export function renderSettingsText(): string {
  const width = Math.max(...settings.map((s) => s.name.length));
  return settings
    .map(
      (s) => `${s.name.padEnd(width)}  ${s.default ?? "(unset)"}\n${" ".repeat(width + 2)}${s.description}`,
    )
    .join("\n");
}

/** Config values safe to log: passwords in URLs are masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

export const settingNames = Object.fromEntries(Object.entries(S).map(([k, v]) => [k, v.name])) as {
  readonly [K in keyof typeof S]: string;
};
