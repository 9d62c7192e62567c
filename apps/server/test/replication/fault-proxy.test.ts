// The fault proxy with plain sockets: every control observable from the two ends (bytes that
// arrive or not, in which order, when; FIN and RST), and heal.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.js';

/** One end of a connection: everything it received, and how it ended. */
class End {
  received = Buffer.alloc(0);
  ended = false;
  error: string | undefined;
  closed = false;
  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => (this.received = Buffer.concat([this.received, c])));
    socket.on('end', () => (this.ended = true));
    socket.on('error', (e: NodeJS.ErrnoException) => (this.error = e.code));
    socket.on('close', () => (this.closed = true));
  }
  text(): string {
    return this.received.toString();
  }
}

let server: Server | undefined;
let proxy: FaultProxy | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await proxy?.close();
  await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
  server = proxy = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A target server, a proxy in front of it, one connection through it: [client end, target end]. */
let accepted: Socket[] = [];
async function link(): Promise<[End, End]> {
  accepted = [];
  server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    accepted.push(s);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  proxy = await FaultProxy.start({ targetPort: (server.address() as { port: number }).port });
  const client = tcpConnect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  sockets.push(client);
  const clientEnd = new End(client);
  await waitFor('the target accepts', () => accepted.length === 1);
  return [clientEnd, new End(accepted[0]!)];
}

describe('fault proxy', () => {
  it('forwards both directions untouched when healthy', async () => {
    const [client, target] = await link();
    client.socket.write('ping');
    await waitFor('ping at target', () => target.text() === 'ping');
    target.socket.write('pong');
    await waitFor('pong at client', () => client.text() === 'pong');
    expect(proxy!.counters['to-target'].forwarded).toBe(4);
    expect(proxy!.connectionCount).toBe(1);
  });

  it('delays one direction by the given ms, the other not', async () => {
    const [client, target] = await link();
    proxy!.delay(300, 'to-target');
    let t0 = Date.now();
    client.socket.write('a');
    await waitFor('a at target', () => target.text() === 'a');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    t0 = Date.now();
    target.socket.write('b');
    await waitFor('b at client', () => client.text() === 'b');
    expect(Date.now() - t0).toBeLessThan(200);
    // Order is kept across chunks written before and after the delay changes.
    client.socket.write('1');
    proxy!.delay(0, 'to-target');
    await sleep(20);
    client.socket.write('2');
    await waitFor('both', () => target.text() === 'a12');
  });

  it('drop: bytes vanish, the connection stays open; after heal new bytes pass', async () => {
    const [client, target] = await link();
    proxy!.drop();
    client.socket.write('lost-1');
    target.socket.write('lost-2');
    await waitFor('dropped', () => proxy!.counters['to-target'].dropped === 6);
    await waitFor('dropped back', () => proxy!.counters['to-client'].dropped === 6);
    await sleep(50);
    expect(target.text()).toBe('');
    expect(client.text()).toBe('');
    expect(client.closed || target.closed).toBe(false);
    proxy!.heal();
    client.socket.write('after');
    await waitFor('after at target', () => target.text() === 'after');
  });

  it('reset: both ends see ECONNRESET', async () => {
    const [client, target] = await link();
    client.socket.write('x');
    await waitFor('x', () => target.text() === 'x');
    proxy!.reset();
    await waitFor('both closed', () => client.closed && target.closed);
    expect(client.error).toBe('ECONNRESET');
    expect(target.error).toBe('ECONNRESET');
    expect(proxy!.connectionCount).toBe(0);
  });

  it('reset right after a heal lets a held FIN through closes every socket (no handle left)', async () => {
    // The partition campaign's heal with reset: the FIN's shutdown is still pending when the
    // RST comes; libuv refuses to reset such a stream and node dropped the handle unclosed.
    const sockets = () =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const [client, target] = await link();
    const before = sockets();
    proxy!.partition();
    client.socket.end();
    await sleep(50);
    expect(target.ended).toBe(false);
    proxy!.heal();
    proxy!.reset();
    await waitFor('the proxy closed both of its sockets', () => proxy!.connectionCount === 0);
    await waitFor('the FIN at the target', () => target.ended);
    // Our two ends closed too: the proxy's two sockets must be gone with them.
    client.socket.destroy();
    target.socket.destroy();
    await sleep(50);
    expect(sockets()).toBe(before - 4);
  });

  it('one-way partition: client → target held, target → client passes; heal delivers in order', async () => {
    const [client, target] = await link();
    proxy!.partition('to-target');
    expect(proxy!.isPartitioned('to-target')).toBe(true);
    client.socket.write('held-1,');
    target.socket.write('passes');
    await waitFor('passes at client', () => client.text() === 'passes');
    client.socket.write('held-2');
    await sleep(100);
    expect(target.text()).toBe('');
    proxy!.heal();
    await waitFor('held bytes delivered', () => target.text() === 'held-1,held-2');
  });

  it('two-way partition: nothing passes either way, not even a FIN; heal delivers all', async () => {
    const [client, target] = await link();
    proxy!.partition();
    client.socket.write('c');
    target.socket.write('t');
    client.socket.end();
    await sleep(150);
    expect([client.text(), target.text(), target.ended]).toEqual(['', '', false]);
    proxy!.heal();
    await waitFor('delivered', () => client.text() === 't' && target.text() === 'c');
    await waitFor('FIN delivered', () => target.ended);
  });

  it('a partition holds a megabyte without unbounded buffering (the source is paused)', async () => {
    const [client, target] = await link();
    proxy!.partition('to-target');
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    client.socket.write(big);
    await sleep(300);
    expect(target.received.length).toBe(0);
    // The sender's own buffer holds what the proxy (and the kernel) would not take.
    expect(client.socket.writableLength).toBeGreaterThan(0);
    proxy!.heal();
    await waitFor('4 MiB delivered', () => target.received.length === big.length, 10_000);
  });

  it('slow link: 20 KB at 50 KB/s takes about 0.4 s', async () => {
    const [client, target] = await link();
    proxy!.slow(50_000, 'to-target');
    const t0 = Date.now();
    client.socket.write(Buffer.alloc(20_000, 1));
    await waitFor('20 KB', () => target.received.length === 20_000, 5000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(330);
    expect(elapsed).toBeLessThan(2000);
    expect(() => proxy!.slow(0)).toThrow(RangeError);
  });

  it('a partition applies to connections made after it; a refused target resets the client', async () => {
    const [first] = await link();
    proxy!.partition('to-client');
    const late = new End(tcpConnect({ port: proxy!.port, host: '127.0.0.1' }));
    sockets.push(late.socket);
    await waitFor('second connection at the target', () => accepted.length === 2);
    accepted[1]!.write('late');
    await sleep(100);
    expect(late.text()).toBe('');
    proxy!.heal();
    await waitFor('late delivered', () => late.text() === 'late');
    expect(first.closed).toBe(false);
    // Nothing listens at the target any more: the client's connection is reset.
    await new Promise<void>((r) => {
      server!.close(() => r());
      for (const s of accepted) s.destroy();
    });
    server = undefined;
    const refused = new End(tcpConnect({ port: proxy!.port, host: '127.0.0.1' }));
    sockets.push(refused.socket);
    await waitFor('refused closes', () => refused.closed);
    expect(refused.error).toBe('ECONNRESET');
  });
});
