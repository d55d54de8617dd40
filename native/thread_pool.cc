#include "thread_pool.h"

#include <map>

namespace routecore {

unsigned defaultThreadCount() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

ThreadPool::ThreadPool(unsigned threads) : threads_(threads == 0 ? defaultThreadCount() : threads) {
  for (unsigned i = 1; i < threads_; ++i) workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::runTasks() {
  for (;;) {
    size_t i = next_.fetch_add(1);
    if (i >= tasks_) return;
    try {
      (*fn_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m_);
      if (!error_) error_ = std::current_exception();
      next_.store(tasks_);  // stop handing out work
    }
  }
}

void ThreadPool::workerLoop() {
  size_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(m_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      ++active_;
    }
    runTasks();
    {
      std::lock_guard<std::mutex> lock(m_);
      if (--active_ == 0) done_.notify_all();
    }
  }
}

void ThreadPool::parallelFor(size_t tasks, const std::function<void(size_t)>& fn) {
  if (tasks == 0) return;
  std::unique_lock<std::mutex> owner(busy_, std::try_to_lock);
  if (tasks == 1 || workers_.empty() || !owner.owns_lock()) {
    for (size_t i = 0; i < tasks; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(m_);
    fn_ = &fn;
    tasks_ = tasks;
    next_.store(0);
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  runTasks();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [&] { return active_ == 0 && next_.load() >= tasks_; });
    // Workers that had not woken yet must not pick up this generation's function later.
    fn_ = nullptr;
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

std::shared_ptr<ThreadPool> ThreadPool::shared(unsigned threads) {
  static std::mutex m;
  static std::map<unsigned, std::shared_ptr<ThreadPool>> pools;
  if (threads == 0) threads = defaultThreadCount();
  std::lock_guard<std::mutex> lock(m);
  auto& p = pools[threads];
  if (!p) p = std::make_shared<ThreadPool>(threads);
  return p;
}

}  // namespace routecore
