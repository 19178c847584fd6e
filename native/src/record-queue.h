// A bounded queue of record batches between one capture worker (producer) and the JavaScript thread (consumer).
// The producer fills a batch privately and publishes it whole; the consumer is signalled at most once per
// publish and only when it has drained the queue since the last signal, so there is never more than one
// thread-safe call per batch.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "../include/flow-record.h"
#include "flow-table.h"

namespace sf {

class RecordQueue : public RecordSink {
 public:
  // block_when_full: the producer waits for the consumer (files, synthetic); otherwise the batch is dropped
  // and counted as a ring overflow (live capture must keep draining the kernel ring).
  RecordQueue(size_t batch_records, size_t max_batches, bool block_when_full)
      : batch_records_(batch_records), max_batches_(max_batches), block_(block_when_full) {
    current_.reserve(batch_records_);
  }

  void SetNotify(std::function<void()> notify) { notify_ = std::move(notify); }

  void Emit(const sf_flow_record& record) override {
    current_.push_back(record);
    if (current_.size() >= batch_records_) Publish();
  }

  /** Publishes the partial batch (timers, end of input). */
  void Publish() {
    if (current_.empty()) return;
    bool signal = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (ready_.size() >= max_batches_ && !closed_) {
        if (block_) {
          space_.wait(lock, [&] { return closed_ || ready_.size() < max_batches_; });
        } else {
          overflow_records_ += current_.size();
          current_.clear();
          return;
        }
      }
      // After Close() the bound is lifted rather than records dropped: what the worker flushes while it stops
      // (at most one record per flow) stays readable.
      std::vector<sf_flow_record> batch;
      if (!free_.empty()) {
        batch.swap(free_.back());
        free_.pop_back();
      }
      batch.swap(current_);  // current_ takes the recycled (empty, reserved) vector
      current_.clear();
      if (current_.capacity() < batch_records_) current_.reserve(batch_records_);
      published_records_ += batch.size();
      ready_.push_back(std::move(batch));
      if (!signalled_) signalled_ = signal = true;
    }
    if (signal && notify_) notify_();
  }

  /** Signals the consumer even with no data (end of input, error). */
  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (signalled_) return;
      signalled_ = true;
    }
    if (notify_) notify_();
  }

  /** Copies up to `max_records` records into `out`; returns how many. Consumer thread only. */
  size_t Read(uint8_t* out, size_t max_records) {
    size_t n = 0;
    std::lock_guard<std::mutex> lock(mu_);
    while (n < max_records && !ready_.empty()) {
      std::vector<sf_flow_record>& head = ready_.front();
      const size_t take = std::min(max_records - n, head.size() - head_offset_);
      std::memcpy(out + n * sizeof(sf_flow_record), head.data() + head_offset_, take * sizeof(sf_flow_record));
      n += take;
      head_offset_ += take;
      if (head_offset_ == head.size()) {
        head.clear();
        free_.push_back(std::move(head));
        ready_.pop_front();
        head_offset_ = 0;
        space_.notify_one();
      }
    }
    if (ready_.empty()) signalled_ = false;  // the next publish must signal again
    delivered_records_ += n;
    return n;
  }

  /** Stops blocking the producer (it is being stopped); nothing queued is dropped. */
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    space_.notify_all();
  }

  uint64_t overflow_records() {
    std::lock_guard<std::mutex> lock(mu_);
    return overflow_records_;
  }
  uint64_t delivered_records() {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_records_;
  }
  size_t pending_records() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& b : ready_) n += b.size();
    return n - head_offset_;
  }

 private:
  const size_t batch_records_;
  const size_t max_batches_;
  const bool block_;
  std::function<void()> notify_;
  std::vector<sf_flow_record> current_;  // producer-private
  std::mutex mu_;
  std::condition_variable space_;
  std::deque<std::vector<sf_flow_record>> ready_;
  std::vector<std::vector<sf_flow_record>> free_;
  size_t head_offset_ = 0;
  bool signalled_ = false;
  bool closed_ = false;
  uint64_t overflow_records_ = 0;
  uint64_t published_records_ = 0;
  uint64_t delivered_records_ = 0;
};

}  // namespace sf
