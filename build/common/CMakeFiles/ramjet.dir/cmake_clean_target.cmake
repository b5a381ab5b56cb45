file(REMOVE_RECURSE
  "libramjet.a"
)
