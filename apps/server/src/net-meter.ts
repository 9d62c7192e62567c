// Counts the binary port's connections and bytes (box.stat.net() in Tarantool: CONNECTIONS,
// SENT, RECEIVED) for /metrics. Layer: apps/server. Every socket the listener accepts passes
// through track(); bytes come from the socket's own counters (bytesRead, bytesWritten), so
// nothing is added to the request path. Replication sessions on the port are counted too.
import type { Socket } from 'node:net';

export interface NetStats {
  /** Connections accepted since start. */
  readonly connectionsTotal: number;
  /** Connections open now. */
  readonly connectionsCurrent: number;
  /** Bytes written to and read from the port's sockets since start (open and closed ones). */
  readonly sentBytes: number;
  readonly receivedBytes: number;
}

export class NetMeter {
  private readonly live = new Set<Socket>();
  private accepted = 0;
  /** Bytes of sockets already closed. */
  private closedSent = 0;
  private closedReceived = 0;

  track(socket: Socket): void {
    this.accepted++;
    this.live.add(socket);
    socket.once('close', () => {
      this.live.delete(socket);
      this.closedSent += socket.bytesWritten;
      this.closedReceived += socket.bytesRead;
    });
  }

  stats(): NetStats {
    let sentBytes = this.closedSent;
    let receivedBytes = this.closedReceived;
    for (const socket of this.live) {
      sentBytes += socket.bytesWritten;
      receivedBytes += socket.bytesRead;
    }
    return {
      connectionsTotal: this.accepted,
      connectionsCurrent: this.live.size,
      sentBytes,
      receivedBytes,
    };
  }
}
