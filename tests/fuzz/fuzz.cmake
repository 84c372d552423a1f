# cfemu_router_fuzz: the libFuzzer target over the REST router (tests/fuzz/router_fuzz.cc).
# libFuzzer is clang's, and the project builds with GCC: clang++ compiles the router's sources
# (emulator/http without the socket code) and the target, with coverage instrumentation and
# ASan/UBSan, and links them with the GCC-built libraries (both sides use libstdc++ and the
# Itanium ABI, coroutine frames included). Left out (the test reports skipped) when clang++ or
# its fuzzer runtime is missing, and in sanitizer builds.
find_program(CFEMU_CLANGXX NAMES clang++ clang++-14)
set(CFEMU_FUZZ_RUNTIME "")
if(CFEMU_CLANGXX)
  execute_process(COMMAND ${CFEMU_CLANGXX} -print-file-name=libclang_rt.fuzzer-x86_64.a
                  OUTPUT_VARIABLE CFEMU_FUZZ_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
set(fuzz_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
set(fuzz_binary ${fuzz_dir}/cfemu_router_fuzz)
if(CFEMU_CLANGXX AND EXISTS "${CFEMU_FUZZ_RUNTIME}" AND NOT CFEMU_SANITIZE)
  # The definitions the GCC targets compile with (Boost, fmt and spdlog as linked), and what
  # Boost 1.74's Asio needs to see C++20 coroutines under clang with libstdc++. Clang 14 cannot
  # emit -fsanitize=function checks for these coroutines ("Cannot represent a difference across
  # sections"): that one check is off.
  set(fuzz_flags -std=c++20 -O1 -gline-tables-only -fsanitize=fuzzer-no-link,address,undefined
      -fno-sanitize=function -fno-sanitize-recover=undefined -DBOOST_ALL_NO_LIB -DBOOST_ASIO_DISABLE_BOOST_COROUTINE
      -DBOOST_ASIO_NO_DEPRECATED -DBOOST_ASIO_HAS_CO_AWAIT -DBOOST_ASIO_HAS_STD_COROUTINE
      -DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB
      -I${PROJECT_SOURCE_DIR})
  file(GLOB fuzz_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/emulator/http/*.cc)
  list(FILTER fuzz_sources EXCLUDE REGEX "/server\\.cc$")
  list(APPEND fuzz_sources ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/router_fuzz.cc)
  set(fuzz_objects "")
  foreach(source ${fuzz_sources})
    get_filename_component(name ${source} NAME_WE)
    set(object ${fuzz_dir}/${name}.o)
    add_custom_command(
      OUTPUT ${object}
      COMMAND ${CFEMU_CLANGXX} ${fuzz_flags} -MD -MF ${object}.d -c ${source} -o ${object}
      DEPENDS ${source} DEPFILE ${object}.d
      COMMENT "clang++ (fuzz) ${name}.cc" VERBATIM)
    list(APPEND fuzz_objects ${object})
  endforeach()
  set(fuzz_libraries cfemu_harness cfemu_engine cfemu_emulator)
  foreach(part ${CFEMU_EMULATOR_PARTS})
    if(NOT part STREQUAL "cfemu_http")
      list(APPEND fuzz_libraries ${part})
    endif()
  endforeach()
  list(APPEND fuzz_libraries cfemu_core)
  set(fuzz_archives "")
  foreach(library ${fuzz_libraries})
    list(APPEND fuzz_archives $<TARGET_FILE:${library}>)
  endforeach()
  add_custom_command(
    OUTPUT ${fuzz_binary}
    COMMAND ${CFEMU_CLANGXX} -fsanitize=fuzzer,address,undefined -fno-sanitize=function ${fuzz_objects}
            -Wl,--start-group ${fuzz_archives} -Wl,--end-group
            -lsqlite3 -lspdlog -lfmt -lpthread -o ${fuzz_binary}
    DEPENDS ${fuzz_objects} ${fuzz_libraries}
    COMMENT "Linking the router fuzz target" VERBATIM)
  add_custom_target(cfemu_router_fuzz ALL DEPENDS ${fuzz_binary})
endif()
# A bounded, seeded run in every `make test` (skipped when the target could not be built).
add_test(NAME RouterFuzzFindsNoCrashOrBadAnswer
  COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz-router.sh ${fuzz_binary} 30000)
set_tests_properties(RouterFuzzFindsNoCrashOrBadAnswer PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
