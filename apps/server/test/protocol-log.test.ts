// The server's log names protocol errors as Tarantool's does (`iproto … E> ER_INVALID_MSGPACK:
// …`), with the peer, over a real socket.
import { connect } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startInstance, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

it('logs a bad frame at error level with the peer address', async () => {
  const { instance, port, log } = await startInstance(dir);
  try {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    const localPort = socket.localPort;
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(new Uint8Array([0xa3, 0x61, 0x62, 0x63]));
    socket.resume();
    await closed;
    const line = log.lines.find((l) => l.includes('ER_INVALID_MSGPACK'));
    expect(line).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\[${process.pid}\\] iproto E> ER_INVALID_MSGPACK: Invalid MsgPack - packet length \\(peer 127\\.0\\.0\\.1:${localPort}\\)$`,
      ),
    );
  } finally {
    await instance.stop();
  }
});
