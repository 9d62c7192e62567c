// @tarantype/server: the tarantype server as a library (tests, embedding a server in an app).

// The protocol adapter lives next to box (@tarantype/box): re-exported for existing users.
export {
  type AppFunction,
  BoxHandler,
  type CallContext,
  FunctionRegistry,
  luaIndexParts,
  MultiReturn,
  multi,
  resolveLuaFunction,
  returnValues,
} from '@tarantype/box';
export {
  applyCredentials,
  type CredentialsConfig,
  loadConfigFile,
  type UserConfig,
} from './config.js';
export { ConsoleEvaluator, runConsoleClient, startAdminConsole } from './console.js';
export {
  type ConsoleLanguage,
  type ConsoleSession,
  consoleGreeting,
  LanguageConsoleSession,
} from './console-session.js';
export { type InitContext, Instance, type InstanceOptions, parseListen } from './instance.js';
export { createLogger, type LogFormat, pinoLevel, type ServerLogger } from './logger.js';
export { LuaConsoleSession } from './lua/lua-console.js';
export { type ConsoleOutcome, LuaRuntime, type LuaRuntimeOptions } from './lua/lua-runtime.js';
export { FLOW_STYLE, formatDocument, formatError, formatResults } from './yaml-output.js';
