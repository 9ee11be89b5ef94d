// Names the calling thread (Linux: at most 15 bytes, longer names are cut) so `top -H`, perf,
// gdb and /proc show each thread's role: hims-io-N, hims-journal, hims-process,
// hims-dlv-ID, hims-checkpoint. And sets a thread's scheduling policy to batch or back.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <string>
#include <string_view>

namespace hims {

inline void set_thread_name(std::string_view name) {
  const std::string cut(name.substr(0, 15));
  ::pthread_setname_np(::pthread_self(), cut.c_str());
}

// SCHED_BATCH for the calling thread, or back to SCHED_OTHER (Linux; needs no privilege): the
// same share of the CPU, but waking a batch thread does not preempt the running thread. For
// threads that others wake per message and that work on whatever has gathered (the journal writer
// under load, the checkpointer): when they share a CPU with the I/O threads, these finish reading
// before the batch is taken. Best effort.
inline void set_thread_batch_policy(bool on = true) {
#ifdef SCHED_BATCH
  const sched_param param{};
  ::pthread_setschedparam(::pthread_self(), on ? SCHED_BATCH : SCHED_OTHER, &param);
#else
  (void)on;
#endif
}

}  // namespace hims
