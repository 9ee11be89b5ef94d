// MLLP framing codec: <VT 0x0B> message <FS 0x1C><CR 0x0D>. Pure (no sockets, no clock).
// A FrameDecoder belongs to one connection and is not thread-safe; the encoders are free functions.
// Views returned by FrameDecoder::next() point into the decoder's buffer (see its lifetime rule).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hims::hl7v2 {

inline constexpr char kMllpStartBlock = '\x0B';  // VT
inline constexpr char kMllpEndBlock = '\x1C';    // FS
inline constexpr char kMllpCarriageReturn = '\x0D';

// What the decoder does when the FS that ends a frame is not followed by a CR.
enum class MllpTrailer : std::uint8_t {
  // HL7 requires FS CR, but some senders omit the CR. The frame is returned as soon as FS arrives
  // (so a sender that omits the CR and waits for its ACK is not stalled); a CR right after FS is
  // swallowed, any other byte is decoded normally and counted in stats().missing_end_cr.
  lenient,
  // FS must be followed by CR: the frame is returned once the CR arrives; any other byte is `bad`.
  strict,
};

struct FrameLimits {
  std::size_t max_frame_bytes = 16u << 20;  // message bytes between VT and FS
  MllpTrailer trailer = MllpTrailer::lenient;
};

// Outcome of FrameDecoder::next(), in the manner of Beast's parsers.
enum class FrameStatus : std::uint8_t {
  frame,      // `FrameResult::frame` holds one complete message (framing removed)
  need_more,  // every buffered byte is consumed or part of an unfinished frame: feed more
  too_large,  // a frame is longer than max_frame_bytes: the caller closes the connection
  bad,        // strict trailer only: FS not followed by CR; the caller closes the connection
};
std::string_view to_string(FrameStatus status);

struct FrameResult {
  FrameStatus status = FrameStatus::need_more;
  std::string_view frame;  // only for FrameStatus::frame
};

struct FrameDecoderStats {
  std::uint64_t frames = 0;                // complete frames returned
  std::uint64_t bytes_outside_frames = 0;  // bytes before a VT (junk, stray CR/LF between frames)
  std::uint64_t frames_abandoned = 0;      // a VT inside a frame restarted it (bytes dropped)
  std::uint64_t bytes_abandoned = 0;       // bytes of abandoned partial frames, VT included
  std::uint64_t missing_end_cr = 0;        // lenient trailer: FS not followed by CR
};

// Incremental MLLP decoder. Feed bytes as they arrive, in pieces of any size, then call next()
// until it answers need_more. A frame may be split across feeds at any byte and one feed may hold
// many frames. Bytes outside frames are skipped and counted. A VT inside a frame means the sender
// gave up on the partial frame and started over: the partial bytes are dropped and counted.
// Once next() answers too_large or bad, the decoder stays in that state until reset().
//
// Lifetime: a view returned by next() stays valid until the next call of feed(), prepare() or
// reset() (next() itself never moves the buffer, so all frames of one feed can be collected).
//
// Memory: the buffer holds at most one unfinished frame (bounded by max_frame_bytes, checked as
// bytes arrive, not when FS arrives) plus the bytes of the last feed.
class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits = {});

  // Copies `bytes` into the buffer.
  void feed(std::string_view bytes);
  // Zero-copy input (e.g. a socket read straight into the buffer): prepare(n) returns n writable
  // bytes at the end of the buffer; commit(k) (k <= n) makes the first k of them input.
  std::span<char> prepare(std::size_t n);
  void commit(std::size_t n);

  FrameResult next();

  // True while a VT has been seen and its frame is not complete (for read time-outs).
  bool in_frame() const;
  // Buffered bytes not yet returned or skipped.
  std::size_t buffered() const { return size_ - scan_begin(); }
  const FrameDecoderStats& stats() const { return stats_; }
  const FrameLimits& limits() const { return limits_; }
  // Back to the initial state (buffer emptied, stats kept).
  void reset();

 private:
  enum class State : std::uint8_t { outside, in_frame, after_end, maybe_cr, too_large, bad };
  std::size_t scan_begin() const;
  void compact();

  FrameLimits limits_;
  FrameDecoderStats stats_;
  std::string buf_;        // capacity; [0, size_) is valid input
  std::size_t size_ = 0;   // bytes of input in buf_
  std::size_t pos_ = 0;    // next byte to examine
  std::size_t start_ = 0;  // in_frame/after_end: first message byte (after VT)
  std::size_t end_ = 0;    // after_end: position of FS
  std::size_t prepared_ = 0;
  State state_ = State::outside;
};

// Encoders. The message must not contain VT or FS (HL7 text never does; contains_mllp_control()
// checks it); it is written unchanged, with the segment terminators the caller chose (CR).
std::string frame(std::string_view message);
void append_frame(std::string& out, std::string_view message);
bool contains_mllp_control(std::string_view message);

}  // namespace hims::hl7v2
