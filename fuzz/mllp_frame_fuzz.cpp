// libFuzzer target for hl7v2::FrameDecoder. The first two input bytes pick the limits (trailer
// mode, max frame size); the rest is fed in chunks whose sizes come from the input. Invariants:
// chunked decoding equals one whole feed and equals a naive reference decoder; frames never hold
// VT/FS nor exceed the limit; the buffer stays bounded; re-encoding the frames decodes the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/mllp_frame.hpp"

namespace {

using hims::hl7v2::FrameDecoder;
using hims::hl7v2::FrameLimits;
using hims::hl7v2::FrameStatus;
using hims::hl7v2::MllpTrailer;

struct Decoded {
  std::vector<std::string> frames;
  FrameStatus last = FrameStatus::need_more;
  bool operator==(const Decoded&) const = default;
};

void check(bool condition) {
  if (!condition) std::abort();
}

// Drains next(); false once the decoder reported an error.
bool drain(FrameDecoder& decoder, Decoded& out, const FrameLimits& limits) {
  for (;;) {
    auto r = decoder.next();
    out.last = r.status;
    if (r.status == FrameStatus::frame) {
      check(r.frame.size() <= limits.max_frame_bytes);
      check(!hims::hl7v2::contains_mllp_control(r.frame));
      out.frames.emplace_back(r.frame);
      continue;
    }
    return r.status == FrameStatus::need_more;
  }
}

Decoded decode_whole(std::string_view bytes, const FrameLimits& limits) {
  FrameDecoder decoder(limits);
  Decoded out;
  decoder.feed(bytes);
  drain(decoder, out, limits);
  return out;
}

// Straightforward byte-at-a-time model of the documented behaviour.
Decoded reference(std::string_view bytes, const FrameLimits& limits) {
  Decoded out;
  enum { outside, in_frame, after_end } state = outside;
  std::string current;
  for (char c : bytes) {
    if (state == after_end) {  // strict only
      if (c != '\r') {
        out.last = FrameStatus::bad;
        return out;
      }
      out.frames.push_back(current);
      state = outside;
      continue;
    }
    if (state == outside) {
      if (c == '\x0B') {
        current.clear();
        state = in_frame;
      }
      continue;
    }
    if (c == '\x0B') {
      current.clear();
    } else if (c == '\x1C') {
      if (limits.trailer == MllpTrailer::strict) {
        state = after_end;
      } else {
        out.frames.push_back(current);
        state = outside;  // a CR right after FS is skipped, like any byte outside a frame
      }
    } else {
      current.push_back(c);
      if (current.size() > limits.max_frame_bytes) {
        out.last = FrameStatus::too_large;
        return out;
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  FrameLimits limits;
  limits.trailer = (data[0] & 1) != 0 ? MllpTrailer::strict : MllpTrailer::lenient;
  limits.max_frame_bytes = data[1];
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  const Decoded whole = decode_whole(input, limits);
  check(whole == reference(input, limits));

  // Chunked: each chunk's size is taken from the byte that starts it; half of the chunks go
  // through prepare()/commit(), the other half through feed().
  FrameDecoder decoder(limits);
  Decoded chunked;
  std::size_t pos = 0;
  bool alive = true;
  while (pos < input.size() && alive) {
    const std::size_t n =
        std::min<std::size_t>(input.size() - pos, (static_cast<std::uint8_t>(input[pos]) & 31) + 1);
    const std::string_view chunk = input.substr(pos, n);
    if ((data[0] & 2) != 0 && (pos & 1) != 0) {
      auto space = decoder.prepare(n + 7);
      std::copy(chunk.begin(), chunk.end(), space.begin());
      decoder.commit(n);
    } else {
      decoder.feed(chunk);
    }
    pos += n;
    alive = drain(decoder, chunked, limits);
    check(decoder.buffered() <= limits.max_frame_bytes + 2 + n);
  }
  check(chunked == whole);
  check(decoder.stats().frames == whole.frames.size());

  // Re-encoding what was decoded yields the same frames.
  std::string wire;
  for (const auto& f : whole.frames) hims::hl7v2::append_frame(wire, f);
  const Decoded again = decode_whole(wire, limits);
  check(again.frames == whole.frames);
  check(again.last == FrameStatus::need_more);
  return 0;
}
