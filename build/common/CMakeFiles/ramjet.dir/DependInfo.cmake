
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/common/src/config/config.c" "common/CMakeFiles/ramjet.dir/src/config/config.c.o" "gcc" "common/CMakeFiles/ramjet.dir/src/config/config.c.o.d"
  "/work/main/common/src/core/core.c" "common/CMakeFiles/ramjet.dir/src/core/core.c.o" "gcc" "common/CMakeFiles/ramjet.dir/src/core/core.c.o.d"
  "/work/main/common/src/core/error.c" "common/CMakeFiles/ramjet.dir/src/core/error.c.o" "gcc" "common/CMakeFiles/ramjet.dir/src/core/error.c.o.d"
  "/work/main/common/src/log/log.c" "common/CMakeFiles/ramjet.dir/src/log/log.c.o" "gcc" "common/CMakeFiles/ramjet.dir/src/log/log.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
