# cmake/RamjetPackage.cmake - what `cmake --install` puts under a prefix, and the SDK in it.
#
# Two components:
#
#   runtime  the six daemons, the dev broker `ramjet dev --kafka mock` runs, the `ramjet`
#            CLI (bin/) and GraphiQL's assets (share/graphiql, web/vendor.cmake)
#   sdk      what an application compiles against: include/ramjet.h and include/rj/,
#            the CMake package (lib/cmake/Ramjet: find_package(Ramjet) -> Ramjet::app and
#            ramjet_add_app) and lib/pkgconfig/ramjet.pc
#
# An application library does not link libramjet: its rj_* calls resolve from the daemon
# that dlopen()s it (common/CMakeLists.txt), so the SDK is headers plus jansson, and
# Ramjet::app is an INTERFACE target. libramjet.a itself is not installed; nothing outside
# this tree links it.
#
# The sdk component is also staged inside the build tree (build/sdk) while building, so
# examples/shop builds against exactly what an outside project would find (examples/).

set(RJ_INSTALLED_PROGRAMS ramjet-gateway ramjet-commands ramjet-eventstore ramjet-reducer
                          ramjet-projector ramjet-pusher ramjet-devbroker ramjet-cli)
install(TARGETS ${RJ_INSTALLED_PROGRAMS}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/common/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT sdk
        FILES_MATCHING PATTERN "*.h")

# Ramjet::app: the include directory. jansson is added by RamjetConfig.cmake, which finds
# it with pkg-config on the application's machine, as ramjet.pc's Requires: does.
add_library(ramjet_app INTERFACE)
set_target_properties(ramjet_app PROPERTIES EXPORT_NAME app)
target_include_directories(ramjet_app INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
install(TARGETS ramjet_app EXPORT RamjetTargets COMPONENT sdk)

include(CMakePackageConfigHelpers)
set(RJ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Ramjet)
install(EXPORT RamjetTargets NAMESPACE Ramjet:: DESTINATION ${RJ_CMAKE_DIR} COMPONENT sdk)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/RamjetConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/RamjetConfig.cmake
                              INSTALL_DESTINATION ${RJ_CMAKE_DIR}
                              PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR)
# 0.x: a minor version may change the application API (RJ_APP_API_VERSION guards it at load).
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/RamjetConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/RamjetConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/RamjetConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/RamjetApp.cmake
        DESTINATION ${RJ_CMAKE_DIR} COMPONENT sdk)

# ramjet.pc for builds without CMake, relocatable like the CMake package: its prefix is
# found from its own directory, so `cmake --install --prefix` anywhere gives a working file.
file(RELATIVE_PATH RJ_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${CMAKE_CURRENT_LIST_DIR}/ramjet.pc.in ${CMAKE_BINARY_DIR}/cmake/ramjet.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/ramjet.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT sdk)
