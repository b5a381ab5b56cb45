/*
 * newtmpl.h - the files `ramjet new` writes, as templates with @VARIABLE@ placeholders.
 *
 * The templates are compiled into the CLI rather than installed beside it, so a `ramjet`
 * binary scaffolds the same application wherever it runs (build tree, prefix, image) and
 * what it writes is versioned with the ramjet.h it targets. newtmpl.c holds them; new.c
 * decides which to write where.
 */
#ifndef RJ_TOOLS_NEWTMPL_H
#define RJ_TOOLS_NEWTMPL_H

#include <stdio.h>

/* The templates (newtmpl.c). Each names the variables it uses. */
extern const char newtmpl_cmakelists[];       /* CMakeLists.txt: @NAME@ */
extern const char newtmpl_schema[];           /* <name>.graphql's header: @NAME@ */
extern const char newtmpl_app_h[];            /* src/app.h: @NAME@ */
extern const char newtmpl_app_c[];            /* src/app.c: @NAME@ */
extern const char newtmpl_pieces_h[];         /* src/pieces.h: none */
extern const char newtmpl_readme[];           /* README.md: @NAME@ */
extern const char newtmpl_event_sdl[];        /* @NAME@ @ENTITY@ @KEY@ @FIELDS@ */
extern const char newtmpl_entity_sdl[];       /* @NAME@ @FIELDS@ */
extern const char newtmpl_entity_c[];         /* @NAME@ @FILE@ @REDUCERS@ @BINDINGS@ */
extern const char newtmpl_reducer_c[];        /* @EVENT@ @EVENT_FN@ @KEY@ (one per event) */
extern const char newtmpl_command_sdl[];      /* @NAME@ @BODY@ */
extern const char newtmpl_command_c[];        /* @NAME@ @FILE@ @FN@ @SUMMARY@ @ACTION@ */
extern const char newtmpl_readmodel_sdl[];    /* @NAME@ @FIELDS@ */
extern const char newtmpl_readmodel_c[];      /* @NAME@ @FILE@ @ENTITY@ @JOIN@ @FN@ */
extern const char newtmpl_readmodel_none_c[]; /* @NAME@ @FILE@: no projection yet */

/**
 * Writes @p tmpl to @p out with every @KEY@ replaced by its value in @p vars.
 *
 * @param out   where the text goes; borrowed
 * @param tmpl  the template; borrowed
 * @param vars  pairs {"KEY", "value", ..., NULL}; borrowed. A placeholder not in the list
 *              is written as it is, so a missing variable shows in the output
 */
void newtmpl_render(FILE *out, const char *tmpl, const char *const *vars);

#endif
