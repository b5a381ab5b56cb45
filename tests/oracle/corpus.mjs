// corpus.mjs - the hand-written documents of the oracle test, grouped by what they
// exercise. Each case names its schema ("zoo" or "shop"), the document, and optionally
// variables and an operation name. Whether a case is valid is not written here: graphql-js
// decides, and Ramjet must agree.

const cases = [];
const zoo = (name, query, variables, operationName) =>
  cases.push({ name, schema: 'zoo', query, variables, operationName });
const shop = (name, query, variables, operationName) =>
  cases.push({ name, schema: 'shop', query, variables, operationName });

// ---- basics, aliases, lists, scalars ------------------------------------------------------
zoo('hello', '{ hello }');
zoo('shorthand-and-query-keyword', 'query { hello count }');
zoo('named-query', 'query Q { hello }');
zoo('aliases', '{ a: hello b: hello c: count }');
zoo('alias-same-field-args', '{ g1: greeting(name: "x") g2: greeting(name: "y") }');
zoo('scalars', '{ count ratio flag id numericId when json big }');
zoo('int-out-of-range', '{ big }');
zoo('string-as-int', '{ stringAsInt }');
zoo('float-list', '{ numbers }');
zoo('bad-enum-value', '{ badEnum favoriteSpecies }');
zoo('nested-lists', '{ deepList nullableList nonNullList }');
zoo('list-of-lists-int', '{ person(id: "p1") { scores } }');
zoo('custom-scalars', '{ person(id: 1) { born meta } }');
zoo('objects', '{ person(id: "p1") { id name age tags bestFriend { name bestFriend { name } } } }');
zoo('list-of-objects', '{ people { id name age } }');
zoo('list-with-null-items', '{ person(id: "p1") { friends { id name } } }');
zoo('typename-everywhere', '{ __typename person(id: "p1") { __typename pets { __typename } } }');
zoo('field-args-defaults', '{ greeting greeting2: greeting(times: 3) }');
zoo('nested-field-args', '{ person(id: "p1") { greeting(formal: true, prefix: "Dr") } }');
zoo('comments-and-commas', '# leading comment\n{ hello, ,count # trailing\n , }');
zoo('block-string-arg', '{ greeting(name: """\n    multi\n      line\n  """) }');
zoo('escaped-string-arg', '{ greeting(name: "tab\\t quote\\" uni\\u00e9 \\u{1F600}") }');
zoo('unicode-bom', '\ufeff{ hello }');

// ---- interfaces, unions, fragments ----------------------------------------------------------
zoo('interface-fields', '{ pets { id name species } }');
zoo('inline-fragments', '{ pets { name ... on Cat { lives meows } ... on Dog { barkVolume tricks } } }');
zoo('inline-fragment-no-type', '{ pets { ... { name } ... @include(if: true) { id } } }');
zoo('union-fragments', '{ search(text: "a") { __typename ... on Person { name age } ... on Cat { lives } } }');
zoo('union-interface-fragment', '{ search(text: "a") { ... on Named { name } ... on Node { id } } }');
zoo('named-fragments', `
  query { person(id: "p1") { ...P pets { ...A } } }
  fragment P on Person { id name }
  fragment A on Animal { name ... on Cat { lives } }`);
zoo('nested-named-fragments', `
  { animal(id: "c1") { ...Outer } }
  fragment Outer on Animal { ...Inner species }
  fragment Inner on Node { id }`);
zoo('fragment-on-interface-via-union', `
  { search(text: "x") { ...N } }
  fragment N on Named { name }`);
zoo('node-person', '{ node(id: "p1") { id ... on Person { name tags } } }');
zoo('abstract-without-typename', '{ nameless { id } }');
zoo('null-in-nonnull-list-of-abstract', '{ pets { ... on Bird { wingspan } } }');
zoo('fragment-merging', `
  { person(id: "p1") { name ...F name } }
  fragment F on Person { name age }`);
zoo('field-merging-subselections', '{ person(id: "p1") { bestFriend { id } bestFriend { name } } }');
zoo('deprecated-field-query', '{ animal(id: "c1") { ... on Cat { nickname } } }');

