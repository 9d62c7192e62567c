import { Space } from '../src/index.js';

const people = new Space({
  id: 512,
  name: 'people',
  format: [
    { name: 'id', type: 'unsigned' },
    { name: 'name', type: 'string' },
    { name: 'born', type: 'unsigned', is_nullable: true },
  ],
});
people.createIndex({ name: 'primary', parts: ['id'] });
people.createIndex({ name: 'by_name', parts: ['name'], unique: false });

people.insert([1, 'Ada', 1815]);
people.insert([2, 'Alan', 1912]);
people.insert([3, 'Grace', 1906]);

console.log(people.get([2]));
// → [2,"Alan",1912]
console.log(people.index('by_name')!.select(['Alan'], { iterator: 'GE' }));
// → [[2,"Alan",1912],[3,"Grace",1906]]
console.log(people.select([2], { iterator: 'LE' }).map((t) => t[1]));
// → ["Alan","Ada"]

people.update(
  [1],
  [
    ['=', 'born', 1816],
    ['!', 3, 'math'],
  ],
);
console.log(people.get([1]));
// → [1,"Ada",1816,"math"]

try {
  people.insert([3, 'Grace again']);
} catch (error) {
  console.log((error as Error).message);
}
// → "Duplicate key exists in unique index 'primary' in space 'people'"

const view = people.readView(); // a consistent snapshot; writes go on
people.delete([1]);
console.log(view.len, people.len(), [...view.tuples()].length);
// → 3 2 3
view.close();
