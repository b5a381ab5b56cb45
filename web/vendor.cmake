# web/vendor.cmake - vendors GraphiQL for the gateway (included from services/gateway).
#
# `npm ci` in web/ installs the versions web/package-lock.json pins (graphiql 3, whose
# UMD build runs on React 18's UMD builds), and the four files the page loads are copied
# into <build>/share/graphiql, next to bin/ as the gateway expects by default, and
# installed to <prefix>/share/graphiql. npm runs only when the lock file is newer than
# the installed tree. Without npm the gateway still builds and serves GraphQL; its
# GraphiQL routes then answer 503.
option(RAMJET_GRAPHIQL "Vendor GraphiQL from npm (web/) into share/graphiql" ON)
if(NOT RAMJET_GRAPHIQL)
  return()
endif()

set(RJ_WEB_DIR ${PROJECT_SOURCE_DIR}/web)
set(RJ_GRAPHIQL_DIR ${CMAKE_BINARY_DIR}/share/graphiql)
set(RJ_GRAPHIQL_SOURCES
    ${RJ_WEB_DIR}/node_modules/graphiql/graphiql.min.js
    ${RJ_WEB_DIR}/node_modules/graphiql/graphiql.min.css
    ${RJ_WEB_DIR}/node_modules/react/umd/react.production.min.js
    ${RJ_WEB_DIR}/node_modules/react-dom/umd/react-dom.production.min.js)

find_program(RJ_NPM npm)
if(NOT RJ_NPM)
  message(WARNING "npm not found: GraphiQL will not be vendored (the gateway answers 503 on /graphiql)")
  return()
endif()

set(RJ_WEB_STAMP ${RJ_WEB_DIR}/node_modules/.package-lock.json)
add_custom_command(
  OUTPUT ${RJ_WEB_STAMP} ${RJ_GRAPHIQL_SOURCES}
  COMMAND ${RJ_NPM} ci --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${RJ_WEB_STAMP}
  WORKING_DIRECTORY ${RJ_WEB_DIR}
  DEPENDS ${RJ_WEB_DIR}/package.json ${RJ_WEB_DIR}/package-lock.json
  COMMENT "Installing GraphiQL and React from npm (web/)"
  VERBATIM)

set(RJ_GRAPHIQL_OUTPUTS "")
foreach(src ${RJ_GRAPHIQL_SOURCES})
  get_filename_component(name ${src} NAME)
  list(APPEND RJ_GRAPHIQL_OUTPUTS ${RJ_GRAPHIQL_DIR}/${name})
endforeach()
add_custom_command(
  OUTPUT ${RJ_GRAPHIQL_OUTPUTS}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${RJ_GRAPHIQL_DIR}
  COMMAND ${CMAKE_COMMAND} -E copy ${RJ_GRAPHIQL_SOURCES} ${RJ_GRAPHIQL_DIR}
  DEPENDS ${RJ_WEB_STAMP} ${RJ_GRAPHIQL_SOURCES}
  COMMENT "Copying GraphiQL into share/graphiql"
  VERBATIM)
add_custom_target(graphiql-assets ALL DEPENDS ${RJ_GRAPHIQL_OUTPUTS})
install(FILES ${RJ_GRAPHIQL_OUTPUTS} DESTINATION ${CMAKE_INSTALL_DATADIR}/graphiql COMPONENT runtime)
