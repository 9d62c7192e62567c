// The iproto handler of a box instance: the port @tarantype/iproto's server calls for every
// request of a session, acting as that session's user. Layer: box (where the layers meet); a
// server, ours or one assembled from the packages, only passes it to createServer().
// Request fields (tuples, keys, ops) are views into the packet buffer; box.write consumes
// them synchronously or copies them before waiting, so they are passed without copying.
// Sessions act as their user: every request is checked against that user's privileges by
// box; CALL resolves application functions first, then the box API by its Lua names, with
// Tarantool's access rule (a function not in _func needs Execute on universe, and that check
// comes before "not defined", so names cannot be probed).
import { ClientError, ErrorCode, Privilege, UserId } from '@tarantype/core';
import {
  type AuthRequest,
  authenticateChapSha1,
  type Ballot,
  type CallRequest,
  type DeleteRequest,
  decodeArray,
  type EvalRequest,
  type InsertRequest,
  type IprotoHandler,
  type SelectRequest,
  type Session,
  type SessionUser,
  type TupleData,
  TupleStream,
  type UpdateRequest,
  type UpsertRequest,
} from '@tarantype/iproto';
import type { Statement } from '@tarantype/memtx';
import type { Box } from './box.js';
import { SYSVIEW_BASE } from './catalog.js';
import { type FunctionRegistry, returnValues } from './functions.js';
import { resolveLuaFunction } from './lua-api.js';

/**
 * A scripting runtime of the server (Tarantool's Lua): EVAL, and CALL of the functions defined
 * in it. The server's Lua console provides one; without it EVAL answers ER_UNSUPPORTED.
 */
export interface ScriptRuntime {
  eval(
    code: string,
    args: readonly unknown[],
    user: SessionUser,
    sessionId: number,
  ): Promise<unknown[]>;
  hasFunction(name: string): boolean;
  callFunction(
    name: string,
    args: readonly unknown[],
    user: SessionUser,
    sessionId: number,
  ): Promise<unknown[]>;
}

const GUEST: SessionUser = { id: UserId.GUEST, name: 'guest' };

/** What replies carry, taken while the statement is applied (a copy of engine memory). */
const newTupleBytes = (statement: Statement) => statement.newTupleBytes;
const oldTupleBytes = (statement: Statement) => statement.oldTupleBytes;

export class BoxHandler implements IprotoHandler<SessionUser> {
  constructor(
    private readonly box: Box,
    private readonly functions: FunctionRegistry,
    /** The instance's Lua: EVAL, and CALL of functions defined in Lua. */
    private readonly lua?: ScriptRuntime,
  ) {}

  instanceUuid(): string {
    return this.box.instanceUuid;
  }

  schemaVersion(): number {
    return this.box.catalog.schemaVersion;
  }

  guestUser(): SessionUser {
    return GUEST;
  }

  authenticate(session: Session<SessionUser>, request: AuthRequest): SessionUser {
    this.box.stats.count('AUTH');
    const user = this.box.catalog.access.userByName(request.userName);
    const chap =
      user === undefined || user.type !== 'user'
        ? undefined
        : {
            id: user.id,
            name: user.name,
            hash2:
              user.chapSha1 === undefined
                ? undefined
                : new Uint8Array(Buffer.from(user.chapSha1, 'base64')),
          };
    authenticateChapSha1(request.tuple, session.salt, chap);
    this.box.catalog.access.checkSession(user!.id);
    return { id: user!.id, name: user!.name };
  }

  ping(): void {}

