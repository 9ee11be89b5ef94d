#include "hl7v2/mllp_frame.hpp"

#include <algorithm>
#include <cstring>

namespace hims::hl7v2 {

std::string_view to_string(FrameStatus status) {
  switch (status) {
    case FrameStatus::frame:
      return "frame";
    case FrameStatus::need_more:
      return "need_more";
    case FrameStatus::too_large:
      return "too_large";
    case FrameStatus::bad:
      return "bad";
  }
  return "unknown";
}

FrameDecoder::FrameDecoder(FrameLimits limits) : limits_(limits) {}

bool FrameDecoder::in_frame() const {
  return state_ == State::in_frame || state_ == State::after_end;
}

std::size_t FrameDecoder::scan_begin() const {
  switch (state_) {
    case State::in_frame:
    case State::after_end:
      return start_;
    case State::outside:
    case State::maybe_cr:
      return pos_;
    case State::too_large:
    case State::bad:
      return size_;
  }
  return size_;
}

void FrameDecoder::compact() {
  const std::size_t keep = scan_begin();
  if (keep == 0) return;
  if (keep < size_) std::memmove(buf_.data(), buf_.data() + keep, size_ - keep);
  size_ -= keep;
  pos_ = pos_ > keep ? pos_ - keep : 0;
  start_ = start_ > keep ? start_ - keep : 0;
  end_ = end_ > keep ? end_ - keep : 0;
}

std::span<char> FrameDecoder::prepare(std::size_t n) {
  compact();
  if (buf_.size() - size_ < n) buf_.resize(std::max(size_ + n, buf_.size() + buf_.size() / 2));
  prepared_ = n;
  return {buf_.data() + size_, n};
}

void FrameDecoder::commit(std::size_t n) {
  size_ += std::min(n, prepared_);
  prepared_ = 0;
  if (state_ == State::too_large || state_ == State::bad) size_ = pos_ = 0;  // dead: drop input
}

void FrameDecoder::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  auto space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

void FrameDecoder::reset() {
  size_ = pos_ = start_ = end_ = prepared_ = 0;
  state_ = State::outside;
}

FrameResult FrameDecoder::next() {
  const char* data = buf_.data();
  for (;;) {
    switch (state_) {
      case State::too_large:
        return {FrameStatus::too_large, {}};
      case State::bad:
        return {FrameStatus::bad, {}};

      case State::outside: {
        if (pos_ == size_) return {FrameStatus::need_more, {}};
        const void* vt = std::memchr(data + pos_, kMllpStartBlock, size_ - pos_);
        if (vt == nullptr) {
          stats_.bytes_outside_frames += size_ - pos_;
          pos_ = size_;
          return {FrameStatus::need_more, {}};
        }
        const auto at = static_cast<std::size_t>(static_cast<const char*>(vt) - data);
        stats_.bytes_outside_frames += at - pos_;
        start_ = pos_ = at + 1;
        state_ = State::in_frame;
        break;
      }

      case State::in_frame: {
        // The FS may sit at most max_frame_bytes after the VT: never scan (or wait) beyond that.
        const std::size_t limit = std::min(size_, start_ + limits_.max_frame_bytes + 1);
        // The first FS or VT: two vectorised scans (memchr) instead of a byte loop.
        const auto find = [&](char c, std::size_t end) {
          if (pos_ >= end) return end;
          const void* at = std::memchr(data + pos_, c, end - pos_);
          return at == nullptr ? end
                               : static_cast<std::size_t>(static_cast<const char*>(at) - data);
        };
        const std::size_t i = find(kMllpStartBlock, find(kMllpEndBlock, limit));
        if (i == limit) {
          pos_ = limit;
          if (limit - start_ > limits_.max_frame_bytes) {
            state_ = State::too_large;
            return {FrameStatus::too_large, {}};
          }
          return {FrameStatus::need_more, {}};
        }
        if (data[i] == kMllpStartBlock) {  // the sender restarted: drop the partial frame
          ++stats_.frames_abandoned;
          stats_.bytes_abandoned += i - start_ + 1;
          start_ = pos_ = i + 1;
          break;
        }
        end_ = i;
        pos_ = i + 1;
        if (limits_.trailer == MllpTrailer::lenient) {
          state_ = State::maybe_cr;
          ++stats_.frames;
          return {FrameStatus::frame, std::string_view(data + start_, end_ - start_)};
        }
        state_ = State::after_end;
        break;
      }

      case State::after_end:
        if (pos_ == size_) return {FrameStatus::need_more, {}};
        if (data[pos_] != kMllpCarriageReturn) {
          state_ = State::bad;
          return {FrameStatus::bad, {}};
        }
        ++pos_;
        state_ = State::outside;
        ++stats_.frames;
        return {FrameStatus::frame, std::string_view(data + start_, end_ - start_)};

      case State::maybe_cr:
        if (pos_ == size_) return {FrameStatus::need_more, {}};
        if (data[pos_] == kMllpCarriageReturn) {
          ++pos_;
        } else {
          ++stats_.missing_end_cr;
        }
        state_ = State::outside;
        break;
    }
  }
}

void append_frame(std::string& out, std::string_view message) {
  out.reserve(out.size() + message.size() + 3);
  out.push_back(kMllpStartBlock);
  out.append(message);
  out.push_back(kMllpEndBlock);
  out.push_back(kMllpCarriageReturn);
}

std::string frame(std::string_view message) {
  std::string out;
  append_frame(out, message);
  return out;
}

bool contains_mllp_control(std::string_view message) {
  return message.find_first_of("\x0B\x1C") != std::string_view::npos;
}

}  // namespace hims::hl7v2
