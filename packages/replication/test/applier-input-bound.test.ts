// The applier's input is bounded (issue 15, backpressure): a master that sends faster than the
// applier reads does not grow the applier's memory. Above 16 MiB of unread input the
// connection pauses its socket; TCP flow control then stops the master's writes; reading
// resumes it and every frame arrives. Real sockets on 127.0.0.1.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { tcpConnector } from '../src/index.js';

const MIB = 1024 * 1024;
const FRAMES = 48 * 1024; // 48 MiB of 1 KiB frames: three times the bound
const BODY = 1024 - 5 - 3 - 5;

/** One iproto frame: 0xce + length, header {0: 0}, body a bin32 of BODY bytes. */
function frame(i: number): Buffer {
  const payload = Buffer.alloc(3 + 5 + BODY, i & 0xff);
  payload[0] = 0x81;
  payload[1] = 0x00;
  payload[2] = 0x00;
  payload[3] = 0xc6;
  payload.writeUInt32BE(BODY, 4);
  const out = Buffer.alloc(5 + payload.length);
  out[0] = 0xce;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
}

let server: Server | undefined;
let peer: Socket | undefined;
afterEach(async () => {
  peer?.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

it('stops reading past 16 MiB of unread input, and every frame arrives once read', async () => {
  let written = 0;
  let finished = false;
  server = createServer((socket) => {
    peer = socket;
    socket.write(Buffer.alloc(128, 0x20)); // a greeting
    let i = 0;
    const pump = () => {
      while (i < FRAMES) {
        const bytes = frame(i++);
        written += bytes.length;
        if (!socket.write(bytes)) return void socket.once('drain', pump);
      }
      finished = true;
    };
    pump();
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const connection = await tcpConnector('127.0.0.1', port);
  await connection.readGreeting();
  // The applier reads nothing for a while: its socket must stop at the bound.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const received = connection.receivedBytes!;
  expect(received).toBeLessThanOrEqual(16 * MIB + 1 * MIB);
  expect(finished).toBe(false);
  expect(written).toBeLessThan(FRAMES * 1024);
  // Reading resumes the socket; every frame arrives, in order.
  for (let i = 0; i < FRAMES; i++) {
    const packet = await connection.readPacket();
    if (packet.length !== 1024 - 5 || packet[8] !== (i & 0xff))
      throw new Error(`frame ${i}: ${packet.length} bytes, first body byte ${packet[8]}`);
  }
  expect(finished).toBe(true);
  connection.close();
});
