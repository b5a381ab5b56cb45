# CMake generated Testfile for 
# Source directory: /work/main/common/src/log
# Build directory: /work/main/build/common/src/log
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
