/*
 * readside/pluralize.h - English pluralisation with the rules of npm `inflected`
 * (Rails' inflector, English defaults), which Booster uses to name the plural read-model
 * queries: `CartReadModel` -> `CartReadModels`, `ListCartReadModels`
 * (reference/booster-surface.md §3.3).
 *
 * Kept apart from the rest of the read side because the schema generator (app/api_sdl.c)
 * needs it and nothing else from here.
 */
#ifndef RJ_READSIDE_PLURALIZE_H
#define RJ_READSIDE_PLURALIZE_H

/**
 * The plural of @p word as inflected.pluralize() gives it: irregular suffixes first
 * (`SalesPerson` -> `SalesPeople`), then the rule list newest-first, the first match
 * winning (`OrderStatus` -> `OrderStatuses`, `CartSummary` -> `CartSummaries`,
 * `ProductsBySKU` -> `ProductsBySKUs`); a word whose lower-cased last `\w+` run is
 * uncountable (`Money`) is returned unchanged. Matching is case-insensitive; the
 * case of the kept prefix is preserved.
 *
 * @param word  the singular; borrowed; NULL or "" gives ""
 * @return a new string; free() it
 *
 * Ownership: the caller owns the result. Thread-safe (the compiled rules are built once).
 */
char *rj_rs_pluralize(const char *word);

#endif
