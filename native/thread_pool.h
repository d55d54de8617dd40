// A fixed pool of worker threads for data-parallel loops (batch encoding, CPU forward passes,
// training). The calling thread takes part, so a pool of 1 runs everything inline.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace routecore {

class ThreadPool {
 public:
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return threads_; }

  /// Runs fn(0..tasks-1) across the pool and returns when all are done. Re-entrant and safe from
  /// several threads: when the pool is already busy the caller runs its tasks inline instead of
  /// queueing behind another caller. The first exception thrown by a task is rethrown here.
  void parallelFor(size_t tasks, const std::function<void(size_t)>& fn);

  /// One pool per thread count, created on first use and kept for the life of the process.
  static std::shared_ptr<ThreadPool> shared(unsigned threads);

 private:
  void workerLoop();
  void runTasks();

  unsigned threads_;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the caller that owns the workers for one parallelFor
  std::mutex m_;
  std::condition_variable wake_, done_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t tasks_ = 0;
  std::atomic<size_t> next_{0};
  size_t generation_ = 0;
  unsigned active_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

/// Threads to use when the user set no cap: the hardware's count, at least 1.
unsigned defaultThreadCount();

}  // namespace routecore
