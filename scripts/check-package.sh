#!/bin/sh
# Installs a built tree into a scratch prefix, then configures, builds and runs the example
# project of tests/package/example against it through find_package(cfemu), as a user would.
#   check-package.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -eu
build=$1
source=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
"$work/prefix/bin/cfemu" --help >/dev/null
test -f "$work/prefix/lib/cmake/cfemu/cfemuConfig.cmake"
cmake -S "$source/tests/package/example" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log"
cmake --build "$work/build"
ctest --test-dir "$work/build" --output-on-failure