// ---- null propagation -----------------------------------------------------------------------
zoo('non-null-root-null', '{ hello brokenNonNull }');
zoo('non-null-list-item-null', '{ brokenList }');
zoo('non-null-nested', '{ strict { a b inner { b } } }');
zoo('non-null-nested-propagates', '{ strict { a inner { a b } } }');
zoo('non-null-d-null', '{ strict { d } }');
zoo('non-null-c-item', '{ strict { c } }');
zoo('strict-list', '{ strictList { a } }');
zoo('non-null-inner-null', '{ strict { inner { inner { a } } } }');
zoo('nonnull-wingspan', '{ pets { name ... on Bird { wingspan } } }');
zoo('nonnull-pets-item', '{ people { pets { name } } }');

// ---- variables ------------------------------------------------------------------------------
zoo('var-simple', 'query ($n: String) { greeting(name: $n) }', { n: 'Ann' });
zoo('var-default', 'query ($n: String = "dflt") { greeting(name: $n) }');
zoo('var-required-missing', 'query ($id: ID!) { person(id: $id) { name } }', {});
zoo('var-required-null', 'query ($id: ID!) { person(id: $id) { name } }', { id: null });
zoo('var-int-from-string', 'query ($t: Int) { greeting(times: $t) }', { t: 'x' });
zoo('var-int-from-float', 'query ($t: Int) { greeting(times: $t) }', { t: 1.5 });
zoo('var-int-too-big', 'query ($t: Int) { greeting(times: $t) }', { t: 2 ** 31 });
zoo('var-int-ok', 'query ($t: Int) { greeting(times: $t) }', { t: 3 });
zoo('var-id-from-int', 'query ($id: ID!) { person(id: $id) { id } }', { id: 7 });
zoo('var-id-from-bool', 'query ($id: ID!) { person(id: $id) { id } }', { id: true });
zoo('var-enum-ok', 'query ($s: Species!) { echoSpecies(species: $s) }', { s: 'CAT' });
zoo('var-enum-bad', 'query ($s: Species!) { echoSpecies(species: $s) }', { s: 'LIZARD' });
zoo('var-enum-wrong-case', 'query ($s: Species!) { echoSpecies(species: $s) }', { s: 'cat' });
zoo('var-enum-number', 'query ($s: Species!) { echoSpecies(species: $s) }', { s: 1 });
zoo('var-input-object', 'query ($f: PetFilter) { pets(filter: $f) { name } }',
  { f: { species: 'CAT', and: [{ nameContains: 'T' }] } });
zoo('var-input-object-unknown-field', 'query ($f: PetFilter) { pets(filter: $f) { name } }',
  { f: { bad: 1 } });
zoo('var-input-object-wrong-type', 'query ($f: PetFilter) { pets(filter: $f) { name } }',
  { f: { minLives: 'many' } });
zoo('var-input-object-not-object', 'query ($f: PetFilter) { pets(filter: $f) { name } }',
  { f: 'CAT' });
zoo('var-input-required-field-missing', 'mutation ($p: NewPet!) { addPet(input: $p) { id } }',
  { p: { name: 'X' } });
zoo('var-input-ok', 'mutation ($p: NewPet!) { addPet(input: $p) { id name } }',
  { p: { name: 'X', species: 'CAT', tags: ['a'], extra: { any: [1] } } });
zoo('var-list-coercion-single', 'query ($s: [Size!]) { sizes(in: $s) }', { s: 'SMALL' });
zoo('var-list-null-item', 'query ($s: [Size!]) { sizes(in: $s) }', { s: ['SMALL', null] });
zoo('var-list-ok', 'query ($s: [Size!]) { sizes(in: $s) }', { s: ['SMALL', 'LARGE'] });
zoo('var-boolean-from-string', 'query ($b: Boolean!) { hello @include(if: $b) }', { b: 'true' });
zoo('var-float-from-int', 'query ($r: Float) { greeting(name: "x") @skip(if: false) count }', { r: 1 });
zoo('var-multiple-errors', 'query ($a: Int!, $b: String!, $c: Species) { greeting(times: $a, name: $b) echoSpecies(species: $c) }',
  { c: 'NOPE' });
zoo('var-custom-scalar', 'mutation ($p: NewPet!) { addPet(input: $p) { name } }',
  { p: { name: 'n', species: 'DOG', born: { weird: true }, extra: [1, { a: null }] } });
zoo('var-nullable-given-null', 'query ($n: String) { greeting(name: $n) }', { n: null });
zoo('var-in-list-literal', 'query ($s: Size!) { sizes(in: [$s, SMALL]) }', { s: 'MEDIUM' });
zoo('var-in-object-literal', 'query ($n: String) { pets(filter: { nameContains: $n, species: CAT }) { name } }', { n: 'T' });
zoo('var-default-object', 'query ($f: PetFilter = { species: DOG, minLives: 3 }) { pets(filter: $f) { id } }');
zoo('var-unknown-extra-ignored', 'query ($n: String) { greeting(name: $n) }', { n: 'a', zzz: 1 });

