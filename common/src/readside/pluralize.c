/*
 * pluralize.c - inflected's English plural rules, compiled once as POSIX extended regular
 * expressions.
 *
 * inflected keeps its rules in a list and tries them newest-first, replacing the first
 * (case-insensitive) match with a `$n` template. The table below is that list already in
 * trial order: the irregulars (defined last in inflected's defaults, so tried first), then
 * the plural rules from the newest to the oldest. JavaScript's `(?:...)` has no POSIX
 * spelling, so the one rule that uses it (`(?:([^f])fe|([lr])f)$`) gets an extra capturing
 * group and its template is renumbered; everything else is copied verbatim.
 *
 * Not here: singularisation, camelize/underscore and locale-specific rules; the schema
 * needs none of them.
 */
#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "readside/pluralize.h"

typedef struct plural_rule {
    const char *pattern;  /* POSIX ERE, matched case-insensitively */
    const char *template; /* replacement of the match; $1..$9 are groups */
} plural_rule_t;

static const plural_rule_t rules[] = {
    /* inflect.irregular(singular, plural): '(' + s0 + ')' + srest + '$' -> '$1' + prest,
     * and the plural form kept as it is. */
    {"(z)ombies$", "$1ombies"},
    {"(z)ombie$", "$1ombies"},
    {"(m)oves$", "$1oves"},
    {"(m)ove$", "$1oves"},
    {"(s)exes$", "$1exes"},
    {"(s)ex$", "$1exes"},
    {"(c)hildren$", "$1hildren"},
    {"(c)hild$", "$1hildren"},
    {"(m)en$", "$1en"},
    {"(m)an$", "$1en"},
    {"(p)eople$", "$1eople"},
    {"(p)erson$", "$1eople"},
    /* inflect.plural(rule, replacement), newest first. */
    {"(quiz)$", "$1zes"},
    {"^(oxen)$", "$1"},
    {"^(ox)$", "$1en"},
    {"^(m|l)ice$", "$1ice"},
    {"^(m|l)ouse$", "$1ice"},
    {"(matr|vert|ind)(ix|ex)$", "$1ices"},
    {"(x|ch|ss|sh)$", "$1es"},
    {"([^aeiouy]|qu)y$", "$1ies"},
    {"(hive)$", "$1s"},
    {"(([^f])fe|([lr])f)$", "$2$3ves"},
    {"sis$", "ses"},
    {"([ti])a$", "$1a"},
    {"([ti])um$", "$1a"},
    {"(buffal|tomat)o$", "$1oes"},
    {"(bu)s$", "$1ses"},
    {"(alias|status)$", "$1es"},
    {"(octop|vir)i$", "$1i"},
    {"(octop|vir)us$", "$1i"},
    {"^(ax|test)is$", "$1es"},
    {"s$", "s"},
    {"$", "s"},
};

#define N_RULES (sizeof rules / sizeof rules[0])

static const char *const uncountables[] = {
    "equipment", "information", "rice",  "money", "species",
    "series",    "fish",        "sheep", "jeans", "police",
};

static regex_t compiled[N_RULES];
static pthread_once_t compile_once = PTHREAD_ONCE_INIT;

static void
compile_rules(void)
{
    for (size_t i = 0; i < N_RULES; i++)
        RJ_ASSERT(regcomp(&compiled[i], rules[i].pattern, REG_EXTENDED | REG_ICASE) == 0);
}

/* inflected tests `word.toLowerCase().match(/\b\w+$/)`: the trailing run of word
 * characters. For an identifier that is the whole word. */
static bool
is_uncountable(const char *word)
{
    size_t len = strlen(word), start = len;
    while (start > 0 && (isalnum((unsigned char)word[start - 1]) || word[start - 1] == '_'))
        start--;
    for (size_t i = 0; i < sizeof uncountables / sizeof uncountables[0]; i++)
        if (strcasecmp(word + start, uncountables[i]) == 0)
            return true;
    return false;
}

char *
rj_rs_pluralize(const char *word)
{
    if (word == NULL || *word == '\0')
        return rj_xstrdup("");
    if (is_uncountable(word))
        return rj_xstrdup(word);
    pthread_once(&compile_once, compile_rules);

    for (size_t i = 0; i < N_RULES; i++) {
        regmatch_t m[10];
        if (regexec(&compiled[i], word, 10, m, 0) != 0)
            continue;
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_append(&b, word, (size_t)m[0].rm_so);
        for (const char *t = rules[i].template; *t != '\0'; t++) {
            if (t[0] == '$' && t[1] >= '1' && t[1] <= '9') {
                const regmatch_t *g = &m[t[1] - '0'];
                /* A group that did not take part is "" in JavaScript's replace. */
                if (g->rm_so >= 0)
                    rj_buf_append(&b, word + g->rm_so, (size_t)(g->rm_eo - g->rm_so));
                t++;
            } else {
                rj_buf_putc(&b, *t);
            }
        }
        rj_buf_puts(&b, word + m[0].rm_eo);
        return rj_buf_steal(&b);
    }
    return rj_xstrdup(word); /* unreachable: "$" matches everything */
}
