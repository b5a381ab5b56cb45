# RamjetApp.cmake - ramjet_add_app(), installed with the Ramjet CMake package.
#
#   ramjet_add_app(<name> SOURCES <file.c>... [SCHEMA <file.graphql>])
#
# Builds lib<name>.so, the library every daemon loads (RAMJET_APP=.../lib<name>.so, whose
# file name also gives the app name <name>, the prefix of its topics and tables). It is a
# MODULE (dlopen()ed, never linked), with hidden visibility so only RJ_APP_DEFINE's entry
# point is exported, and links Ramjet::app. The SCHEMA file is copied next to the library,
# where rj_app_schema_file() resolves a relative name, both in the build tree and by
# `cmake --install` (into ${CMAKE_INSTALL_LIBDIR}, beside the library).
#
# What it deliberately does not do: add warnings or sanitizers (the application's
# choice), or link libramjet (the daemon provides the rj_* symbols).
include_guard(GLOBAL)
include(GNUInstallDirs)

function(ramjet_add_app name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "SCHEMA" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "ramjet_add_app(${name}): no SOURCES")
  endif()
  add_library(${name} MODULE ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE Ramjet::app)
  set_target_properties(${name} PROPERTIES PREFIX "lib" C_VISIBILITY_PRESET hidden)
  install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  if(NOT arg_SCHEMA)
    return()
  endif()

  # The library's directory is known before generation only through the output-directory
  # variables, so the copy is an ordinary rule (rerun when the schema changes) rather
  # than a POST_BUILD step (run only when the library relinks).
  set(dir ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
  if(NOT dir)
    set(dir ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  get_filename_component(schema ${arg_SCHEMA} ABSOLUTE)
  get_filename_component(schema_name ${arg_SCHEMA} NAME)
  add_custom_command(OUTPUT ${dir}/${schema_name}
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${schema} ${dir}/${schema_name}
    DEPENDS ${schema})
  add_custom_target(${name}_schema DEPENDS ${dir}/${schema_name})
  add_dependencies(${name} ${name}_schema)
  install(FILES ${schema} DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()
