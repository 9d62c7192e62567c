#!/usr/bin/env node
// An embedded in-memory table: @tarantype/memtx alone, no box, no files, no server.
// Run: node examples/memtx-table.mjs
import { Space } from '@tarantype/memtx';

const books = new Space({
  id: 512,
  name: 'books',
  format: [
    { name: 'isbn', type: 'string' },
    { name: 'title', type: 'string' },
    { name: 'year', type: 'unsigned' },
  ],
});
books.createIndex({ name: 'primary', parts: ['isbn'] });
books.createIndex({ name: 'by_year', parts: ['year'], unique: false });

books.insert(['978-0262510875', 'SICP', 1985]);
books.insert(['978-0201633610', 'Design Patterns', 1994]);
books.insert(['978-0131103627', 'The C Programming Language', 1978]);
books.update(['978-0262510875'], [['=', 'year', 1996]]);

// TREE index range: every book from 1990 on, in year order.
for (const [isbn, title, year] of books.index('by_year')?.select([1990], { iterator: 'GE' }) ?? [])
  console.log(`${year} ${title} (${isbn})`);
console.log(`${books.len()} books`);