// ---- @include / @skip -----------------------------------------------------------------------
zoo('include-true', '{ hello @include(if: true) count }');
zoo('include-false', '{ hello @include(if: false) count }');
zoo('skip-true', '{ hello @skip(if: true) count }');
zoo('skip-and-include', '{ a: hello @skip(if: false) @include(if: true) b: hello @skip(if: true) @include(if: true) }');
zoo('include-var', 'query ($x: Boolean!) { hello @include(if: $x) count @skip(if: $x) }', { x: true });
zoo('include-var-false', 'query ($x: Boolean!) { hello @include(if: $x) count @skip(if: $x) }', { x: false });
zoo('include-on-fragment-spread', `
  query ($x: Boolean = false) { person(id: "p1") { ...F @include(if: $x) id } }
  fragment F on Person { name }`);
zoo('skip-on-inline-fragment', '{ pets { ... on Cat @skip(if: true) { lives } name } }');
zoo('skip-everything', '{ hello @skip(if: true) }');
zoo('include-default-var', 'query ($x: Boolean = true) { hello @include(if: $x) }');
zoo('custom-directives', '{ hello @cached(ttl: 5) @tag(name: "a") @tag(name: "b") }');

// ---- operations -----------------------------------------------------------------------------
zoo('mutation', 'mutation { addPet(input: { name: "Kit", species: CAT }) { id name } }');
zoo('mutation-multiple', 'mutation M { a: deletePet(id: "1") b: rename(id: "p1", name: "Al") { name } }');
zoo('subscription', 'subscription { petAdded(species: DOG) { name } }');
zoo('subscription-named', 'subscription S { personRenamed { name } }');
zoo('multiple-ops-select', 'query A { hello } query B { count }', undefined, 'B');
zoo('multiple-ops-unknown', 'query A { hello } query B { count }', undefined, 'C');
zoo('multiple-ops-none', 'query A { hello } query B { count }');
zoo('op-name-with-single', 'query A { hello }', undefined, 'A');
zoo('op-name-mismatch-single', 'query A { hello }', undefined, 'Z');

// ---- introspection --------------------------------------------------------------------------
zoo('introspect-typename-root', '{ __typename }');
zoo('introspect-type-object', '{ __type(name: "Cat") { kind name description interfaces { name } fields { name type { kind name ofType { kind name } } } } }');
zoo('introspect-type-enum', '{ __type(name: "Size") { kind name description enumValues(includeDeprecated: true) { name isDeprecated deprecationReason } } }');
zoo('introspect-type-enum-default', '{ __type(name: "Size") { enumValues { name } } }');
zoo('introspect-type-input', '{ __type(name: "NewPet") { kind inputFields { name defaultValue type { name kind ofType { name kind ofType { name } } } } } }');
zoo('introspect-type-union', '{ __type(name: "SearchResult") { kind possibleTypes { name } } }');
zoo('introspect-type-interface', '{ __type(name: "Animal") { kind interfaces { name } possibleTypes { name } fields { name } } }');
zoo('introspect-type-missing', '{ __type(name: "Nope") { name } }');
zoo('introspect-scalar', '{ __type(name: "DateTime") { kind name description specifiedByURL } }');
zoo('introspect-deprecated-fields', '{ __type(name: "Cat") { fields(includeDeprecated: true) { name isDeprecated deprecationReason } } }');
zoo('introspect-field-args', '{ __type(name: "Query") { fields { name args { name defaultValue type { name kind ofType { name } } } } } }');
zoo('introspect-schema-roots', '{ __schema { description queryType { name } mutationType { name } subscriptionType { name } } }');
zoo('introspect-schema-types', '{ __schema { types { name kind } } }');
zoo('introspect-directives', '{ __schema { directives { name description isRepeatable locations args { name defaultValue type { name ofType { name } } } } } }');
zoo('introspect-builtin-string', '{ __type(name: "String") { kind name description } }');
zoo('introspect-meta-types', '{ __type(name: "__Type") { fields { name } } }');
zoo('introspect-type-kind-enum', '{ __type(name: "__TypeKind") { enumValues { name } } }');
zoo('introspect-aliases', '{ a: __type(name: "Dog") { n: name } b: __schema { q: queryType { name } } }');
zoo('introspect-typename-in-union', '{ search(text: "") { __typename } }');
zoo('introspect-with-variables', 'query ($t: String!) { __type(name: $t) { name kind } }', { t: 'Person' });

