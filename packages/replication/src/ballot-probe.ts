// A silent look at a peer's ballot: connect, read the greeting, send VOTE, read the reply,
// close — no AUTH, no log line, nothing on the peer but a short connection. Layer:
// replication. box uses it at startup, before local recovery, to tell whether its upstreams
// still keep the xlogs it needs (2.6's replicaset_needs_rejoin, reference §7f).
// Invariant: resolves (never rejects) within timeoutMs; undefined when there is no answer.
import { decodeGreeting, parseUri } from '@tarantype/iproto';
import { decodeBallot, decodePacket, encodeVote } from './codec.js';
import { type Connector, tcpConnector } from './connection.js';

export interface PeerBallot {
  readonly uri: string;
  /** host:port as 2.6 prints it in "can't follow <uuid> at <address>". */
  readonly address: string;
  readonly uuid: string;
  readonly ballot: ReturnType<typeof decodeBallot>;
}

/** The ballot of the peer at `uri`, or undefined (refused, silent, no VOTE, bad answer). */
export async function probeBallot(
  uri: string,
  timeoutMs: number,
  connector: Connector = tcpConnector,
): Promise<PeerBallot | undefined> {
  const { host, port } = parseUri(uri);
  let close: (() => void) | undefined;
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const probe = (async (): Promise<PeerBallot | undefined> => {
    const connection = await connector(host, port);
    close = () => connection.close();
    // Connected after the deadline: nobody waits for this answer any more.
    if (done) connection.close();
    const greeting = decodeGreeting(await connection.readGreeting());
    if (greeting.instanceUuid === undefined) return undefined;
    connection.write(encodeVote());
    const decoded = decodePacket(await connection.readPacket());
    if (decoded.isError) return undefined;
    return {
      uri,
      address: `${host}:${port}`,
      uuid: greeting.instanceUuid.toLowerCase(),
      ballot: decodeBallot(decoded.row.body),
    };
  })().catch(() => undefined);
  try {
    return await Promise.race([probe, expired]);
  } finally {
    done = true;
    clearTimeout(timer);
    close?.();
  }
}
