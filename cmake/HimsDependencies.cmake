# Third-party libraries: Debian 12 packages only (scripts/deps.sh installs them).
find_package(Threads REQUIRED)

if(HIMS_FUZZ)
  return()  # the fuzz build needs nothing but the wire-format code
endif()

find_package(Boost 1.81 REQUIRED CONFIG COMPONENTS system url)
find_package(OpenSSL 3 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED CONFIG)
# RapidJSON (header-only): Debian's config only sets RAPIDJSON_INCLUDE_DIRS; give it a target.
find_package(RapidJSON REQUIRED CONFIG)
if(NOT TARGET RapidJSON::RapidJSON)
  add_library(RapidJSON::RapidJSON INTERFACE IMPORTED)
  set_target_properties(RapidJSON::RapidJSON PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${RAPIDJSON_INCLUDE_DIRS}")
endif()
if(HIMS_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(HIMS_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
# The store: SQLite (embedded default) and PostgreSQL through libpqxx (Debian 12 ships 6.4).
if(NOT HIMS_FUZZ)
  find_package(SQLite3 REQUIRED)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
  # The ZeroMQ publisher: libzmq (libzmq3-dev) and its header-only C++ binding (cppzmq-dev).
  pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)
  find_path(CPPZMQ_INCLUDE_DIR zmq.hpp HINTS ${ZMQ_INCLUDE_DIRS} REQUIRED)
  # The engine's allocator (libgoogle-perftools-dev): its buffers are allocated on the I/O threads
  # and freed on the journal and worker threads, which glibc's per-arena locking makes costly.
  # Not with the sanitizers, which bring their own allocator.
  if(HIMS_TCMALLOC AND NOT HIMS_SANITIZE)
    pkg_check_modules(TCMALLOC REQUIRED IMPORTED_TARGET libtcmalloc_minimal)
  endif()
endif()