// ---- syntax errors --------------------------------------------------------------------------
zoo('syntax-empty', '');
zoo('syntax-only-comment', '# nothing');
zoo('syntax-unclosed', '{ hello');
zoo('syntax-unexpected-brace', '{ }');
zoo('syntax-bad-char', '{ hello ^ }');
zoo('syntax-unterminated-string', '{ greeting(name: "abc) }');
zoo('syntax-bad-escape', '{ greeting(name: "\\x") }');
zoo('syntax-bad-unicode-escape', '{ greeting(name: "\\u12") }');
zoo('syntax-number-then-name', '{ greeting(times: 12abc) }');
zoo('syntax-float-no-digits', '{ greeting(times: 1.) }');
zoo('syntax-leading-zero', '{ greeting(times: 012) }');
zoo('syntax-exponent', '{ greeting(times: 1e) }');
zoo('syntax-dot', '{ ..hello }');
zoo('syntax-variable-in-const', 'query ($a: Int = $b) { hello }');
zoo('syntax-missing-colon-arg', '{ greeting(name "x") }');
zoo('syntax-empty-args', '{ greeting() }');
zoo('syntax-fragment-on-name', 'fragment on on Person { name } { hello }');
zoo('syntax-sdl-in-executable', 'type Foo { a: Int }');
zoo('syntax-unknown-keyword', 'queryy { hello }');
zoo('syntax-control-char', '{ hello \u0007 }');
zoo('syntax-unterminated-block', '{ greeting(name: """abc) }');
zoo('syntax-non-ascii-name', '{ héllo }');
zoo('syntax-stray-bang', '{ hello! }');
zoo('syntax-null-var-type', 'query ($a: ) { hello }');

// ---- one or more documents per validation rule ----------------------------------------------
zoo('ExecutableDefinitions', '{ hello } type Foo { a: Int } extend schema { query: Query }');
zoo('UniqueOperationNames', 'query A { hello } query A { count }');
zoo('UniqueOperationNames-mixed', 'query A { hello } mutation A { deletePet(id: 1) }');
zoo('LoneAnonymousOperation', '{ hello } { count }');
zoo('LoneAnonymousOperation-with-named', '{ hello } query B { count }');
zoo('SingleFieldSubscriptions', 'subscription { petAdded { name } personRenamed { name } }');
zoo('SingleFieldSubscriptions-introspection', 'subscription { __typename }');
zoo('SingleFieldSubscriptions-fragment', 'subscription S { ...F } fragment F on Subscription { petAdded { id } personRenamed { id } }');
zoo('KnownTypeNames', 'query ($a: Strin) { hello } fragment F on Persn { name }');
zoo('KnownTypeNames-inline', '{ pets { ... on Kat { lives } } }');
zoo('FragmentsOnCompositeTypes', 'fragment F on String { length } { ...F }');
zoo('FragmentsOnCompositeTypes-inline', '{ pets { ... on Species { name } } }');
zoo('VariablesAreInputTypes', 'query ($p: Person, $a: [Animal!], $s: Species) { hello }');
zoo('ScalarLeafs-missing', '{ person(id: "p1") }');
zoo('ScalarLeafs-extra', '{ hello { length } }');
zoo('ScalarLeafs-enum-extra', '{ favoriteSpecies { x } }');
zoo('FieldsOnCorrectType', '{ helo person(id: "p1") { nmae } }');
zoo('FieldsOnCorrectType-interface', '{ pets { lives } }');
zoo('FieldsOnCorrectType-union', '{ search(text: "a") { name } }');
zoo('FieldsOnCorrectType-suggest-types', '{ node(id: "1") { tricks barkVolume } }');
zoo('UniqueFragmentNames', '{ ...F } fragment F on Query { hello } fragment F on Query { count }');
zoo('KnownFragmentNames', '{ ...Missing person(id: 1) { ...AlsoMissing } }');
zoo('NoUnusedFragments', '{ hello } fragment Unused on Query { count } fragment U2 on Person { name }');
zoo('PossibleFragmentSpreads', '{ person(id: "p1") { ... on Cat { lives } } }');
zoo('PossibleFragmentSpreads-named', '{ animal(id: 1) { ...P } } fragment P on Person { name }');
zoo('PossibleFragmentSpreads-union', '{ search(text: "") { ... on Bird { wingspan } } }');
zoo('PossibleFragmentSpreads-interface-ok', '{ search(text: "") { ... on Animal { name } } }');
zoo('NoFragmentCycles', '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }');
zoo('NoFragmentCycles-self', '{ ...A } fragment A on Query { hello ...A }');
zoo('NoFragmentCycles-deep', `{ ...A }
  fragment A on Query { ...B } fragment B on Query { ...C } fragment C on Query { ...A ...B }`);
