export { redactUrl, renderSettingsMarkdown, renderSettingsText, settingNames } from "./docs.js";
export { ConfigError, type ConfigProblem, type ConfigWarning } from "./errors.js";
export {
  type Config,
  INSTANCE_SUFFIX,
  type Limits,
  loadConfig,
  type Machine,
  newInstanceId,
} from "./load.js";
export { type ClientBan, toSubjectToken } from "./parse.js";
export { LOG_LEVELS, ROLES, type Role, type SettingDoc, settings } from "./settings.js";
