# CMake generated Testfile for 
# Source directory: /work/main/common/src/core
# Build directory: /work/main/build/common/src/core
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
