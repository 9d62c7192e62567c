// The client's cache of space and index names, built like net.box's from `_vspace` (281) and
// `_vindex` (289) rows selected with ITER_ALL. Layer: iproto, no I/O. A cache belongs to one
// schema version; the client drops it when a reply carries another one.

export interface SpaceInfo {
  readonly id: number;
  readonly name: string;
  readonly engine: string;
  /** Index name → index id. */
  readonly indexes: ReadonlyMap<string, number>;
}

export class ClientSchema {
  private readonly byName = new Map<string, SpaceInfo>();
  private readonly byId = new Map<number, SpaceInfo>();

  /**
   * @param version the schema version both selects were answered with
   * @param spaces `_vspace` rows: [id, owner, name, engine, field_count, flags, format]
   * @param indexes `_vindex` rows: [space_id, index_id, name, type, opts, parts]
   */
  constructor(
    readonly version: number,
    spaces: readonly unknown[],
    indexes: readonly unknown[],
  ) {
    const indexNames = new Map<number, Map<string, number>>();
    for (const row of indexes) {
      if (
        !Array.isArray(row) ||
        typeof row[0] !== 'number' ||
        typeof row[1] !== 'number' ||
        typeof row[2] !== 'string'
      ) {
        continue;
      }
      let names = indexNames.get(row[0]);
      if (names === undefined) indexNames.set(row[0], (names = new Map()));
      names.set(row[2], row[1]);
    }
    for (const row of spaces) {
      if (!Array.isArray(row) || typeof row[0] !== 'number' || typeof row[2] !== 'string') continue;
      const info: SpaceInfo = {
        id: row[0],
        name: row[2],
        engine: typeof row[3] === 'string' ? row[3] : '',
        indexes: indexNames.get(row[0]) ?? new Map(),
      };
      this.byName.set(info.name, info);
      this.byId.set(info.id, info);
    }
  }

  space(nameOrId: string | number): SpaceInfo | undefined {
    return typeof nameOrId === 'number' ? this.byId.get(nameOrId) : this.byName.get(nameOrId);
  }

  get spaces(): IterableIterator<SpaceInfo> {
    return this.byId.values();
  }
}
