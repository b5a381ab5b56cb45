file(REMOVE_RECURSE
  "CMakeFiles/ramjet.dir/src/config/config.c.o"
  "CMakeFiles/ramjet.dir/src/config/config.c.o.d"
  "CMakeFiles/ramjet.dir/src/core/core.c.o"
  "CMakeFiles/ramjet.dir/src/core/core.c.o.d"
  "CMakeFiles/ramjet.dir/src/core/error.c.o"
  "CMakeFiles/ramjet.dir/src/core/error.c.o.d"
  "CMakeFiles/ramjet.dir/src/log/log.c.o"
  "CMakeFiles/ramjet.dir/src/log/log.c.o.d"
  "libramjet.a"
  "libramjet.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ramjet.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
