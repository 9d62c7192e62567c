// The README's usage example, run as a test (and checked to be the README's text verbatim).
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper shared by the packages' readme tests.
import { exampleRegion, readmeContains } from '../../../scripts/readme-example.mjs';

it('README example works and is the README text', async () => {
  const log: string[] = [];
  const print = (line: string) => log.push(line);
  // README-BEGIN
  const { Vclock } = await import('@tarantype/core');
  const { decodePacket, decodeSubscribe, encodeSubscribe, encodeHeartbeat, SERVER_VERSION_ID } =
    await import('@tarantype/replication');

  // What a 2.6 replica sends to follow a master: its vclock, uuid and replica set.
  const frame = encodeSubscribe({
    replicasetUuid: 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
    instanceUuid: 'cccccccc-cccc-4ccc-8ccc-cccccccccccc',
    vclock: new Vclock({ 1: 53 }),
    serverVersion: SERVER_VERSION_ID,
    anon: false,
    idFilter: [2],
  });
  const { row } = decodePacket(frame.subarray(5)); // FrameDecoder strips the 5-byte length
  const request = decodeSubscribe(row.body);
  print(`${row.type} ${request.instanceUuid} ${request.vclock} filter ${request.idFilter}`);

  // A relay heartbeat: master id 1, a timestamp, no body.
  print(Buffer.from(encodeHeartbeat(1, 1.5)).toString('hex'));

  // Wire input is bounded: a vclock id of 32 is a typed error, not an assertion.
  try {
    decodeSubscribe(new Uint8Array([0x81, 0x26, 0x81, 0x20, 0x01]));
  } catch (error) {
    print(`${(error as { code: number }).code} ${(error as Error).message}`);
  }
  // README-END
  expect(log).toEqual([
    '66 cccccccc-cccc-4ccc-8ccc-cccccccccccc {1: 53} filter 2',
    'ce0000000f830000020104cb3ff8000000000000',
    '20 Invalid MsgPack - invalid VCLOCK',
  ]);
  expect(
    readmeContains(
      new URL('../README.md', import.meta.url).pathname,
      exampleRegion(fileURLToPath(import.meta.url)),
    ),
  ).toBe(true);
});
