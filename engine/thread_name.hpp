// Names the calling thread (Linux: at most 15 bytes, longer names are cut) so `top -H`, perf,
// gdb and /proc show each thread's role: hims-io-N, hims-journal, hims-process, hims-dlv-ID.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace hims {

inline void set_thread_name(std::string_view name) {
  const std::string cut(name.substr(0, 15));
  ::pthread_setname_np(::pthread_self(), cut.c_str());
}

}  // namespace hims