zoo('UniqueVariableNames', 'query ($a: Int, $a: Int, $b: String, $b: String) { greeting(times: $a, name: $b) }');
zoo('NoUndefinedVariables', 'query Q { greeting(name: $missing) }');
zoo('NoUndefinedVariables-fragment', 'query Q { ...F } fragment F on Query { greeting(times: $t) }');
zoo('NoUndefinedVariables-anonymous', '{ greeting(name: $x) }');
zoo('NoUnusedVariables', 'query Q ($a: Int, $b: String) { greeting(times: $a) }');
zoo('NoUnusedVariables-anonymous', 'query ($a: Int) { hello }');
zoo('KnownDirectives', '{ hello @unknown }');
zoo('KnownDirectives-location', 'query @skip(if: true) { hello @cached }');
zoo('KnownDirectives-var-def', 'query ($a: Int @include(if: true)) { greeting(times: $a) }');
zoo('UniqueDirectivesPerLocation', '{ hello @skip(if: true) @skip(if: false) }');
zoo('UniqueDirectivesPerLocation-repeatable', '{ hello @tag(name: "a") @tag(name: "a") }');
zoo('KnownArgumentNames', '{ greeting(nme: "x") }');
zoo('KnownArgumentNames-directive', '{ hello @skip(iff: true) }');
zoo('UniqueArgumentNames', '{ greeting(name: "a", name: "b") }');
zoo('ValuesOfCorrectType-int', '{ greeting(times: "three") }');
zoo('ValuesOfCorrectType-float-for-int', '{ greeting(times: 1.5) }');
zoo('ValuesOfCorrectType-int-overflow', '{ greeting(times: 2147483648) }');
zoo('ValuesOfCorrectType-string', '{ greeting(name: 1) }');
zoo('ValuesOfCorrectType-enum-string', '{ echoSpecies(species: "CAT") }');
zoo('ValuesOfCorrectType-enum-unknown', '{ echoSpecies(species: CATT) }');
zoo('ValuesOfCorrectType-enum-bool', '{ echoSpecies(species: true) }');
zoo('ValuesOfCorrectType-null-nonnull', '{ echoSpecies(species: null) }');
zoo('ValuesOfCorrectType-id-float', '{ person(id: 1.5) { id } }');
zoo('ValuesOfCorrectType-boolean', '{ hello @include(if: "yes") }');
zoo('ValuesOfCorrectType-object-unknown-field', '{ pets(filter: { speces: CAT }) { id } }');
zoo('ValuesOfCorrectType-object-missing-required', 'mutation { addPet(input: { name: "x" }) { id } }');
zoo('ValuesOfCorrectType-object-not-object', '{ pets(filter: "CAT") { id } }');
zoo('ValuesOfCorrectType-list-items', '{ sizes(in: [SMALL, 3, "LARGE"]) }');
zoo('ValuesOfCorrectType-nested', '{ pets(filter: { and: [{ minLives: "x" }, { size: HUGE }] }) { id } }');
zoo('ValuesOfCorrectType-var-default', 'query ($a: Int = "x") { greeting(times: $a) }');
zoo('ValuesOfCorrectType-directive-arg', '{ hello @cached(ttl: "long") }');
zoo('OverlappingFieldsCanBeMerged-alias', '{ a: hello a: count }');
zoo('OverlappingFieldsCanBeMerged-args', '{ greeting(name: "a") greeting(name: "b") }');
zoo('OverlappingFieldsCanBeMerged-fragment', `
  { person(id: 1) { ...A ...B } }
  fragment A on Person { x: name } fragment B on Person { x: age }`);
