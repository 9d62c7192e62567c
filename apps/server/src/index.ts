// @tarantype/server: the tarantype server as a library (tests, embedding a server in an app).
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
export {
  type AppFunction,
  type CallContext,
  FunctionRegistry,
  MultiReturn,
  multi,
  returnValues,
} from './functions.js';
export { BoxHandler } from './handler.js';
export { type InitContext, Instance, type InstanceOptions, parseListen } from './instance.js';
export { createLogger, type LogFormat, pinoLevel, type ServerLogger } from './logger.js';
export { LuaConsoleSession } from './lua/lua-console.js';
export { type ConsoleOutcome, LuaRuntime, type LuaRuntimeOptions } from './lua/lua-runtime.js';
export { luaIndexParts, resolveLuaFunction } from './lua-api.js';
export { FLOW_STYLE, formatDocument, formatError, formatResults } from './yaml-output.js';
