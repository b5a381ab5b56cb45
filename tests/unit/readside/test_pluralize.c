/*
 * test_pluralize.c - inflected's plural rules as Booster names its plural queries with
 * (booster-surface.md §3.3).
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "readside/pluralize.h"

static void
expect_plural(const char *word, const char *want)
{
    char *got = rj_rs_pluralize(word);
    cr_expect_str_eq(got, want, "pluralize(%s)", word);
    free(got);
}

Test(pluralize, booster_names)
{
    expect_plural("CartReadModel", "CartReadModels");
    expect_plural("OrderStatus", "OrderStatuses");
    expect_plural("CartSummary", "CartSummaries");
    expect_plural("ProductsBySKU", "ProductsBySKUs");
    expect_plural("SalesPerson", "SalesPeople");
    expect_plural("Money", "Money");
}

Test(pluralize, rules)
{
    expect_plural("Quiz", "Quizzes");
    expect_plural("ox", "oxen");
    expect_plural("Box", "Boxes");
    expect_plural("mouse", "mice");
    expect_plural("Matrix", "Matrices");
    expect_plural("Vertex", "Vertices");
    expect_plural("Church", "Churches");
    expect_plural("Address", "Addresses");
    expect_plural("Wish", "Wishes");
    expect_plural("Day", "Days");
    expect_plural("Query", "Queries");
    expect_plural("Archive", "Archives");
    expect_plural("Knife", "Knives");
    expect_plural("Half", "Halves");
    expect_plural("Analysis", "Analyses");
    expect_plural("Datum", "Data");
    expect_plural("Tomato", "Tomatoes");
    expect_plural("Bus", "Buses");
    expect_plural("Alias", "Aliases");
    expect_plural("Octopus", "Octopi");
    expect_plural("Axis", "Axes");
    expect_plural("Products", "Products");
    expect_plural("Child", "Children");
    expect_plural("PostMan", "PostMen");
    expect_plural("Move", "Moves");
    expect_plural("Zombie", "Zombies");
    expect_plural("People", "People");
}

Test(pluralize, uncountables_only_as_the_whole_name)
{
    expect_plural("Sheep", "Sheep");
    expect_plural("Information", "Information");
    expect_plural("Series", "Series");
    /* For a CamelCase name the last \w+ run is the whole name. */
    expect_plural("PocketMoney", "PocketMoneys");
    expect_plural("", "");
    expect_plural(NULL, "");
}
