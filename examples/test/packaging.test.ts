// Every public package as a user gets it: packed by pnpm (workspace:* → real versions), installed
// from the tarballs with plain npm into a project outside the workspace, imported as ESM, its
// types checked by tsc, and its README's first example compiled and run there.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const PUBLIC = ['core', 'wal', 'memtx', 'snapshot', 'iproto', 'replication', 'box'] as const;
// The pinned pnpm, found as bootstrap finds it (PATH, then .tools/).
const toolchain = join(root, 'scripts', 'toolchain.mjs');
const { pinnedPnpm } = (await import(toolchain)) as { pinnedPnpm: () => string | undefined };
const pnpm = pinnedPnpm();
if (pnpm === undefined) throw new Error('the pinned pnpm is missing: run npm run bootstrap');
const tsc = join(root, 'node_modules', '.bin', 'tsc');

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  files?: string[];
  engines?: Record<string, string>;
  exports?: Record<string, { types: string; default: string }>;
  dependencies?: Record<string, string>;
}

const scratch = mkdtempSync(join(tmpdir(), 'tarantype-packaging-'));
const tarballs = join(scratch, 'tarballs');
const project = join(scratch, 'project');
const packed = new Map<string, { tarball: string; manifest: Manifest; entries: string[] }>();

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** The first ```ts block of a README. */
function readmeExample(pkg: string): string {
  const readme = readFileSync(join(root, 'packages', pkg, 'README.md'), 'utf8');
  const match = /```ts\n([\s\S]*?)\n```/.exec(readme);
  if (match === null) throw new Error(`packages/${pkg}/README.md has no ts example`);
  return match[1]!;
}

beforeAll(() => {
  mkdirSync(tarballs);
  mkdirSync(project);
  for (const pkg of PUBLIC) {
    const dir = join(root, 'packages', pkg);
    const out = run(pnpm, ['pack', '--pack-destination', tarballs], dir).trim().split('\n');
    const tarball = out
      .filter((line) => line.endsWith('.tgz'))
      .pop()!
      .trim();
    const entries = run('tar', ['-tzf', tarball], scratch).trim().split('\n');
    const manifest = JSON.parse(
      run('tar', ['-xzOf', tarball, 'package/package.json'], scratch),
    ) as Manifest;
    packed.set(pkg, { tarball, manifest, entries });
  }
  // A user's project: every package from its tarball, nothing from the workspace.
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'scratch',
      private: true,
      type: 'module',
      dependencies: Object.fromEntries(
        [...packed.values()].map((p) => [p.manifest.name, `file:${p.tarball}`]),
      ),
    }),
  );
  run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--loglevel=error',
    ],
    project,
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: false,
        typeRoots: [join(root, 'node_modules', '@types')],
        types: ['node'],
        outDir: 'out',
      },
      include: ['*.ts'],
    }),
  );
}, 90_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(PUBLIC)('@tarantype/%s from its tarball', (pkg) => {
  it('has a publishable manifest and only its own files', () => {
    const { manifest, entries } = packed.get(pkg)!;
    expect(manifest.private).toBeUndefined();
    expect(manifest.engines?.node).toBe('>=20.19');
    const text = JSON.stringify(manifest);
    expect(text).not.toContain('workspace:');
    expect(text).not.toContain('link:');
    for (const [name, range] of Object.entries(manifest.dependencies ?? {}))
      if (name.startsWith('@tarantype/')) expect(range).toMatch(/^\d+\.\d+\.\d+$/);
    for (const entry of entries) {
      expect(entry).toMatch(/^package\//);
      expect(entry).not.toMatch(
        /\/(test|node_modules)\/|\.tsbuildinfo$|\.test\.|\.bench\.|vitest\.config/,
      );
    }
    // Every package its code or its types import is a declared dependency (one project holding
    // all the tarballs would hide a missing one: npm hoists the others' dependencies).
    const declared = new Set(Object.keys(manifest.dependencies ?? {}));
    for (const file of entries.filter((entry) => /\.(js|d\.ts)$/.test(entry))) {
      const text = run('tar', ['-xzOf', packed.get(pkg)!.tarball, file], scratch);
      for (const [, specifier] of text.matchAll(/(?:from |import\()\s*'([^'.][^']*)'/g)) {
        if (specifier!.startsWith('node:')) continue;
        const name = specifier!
          .split('/')
          .slice(0, specifier!.startsWith('@') ? 2 : 1)
          .join('/');
        if (name !== manifest.name) expect(declared, `${file} imports ${name}`).toContain(name);
      }
    }
    // No path of this checkout (a workspace link, an absolute source path) in any file.
    expect(run('tar', ['-xzOf', packed.get(pkg)!.tarball], scratch)).not.toContain(root);
    // Source maps and declaration maps point at sources the tarball carries.
    for (const map of entries.filter((entry) => entry.endsWith('.map'))) {
      const { sources } = JSON.parse(run('tar', ['-xzOf', packed.get(pkg)!.tarball, map], scratch));
      for (const source of sources as string[]) expect(entries).toContain(join(map, '..', source));
    }
    for (const target of Object.values(manifest.exports ?? {}))
      for (const file of [target.types, target.default])
        expect(entries).toContain(`package/${file.replace(/^\.\//, '')}`);
    expect(entries).toContain('package/README.md');
    expect(entries).toContain('package/NOTICE');
    expect(entries).toContain('package/CHANGELOG.md');
  });

  it('imports as ESM in a project outside the workspace', () => {
    const { manifest } = packed.get(pkg)!;
    const installed = join(project, 'node_modules', ...manifest.name.split('/'));
    expect(existsSync(installed)).toBe(true);
    const keys = run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `console.log(Object.keys(await import('${manifest.name}')).length)`,
      ],
      project,
    );
    expect(Number(keys)).toBeGreaterThan(0);
  });

  it("type-checks and runs its README's example there", () => {
    const source = [
      "import { mkdtempSync } from 'node:fs';",
      "import { tmpdir } from 'node:os';",
      "import { join } from 'node:path';",
      `const dir = mkdtempSync(join(tmpdir(), 'readme-${pkg}-'));`,
      'const print = (line: string) => console.log(line);',
      'void dir;',
      'void print;',
      readmeExample(pkg),
      'export {};',
    ].join('\n');
    writeFileSync(join(project, `readme-${pkg}.ts`), source);
    run(tsc, ['-p', 'tsconfig.json'], project);
    // A failing example (a throw, a failed assert) exits non-zero and run() throws.
    const output = run(process.execPath, [join('out', `readme-${pkg}.js`)], project);
    if (source.includes('print(')) expect(output.length).toBeGreaterThan(0);
  }, 30_000);
});
