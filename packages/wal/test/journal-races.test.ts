// Races inside the journal found by the storage-faults campaign (issue 15): a checkpoint's
// openFile() and a batch that arrives meanwhile both find no xlog open. Two creations of one
// name unlinked each other's `.inprogress`; one batch failed with ER_WAL_IO for no fault, and
// the journal went on appending acknowledged rows to an unlinked file, lost at the restart.
import { loadHasher } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { NodeFileSystem, XlogDir } from '../src/index.js';
import { RecordingLogger } from '../src/testing.js';
import { insertRow, openJournal, readAllKeys, tempDir } from './helpers.js';

const hasher = await loadHasher();

describe('Journal races', () => {
  it('creates the next xlog once when openFile() races a batch, and every row reaches it', async () => {
    for (let round = 0; round < 20; round++) {
      const { dir: roundDir, cleanup } = await tempDir();
      const logger = new RecordingLogger();
      const journal = await openJournal(new NodeFileSystem(), roundDir, hasher, { logger });
      await journal.submit([insertRow(1)]);
      await journal.rotate();
      const opening = journal.openFile();
      const writes = [journal.submit([insertRow(2)]), journal.submit([insertRow(3)])];
      await Promise.all([opening, ...writes]);
      await journal.submit([insertRow(4)]);
      await journal.close();
      expect(logger.messages().filter((m) => m.includes('failed'))).toEqual([]);
      expect((await readAllKeys(roundDir, hasher)).flat()).toEqual([1, 2, 3, 4]);
      const xlogs = await XlogDir.scan(new NodeFileSystem(), roundDir, 'XLOG', hasher);
      expect(xlogs.files).toHaveLength(2);
      await cleanup();
    }
  });
});