  select(session: Session<SessionUser>, request: SelectRequest): Iterable<TupleData> | TupleStream {
    if (!this.box.catalog.byId.has(request.spaceId))
      throw new ClientError(ErrorCode.ER_NO_SUCH_SPACE, String(request.spaceId));
    const entry = this.box.catalog.byId.get(request.spaceId)!;
    if (!entry.indexes.has(request.indexId) && !SYSVIEW_BASE.has(request.spaceId)) {
      this.box.checkRead(session.user.id, entry);
      throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_ID, request.indexId, entry.def.name);
    }
    const tuples = this.box.scanRaw(
      session.user.id,
      request.spaceId,
      request.indexId,
      request.key,
      {
        iterator: request.iterator,
        limit: request.limit,
        offset: request.offset,
      },
    );
    return Array.isArray(tuples) ? tuples : new TupleStream(tuples);
  }

  insert(session: Session<SessionUser>, request: InsertRequest): Promise<TupleData | undefined> {
    const kind = request.type === 2 ? 'insert' : 'replace';
    const op = { kind, tuple: request.tuple } as const;
    return this.box.write(
      session.user.id,
      request.spaceId,
      op,
      kind === 'insert' ? 'INSERT' : 'REPLACE',
      newTupleBytes,
    );
  }

  replace(session: Session<SessionUser>, request: InsertRequest): Promise<TupleData | undefined> {
    return this.insert(session, request);
  }

  update(session: Session<SessionUser>, request: UpdateRequest): Promise<TupleData | undefined> {
    const op = {
      kind: 'update',
      key: request.key,
      ops: request.ops,
      index: request.indexId,
      indexBase: request.indexBase,
    } as const;
    return this.box.write(session.user.id, request.spaceId, op, 'UPDATE', newTupleBytes);
  }

  delete(session: Session<SessionUser>, request: DeleteRequest): Promise<TupleData | undefined> {
    const op = { kind: 'delete', key: request.key, index: request.indexId } as const;
    return this.box.write(session.user.id, request.spaceId, op, 'DELETE', oldTupleBytes);
  }

  async upsert(session: Session<SessionUser>, request: UpsertRequest): Promise<void> {
    const op = {
      kind: 'upsert',
      tuple: request.tuple,
      ops: request.ops,
      indexBase: request.indexBase,
    } as const;
    const errors = await this.box.write(
      session.user.id,
      request.spaceId,
      op,
      'UPSERT',
      (statement) => statement.upsertErrors,
    );
    for (const error of errors ?? [])
      this.box.logger.error(`UPSERT on space ${request.spaceId}: ${error.message}`);
  }

  async call(session: Session<SessionUser>, request: CallRequest): Promise<readonly unknown[]> {
    this.box.stats.count('CALL');
    const name = request.functionName;
    const user = session.user;
    this.checkExecute(user, name);
    const args = decodeArray(request.args) as unknown[];
    const app = this.functions.get(name);
    if (app !== undefined)
      return returnValues(
        await app.apply({ box: this.box, userId: user.id, userName: user.name }, args),
      );
    const lua = resolveLuaFunction(name);
    if (lua !== undefined) return lua(this.box, user.id, args);
    if (this.lua?.hasFunction(name) === true)
      return this.lua.callFunction(name, args, user, session.id);
    throw new ClientError(ErrorCode.ER_NO_SUCH_PROC, name);
  }

  /** EVAL: Lua with `...` bound to the arguments; needs Execute on universe, as in Tarantool. */
  async eval(session: Session<SessionUser>, request: EvalRequest): Promise<readonly unknown[]> {
    this.box.stats.count('EVAL');
    const user = session.user;
    if (user.id !== UserId.ADMIN)
      this.box.catalog.access.check(user.id, Privilege.EXECUTE, 'universe', 0, '');
    if (this.lua === undefined)
      throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'tarantype', 'EVAL without a Lua runtime');
    return this.lua.eval(request.expr, decodeArray(request.args) as unknown[], user, session.id);
  }

  /** Tarantool's access_check_func: a _func entry's Execute grant, else Execute on universe. */
  private checkExecute(user: SessionUser, name: string): void {
    if (user.id === UserId.ADMIN) return;
    const access = this.box.catalog.access;
    const func = this.box.catalog.funcs.get(name);
    if (func !== undefined) {
      access.check(user.id, Privilege.EXECUTE, 'function', func.id, name, func.owner);
      return;
    }
    access.check(user.id, Privilege.EXECUTE, 'function', -1, name);
  }

  ballot(): Ballot {
    return this.box.replicationPorts.ballot();
  }
}
