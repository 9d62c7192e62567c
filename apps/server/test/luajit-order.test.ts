// luajitHashOrder against a real tarantool: the order pairs() returns the keys of a
// table.new(0, n) filled in ascending order, as 2.6 builds a vclock (lbox_pushvclock).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { luajitHashOrder } from '../src/lua/luajit-order.js';
import { hasTarantool } from './helpers.js';

describe('luajitHashOrder', () => {
  it("matches the reference's printed vclocks", () => {
    // {2: 2, 1: 10}, {1: 11, 2: 1, 3: 1}, {0: 1, 1: 24}, {0: 1, 1: 24, 2: 4} (reference §2, §4-3, §7).
    expect(luajitHashOrder([1, 2])).toEqual([2, 1]);
    expect(luajitHashOrder([1, 2, 3])).toEqual([1, 2, 3]);
    expect(luajitHashOrder([0, 1])).toEqual([0, 1]);
    expect(luajitHashOrder([0, 1, 2])).toEqual([0, 1, 2]);
  });

  it('matches LuaJIT in a real tarantool for many key sets', async (context) => {
    if (!hasTarantool) {
      if (process.env.CI === 'true') throw new Error('tarantool is not installed (CI)');
      context.skip('tarantool is not installed');
    }
    const sets: number[][] = [[1], [1, 3], [2, 3], [1, 5, 7], [0, 1, 2, 3, 4]];
    for (let n = 1; n <= 32; n++) sets.push(Array.from({ length: n }, (_, i) => i + 1));
    const script = `local tnew = require('table.new')
for _, ks in ipairs(require('json').decode(arg[1])) do
  local t = tnew(0, #ks)
  for _, k in ipairs(ks) do t[k] = 1 end
  local out = {}
  for k in pairs(t) do out[#out + 1] = tostring(k) end
  print(table.concat(out, ','))
end
os.exit()`;
    const out = execFileSync('tarantool', ['-e', script, '-', JSON.stringify(sets)], {
      encoding: 'utf8',
      timeout: 20_000,
      input: '',
    });
    expect(out.trim().split('\n')).toEqual(sets.map((keys) => luajitHashOrder(keys).join(',')));
  });
});
