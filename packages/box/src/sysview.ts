// The _v* system views (sysview engine, spec §6.3): the rows of a base system space a user may
// see. net.box reads _vspace/_vindex/_vcollation on connect; tarantool-driver looks spaces and
// indexes up by name in them. Layer: box.
import { decode, Privilege, SystemSpace, UserId } from '@tarantype/core';
import type { Catalog } from './catalog.js';

/** Read, Write, Drop, Alter: any of them on universe makes every row visible. */
const VIEW_BITS = Privilege.READ | Privilege.WRITE | Privilege.DROP | Privilege.ALTER;

export function sysviewVisible(
  catalog: Catalog,
  userId: number,
  baseSpaceId: number,
  tupleBytes: Uint8Array,
): boolean {
  if (userId === UserId.ADMIN) return true;
  const access = catalog.access;
  if ((access.granted(userId, 'universe', 0) & VIEW_BITS) !== 0) return true;
  if ((access.granted(userId, 'space', baseSpaceId) & Privilege.READ) !== 0) return true;
  const tuple = decode(tupleBytes) as unknown[];
  switch (baseSpaceId) {
    case SystemSpace.SPACE:
    case SystemSpace.INDEX: {
      const spaceId = tuple[0] as number;
      const owner = catalog.space(spaceId)?.def.owner;
      // Session and Usage (every user's universe grants) say nothing about this space.
      return (
        owner === userId ||
        (access.granted(userId, 'space', spaceId) & ~(Privilege.SESSION | Privilege.USAGE)) !== 0
      );
    }
    case SystemSpace.USER:
      return tuple[0] === userId || tuple[1] === userId || tuple[0] === UserId.PUBLIC;
    case SystemSpace.PRIV:
      return tuple[0] === userId || tuple[1] === userId;
    case SystemSpace.FUNC:
      return (
        tuple[1] === userId ||
        (access.granted(userId, 'function', tuple[0] as number) & Privilege.EXECUTE) !== 0
      );
    case SystemSpace.COLLATION:
      return true;
    default:
      return false;
  }
}
