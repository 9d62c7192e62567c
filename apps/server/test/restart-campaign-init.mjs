// Init module of the restart campaign's servers (restart-model.ts): registers
// `campaign.batch`, a multi-statement transaction over iproto CALL. Tarantool 2.6 has no
// interactive transactions over iproto (streams came in 2.10), so, as in a Tarantool
// application, a registered function runs the statements inside one box.atomic: one WAL
// entry, all or nothing.
//
//   campaign.batch(ops, abort): ops = [[space, 'insert'|'replace'|'delete', tuple or key], …].
//   With `abort` true the function throws after applying every statement, so the whole
//   transaction must roll back. Returns the number of statements applied.
export default function init({ box, functions }) {
  functions.register('campaign.batch', async (ops, abort) =>
    box.atomic(async () => {
      let applied = 0;
      for (const [spaceName, kind, argument] of ops) {
        const space = box.space[spaceName];
        if (space === undefined) throw new Error(`campaign.batch: no space '${spaceName}'`);
        if (kind === 'insert') await space.insert(argument);
        else if (kind === 'replace') await space.replace(argument);
        else if (kind === 'delete') await space.delete(argument);
        else throw new Error(`campaign.batch: unknown statement '${kind}'`);
        applied++;
      }
      if (abort === true) throw new Error('campaign.batch: abort requested');
      return applied;
    }),
  );
}
