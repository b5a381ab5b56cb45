// zoo.mjs - the hand-made schema of the oracle test and its fixed data set.
//
// The zoo exercises every kind of type the engine knows: interfaces implementing
// interfaces, unions, enums (one value deprecated), input objects with defaults and
// recursion, lists of lists, non-null at every level, custom scalars, custom directives,
// and all three root types. Its data set is fixed (no randomness): root fields are read by
// name from ZOO_DATA, as graphql-js's default resolver and the oracle driver both do, and
// some values are deliberately wrong for their type (a null in a non-null field, an
// out-of-range Int, an unknown enum value, an abstract value without __typename) so that
// null propagation and serialization errors are compared too.

export const ZOO_SDL = `
"""The zoo: a schema exercising every kind of type."""
schema {
  query: Query
  mutation: Mutation
  subscription: Subscription
}

"An ISO-8601 date and time."
scalar DateTime @specifiedBy(url: "https://tools.ietf.org/html/rfc3339")
scalar JSON

directive @cached(ttl: Int = 60) on FIELD | QUERY
directive @tag(name: String!) repeatable on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT

enum Species { CAT DOG BIRD FISH }

"How big an animal is."
enum Size {
  SMALL
  MEDIUM
  LARGE @deprecated(reason: "Too big")
}

interface Node { id: ID! }
interface Named { name: String }

interface Animal implements Node & Named {
  id: ID!
  name: String
  species: Species!
  owner: Person
}

type Cat implements Animal & Node & Named {
  id: ID!
  name: String
  species: Species!
  owner: Person
  meows: Boolean
  lives: Int!
  nickname: String @deprecated(reason: "Use name")
  size: Size
}

type Dog implements Animal & Node & Named {
  id: ID!
  name: String
  species: Species!
  owner: Person
  barkVolume: Float
  tricks: [String!]
  size: Size
}

type Bird implements Animal & Node & Named {
  id: ID!
  name: String
  species: Species!
  owner: Person
  wingspan: Float!
}

"A person who may own pets."
type Person implements Node & Named {
  id: ID!
  name: String
  "Age in whole years."
  age: Int
  pets: [Animal!]!
  friends: [Person]
  bestFriend: Person
  scores: [[Int]]
  tags: [String!]!
  born: DateTime
  meta: JSON
  greeting(formal: Boolean = false, prefix: String): String
}

union SearchResult = Cat | Dog | Person

input PetFilter {
  species: Species
  nameContains: String
  minLives: Int = 1
  and: [PetFilter!]
  size: Size
}

input NewPet {
  name: String!
  species: Species!
  tags: [String!] = []
  owner: ID
  born: DateTime
  extra: JSON
}

type StrictThing {
  a: String!
  b: String
  c: [String!]
  d: [String]!
  inner: StrictThing!
}

type Query {
  hello: String
  greeting(name: String = "world", times: Int): String
  person(id: ID!): Person
  people(first: Int = 10, after: String): [Person!]!
  pets(filter: PetFilter, limit: Int): [Animal]
  animal(id: ID!): Animal
  search(text: String!): [SearchResult]
  node(id: ID!): Node
  nameless: Node
  nonNullString: String!
  nullableList: [Int]
  nonNullList: [Int!]!
  brokenNonNull: String!
  brokenList: [Int!]
  numbers: [Float]
  count: Int
  big: Int
  ratio: Float
  flag: Boolean
  id: ID
  numericId: ID
  when: DateTime
  json: JSON
  echoSpecies(species: Species!): Species
  favoriteSpecies: Species
  badEnum: Species
  stringAsInt: Int
  deepList: [[[String]]]
  strict: StrictThing
  strictList: [StrictThing]
  sizes(in: [Size!]): [Size]
}

type Mutation {
  addPet(input: NewPet!): Animal
  rename(id: ID!, name: String!): Person
  deletePet(id: ID!): Boolean
}

type Subscription {
  petAdded(species: Species): Animal
  personRenamed: Person
}
`;

const alice = {
  id: 'p1', name: 'Alice', age: 34, tags: ['admin', 'owner'], born: '1990-01-02T03:04:05Z',
  meta: { team: 'blue', level: 3, list: [1, 'two', null], nested: { ok: true } },
  scores: [[1, 2], [], null, [3, null]], greeting: 'Hi Alice',
  friends: [{ id: 'p2', name: 'Bob', tags: [], pets: [] }, null],
  bestFriend: { id: 'p2', name: 'Bob', tags: [], pets: [], bestFriend: null },
};
const tom = { __typename: 'Cat', id: 'c1', name: 'Tom', species: 'CAT', meows: true, lives: 9,
  nickname: 'Tommy', size: 'SMALL', owner: { id: 'p1', name: 'Alice', tags: ['admin'], pets: [] } };
const rex = { __typename: 'Dog', id: 'd1', name: 'Rex', species: 'DOG', barkVolume: 7.5,
  tricks: ['sit', 'roll'], size: 'LARGE', owner: null };
const tweety = { __typename: 'Bird', id: 'b1', name: 'Tweety', species: 'BIRD', wingspan: 0.25 };
const brokenBird = { __typename: 'Bird', id: 'b2', name: 'Broken', species: 'BIRD', wingspan: null };
alice.pets = [tom, rex];

export const ZOO_DATA = {
  hello: 'world',
  greeting: 'Hello!',
  person: alice,
  people: [alice, { id: 'p2', name: 'Bob', age: null, tags: [], pets: [tweety] },
    { id: 'p3', name: null, age: 7, tags: ['kid'], pets: [] }],
  pets: [tom, rex, tweety, null, brokenBird],
  animal: tom,
  search: [tom, alice, rex, null],
  node: { __typename: 'Person', ...alice },
  nameless: { id: 'x' },
  nonNullString: 'here',
  nullableList: [1, null, 3],
  nonNullList: [4, 5, 6],
  brokenNonNull: null,
  brokenList: [1, null, 2],
  numbers: [1.5, 2, -0.25, 1e21],
  count: 42,
  big: 3000000000,
  ratio: 0.1,
  flag: false,
  id: 'abc',
  numericId: 12345,
  when: '2024-05-06T07:08:09Z',
  json: { a: [1, 2, { b: null }], c: 'd', e: 1.5, f: true },
  echoSpecies: 'DOG',
  favoriteSpecies: 'FISH',
  badEnum: 'LIZARD',
  stringAsInt: '12',
  deepList: [[['a', null], []], null, [[null]]],
  strict: { a: 'A', b: null, c: ['x', null], d: null, inner: { a: null, b: 'B', d: [], inner: null } },
  strictList: [{ a: 'one', d: [] }, { a: null, d: [] }, null],
  sizes: ['SMALL', 'LARGE'],
  addPet: tom,
  rename: alice,
  deletePet: true,
  petAdded: rex,
  personRenamed: alice,
};
