// The README's usage example, run as a test (and checked to be the README's text verbatim).
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper shared by the packages' readme tests.
import { exampleRegion, readmeContains } from '../../../scripts/readme-example.mjs';

it('README example works and is the README text', async () => {
  const log: string[] = [];
  const print = (line: string) => log.push(line);
  // README-BEGIN
  const { ClientError, ErrorCode, Vclock, decode, encode } = await import('@tarantype/core');

  // Tarantool's codes and texts, exactly.
  const error = new ClientError(ErrorCode.ER_TUPLE_FOUND, 'primary', 'tester');
  print(`${error.code} ${error.message}`);

  // Canonical MessagePack: integer-keyed maps for iproto, smallest integer forms.
  const body = encode(
    new Map<number, unknown>([
      [0x10, 512],
      [0x21, [1, 'a', 2 ** 40]],
    ]),
  );
  print(Buffer.from(body).toString('hex'));
  print(JSON.stringify([...(decode(body) as Map<number, unknown>)]));

  // Vector clocks with Tarantool's text form and signature.
  const vclock = new Vclock([
    [1, 10],
    [2, 5],
  ]);
  vclock.follow(1, 11);
  print(`${vclock} signature ${vclock.signature()}`);
  // README-END
  expect(log).toEqual([
    "3 Duplicate key exists in unique index 'primary' in space 'tester'",
    '8210cd0200219301a161cf0000010000000000',
    '[[16,512],[33,[1,"a",1099511627776]]]',
    '{1: 11, 2: 5} signature 16',
  ]);
  expect(
    readmeContains(
      new URL('../README.md', import.meta.url).pathname,
      exampleRegion(fileURLToPath(import.meta.url)),
    ),
  ).toBe(true);
});