zoo('OverlappingFieldsCanBeMerged-types', '{ pets { ... on Cat { v: lives } ... on Dog { v: barkVolume } } }');
zoo('OverlappingFieldsCanBeMerged-nested', '{ person(id: 1) { bestFriend { n: name } bestFriend { n: age } } }');
zoo('OverlappingFieldsCanBeMerged-nonnull-diff', '{ pets { ... on Cat { s: species } ... on Bird { s: name } } }');
zoo('OverlappingFieldsCanBeMerged-ok-distinct-parents', '{ pets { ... on Cat { v: lives } ... on Dog { v: tricks } } }');
zoo('ProvidedRequiredArguments', '{ person { name } echoSpecies }');
zoo('ProvidedRequiredArguments-directive', '{ hello @include @tag }');
zoo('VariablesInAllowedPosition', 'query ($s: String) { search(text: $s) { __typename } }');
zoo('VariablesInAllowedPosition-default-ok', 'query ($s: String = "a") { search(text: $s) { __typename } }');
zoo('VariablesInAllowedPosition-list', 'query ($s: Size) { sizes(in: $s) }');
zoo('VariablesInAllowedPosition-wrong-type', 'query ($i: Int!) { greeting(name: $i) }');
zoo('VariablesInAllowedPosition-in-list', 'query ($s: Size) { sizes(in: [$s]) }');
zoo('UniqueInputFieldNames', '{ pets(filter: { species: CAT, species: DOG }) { id } }');
zoo('UniqueInputFieldNames-nested', '{ pets(filter: { and: [{ size: SMALL, size: LARGE }] }) { id } }');
zoo('many-rules-at-once', `
  query Q($unused: Int, $v: Strin) { helo ...Missing person { nmae } greeting(name: 1, name: 2) }
  query Q { hello @skip }
  fragment Lonely on Persn { name }`);

// ---- the shop's generated API ---------------------------------------------------------------
shop('shop-cart', '{ CartReadModel(id: "c1") { id cartItems { productId quantity } shippingAddress { country } cartItemsSize } }');
shop('shop-list-filter', `{
  ListCartReadModels(filter: { id: { eq: "c1" }, shippingAddress: { country: { beginsWith: "E" } } },
                     limit: 5, sortBy: { id: ASC }) { items { id cartItemsIds } count cursor }
}`);
shop('shop-list-filter-vars', `query ($f: ListProductReadModelFilter, $limit: Int) {
  ListProductReadModels(filter: $f, limit: $limit) { items { id sku price { cents currency } packs { id name products } } count }
}`, { f: { or: [{ featured: { eq: true } }, { price: { cents: { gte: 100 } } }] }, limit: 2 });
shop('shop-plural', '{ ProductReadModels(filter: { featured: { eq: true } }) { id displayName } }');
shop('shop-events', `{
  eventsByEntity: eventsByEntity(entity: Cart, entityID: "c1") { type entity entityID createdAt value user { id username roles } }
  byType: eventsByType(type: CartPaid, from: "2020-01-01") { type value deletedAt }
}`);
shop('shop-mutation', `mutation {
  ChangeCartItem(input: { cartId: "c1", productId: "p1", quantity: 2 })
  UpdateShippingAddress(input: { cartId: "c1", address: { firstName: "A", lastName: "B", country: "ES", state: "M", postalCode: "1", address: "x" } })
}`);
shop('shop-mutation-vars', 'mutation ($in: CreateProductInput!) { CreateProduct(input: $in) }',
  { in: { sku: 'S', displayName: 'D', description: 'd', priceInCents: 100, currency: 'EUR' } });
shop('shop-mutation-vars-missing-field', 'mutation ($in: CreateProductInput!) { CreateProduct(input: $in) }',
  { in: { sku: 'S' } });
shop('shop-subscription', 'subscription { CartReadModel(id: "c1") { id cartItems { quantity } } }');
shop('shop-subscription-list', 'subscription { CartReadModels(filter: { id: { eq: "c1" } }) { id } }');
shop('shop-bad-filter-op', '{ ListCartReadModels(filter: { id: { equals: "c1" } }) { count } }');
shop('shop-bad-sort', '{ ListCartReadModels(sortBy: { id: UP }) { count } }');
shop('shop-bad-entity-enum', '{ eventsByEntity(entity: Carts, entityID: "c1") { type } }');
shop('shop-missing-input', 'mutation { ChangeCartItem }');
shop('shop-wrong-subfield', '{ CartReadModel(id: "c1") { id total } }');
shop('shop-connection-without-items-selection', '{ ListCartReadModels { items } }');
shop('shop-introspection-query-type', '{ __schema { queryType { fields { name args { name type { name kind ofType { name } } } } } } }');
shop('shop-introspection-types', '{ __schema { types { name kind fields { name } inputFields { name } enumValues { name } } } }');

export default cases;
