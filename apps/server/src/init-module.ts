// The --init module: found, loaded and its init function picked, before the data directory
// is touched (the CLI loads it while checking its options, so a missing file or a syntax
// error is a usage error). Layer: apps/server.
// TypeScript runs through tsx's tsImport, which compiles .ts, .mts and .cts whatever the
// nearest package.json's "type" says; a module compiled to CommonJS arrives as
// { default: { default: fn } }, so both shapes are accepted. Loading runs the module's top
// level once: the result is cached by absolute path for the instance's later call.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export type InitFunction = (context: never) => unknown;

const loaded = new Map<string, Promise<InitFunction>>();

/** The module's default export (or its `init`), loaded once per path. Throws with the reason. */
export function loadInitModule(path: string): Promise<InitFunction> {
  const absolute = isAbsolute(path) ? path : resolve(process.cwd(), path);
  let promise = loaded.get(absolute);
  if (promise === undefined) {
    promise = load(path, absolute);
    loaded.set(absolute, promise);
  }
  return promise;
}

async function load(path: string, absolute: string): Promise<InitFunction> {
  let isFile: boolean;
  try {
    isFile = statSync(absolute).isFile();
  } catch {
    throw new Error(`init module ${path}: no such file`);
  }
  if (!isFile) throw new Error(`init module ${path}: not a file`);
  const url = pathToFileURL(absolute).href;
  let module: Record<string, unknown>;
  try {
    if (/\.[cm]?tsx?$/.test(absolute)) {
      const { tsImport } = await import('tsx/esm/api');
      module = (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    } else {
      module = (await import(url)) as Record<string, unknown>;
    }
  } catch (error) {
    throw new Error(`init module ${path}: ${firstLine(error)}`);
  }
  const init = pick(module) ?? pick(module.default as Record<string, unknown> | undefined);
  if (init === undefined)
    throw new Error(`init module ${path}: must export a default function (or 'init')`);
  return init;
}

function pick(module: Record<string, unknown> | undefined): InitFunction | undefined {
  if (typeof module === 'function') return module as InitFunction;
  if (module === undefined || module === null || typeof module !== 'object') return undefined;
  if (typeof module.default === 'function') return module.default as InitFunction;
  if (typeof module.init === 'function') return module.init as InitFunction;
  return undefined;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
